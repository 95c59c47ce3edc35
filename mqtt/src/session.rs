//! The sans-IO MQTT session: packet ids, the in-flight table (indexed by
//! packet id), subscriptions, the offline queue and keep-alive. It never
//! touches a socket or a clock: inputs come through `handle_*` methods that
//! take `now`, outputs leave through `poll_transmit` / `poll_event`, and the
//! next wake-up is `poll_timeout`. The driver moves bytes and time.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use mqttbytes::v4::{
    Connect, Packet, PubAck, Publish, SubAck, Subscribe, SubscribeFilter, SubscribeReasonCode,
    Unsubscribe,
};
use mqttbytes::QoS;

use crate::codec::packet_name;
use crate::error::{MqttError, Operation, ProtocolError};
use crate::ids::PacketIds;
use crate::keepalive::{KeepAlive, Tick};
use crate::request::{Message, Outcome, Reply, Request, Token};
use crate::topic;

/// Most subscriptions one client holds. With `max_in_flight` capped at
/// 65,000 this keeps re-subscription (32 filters per SUBSCRIBE) inside the
/// 65,535 packet ids.
pub const SUBSCRIPTION_LIMIT: usize = 8192;
const FILTERS_PER_RESUBSCRIBE: usize = 32;

/// The session's settings (a subset of [`crate::ClientConfig`]).
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Client identifier sent in CONNECT.
    pub client_id: String,
    /// Keep-alive interval (whole seconds).
    pub keep_alive: Duration,
    /// Wait for PINGRESP before declaring the link dead.
    pub ping_timeout: Duration,
    /// CONNECT clean-session flag.
    pub clean_session: bool,
    /// Packets awaiting an ack at once, re-subscriptions excepted.
    pub max_in_flight: u16,
    /// Requests that may wait in the offline queue.
    pub offline_queue_limit: usize,
    /// Deadline for re-subscribing every filter after a reconnect.
    pub resubscribe_timeout: Duration,
}

/// Something the session wants the driver to know.
#[derive(Debug)]
pub enum Event {
    /// A request finished.
    Completed {
        /// The request.
        token: Token,
        /// How it ended.
        outcome: Outcome,
    },
    /// An application message arrived; route it with
    /// [`Session::handlers_for`].
    Message(Message),
    /// The link is ready for traffic: CONNACK received and every filter
    /// re-subscribed if the broker had no session.
    Healthy {
        /// The CONNACK session-present flag.
        session_present: bool,
    },
}

/// One packet to write. `on_written` is the QoS 0 publish that completes
/// once these bytes are handed to the transport.
#[derive(Debug)]
pub struct Transmit {
    /// The packet.
    pub packet: Packet,
    /// Request to complete when the packet is written.
    pub on_written: Option<Token>,
}

#[derive(Debug)]
enum Pending<H> {
    Publish {
        publish: Publish,
        token: Option<Token>,
        seq: u64,
    },
    Subscribe {
        filter: String,
        qos: QoS,
        handler: H,
        token: Option<Token>,
        seq: u64,
    },
    Unsubscribe {
        filter: String,
        token: Option<Token>,
        seq: u64,
    },
    Resubscribe {
        filters: Vec<String>,
    },
}

impl<H> Pending<H> {
    fn token(&self) -> Option<Token> {
        match self {
            Pending::Publish { token, .. }
            | Pending::Subscribe { token, .. }
            | Pending::Unsubscribe { token, .. } => *token,
            Pending::Resubscribe { .. } => None,
        }
    }

    fn token_mut(&mut self) -> Option<&mut Option<Token>> {
        match self {
            Pending::Publish { token, .. }
            | Pending::Subscribe { token, .. }
            | Pending::Unsubscribe { token, .. } => Some(token),
            Pending::Resubscribe { .. } => None,
        }
    }

    fn seq(&self) -> u64 {
        match self {
            Pending::Publish { seq, .. }
            | Pending::Subscribe { seq, .. }
            | Pending::Unsubscribe { seq, .. } => *seq,
            Pending::Resubscribe { .. } => 0,
        }
    }

