//! The state every connection shares: sessions, live connections, the
//! active fault mode and the ledger. Held behind one mutex by [`Broker`];
//! every method here runs under that lock and never awaits.
//!
//! [`Broker`]: super::Broker

use std::collections::BTreeMap;
use std::sync::Arc;

use mqttbytes::v4::{Connect, ConnectReturnCode, Publish, Subscribe, SubscribeReasonCode};
use mqttbytes::{Protocol, QoS};
use tokio::sync::Notify;

use super::conn::CloseReason;
use super::fault::BrokerFault;
use super::ledger::{Clock, Ledger, MessageRecord, Record};
use super::session::{min_qos, Message, Session};
use super::topic::validate_filter;
use super::BrokerConfig;

/// A live connection as the shared state knows it.
#[derive(Debug)]
struct ConnEntry {
    /// Wakes the connection's task: new outbound messages, a fault change,
    /// or a kill order.
    wake: Arc<Notify>,
    /// Set once CONNECT is accepted.
    client_id: Option<String>,
    /// Set when the connection must close; the task reads it on wake-up.
    kill: Option<CloseReason>,
}

/// Result of a CONNECT.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ConnectOutcome {
    Accepted {
        client_id: String,
        session_present: bool,
    },
    Refused(ConnectReturnCode),
}

pub(crate) struct BrokerState {
    pub(crate) config: BrokerConfig,
    clock: Box<dyn Clock>,
    sessions: BTreeMap<String, Session>,
    conns: BTreeMap<u64, ConnEntry>,
    next_conn_id: u64,
    next_generated_client: u64,
    mode: Option<BrokerFault>,
    ledger: Ledger,
}

impl BrokerState {
    pub(crate) fn new(config: BrokerConfig, clock: Box<dyn Clock>) -> Self {
        let ledger = Ledger::new(config.max_ledger_entries);
        Self {
            config,
            clock,
            sessions: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn_id: 1,
            next_generated_client: 1,
            mode: None,
            ledger,
        }
    }

    fn record(&mut self, record: Record) {
        let at_ms = self.clock.elapsed_ms();
        self.ledger.push(at_ms, record);
    }

    pub(crate) fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub(crate) fn mode(&self) -> Option<BrokerFault> {
        self.mode
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn subscriptions_of(&self, client_id: &str) -> Vec<(String, QoS)> {
        self.sessions
            .get(client_id)
            .map(Session::subscriptions)
            .unwrap_or_default()
    }

    pub(crate) fn is_crashed(&self) -> bool {
        matches!(self.mode, Some(BrokerFault::Crash { .. }))
    }

    /// Admits a new TCP connection, or says why it is dropped at once.
    pub(crate) fn register_conn(&mut self) -> Result<(u64, Arc<Notify>), CloseReason> {
        if self.is_crashed() {
            return Err(CloseReason::BrokerDown);
        }
        if self.conns.len() >= self.config.max_connections {
            return Err(CloseReason::TooManyConnections);
        }
        let conn_id = self.next_conn_id;
        self.next_conn_id += 1;
        let wake = Arc::new(Notify::new());
        self.conns.insert(
            conn_id,
            ConnEntry {
                wake: Arc::clone(&wake),
                client_id: None,
                kill: None,
            },
        );
        Ok((conn_id, wake))
    }

    /// Forgets a connection (its task ended or was dropped) and detaches
    /// its session: a clean session ends here, a persistent one keeps its
    /// subscriptions and QoS 1 messages but drops queued QoS 0 ones.
    pub(crate) fn unregister_conn(&mut self, conn_id: u64) {
        let Some(entry) = self.conns.remove(&conn_id) else {
            return;
        };
        let Some(client_id) = entry.client_id else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&client_id) else {
            return;
        };
        if session.owner != Some(conn_id) {
            // Taken over: the session belongs to the newer connection.
            return;
        }
        session.owner = None;
        if session.clean {
            self.sessions.remove(&client_id);
        } else {
            session.drop_qos0_pending();
        }
    }

    pub(crate) fn record_close(&mut self, conn_id: u64, reason: CloseReason) {
        let client_id = self
            .conns
            .get(&conn_id)
            .and_then(|entry| entry.client_id.clone());
        tracing::debug!(conn_id, client_id = client_id.as_deref(), %reason, "connection closed");
        self.record(Record::Closed { client_id, reason });
    }

    pub(crate) fn record_dropped_at_accept(&mut self, reason: CloseReason) {
        tracing::debug!(%reason, "connection dropped at accept");
        self.record(Record::Closed {
            client_id: None,
            reason,
        });
    }

