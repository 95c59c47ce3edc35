//! Typed errors of the MQTT client. Each maps onto one breaker
//! [`ErrorKind`], so the breakers retry only transient failures and
//! `circuit_breaker_errors_total{error_type}` says what went wrong.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use breakwater_core::{Classify, ErrorKind};
pub use mqttbytes::v4::ConnectReturnCode;
use mqttbytes::QoS;
use thiserror::Error;

use crate::topic::TopicError;

/// Why an MQTT operation failed. Cloneable because one lost link fails
/// several waiting requests with the same cause.
#[derive(Clone, Debug, Error)]
pub enum MqttError {
    /// The transport failed, or there is no link to the broker.
    #[error("connection: {0}")]
    Connection(#[from] ConnectionError),
    /// No answer within the deadline.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// What was waited for.
        operation: Operation,
        /// The deadline that passed.
        after: Duration,
    },
    /// The broker refused the connection (CONNACK return code).
    #[error("broker refused the connection: {0:?}")]
    Refused(ConnectReturnCode),
    /// The broker refused a subscription (SUBACK failure, 0x80).
    #[error("broker refused the subscription to `{filter}`")]
    SubscriptionRefused {
        /// The refused filter.
        filter: String,
    },
    /// The broker broke the protocol; the link is dropped and re-established.
    #[error("protocol: {0}")]
    Protocol(#[from] ProtocolError),
    /// The topic name of a publish is not valid.
    #[error("invalid topic: {0}")]
    InvalidTopic(TopicError),
    /// The topic filter of a subscribe or unsubscribe is not valid.
    #[error("invalid topic filter: {0}")]
    InvalidFilter(TopicError),
    /// The payload is larger than `max_payload_bytes`.
    #[error("payload of {size_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    PayloadTooLarge {
        /// Size of the refused payload.
        size_bytes: usize,
        /// The configured `max_payload_bytes`.
        limit_bytes: usize,
    },
    /// QoS 2 is not supported by this client.
    #[error("QoS {0:?} is not supported (use AtMostOnce or AtLeastOnce)")]
    UnsupportedQos(QoS),
    /// A value could not be serialized to JSON.
    #[error("could not serialize the payload to JSON: {0}")]
    Serialize(Arc<serde_json::Error>),
    /// The offline queue already holds `offline_queue_limit` requests.
    #[error("offline queue is full ({limit} requests waiting)")]
    QueueFull {
        /// The configured `offline_queue_limit`.
        limit: usize,
    },
    /// The client already holds `limit` subscriptions.
    #[error("too many subscriptions (limit {limit})")]
    TooManySubscriptions {
        /// The subscription limit.
        limit: usize,
    },
    /// The client was disconnected by its owner; nothing more will be sent.
    #[error("client is closed")]
    Closed,
}

impl Classify for MqttError {
    fn kind(&self) -> ErrorKind {
        match self {
            MqttError::Connection(_) => ErrorKind::Connection,
            MqttError::Timeout { .. } => ErrorKind::Timeout,
            MqttError::Refused(_) | MqttError::SubscriptionRefused { .. } => ErrorKind::Refused,
            MqttError::Protocol(_) => ErrorKind::Protocol,
            MqttError::InvalidTopic(_)
            | MqttError::InvalidFilter(_)
            | MqttError::PayloadTooLarge { .. }
            | MqttError::UnsupportedQos(_)
            | MqttError::Serialize(_) => ErrorKind::InvalidInput,
            MqttError::QueueFull { .. } | MqttError::TooManySubscriptions { .. } => {
                ErrorKind::Overloaded
            }
            MqttError::Closed => ErrorKind::Other,
        }
    }
}

impl From<io::Error> for MqttError {
    fn from(error: io::Error) -> Self {
        MqttError::Connection(ConnectionError::Io(Arc::new(error)))
    }
}

/// How the link to the broker failed.
#[derive(Clone, Debug, Error)]
pub enum ConnectionError {
    /// The transport returned an I/O error.
    #[error("{0}")]
    Io(Arc<io::Error>),
    /// The broker closed the stream (end of file).
    #[error("the broker closed the connection")]
    ClosedByBroker,
    /// There is no link and the connect breaker is open, so none will be
    /// tried before its `open_timeout`: failing now beats waiting out the
    /// request deadline.
    #[error("not connected and the connect breaker is open")]
    Unavailable,
}

/// The operation a [`MqttError::Timeout`] waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// TCP connect plus CONNECT -> CONNACK.
    Connect,
    /// Re-subscribing every filter after a reconnect.
    Resubscribe,
    /// A publish (its PUBACK for QoS 1, its write for QoS 0).
    Publish,
    /// A SUBSCRIBE -> SUBACK.
    Subscribe,
    /// An UNSUBSCRIBE -> UNSUBACK.
    Unsubscribe,
    /// A PINGREQ -> PINGRESP: the link is considered dead.
    Ping,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Connect => "connect",
            Operation::Resubscribe => "resubscribe",
            Operation::Publish => "publish",
            Operation::Subscribe => "subscribe",
            Operation::Unsubscribe => "unsubscribe",
            Operation::Ping => "ping",
        })
    }
}

/// The broker sent something this client cannot accept.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The bytes do not decode as MQTT 3.1.1. mqttbytes' error is kept as a
    /// value (it does not implement `std::error::Error` itself).
    #[error("malformed packet: {0:?}")]
    Decode(mqttbytes::Error),
    /// A well-formed packet that a broker must not send at this point.
    #[error("unexpected {packet} from the broker")]
    Unexpected {
        /// Name of the packet type.
        packet: &'static str,
    },
    /// A packet could not be encoded (an invariant broke; the link is reset).
    #[error("could not encode a packet: {0:?}")]
    Encode(mqttbytes::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_link_failures_and_timeouts_are_transient_kinds() {
        let io = MqttError::from(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(io.kind(), ErrorKind::Connection);
        let timeout = MqttError::Timeout {
            operation: Operation::Publish,
            after: Duration::from_secs(1),
        };
        assert_eq!(timeout.kind(), ErrorKind::Timeout);
        let refused = MqttError::Refused(ConnectReturnCode::NotAuthorized);
        assert_eq!(refused.kind(), ErrorKind::Refused);
        assert_eq!(
            MqttError::InvalidTopic(TopicError::Empty).kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            MqttError::QueueFull { limit: 1 }.kind(),
            ErrorKind::Overloaded
        );
        let protocol = MqttError::from(ProtocolError::Decode(mqttbytes::Error::MalformedPacket));
        assert_eq!(protocol.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn messages_name_the_cause() {
        let e = MqttError::PayloadTooLarge {
            size_bytes: 10,
            limit_bytes: 5,
        };
        assert_eq!(
            e.to_string(),
            "payload of 10 bytes exceeds the limit of 5 bytes"
        );
        let e = MqttError::InvalidFilter(TopicError::MisplacedWildcard { level: 1 });
        assert!(e.to_string().contains("level 1"), "{e}");
    }
}