    /// The packet to send again on a new link (same packet id; DUP for a
    /// publish, as 4.4 requires).
    fn resend_packet(&self, pkid: u16) -> Option<Packet> {
        match self {
            Pending::Publish { publish, .. } => {
                let mut publish = publish.clone();
                publish.dup = true;
                Some(Packet::Publish(publish))
            }
            Pending::Subscribe { filter, qos, .. } => {
                Some(subscribe_packet(pkid, [(filter, *qos)]))
            }
            Pending::Unsubscribe { filter, .. } => Some(unsubscribe_packet(pkid, filter)),
            Pending::Resubscribe { .. } => None,
        }
    }
}

#[derive(Debug)]
struct Subscription<H> {
    qos: QoS,
    handler: H,
}

#[derive(Debug)]
enum Phase {
    /// CONNACK said the broker has no session: waiting for the SUBACKs of
    /// re-subscription before reporting healthy.
    Resubscribing {
        deadline: Duration,
    },
    Up,
}

#[derive(Debug)]
struct Link {
    phase: Phase,
    session_present: bool,
    keep_alive: KeepAlive,
}

/// The MQTT 3.1.1 client session state machine; `H` is the handler type
/// attached to subscriptions.
#[derive(Debug)]
pub struct Session<H> {
    config: SessionConfig,
    ids: PacketIds,
    pending: BTreeMap<u16, Pending<H>>,
    resubscribes_pending: usize,
    queue: VecDeque<(Token, Request<H>)>,
    subscriptions: BTreeMap<String, Subscription<H>>,
    link: Option<Link>,
    transmit: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_seq: u64,
    dequeued: usize,
}

impl<H: Clone> Session<H> {
    /// An empty session with no link.
    ///
    /// # Panics
    /// If `max_in_flight` is 0 or above [`crate::MAX_IN_FLIGHT_LIMIT`]
    /// (a [`crate::ClientConfig`] never holds such a value).
    pub fn new(config: SessionConfig) -> Self {
        assert!(
            config.max_in_flight >= 1 && config.max_in_flight <= crate::config::MAX_IN_FLIGHT_LIMIT,
            "max_in_flight {} leaves no packet ids for re-subscription",
            config.max_in_flight
        );
        Session {
            config,
            ids: PacketIds::new(),
            pending: BTreeMap::new(),
            resubscribes_pending: 0,
            queue: VecDeque::new(),
            subscriptions: BTreeMap::new(),
            link: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            next_seq: 0,
            dequeued: 0,
        }
    }

    // ----- inputs from callers -------------------------------------------

    /// Queues a request; it is sent once the link is healthy and the
    /// in-flight window has room. A full queue fails it at once.
    pub fn submit(&mut self, token: Token, request: Request<H>) {
        let refusal = match &request {
            _ if self.queue.len() >= self.config.offline_queue_limit => {
                Some(MqttError::QueueFull {
                    limit: self.config.offline_queue_limit,
                })
            }
            Request::Subscribe { filter, .. } if self.subscription_limit_reached(filter) => {
                Some(MqttError::TooManySubscriptions {
                    limit: SUBSCRIPTION_LIMIT,
                })
            }
            _ => None,
        };
        if let Some(error) = refusal {
            self.dequeued += 1;
            self.complete(token, Err(error));
            return;
        }
        self.queue.push_back((token, request));
    }

    /// The caller stopped waiting for `token`. A queued request is dropped;
    /// one on the wire keeps its packet id until its ack arrives or the
    /// link ends, so a late ack can never match a newer packet.
    pub fn cancel(&mut self, token: Token) {
        if let Some(index) = self.queue.iter().position(|(t, _)| *t == token) {
            self.queue.remove(index);
            self.dequeued += 1;
            return;
        }
        let entry = self
            .pending
            .values_mut()
            .filter_map(Pending::token_mut)
            .find(|t| **t == Some(token));
        if let Some(slot) = entry {
            *slot = None;
        }
    }

    /// Fails every queued and in-flight request with [`MqttError::Closed`]
    /// and forgets the link; used when the owner disconnects.
    pub fn shutdown(&mut self) {
        while let Some((token, _)) = self.queue.pop_front() {
            self.dequeued += 1;
            self.complete(token, Err(MqttError::Closed));
        }
        let pending = std::mem::take(&mut self.pending);
        for entry in pending.into_values() {
            if let Some(token) = entry.token() {
                self.complete(token, Err(MqttError::Closed));
            }
        }
        self.resubscribes_pending = 0;
        self.fail_unwritten(&MqttError::Closed);
        self.link = None;
    }

