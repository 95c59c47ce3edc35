//! One client connection: reads MQTT packets from any byte stream, asks the
//! shared state for decisions, and writes the replies.
//!
//! The driver is one task with one `select!` over: a wake-up from the shared
//! state (new messages, a fault change, a kill order), the next delayed ack,
//! the socket, queued outbound messages, and the connect / keep-alive
//! deadline. Writes happen outside the `select!` (a cancelled `write_all`
//! would leave half a packet on the wire) and are bounded by a timeout.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use breakwater_mqtt::packet_name;
use bytes::BytesMut;
use mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Packet, PingResp, PubAck, Publish, SubAck, UnsubAck,
};
use mqttbytes::QoS;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::{sleep_until, timeout, Instant};

use super::fault::{AckPolicy, BrokerFault, MALFORMED_REPLY};
use super::state::ConnectOutcome;
use super::topic::{validate_topic_name, TopicError};
use super::Broker;

/// Most PUBLISH packets written per wake-up, so one busy subscriber cannot
/// keep its task from reading.
const OUTBOUND_BATCH_PACKETS: usize = 16;

/// Most acks held back by [`BrokerFault::DelayAcks`] on one connection;
/// beyond it further acks are dropped (and logged).
const MAX_DELAYED_ACKS: usize = 4_096;

/// Bytes reserved for each socket read.
const READ_CHUNK_BYTES: usize = 4_096;

/// A client broke MQTT 3.1.1 in a way that ends its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Violation {
    /// 3.1.0-1: the first packet must be CONNECT.
    #[error("first packet was not CONNECT")]
    FirstPacketNotConnect,
    /// 3.1.0-2: a second CONNECT is a protocol violation.
    #[error("second CONNECT on one connection")]
    SecondConnect,
    /// 2.3.1-1: SUBSCRIBE and UNSUBSCRIBE need a non-zero packet id.
    #[error("packet id 0")]
    PacketIdZero,
    /// 3.8.3-3 / 3.10.3-2: at least one topic filter is required.
    #[error("SUBSCRIBE or UNSUBSCRIBE without a topic filter")]
    NoFilters,
    /// 3.3.2-2: PUBLISH topic names carry no wildcards.
    #[error("invalid topic name: {0}")]
    InvalidTopicName(TopicError),
    /// A server-to-client packet, or QoS 2 flow control, sent by a client.
    #[error("unexpected {0} from a client")]
    UnexpectedPacket(&'static str),
}

/// Why the broker closed (or dropped) a connection. Logged via `tracing`
/// and recorded in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum CloseReason {
    /// The client sent DISCONNECT.
    #[error("client sent DISCONNECT")]
    ClientDisconnected,
    /// The peer closed the stream (EOF).
    #[error("peer closed the stream")]
    PeerClosed,
    /// Reading or writing failed.
    #[error("i/o error: {0:?}")]
    Io(io::ErrorKind),
    /// The bytes did not decode as MQTT 3.1.1 (or exceeded the packet size
    /// limit).
    #[error("malformed packet: {0:?}")]
    Malformed(mqttbytes::Error),
    /// The packets decoded but broke the protocol.
    #[error("protocol violation: {0}")]
    ProtocolViolation(Violation),
    /// An inbound QoS 2 PUBLISH: the broker implements QoS 0 and 1 only and
    /// refuses QoS 2 rather than pretending with the wrong ack.
    #[error("QoS 2 PUBLISH is not supported")]
    Qos2Unsupported,
    /// CONNECT was refused with this CONNACK code.
    #[error("CONNECT refused: {0:?}")]
    Refused(ConnectReturnCode),
    /// No CONNECT arrived within the connect timeout.
    #[error("no CONNECT within the connect timeout")]
    ConnectTimeout,
    /// Nothing arrived within 1.5 times the keep-alive (3.1.2.10).
    #[error("keep-alive expired")]
    KeepAliveTimeout,
    /// A write did not complete within the write timeout.
    #[error("write timed out")]
    WriteTimeout,
    /// A reply could not be encoded.
    #[error("could not encode a reply: {0:?}")]
    Encode(mqttbytes::Error),
    /// A newer connection with the same client id took the session over.
    #[error("taken over by a newer connection with the same client id")]
    TakenOver,
    /// [`BrokerFault::CloseAllConnections`].
    #[error("closed by fault close-all-connections")]
    ClosedByFault,
    /// [`BrokerFault::Crash`] dropped the connection.
    #[error("broker crashed")]
    Crashed,
    /// Accepted while the broker was crashed: dropped before reading.
    #[error("broker is down")]
    BrokerDown,
    /// Over [`BrokerConfig::max_connections`](super::BrokerConfig::max_connections).
    #[error("too many connections")]
    TooManyConnections,
}

