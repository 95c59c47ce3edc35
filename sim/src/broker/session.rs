//! One client's session: subscriptions, messages waiting to be sent, and
//! outbound QoS 1 messages awaiting PUBACK.
//!
//! Pure state, no I/O: the connection driver asks for the next PUBLISH
//! packets to write and reports PUBACKs back.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use mqttbytes::v4::{Publish, SubscribeReasonCode};
use mqttbytes::QoS;

use super::topic::filter_matches;

/// A message routed to this session, at its delivery QoS.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub(crate) topic: String,
    pub(crate) payload: Bytes,
    pub(crate) qos: QoS,
}

#[derive(Debug, Clone)]
struct Inflight {
    packet_id: u16,
    message: Message,
    /// Connection that last wrote it; a different live connection must
    /// resend it with DUP=1 (MQTT 3.1.1 section 4.4).
    sent_on_conn: u64,
}

/// The queue was full; the message was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

/// Lower of two QoS levels.
pub(crate) fn min_qos(a: QoS, b: QoS) -> QoS {
    if (a as u8) <= (b as u8) {
        a
    } else {
        b
    }
}

fn max_qos(a: QoS, b: QoS) -> QoS {
    if (a as u8) >= (b as u8) {
        a
    } else {
        b
    }
}

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) clean: bool,
    /// Filter -> granted QoS. A BTreeMap so that iteration order, which
    /// decides nothing today, can never leak hash order into a run.
    subscriptions: BTreeMap<String, QoS>,
    pending: VecDeque<Message>,
    inflight: VecDeque<Inflight>,
    next_packet_id: u16,
    /// Connection currently attached, if any.
    pub(crate) owner: Option<u64>,
}

impl Session {
    pub(crate) fn new(clean: bool) -> Self {
        Self {
            clean,
            subscriptions: BTreeMap::new(),
            pending: VecDeque::new(),
            inflight: VecDeque::new(),
            next_packet_id: 1,
            owner: None,
        }
    }

    /// Adds or replaces a subscription. QoS 2 is granted as QoS 1: the
    /// broker does not implement the QoS 2 handshake, and a SUBACK may
    /// grant less than requested (3.1.1 section 3.9.3).
    pub(crate) fn subscribe(
        &mut self,
        filter: &str,
        requested: QoS,
        max_subscriptions: usize,
    ) -> SubscribeReasonCode {
        let granted = min_qos(requested, QoS::AtLeastOnce);
        let is_new = !self.subscriptions.contains_key(filter);
        if is_new && self.subscriptions.len() >= max_subscriptions {
            return SubscribeReasonCode::Failure;
        }
        self.subscriptions.insert(filter.to_owned(), granted);
        SubscribeReasonCode::Success(granted)
    }

    pub(crate) fn subscriptions(&self) -> Vec<(String, QoS)> {
        self.subscriptions
            .iter()
            .map(|(filter, qos)| (filter.clone(), *qos))
            .collect()
    }

    pub(crate) fn unsubscribe(&mut self, filter: &str) {
        self.subscriptions.remove(filter);
    }

    /// Highest QoS granted by any subscription matching `topic`: overlapping
    /// subscriptions deliver the message once, at the maximum (3.3.5).
    pub(crate) fn matching_qos(&self, topic: &str) -> Option<QoS> {
        self.subscriptions
            .iter()
            .filter(|(filter, _)| filter_matches(filter, topic))
            .map(|(_, qos)| *qos)
            .reduce(max_qos)
    }

    pub(crate) fn enqueue(&mut self, message: Message, max_queued: usize) -> Result<(), QueueFull> {
        if self.pending.len() >= max_queued {
            return Err(QueueFull);
        }
        self.pending.push_back(message);
        Ok(())
    }

    /// Forgets an outbound QoS 1 message; false if no such packet id was in
    /// flight (a stale or duplicate PUBACK).
    pub(crate) fn ack(&mut self, packet_id: u16) -> bool {
        match self.inflight.iter().position(|i| i.packet_id == packet_id) {
            Some(index) => {
                self.inflight.remove(index);
                true
            }
            None => false,
        }
    }

    fn allocate_packet_id(&mut self) -> u16 {
        // Bounded: inflight holds at most max_inflight (< 65535) ids, so a
        // free one is found within inflight.len() + 1 tries.
        loop {
            let candidate = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if !self.inflight.iter().any(|i| i.packet_id == candidate) {
                return candidate;
            }
        }
    }