    // ----- link lifecycle -----------------------------------------------

    /// The CONNECT packet for a new link.
    pub fn connect_packet(&self) -> Connect {
        let mut connect = Connect::new(self.config.client_id.as_str());
        connect.keep_alive = u16::try_from(self.config.keep_alive.as_secs()).unwrap_or(u16::MAX);
        connect.clean_session = self.config.clean_session;
        connect
    }

    /// A CONNACK with return code 0 arrived on a new link: re-subscribe if
    /// the broker has no session, and re-send everything still awaiting an
    /// ack with its old packet id.
    ///
    /// # Panics
    /// If a link is already up: the driver must report the old link lost
    /// first (a call-order bug, not an operating error).
    pub fn handle_connack(&mut self, now: Duration, session_present: bool) {
        assert!(self.link.is_none(), "a CONNACK for a link while one is up");
        let keep_alive = KeepAlive::new(now, self.config.keep_alive, self.config.ping_timeout);
        let resubscribe = !session_present && !self.subscriptions.is_empty();
        let phase = if resubscribe {
            Phase::Resubscribing {
                deadline: now + self.config.resubscribe_timeout,
            }
        } else {
            Phase::Up
        };
        self.link = Some(Link {
            phase,
            session_present,
            keep_alive,
        });
        if resubscribe {
            self.queue_resubscribe();
        } else {
            self.events.push_back(Event::Healthy { session_present });
        }
        self.queue_resends();
    }

    /// The link ended (I/O error, EOF, protocol error, timeout).
    pub fn handle_link_lost(&mut self, error: &MqttError) {
        if self.link.take().is_none() {
            return;
        }
        // Acks and pings belong to the old link: never carry them over.
        self.fail_unwritten(error);
        // Re-subscription starts afresh on the next link; abandoned requests
        // give their packet ids back now that no late ack can arrive.
        self.pending.retain(|_, entry| entry.token().is_some());
        self.resubscribes_pending = 0;
    }

    // ----- inputs from the wire and the clock ----------------------------

    /// A packet arrived on the current link.
    pub fn handle_packet(&mut self, now: Duration, packet: Packet) -> Result<(), ProtocolError> {
        let Some(link) = self.link.as_mut() else {
            return Err(ProtocolError::Unexpected {
                packet: packet_name(&packet),
            });
        };
        link.keep_alive.on_read(now);
        match packet {
            Packet::Publish(publish) => self.handle_publish(publish),
            Packet::PubAck(ack) => self.handle_puback(ack.pkid),
            Packet::SubAck(ack) => self.handle_suback(ack),
            Packet::UnsubAck(ack) => self.handle_unsuback(ack.pkid),
            Packet::PingResp => {
                link.keep_alive.on_ping_response();
                Ok(())
            }
            other => Err(ProtocolError::Unexpected {
                packet: packet_name(&other),
            }),
        }
    }

    /// Bytes were written to the transport at `now`.
    pub fn handle_written(&mut self, now: Duration) {
        if let Some(link) = self.link.as_mut() {
            link.keep_alive.on_write(now);
        }
    }

    /// Time has reached `now`: send a ping, or report the link dead
    /// (unanswered ping, re-subscription too slow).
    pub fn handle_timeout(&mut self, now: Duration) -> Result<(), MqttError> {
        let Some(link) = self.link.as_mut() else {
            return Ok(());
        };
        if let Phase::Resubscribing { deadline } = link.phase {
            if now >= deadline {
                return Err(MqttError::Timeout {
                    operation: Operation::Resubscribe,
                    after: self.config.resubscribe_timeout,
                });
            }
        }
        match link.keep_alive.tick(now) {
            Tick::Idle => Ok(()),
            Tick::Ping => {
                self.transmit.push_front(Transmit {
                    packet: Packet::PingReq,
                    on_written: None,
                });
                Ok(())
            }
            Tick::Dead => Err(MqttError::Timeout {
                operation: Operation::Ping,
                after: self.config.ping_timeout,
            }),
        }
    }