    pub(crate) fn kill_reason(&self, conn_id: u64) -> Option<CloseReason> {
        self.conns.get(&conn_id).and_then(|entry| entry.kill)
    }

    fn kill(&mut self, conn_id: u64, reason: CloseReason) {
        if let Some(entry) = self.conns.get_mut(&conn_id) {
            entry.kill.get_or_insert(reason);
            entry.wake.notify_one();
        }
    }

    fn kill_all(&mut self, reason: CloseReason) {
        for entry in self.conns.values_mut() {
            entry.kill.get_or_insert(reason);
            entry.wake.notify_one();
        }
    }

    fn wake_all(&self) {
        for entry in self.conns.values() {
            entry.wake.notify_one();
        }
    }

    fn wake_owner(&self, client_id: &str) {
        let owner = self.sessions.get(client_id).and_then(|s| s.owner);
        if let Some(entry) = owner.and_then(|conn_id| self.conns.get(&conn_id)) {
            entry.wake.notify_one();
        }
    }

    fn client_id_of(&self, conn_id: u64) -> Option<&str> {
        self.conns
            .get(&conn_id)
            .and_then(|entry| entry.client_id.as_deref())
    }

    /// The session attached to `conn_id`, if that connection still owns it.
    fn owned_session(&mut self, conn_id: u64) -> Option<(&str, &mut Session)> {
        let client_id = self.conns.get(&conn_id)?.client_id.as_deref()?;
        let session = self.sessions.get_mut(client_id)?;
        (session.owner == Some(conn_id)).then_some((client_id, session))
    }

    fn refuse(&mut self, client_id: &str, code: ConnectReturnCode) -> ConnectOutcome {
        self.record(Record::Refused {
            client_id: client_id.to_owned(),
            code,
        });
        ConnectOutcome::Refused(code)
    }

    pub(crate) fn connect(&mut self, conn_id: u64, connect: &Connect) -> ConnectOutcome {
        if self.mode == Some(BrokerFault::RefuseConnections) {
            return self.refuse(&connect.client_id, ConnectReturnCode::ServiceUnavailable);
        }
        if connect.protocol != Protocol::V4 {
            return self.refuse(
                &connect.client_id,
                ConnectReturnCode::RefusedProtocolVersion,
            );
        }
        if connect.client_id.is_empty() && !connect.clean_session {
            // 3.1.3.1: a zero-length id requires clean session.
            return self.refuse(&connect.client_id, ConnectReturnCode::BadClientId);
        }
        let client_id = if connect.client_id.is_empty() {
            let generated = format!("generated-{}", self.next_generated_client);
            self.next_generated_client += 1;
            generated
        } else {
            connect.client_id.clone()
        };
        let existing = self.sessions.get(&client_id);
        if existing.is_none() && self.sessions.len() >= self.config.max_sessions {
            return self.refuse(&client_id, ConnectReturnCode::ServiceUnavailable);
        }
        let previous_owner = existing.and_then(|s| s.owner);
        let resumable = existing.is_some_and(|s| !s.clean) && !connect.clean_session;
        if let Some(old_conn) = previous_owner.filter(|old| *old != conn_id) {
            self.kill(old_conn, CloseReason::TakenOver);
        }
        if !resumable {
            self.sessions
                .insert(client_id.clone(), Session::new(connect.clean_session));
        }
        if let Some(session) = self.sessions.get_mut(&client_id) {
            session.owner = Some(conn_id);
        }
        if let Some(entry) = self.conns.get_mut(&conn_id) {
            entry.client_id = Some(client_id.clone());
        }
        self.record(Record::Connected {
            client_id: client_id.clone(),
            clean_session: connect.clean_session,
            session_present: resumable,
        });
        ConnectOutcome::Accepted {
            client_id,
            session_present: resumable,
        }
    }