impl CloseReason {
    /// Whether replies produced before the close are still written. Kill
    /// orders (crash, takeover, close-all) drop the link abruptly instead.
    fn flushes_pending_output(&self) -> bool {
        matches!(
            self,
            CloseReason::ClientDisconnected
                | CloseReason::Malformed(_)
                | CloseReason::ProtocolViolation(_)
                | CloseReason::Qos2Unsupported
                | CloseReason::Refused(_)
        )
    }
}

/// A packet the broker sends.
#[derive(Debug, Clone)]
enum Reply {
    ConnAck(ConnAck),
    PubAck(u16),
    SubAck(SubAck),
    UnsubAck(u16),
    PingResp,
    Publish(Publish),
}

impl Reply {
    /// Encodes into `out`; on error `out` is left as it was (mqttbytes may
    /// have written part of the packet before failing).
    fn encode(&self, out: &mut BytesMut) -> Result<(), mqttbytes::Error> {
        let mark = out.len();
        let result = match self {
            Reply::ConnAck(connack) => connack.write(out),
            Reply::PubAck(packet_id) => PubAck::new(*packet_id).write(out),
            Reply::SubAck(suback) => suback.write(out),
            Reply::UnsubAck(packet_id) => UnsubAck::new(*packet_id).write(out),
            Reply::PingResp => PingResp.write(out),
            Reply::Publish(publish) => publish.write(out),
        };
        if let Err(error) = result {
            out.truncate(mark);
            return Err(error);
        }
        Ok(())
    }
}

enum Wakeup {
    Notified,
    AckDue,
    Read(io::Result<usize>),
    Outbound,
    Deadline,
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

pub(crate) struct Driver {
    broker: Broker,
    conn_id: u64,
    wake: Arc<Notify>,
    client_id: Option<String>,
    read_buf: BytesMut,
    out: BytesMut,
    /// Acks held back by `DelayAcks`, keyed by due time then arrival order.
    delayed: BTreeMap<(Instant, u64), Reply>,
    delayed_seq: u64,
    /// Connect deadline before CONNECT, keep-alive deadline after.
    deadline: Option<Instant>,
    keep_alive_grace: Option<Duration>,
    outbound_ready: bool,
    max_packet_size_bytes: usize,
    write_timeout: Duration,
}

impl Driver {
    pub(crate) fn new(broker: Broker, conn_id: u64, wake: Arc<Notify>) -> Self {
        let (max_packet_size_bytes, write_timeout, connect_timeout) = {
            let state = broker.lock();
            (
                state.config.max_packet_size_bytes,
                state.config.write_timeout,
                state.config.connect_timeout,
            )
        };
        Self {
            broker,
            conn_id,
            wake,
            client_id: None,
            read_buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
            out: BytesMut::new(),
            delayed: BTreeMap::new(),
            delayed_seq: 0,
            deadline: Some(Instant::now() + connect_timeout),
            keep_alive_grace: None,
            outbound_ready: false,
            max_packet_size_bytes,
            write_timeout,
        }
    }

