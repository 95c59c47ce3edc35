//! What flows between the client handles, the driver and the session: the
//! requests callers make, the replies they get, and inbound messages.

use bytes::Bytes;
use mqttbytes::QoS;

use crate::error::MqttError;

/// Identifies one request from submission to its reply. Tokens are
/// assigned in submission order and never reused.
pub type Token = u64;

/// An application message received on a subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The topic it was published to.
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// The QoS it was delivered with.
    pub qos: QoS,
    /// Whether it is a retained message.
    pub retain: bool,
    /// Whether the broker marked it as a possible redelivery.
    pub dup: bool,
}

/// One operation for the session to carry out. `H` is the subscription
/// handler type, a type parameter so the sans-IO session can be tested
/// with plain values.
#[derive(Clone, Debug)]
pub enum Request<H> {
    /// Publish `payload` to `topic` (already validated).
    Publish {
        /// Topic name.
        topic: String,
        /// Payload.
        payload: Bytes,
        /// QoS 0 or 1.
        qos: QoS,
        /// Retain flag.
        retain: bool,
    },
    /// Subscribe to `filter`, routing matching messages to `handler`.
    Subscribe {
        /// Topic filter.
        filter: String,
        /// Requested QoS.
        qos: QoS,
        /// Receives matching messages once the broker acknowledged.
        handler: H,
    },
    /// Unsubscribe from `filter`.
    Unsubscribe {
        /// Topic filter.
        filter: String,
    },
}

/// The successful outcome of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// QoS 0: written to the transport. QoS 1: PUBACK received.
    Published,
    /// SUBACK received; the broker granted this QoS.
    Subscribed(GrantedQos),
    /// UNSUBACK received.
    Unsubscribed,
}

/// The QoS a broker granted to a subscription (mqttbytes' `QoS` is not
/// `Eq`, so replies carry this small copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantedQos {
    /// QoS 0.
    AtMostOnce,
    /// QoS 1.
    AtLeastOnce,
    /// QoS 2.
    ExactlyOnce,
}

impl From<QoS> for GrantedQos {
    fn from(qos: QoS) -> Self {
        match qos {
            QoS::AtMostOnce => GrantedQos::AtMostOnce,
            QoS::AtLeastOnce => GrantedQos::AtLeastOnce,
            QoS::ExactlyOnce => GrantedQos::ExactlyOnce,
        }
    }
}

/// What a request resolves to.
pub type Outcome = Result<Reply, MqttError>;
