//! Broker-side faults, switched at run time through [`Broker::set_fault`].
//!
//! Network faults (partitions, latency, loss) live in [`crate::net`]; these
//! are the failures of the broker process itself, which the network cannot
//! express: a broker that answers wrongly, slowly, or not at all.
//!
//! [`Broker::set_fault`]: super::Broker::set_fault

use std::fmt;
use std::time::Duration;

/// A broker failure mode. At most one mode is active at a time;
/// [`CloseAllConnections`](BrokerFault::CloseAllConnections) is an action
/// that leaves the active mode as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerFault {
    /// Every new CONNECT is answered with CONNACK `ServiceUnavailable` (code
    /// 3) and the connection is closed, as an overloaded or draining broker
    /// does. Established connections keep working: the fault is about
    /// admission, so a breaker guarding connect trips while publishes on a
    /// live link still succeed.
    RefuseConnections,
    /// TCP is accepted and every byte is read and thrown away; nothing is
    /// ever written and no timeout closes the link, on new and established
    /// connections alike. This is the failure only deadlines can detect.
    /// Deliveries to subscribers stay queued until the fault is cleared;
    /// packets received meanwhile are never processed.
    BlackHole,
    /// PUBACK, SUBACK and UNSUBACK are sent `delay` later (virtual time);
    /// the message itself is accepted and routed at once. CONNACK and
    /// PINGRESP are not delayed: link latency models slow connects.
    DelayAcks {
        /// How long each ack is held back.
        delay: Duration,
    },
    /// PUBACK, SUBACK and UNSUBACK are never sent, though the message is
    /// accepted and routed: the client cannot tell "lost" from "slow", and
    /// its retries (DUP=1) are accepted again, as at-least-once allows.
    DropAcks,
    /// Every packet the broker would send is replaced by bytes no MQTT
    /// decoder accepts (packet type 15); incoming packets are still
    /// processed. Models a broken proxy or a protocol mismatch.
    MalformedReplies,
    /// Action, not a mode: every live connection is closed at once, without
    /// a final packet, as a broker restart behind a load balancer looks to
    /// clients. Later connections are served normally.
    CloseAllConnections,
    /// The broker process dies: every connection is dropped abruptly (peers
    /// see EOF) and every new TCP connection is closed before a byte is
    /// read, as when the port is briefly unreachable. Clearing the fault
    /// (or setting another) restarts the broker.
    Crash {
        /// Whether sessions (subscriptions, queued and unacknowledged QoS 1
        /// messages) survive the crash, as with a broker that persists them.
        keep_sessions: bool,
    },
}

impl BrokerFault {
    /// Whether this fault is a persistent mode rather than a one-shot action.
    pub fn is_mode(&self) -> bool {
        !matches!(self, BrokerFault::CloseAllConnections)
    }
}

impl fmt::Display for BrokerFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerFault::RefuseConnections => f.write_str("refuse-connections"),
            BrokerFault::BlackHole => f.write_str("black-hole"),
            BrokerFault::DelayAcks { delay } => write!(f, "delay-acks({}ms)", delay.as_millis()),
            BrokerFault::DropAcks => f.write_str("drop-acks"),
            BrokerFault::MalformedReplies => f.write_str("malformed-replies"),
            BrokerFault::CloseAllConnections => f.write_str("close-all-connections"),
            BrokerFault::Crash { keep_sessions } => {
                write!(f, "crash(keep_session={keep_sessions})")
            }
        }
    }
}

/// What the broker does with an acknowledgement under the active fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckPolicy {
    SendNow,
    SendAfter(Duration),
    Drop,
}

impl AckPolicy {
    pub(crate) fn for_fault(fault: Option<BrokerFault>) -> AckPolicy {
        match fault {
            Some(BrokerFault::DelayAcks { delay }) => AckPolicy::SendAfter(delay),
            Some(BrokerFault::DropAcks) => AckPolicy::Drop,
            _ => AckPolicy::SendNow,
        }
    }
}

/// Bytes sent in place of every reply under [`BrokerFault::MalformedReplies`]:
/// packet type 15 is reserved in MQTT 3.1.1, so every decoder rejects the
/// frame (mqttbytes with `InvalidPacketType(15)`), while the length field is
/// valid so the failure is about content, not framing.
pub const MALFORMED_REPLY: [u8; 4] = [0xF0, 0x02, 0xDE, 0xAD];