    pub(crate) fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    pub(crate) async fn run<S>(&mut self, stream: &mut S) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            self.read_buf.reserve(READ_CHUNK_BYTES);
            let ack_due = self.delayed.keys().next().map(|(due, _)| *due);
            let deadline = self.deadline;
            let wakeup = tokio::select! {
                biased;
                () = self.wake.notified() => Wakeup::Notified,
                () = sleep_until_some(ack_due), if ack_due.is_some() => Wakeup::AckDue,
                read = stream.read_buf(&mut self.read_buf) => Wakeup::Read(read),
                () = std::future::ready(()), if self.outbound_ready => Wakeup::Outbound,
                () = sleep_until_some(deadline), if deadline.is_some() => Wakeup::Deadline,
            };
            let step = match wakeup {
                Wakeup::Notified => self.on_wake(),
                Wakeup::AckDue => self.release_due_acks(),
                Wakeup::Read(Ok(0)) => Err(CloseReason::PeerClosed),
                Wakeup::Read(Ok(_)) => {
                    self.rearm_keep_alive();
                    self.process_input()
                }
                Wakeup::Read(Err(error)) => Err(CloseReason::Io(error.kind())),
                Wakeup::Outbound => self.pull_outbound(),
                Wakeup::Deadline => self.on_deadline(),
            };
            match step {
                Ok(()) => {
                    if let Err(reason) = self.flush(stream).await {
                        return reason;
                    }
                }
                Err(reason) => {
                    if reason.flushes_pending_output() {
                        // Best effort: the connection closes either way.
                        let _ = self.flush(stream).await;
                    }
                    return reason;
                }
            }
        }
    }

    fn mode(&self) -> Option<BrokerFault> {
        self.broker.lock().mode()
    }

    fn on_wake(&mut self) -> Result<(), CloseReason> {
        if let Some(reason) = self.broker.lock().kill_reason(self.conn_id) {
            return Err(reason);
        }
        self.outbound_ready = self.client_id.is_some();
        Ok(())
    }

    fn on_deadline(&mut self) -> Result<(), CloseReason> {
        if self.mode() == Some(BrokerFault::BlackHole) {
            // A black hole never closes anything; look again later.
            let grace = self.keep_alive_grace.unwrap_or(Duration::from_secs(1));
            self.deadline = Some(Instant::now() + grace);
            return Ok(());
        }
        match self.client_id {
            None => Err(CloseReason::ConnectTimeout),
            Some(_) => Err(CloseReason::KeepAliveTimeout),
        }
    }

    fn rearm_keep_alive(&mut self) {
        if let Some(grace) = self.keep_alive_grace {
            self.deadline = Some(Instant::now() + grace);
        }
    }

    fn process_input(&mut self) -> Result<(), CloseReason> {
        // Bounded: every Ok consumes a whole frame (at least 2 bytes) from
        // a buffer that holds at most one partial frame plus one read.
        loop {
            let black_hole = self.mode() == Some(BrokerFault::BlackHole);
            match mqttbytes::v4::read(&mut self.read_buf, self.max_packet_size_bytes) {
                Ok(_) if black_hole => continue,
                Ok(packet) => self.handle(packet)?,
                Err(mqttbytes::Error::InsufficientBytes(_)) => return Ok(()),
                Err(_) if black_hole => {
                    self.read_buf.clear();
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!(conn_id = self.conn_id, ?error, "malformed packet");
                    return Err(CloseReason::Malformed(error));
                }
            }
        }
    }

    fn handle(&mut self, packet: Packet) -> Result<(), CloseReason> {
        if self.client_id.is_none() {
            return match packet {
                Packet::Connect(connect) => self.on_connect(&connect),
                _ => Err(CloseReason::ProtocolViolation(
                    Violation::FirstPacketNotConnect,
                )),
            };
        }
        match packet {
            Packet::Connect(_) => Err(CloseReason::ProtocolViolation(Violation::SecondConnect)),
            Packet::Publish(publish) => self.on_publish(&publish),
            Packet::PubAck(puback) => {
                if !self.broker.lock().puback(self.conn_id, puback.pkid) {
                    tracing::debug!(
                        conn_id = self.conn_id,
                        packet_id = puback.pkid,
                        "PUBACK for no message in flight"
                    );
                }
                self.outbound_ready = true;
                Ok(())
            }
            Packet::Subscribe(subscribe) => {
                if subscribe.pkid == 0 {
                    return Err(CloseReason::ProtocolViolation(Violation::PacketIdZero));
                }
                if subscribe.filters.is_empty() {
                    return Err(CloseReason::ProtocolViolation(Violation::NoFilters));
                }
                let codes = self.broker.lock().subscribe(self.conn_id, &subscribe);
                self.ack(Reply::SubAck(SubAck::new(subscribe.pkid, codes)))
            }
            Packet::Unsubscribe(unsubscribe) => {
                if unsubscribe.pkid == 0 {
                    return Err(CloseReason::ProtocolViolation(Violation::PacketIdZero));
                }
                if unsubscribe.topics.is_empty() {
                    return Err(CloseReason::ProtocolViolation(Violation::NoFilters));
                }
                self.broker
                    .lock()
                    .unsubscribe(self.conn_id, &unsubscribe.topics);
                self.ack(Reply::UnsubAck(unsubscribe.pkid))
            }
            Packet::PingReq => self.emit(&Reply::PingResp),
            Packet::Disconnect => Err(CloseReason::ClientDisconnected),
            other => Err(CloseReason::ProtocolViolation(Violation::UnexpectedPacket(
                packet_name(&other),
            ))),
        }
    }

    fn on_connect(&mut self, connect: &mqttbytes::v4::Connect) -> Result<(), CloseReason> {
        let outcome = self.broker.lock().connect(self.conn_id, connect);
        match outcome {
            ConnectOutcome::Accepted {
                client_id,
                session_present,
            } => {
                self.emit(&Reply::ConnAck(ConnAck::new(
                    ConnectReturnCode::Success,
                    session_present,
                )))?;
                self.client_id = Some(client_id);
                self.keep_alive_grace = (connect.keep_alive > 0)
                    .then(|| Duration::from_millis(u64::from(connect.keep_alive) * 1_500));
                self.deadline = self.keep_alive_grace.map(|grace| Instant::now() + grace);
                // Resend unacknowledged messages and drain the offline queue.
                self.outbound_ready = true;
                Ok(())
            }
            ConnectOutcome::Refused(code) => {
                self.emit(&Reply::ConnAck(ConnAck::new(code, false)))?;
                Err(CloseReason::Refused(code))
            }
        }
    }

    fn on_publish(&mut self, publish: &Publish) -> Result<(), CloseReason> {
        if let Err(error) = validate_topic_name(&publish.topic) {
            return Err(CloseReason::ProtocolViolation(Violation::InvalidTopicName(
                error,
            )));
        }
        match publish.qos {
            QoS::ExactlyOnce => Err(CloseReason::Qos2Unsupported),
            QoS::AtMostOnce => {
                self.broker.lock().publish(self.conn_id, publish);
                Ok(())
            }
            QoS::AtLeastOnce => {
                self.broker.lock().publish(self.conn_id, publish);
                self.ack(Reply::PubAck(publish.pkid))
            }
        }
    }

    /// Sends, delays or drops an acknowledgement per the active fault.
    fn ack(&mut self, reply: Reply) -> Result<(), CloseReason> {
        match AckPolicy::for_fault(self.mode()) {
            AckPolicy::SendNow => self.emit(&reply),
            AckPolicy::Drop => {
                tracing::debug!(conn_id = self.conn_id, ?reply, "ack dropped by fault");
                Ok(())
            }
            AckPolicy::SendAfter(_) if self.delayed.len() >= MAX_DELAYED_ACKS => {
                tracing::warn!(
                    conn_id = self.conn_id,
                    ?reply,
                    "delayed-ack table full, ack dropped"
                );
                Ok(())
            }
            AckPolicy::SendAfter(delay) => {
                self.delayed_seq += 1;
                self.delayed
                    .insert((Instant::now() + delay, self.delayed_seq), reply);
                Ok(())
            }
        }
    }

    fn release_due_acks(&mut self) -> Result<(), CloseReason> {
        let now = Instant::now();
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let reply = entry.remove();
            self.emit(&reply)?;
        }
        Ok(())
    }

    fn pull_outbound(&mut self) -> Result<(), CloseReason> {
        let (publishes, more) = self
            .broker
            .lock()
            .take_sendable(self.conn_id, OUTBOUND_BATCH_PACKETS);
        self.outbound_ready = more;
        for publish in publishes {
            self.emit(&Reply::Publish(publish))?;
        }
        Ok(())
    }

    /// Queues a packet for writing, as the active fault allows.
    fn emit(&mut self, reply: &Reply) -> Result<(), CloseReason> {
        match self.mode() {
            Some(BrokerFault::BlackHole) => Ok(()),
            Some(BrokerFault::MalformedReplies) => {
                self.out.extend_from_slice(&MALFORMED_REPLY);
                Ok(())
            }
            _ => reply.encode(&mut self.out).map_err(CloseReason::Encode),
        }
    }

    async fn flush<S>(&mut self, stream: &mut S) -> Result<(), CloseReason>
    where
        S: AsyncWrite + Unpin,
    {
        if self.out.is_empty() {
            return Ok(());
        }
        match timeout(self.write_timeout, stream.write_all(&self.out)).await {
            Ok(Ok(())) => {
                self.out.clear();
                Ok(())
            }
            Ok(Err(error)) => Err(CloseReason::Io(error.kind())),
            Err(_) => Err(CloseReason::WriteTimeout),
        }
    }
}