    /// Next PUBLISH packets to write on connection `conn_id`, at most
    /// `max_packets`: first unacknowledged QoS 1 messages last written on
    /// another connection (DUP=1, same packet id), then queued messages
    /// while fewer than `max_inflight` QoS 1 messages await PUBACK.
    pub(crate) fn take_sendable(
        &mut self,
        conn_id: u64,
        max_inflight: usize,
        max_packets: usize,
    ) -> Vec<Publish> {
        let mut out = Vec::new();
        for entry in self.inflight.iter_mut() {
            if out.len() >= max_packets {
                return out;
            }
            if entry.sent_on_conn != conn_id {
                entry.sent_on_conn = conn_id;
                out.push(to_publish(&entry.message, entry.packet_id, true));
            }
        }
        while out.len() < max_packets {
            let Some(front) = self.pending.front() else {
                break;
            };
            if front.qos == QoS::AtMostOnce {
                if let Some(message) = self.pending.pop_front() {
                    out.push(to_publish(&message, 0, false));
                }
                continue;
            }
            if self.inflight.len() >= max_inflight {
                break;
            }
            let Some(message) = self.pending.pop_front() else {
                break;
            };
            let packet_id = self.allocate_packet_id();
            out.push(to_publish(&message, packet_id, false));
            self.inflight.push_back(Inflight {
                packet_id,
                message,
                sent_on_conn: conn_id,
            });
        }
        debug_assert!(
            self.inflight.len() <= max_inflight,
            "inflight window exceeded: the sender must stop at max_inflight"
        );
        out
    }

    /// Whether [`Session::take_sendable`] would return anything now.
    pub(crate) fn has_sendable(&self, conn_id: u64, max_inflight: usize) -> bool {
        self.inflight.iter().any(|i| i.sent_on_conn != conn_id)
            || self
                .pending
                .front()
                .is_some_and(|m| m.qos == QoS::AtMostOnce || self.inflight.len() < max_inflight)
    }

    /// Drops queued QoS 0 messages: they are not kept for an offline client.
    pub(crate) fn drop_qos0_pending(&mut self) {
        self.pending.retain(|m| m.qos != QoS::AtMostOnce);
    }
}

fn to_publish(message: &Message, packet_id: u16, dup: bool) -> Publish {
    let mut publish =
        Publish::from_bytes(message.topic.clone(), message.qos, message.payload.clone());
    publish.pkid = packet_id;
    publish.dup = dup;
    publish
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(topic: &str, qos: QoS) -> Message {
        Message {
            topic: topic.into(),
            payload: Bytes::from_static(b"p"),
            qos,
        }
    }

    #[test]
    fn qos1_messages_stop_at_the_inflight_window_and_resume_after_puback() {
        let mut session = Session::new(false);
        for _ in 0..3 {
            session.enqueue(message("t", QoS::AtLeastOnce), 10).unwrap();
        }
        let first = session.take_sendable(1, 2, 16);
        assert_eq!(first.iter().map(|p| p.pkid).collect::<Vec<_>>(), [1, 2]);
        assert!(!session.has_sendable(1, 2));
        assert!(session.ack(1));
        let second = session.take_sendable(1, 2, 16);
        assert_eq!(second.iter().map(|p| p.pkid).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn unacked_messages_are_resent_with_dup_and_the_same_packet_id_on_a_new_connection() {
        let mut session = Session::new(false);
        session.enqueue(message("t", QoS::AtLeastOnce), 10).unwrap();
        let first = session.take_sendable(1, 8, 16);
        assert!(!first[0].dup);
        let again = session.take_sendable(2, 8, 16);
        assert_eq!(again.len(), 1);
        assert!(again[0].dup);
        assert_eq!(again[0].pkid, first[0].pkid);
        assert!(session.take_sendable(2, 8, 16).is_empty());
    }

    #[test]
    fn packet_ids_skip_zero_and_ids_still_in_flight() {
        let mut session = Session::new(false);
        session.next_packet_id = u16::MAX;
        for _ in 0..3 {
            session.enqueue(message("t", QoS::AtLeastOnce), 10).unwrap();
        }
        let sent = session.take_sendable(1, 8, 16);
        assert_eq!(
            sent.iter().map(|p| p.pkid).collect::<Vec<_>>(),
            [u16::MAX, 1, 2]
        );
    }

    #[test]
    fn a_full_queue_refuses_new_messages() {
        let mut session = Session::new(false);
        session.enqueue(message("t", QoS::AtLeastOnce), 1).unwrap();
        assert_eq!(
            session.enqueue(message("t", QoS::AtLeastOnce), 1),
            Err(QueueFull)
        );
    }

    #[test]
    fn overlapping_subscriptions_deliver_at_the_highest_granted_qos() {
        let mut session = Session::new(true);
        session.subscribe("a/#", QoS::AtMostOnce, 8);
        session.subscribe("a/+", QoS::AtLeastOnce, 8);
        assert_eq!(session.matching_qos("a/b"), Some(QoS::AtLeastOnce));
        assert_eq!(session.matching_qos("a/b/c"), Some(QoS::AtMostOnce));
        assert_eq!(session.matching_qos("b"), None);
    }

    #[test]
    fn qos2_subscriptions_are_granted_qos1_and_the_limit_refuses_new_filters() {
        let mut session = Session::new(true);
        assert_eq!(
            session.subscribe("a", QoS::ExactlyOnce, 1),
            SubscribeReasonCode::Success(QoS::AtLeastOnce)
        );
        assert_eq!(
            session.subscribe("b", QoS::AtMostOnce, 1),
            SubscribeReasonCode::Failure
        );
        assert_eq!(
            session.subscribe("a", QoS::AtMostOnce, 1),
            SubscribeReasonCode::Success(QoS::AtMostOnce)
        );
    }
}