    // ----- outputs --------------------------------------------------------

    /// The next packet to write, if any: control packets first, then queued
    /// requests while the link is healthy and the window has room.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(transmit) = self.transmit.pop_front() {
            return Some(transmit);
        }
        if !self.is_healthy() || self.user_in_flight() >= usize::from(self.config.max_in_flight) {
            return None;
        }
        let (token, request) = self.queue.pop_front()?;
        self.dequeued += 1;
        Some(self.start(token, request))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called (none without a link).
    pub fn poll_timeout(&self) -> Option<Duration> {
        let link = self.link.as_ref()?;
        let keep_alive = link.keep_alive.deadline();
        Some(match link.phase {
            Phase::Resubscribing { deadline } => deadline.min(keep_alive),
            Phase::Up => keep_alive,
        })
    }

    /// Handlers of every subscription whose filter matches `topic`, in
    /// filter order.
    pub fn handlers_for<'a>(&'a self, topic_name: &'a str) -> impl Iterator<Item = &'a H> + 'a {
        self.subscriptions
            .iter()
            .filter(move |(filter, _)| topic::matches(topic_name, filter))
            .map(|(_, subscription)| &subscription.handler)
    }

    // ----- observation ---------------------------------------------------

    /// Whether a link is up and re-subscription (if any) is done.
    pub fn is_healthy(&self) -> bool {
        matches!(
            self.link,
            Some(Link {
                phase: Phase::Up,
                ..
            })
        )
    }

    /// Whether the current link's CONNACK had session-present set.
    pub fn session_present(&self) -> Option<bool> {
        self.link.as_ref().map(|link| link.session_present)
    }

    /// Requests that left the offline queue (sent, cancelled or failed)
    /// since the last call; the client's queue counter is lowered by this.
    pub fn take_dequeued(&mut self) -> usize {
        std::mem::take(&mut self.dequeued)
    }

    /// Requests waiting in the offline queue.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Packet ids awaiting an ack, in ascending order.
    pub fn in_flight_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.pending.keys().copied()
    }

    /// Filters currently subscribed (acknowledged by the broker).
    pub fn subscribed_filters(&self) -> impl Iterator<Item = &str> + '_ {
        self.subscriptions.keys().map(String::as_str)
    }

    // ----- internals -----------------------------------------------------

    fn user_in_flight(&self) -> usize {
        self.pending.len() - self.resubscribes_pending
    }

    fn complete(&mut self, token: Token, outcome: Outcome) {
        self.events.push_back(Event::Completed { token, outcome });
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn allocate_id(&mut self) -> u16 {
        let pending = &self.pending;
        self.ids
            .allocate(|id| pending.contains_key(&id))
            .expect("the in-flight window and subscription limit keep packet ids free")
    }

    /// Drops unwritten control packets and fails unwritten QoS 0 publishes.
    fn fail_unwritten(&mut self, error: &MqttError) {
        let unwritten = std::mem::take(&mut self.transmit);
        for transmit in unwritten {
            if let Some(token) = transmit.on_written {
                self.complete(token, Err(error.clone()));
            }
        }
    }

    fn start(&mut self, token: Token, request: Request<H>) -> Transmit {
        match request {
            Request::Publish {
                topic,
                payload,
                qos: QoS::AtMostOnce,
                retain,
            } => {
                let mut publish = Publish::from_bytes(topic, QoS::AtMostOnce, payload);
                publish.retain = retain;
                Transmit {
                    packet: Packet::Publish(publish),
                    on_written: Some(token),
                }
            }
            Request::Publish {
                topic,
                payload,
                qos,
                retain,
            } => {
                let pkid = self.allocate_id();
                let mut publish = Publish::from_bytes(topic, qos, payload);
                publish.pkid = pkid;
                publish.retain = retain;
                let packet = Packet::Publish(publish.clone());
                let seq = self.next_seq();
                self.insert_pending(
                    pkid,
                    Pending::Publish {
                        publish,
                        token: Some(token),
                        seq,
                    },
                );
                Transmit {
                    packet,
                    on_written: None,
                }
            }
            Request::Subscribe {
                filter,
                qos,
                handler,
            } => self.start_subscribe(token, filter, qos, handler),
            Request::Unsubscribe { filter } => {
                let pkid = self.allocate_id();
                let packet = unsubscribe_packet(pkid, &filter);
                let seq = self.next_seq();
                self.insert_pending(
                    pkid,
                    Pending::Unsubscribe {
                        filter,
                        token: Some(token),
                        seq,
                    },
                );
                Transmit {
                    packet,
                    on_written: None,
                }
            }
        }
    }

    fn start_subscribe(&mut self, token: Token, filter: String, qos: QoS, handler: H) -> Transmit {
        let pkid = self.allocate_id();
        let packet = subscribe_packet(pkid, [(&filter, qos)]);
        let seq = self.next_seq();
        self.insert_pending(
            pkid,
            Pending::Subscribe {
                filter,
                qos,
                handler,
                token: Some(token),
                seq,
            },
        );
        Transmit {
            packet,
            on_written: None,
        }
    }

    /// Whether subscribing to `filter` would exceed [`SUBSCRIPTION_LIMIT`],
    /// counting subscriptions held, on the wire and queued.
    fn subscription_limit_reached(&self, filter: &str) -> bool {
        if self.subscriptions.contains_key(filter) {
            return false;
        }
        let in_flight = self
            .pending
            .values()
            .filter(|p| matches!(p, Pending::Subscribe { .. }))
            .count();
        let queued = self
            .queue
            .iter()
            .filter(|(_, r)| matches!(r, Request::Subscribe { .. }))
            .count();
        self.subscriptions.len() + in_flight + queued >= SUBSCRIPTION_LIMIT
    }

    fn insert_pending(&mut self, pkid: u16, entry: Pending<H>) {
        let previous = self.pending.insert(pkid, entry);
        assert!(
            previous.is_none(),
            "packet id {pkid} handed out while still in flight"
        );
    }

    fn queue_resubscribe(&mut self) {
        let filters: Vec<(String, QoS)> = self
            .subscriptions
            .iter()
            .map(|(filter, s)| (filter.clone(), s.qos))
            .collect();
        for chunk in filters.chunks(FILTERS_PER_RESUBSCRIBE) {
            let pkid = self.allocate_id();
            let packet = subscribe_packet(pkid, chunk.iter().map(|(f, q)| (f, *q)));
            let filters = chunk.iter().map(|(f, _)| f.clone()).collect();
            self.insert_pending(pkid, Pending::Resubscribe { filters });
            self.resubscribes_pending += 1;
            self.transmit.push_back(Transmit {
                packet,
                on_written: None,
            });
        }
    }

    fn queue_resends(&mut self) {
        let mut resends: Vec<(u64, u16)> = self
            .pending
            .iter()
            .filter(|(_, entry)| !matches!(entry, Pending::Resubscribe { .. }))
            .map(|(pkid, entry)| (entry.seq(), *pkid))
            .collect();
        resends.sort_unstable();
        for (_, pkid) in resends {
            if let Some(packet) = self.pending[&pkid].resend_packet(pkid) {
                self.transmit.push_back(Transmit {
                    packet,
                    on_written: None,
                });
            }
        }
    }

    fn handle_publish(&mut self, publish: Publish) -> Result<(), ProtocolError> {
        match publish.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.transmit.push_back(Transmit {
                packet: Packet::PubAck(PubAck::new(publish.pkid)),
                on_written: None,
            }),
            // This client never subscribes with QoS 2, so a broker may
            // not send it one (3.8.4: granted QoS <= requested).
            QoS::ExactlyOnce => {
                return Err(ProtocolError::Unexpected {
                    packet: "PUBLISH with QoS 2",
                })
            }
        }
        self.events.push_back(Event::Message(Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            dup: publish.dup,
        }));
        Ok(())
    }

    fn handle_puback(&mut self, pkid: u16) -> Result<(), ProtocolError> {
        match self.pending.get(&pkid) {
            Some(Pending::Publish { .. }) => {}
            Some(_) => return Err(ProtocolError::Unexpected { packet: "PUBACK" }),
            None => {
                // Possible after a broker-side redelivery race; harmless.
                tracing::debug!(pkid, "PUBACK for a packet id not in flight, ignored");
                return Ok(());
            }
        }
        if let Some(token) = self.pending.remove(&pkid).and_then(|p| p.token()) {
            self.complete(token, Ok(Reply::Published));
        }
        Ok(())
    }

    fn handle_suback(&mut self, ack: SubAck) -> Result<(), ProtocolError> {
        let expected = match self.pending.get(&ack.pkid) {
            Some(Pending::Subscribe { .. }) => 1,
            Some(Pending::Resubscribe { filters }) => filters.len(),
            Some(_) => return Err(ProtocolError::Unexpected { packet: "SUBACK" }),
            None => {
                tracing::debug!(
                    pkid = ack.pkid,
                    "SUBACK for a packet id not in flight, ignored"
                );
                return Ok(());
            }
        };
        if ack.return_codes.len() != expected {
            return Err(ProtocolError::Unexpected {
                packet: "SUBACK with the wrong number of return codes",
            });
        }
        match self.pending.remove(&ack.pkid) {
            Some(Pending::Subscribe {
                filter,
                qos,
                handler,
                token,
                ..
            }) => self.finish_subscribe(filter, qos, handler, token, ack.return_codes[0]),
            Some(Pending::Resubscribe { filters }) => {
                self.finish_resubscribe(filters, &ack.return_codes)
            }
            _ => unreachable!("checked above"),
        }
        Ok(())
    }

    fn finish_subscribe(
        &mut self,
        filter: String,
        qos: QoS,
        handler: H,
        token: Option<Token>,
        code: SubscribeReasonCode,
    ) {
        let outcome = match code {
            SubscribeReasonCode::Success(granted) => {
                // Recorded even if the caller stopped waiting: the broker
                // now routes this filter to us either way.
                self.subscriptions
                    .insert(filter, Subscription { qos, handler });
                Ok(Reply::Subscribed(granted.into()))
            }
            SubscribeReasonCode::Failure => Err(MqttError::SubscriptionRefused { filter }),
        };
        if let Some(token) = token {
            self.complete(token, outcome);
        }
    }

    fn finish_resubscribe(&mut self, filters: Vec<String>, codes: &[SubscribeReasonCode]) {
        for (filter, code) in filters.into_iter().zip(codes) {
            if *code == SubscribeReasonCode::Failure {
                tracing::warn!(%filter, "broker refused re-subscription; filter dropped");
                self.subscriptions.remove(&filter);
            }
        }
        self.resubscribes_pending -= 1;
        if self.resubscribes_pending > 0 {
            return;
        }
        if let Some(link) = self.link.as_mut() {
            if matches!(link.phase, Phase::Resubscribing { .. }) {
                link.phase = Phase::Up;
                let session_present = link.session_present;
                self.events.push_back(Event::Healthy { session_present });
            }
        }
    }

    fn handle_unsuback(&mut self, pkid: u16) -> Result<(), ProtocolError> {
        match self.pending.get(&pkid) {
            Some(Pending::Unsubscribe { .. }) => {}
            Some(_) => return Err(ProtocolError::Unexpected { packet: "UNSUBACK" }),
            None => return Ok(()),
        }
        if let Some(Pending::Unsubscribe { filter, token, .. }) = self.pending.remove(&pkid) {
            self.subscriptions.remove(&filter);
            if let Some(token) = token {
                self.complete(token, Ok(Reply::Unsubscribed));
            }
        }
        Ok(())
    }
}

fn subscribe_packet<'a>(pkid: u16, filters: impl IntoIterator<Item = (&'a String, QoS)>) -> Packet {
    let filters = filters
        .into_iter()
        .map(|(path, qos)| SubscribeFilter::new(path.clone(), qos));
    let mut subscribe = Subscribe::new_many(filters);
    subscribe.pkid = pkid;
    Packet::Subscribe(subscribe)
}

fn unsubscribe_packet(pkid: u16, filter: &str) -> Packet {
    let mut unsubscribe = Unsubscribe::new(filter);
    unsubscribe.pkid = pkid;
    Packet::Unsubscribe(unsubscribe)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