    /// Accepts a PUBLISH from `conn_id` and routes it to every matching
    /// session, in client-id order.
    pub(crate) fn publish(&mut self, conn_id: u64, publish: &Publish) {
        let publisher = self.client_id_of(conn_id).unwrap_or("-").to_owned();
        self.record(Record::Accepted(MessageRecord {
            client_id: publisher,
            topic: publish.topic.clone(),
            payload: publish.payload.clone(),
            qos: publish.qos,
            packet_id: publish.pkid,
            dup: publish.dup,
        }));
        let max_queued = self.config.max_queued_messages;
        let mut targets = Vec::new();
        let mut overflowed = Vec::new();
        for (client_id, session) in self.sessions.iter_mut() {
            let Some(granted) = session.matching_qos(&publish.topic) else {
                continue;
            };
            let qos = min_qos(publish.qos, granted);
            if session.owner.is_none() && qos == QoS::AtMostOnce {
                // QoS 0 is not stored for offline clients (3.1.2.4 leaves
                // it optional; mosquitto's default is the same).
                continue;
            }
            let message = Message {
                topic: publish.topic.clone(),
                payload: publish.payload.clone(),
                qos,
            };
            match session.enqueue(message, max_queued) {
                Ok(()) => targets.push(client_id.clone()),
                Err(_) => overflowed.push(client_id.clone()),
            }
        }
        for client_id in overflowed {
            tracing::warn!(
                client_id,
                topic = publish.topic,
                "session queue full, message dropped"
            );
            self.record(Record::QueueFull {
                client_id,
                topic: publish.topic.clone(),
            });
        }
        for client_id in targets {
            self.wake_owner(&client_id);
        }
    }

    /// Handles a PUBACK for an outbound message; false for an unknown id.
    pub(crate) fn puback(&mut self, conn_id: u64, packet_id: u16) -> bool {
        self.owned_session(conn_id)
            .is_some_and(|(_, session)| session.ack(packet_id))
    }

    pub(crate) fn subscribe(
        &mut self,
        conn_id: u64,
        subscribe: &Subscribe,
    ) -> Vec<SubscribeReasonCode> {
        let max_subscriptions = self.config.max_subscriptions;
        let Some((_, session)) = self.owned_session(conn_id) else {
            return vec![SubscribeReasonCode::Failure; subscribe.filters.len()];
        };
        subscribe
            .filters
            .iter()
            .map(|filter| match validate_filter(&filter.path) {
                Ok(()) => session.subscribe(&filter.path, filter.qos, max_subscriptions),
                Err(_) => SubscribeReasonCode::Failure,
            })
            .collect()
    }

    pub(crate) fn unsubscribe(&mut self, conn_id: u64, filters: &[String]) {
        if let Some((_, session)) = self.owned_session(conn_id) {
            for filter in filters {
                session.unsubscribe(filter);
            }
        }
    }

    /// Next PUBLISH packets for `conn_id` (each recorded as a delivery) and
    /// whether more are ready. Nothing leaves a black-holed broker.
    pub(crate) fn take_sendable(
        &mut self,
        conn_id: u64,
        max_packets: usize,
    ) -> (Vec<Publish>, bool) {
        if self.mode == Some(BrokerFault::BlackHole) {
            return (Vec::new(), false);
        }
        let max_inflight = self.config.max_inflight;
        let Some((client_id, session)) = self.owned_session(conn_id) else {
            return (Vec::new(), false);
        };
        let client_id = client_id.to_owned();
        let publishes = session.take_sendable(conn_id, max_inflight, max_packets);
        let more = session.has_sendable(conn_id, max_inflight);
        for publish in &publishes {
            self.record(Record::Delivered(MessageRecord {
                client_id: client_id.clone(),
                topic: publish.topic.clone(),
                payload: publish.payload.clone(),
                qos: publish.qos,
                packet_id: publish.pkid,
                dup: publish.dup,
            }));
        }
        (publishes, more)
    }

    pub(crate) fn set_fault(&mut self, fault: BrokerFault) {
        tracing::info!(%fault, "broker fault set");
        self.record(Record::FaultSet(fault));
        let replaces_crash = fault.is_mode() && !matches!(fault, BrokerFault::Crash { .. });
        if let (true, Some(BrokerFault::Crash { keep_sessions })) = (replaces_crash, self.mode) {
            self.restart(keep_sessions);
        }
        match fault {
            BrokerFault::CloseAllConnections => self.kill_all(CloseReason::ClosedByFault),
            BrokerFault::Crash { keep_sessions } => {
                self.kill_all(CloseReason::Crashed);
                if !keep_sessions {
                    self.sessions.clear();
                }
                self.mode = Some(fault);
            }
            _ => {
                self.mode = Some(fault);
                self.wake_all();
            }
        }
    }

    pub(crate) fn clear_fault(&mut self) {
        if let Some(BrokerFault::Crash { keep_sessions }) = self.mode {
            self.restart(keep_sessions);
        }
        tracing::info!("broker fault cleared");
        self.record(Record::FaultCleared);
        self.mode = None;
        self.wake_all();
    }

    fn restart(&mut self, keep_sessions: bool) {
        if !keep_sessions {
            self.sessions.clear();
        }
        tracing::info!(keep_sessions, "broker restarted");
        self.record(Record::Restarted { keep_sessions });
        self.mode = None;
    }
}
