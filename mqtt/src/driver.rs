//! The thin tokio driver around the sans-IO [`Session`]: dials through the
//! [`Connector`] under the connect breaker, moves bytes between the stream
//! and the session, feeds it time, and hands replies and messages out.
//!
//! Each turn of the event loop does a bounded amount of work from every
//! source (commands, inbound frames, timers, outbound bytes) before it
//! waits, so a flood in one direction cannot starve the other.

use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breakwater_core::{CircuitBreaker, Classify, Permit, TokioClock};
use bytes::{Bytes, BytesMut};
use mqttbytes::v4::{ConnAck, ConnectReturnCode, Packet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::backoff::ReconnectBackoff;
use crate::codec;
use crate::config::ClientConfig;
use crate::connector::Connector;
use crate::error::{ConnectionError, MqttError, Operation, ProtocolError};
use crate::request::{Message, Outcome, Reply, Request, Token};
use crate::session::{Event, Session};
use crate::status::LinkStatus;

/// A subscription callback.
pub(crate) type Handler = Arc<dyn Fn(Message) + Send + Sync>;

/// Commands per turn, frames per turn: enough to pipeline, small enough
/// that the other direction gets its turn quickly.
const BATCH: usize = 64;
/// Stop encoding once this many bytes wait to be written (backpressure:
/// the rest stays in the session's queue, which is bounded).
const WRITE_HIGH_WATER_BYTES: usize = 64 * 1024;
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Bytes of a PUBLISH besides its payload: fixed header (5), topic (2 +
/// 65535), packet id (2).
const PUBLISH_OVERHEAD_BYTES: usize = 5 + 2 + 65_535 + 2;

/// From client handles to the driver.
pub(crate) enum Command {
    Request {
        token: Token,
        request: Request<Handler>,
        reply: oneshot::Sender<Outcome>,
    },
    Cancel(Token),
    Disconnect(oneshot::Sender<()>),
}

/// State shared between the driver and the client handles.
pub(crate) struct Shared {
    /// Requests submitted and not yet sent (or failed); the bound of the
    /// offline queue is checked against it before a request is queued.
    pub(crate) queued: AtomicUsize,
    /// Whether the link is healthy (the fail-fast check reads this, not
    /// the watch channel, to stay lock-free).
    pub(crate) healthy: AtomicBool,
    pub(crate) status: watch::Sender<LinkStatus>,
}

enum Closing {
    Open,
    /// Closing; reply to the `disconnect` call if there is one.
    Requested(Option<oneshot::Sender<()>>),
}

pub(crate) struct Driver<C: Connector> {
    connector: Arc<C>,
    session: Session<Handler>,
    commands: mpsc::UnboundedReceiver<Command>,
    replies: BTreeMap<Token, oneshot::Sender<Outcome>>,
    shared: Arc<Shared>,
    connect_breaker: CircuitBreaker,
    backoff: ReconnectBackoff,
    config: ClientConfig,
    max_frame_bytes: usize,
    origin: Instant,
    closing: Closing,
}

/// Bytes on their way out of one link, with the QoS 0 publishes that
/// complete once the bytes up to a mark have been written.
struct Outbound {
    buffer: BytesMut,
    encoded_total: u64,
    written_total: u64,
    marks: VecDeque<(u64, Token)>,
}

impl<C: Connector> Driver<C> {
    pub(crate) fn new(
        config: ClientConfig,
        connector: C,
        session: Session<Handler>,
        commands: mpsc::UnboundedReceiver<Command>,
        shared: Arc<Shared>,
        connect_breaker: CircuitBreaker,
        backoff: ReconnectBackoff,
    ) -> Self {
        let max_frame_bytes = config.max_payload_bytes() + PUBLISH_OVERHEAD_BYTES;
        Driver {
            connector: Arc::new(connector),
            session,
            commands,
            replies: BTreeMap::new(),
            shared,
            connect_breaker,
            backoff,
            config,
            max_frame_bytes,
            origin: Instant::now(),
            closing: Closing::Open,
        }
    }

    /// Connects, serves, reconnects, until the owner disconnects or every
    /// client handle is gone.
    pub(crate) async fn run(mut self) {
        let mut failures: u32 = 0;
        let mut wait_first = false;
        while self.is_open() {
            if wait_first {
                // After n consecutive failures the ceiling is min * 2^(n-1);
                // after a healthy link ends (n = 0) it is min, so even a
                // broker that accepts and drops at once is not hammered.
                let delay = self.backoff.delay(failures.saturating_sub(1));
                tracing::debug!(
                    failures,
                    delay_ms = delay.as_millis() as u64,
                    "reconnect backoff"
                );
                self.wait(delay).await;
                if !self.is_open() {
                    break;
                }
            }
            wait_first = true;
            let breaker = self.connect_breaker.clone();
            let permit = match breaker.try_acquire() {
                Ok(permit) => permit,
                Err(rejection) => {
                    // Open: the next probe is allowed after `retry_after`;
                    // waiting exactly that long (rather than the backoff)
                    // keeps rejections to one per outage phase.
                    let wait = rejection
                        .retry_after
                        .unwrap_or(self.config.reconnect_delay_min());
                    self.wait(wait).await;
                    wait_first = false;
                    continue;
                }
            };
            self.set_status(LinkStatus::Connecting);
            match self.establish().await {
                Ok((stream, leftover, connack)) => {
                    let healthy = self.serve(stream, leftover, connack, permit).await;
                    failures = if healthy {
                        0
                    } else {
                        failures.saturating_add(1)
                    };
                }
                Err(error) => {
                    permit.error(error.kind());
                    tracing::warn!(%error, "connect attempt failed");
                    self.set_status(LinkStatus::Down { error });
                    failures = failures.saturating_add(1);
                }
            }
        }
        self.finish();
    }

    fn is_open(&self) -> bool {
        matches!(self.closing, Closing::Open)
    }

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    fn set_status(&self, status: LinkStatus) {
        self.shared
            .healthy
            .store(status.is_connected(), Ordering::Release);
        self.shared.status.send_replace(status);
    }

    /// Sleeps for `delay` while still taking commands.
    async fn wait(&mut self, delay: Duration) {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        while self.is_open() {
            tokio::select! {
                biased;
                command = self.commands.recv() => self.handle_command(command),
                () = &mut sleep => return,
            }
        }
    }

    /// TCP connect + CONNECT -> CONNACK under one `connect_timeout`, still
    /// taking commands meanwhile.
    async fn establish(&mut self) -> Result<(C::Stream, BytesMut, ConnAck), MqttError> {
        let mut connect = BytesMut::new();
        codec::encode(
            &Packet::Connect(self.session.connect_packet()),
            &mut connect,
        )?;
        let timeout = self.config.connect_timeout();
        let attempt = tokio::time::timeout(
            timeout,
            handshake(
                Arc::clone(&self.connector),
                connect.freeze(),
                self.max_frame_bytes,
            ),
        );
        tokio::pin!(attempt);
        loop {
            tokio::select! {
                biased;
                result = &mut attempt => {
                    return result.unwrap_or(Err(MqttError::Timeout {
                        operation: Operation::Connect,
                        after: timeout,
                    }));
                }
                command = self.commands.recv() => {
                    self.handle_command(command);
                    if !self.is_open() {
                        return Err(MqttError::Closed);
                    }
                }
            }
        }
    }

    /// Runs one link until it fails or the client closes. Returns whether
    /// the link became healthy (which resets the reconnect backoff).
    async fn serve(
        &mut self,
        stream: C::Stream,
        leftover: BytesMut,
        connack: ConnAck,
        permit: Permit<'_, TokioClock>,
    ) -> bool {
        let now = self.now();
        self.session.handle_connack(now, connack.session_present);
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut inbound = leftover;
        let mut outbound = Outbound {
            buffer: BytesMut::new(),
            encoded_total: 0,
            written_total: 0,
            marks: VecDeque::new(),
        };
        let mut permit = Some(permit);
        let mut healthy = false;
        let error = loop {
            let commands_pending = self.take_commands();
            if !self.is_open() {
                break MqttError::Closed;
            }
            let frames_pending = match self.take_frames(&mut inbound) {
                Ok(pending) => pending,
                Err(error) => break error,
            };
            if let Err(error) = self.session.handle_timeout(self.now()) {
                break error;
            }
            if let Some(session_present) = self.drain_events() {
                healthy = true;
                if let Some(permit) = permit.take() {
                    permit.success();
                }
                tracing::info!(session_present, "connected");
                self.set_status(LinkStatus::Connected { session_present });
            }
            if let Err(error) = self.fill(&mut outbound) {
                break error.into();
            }
            self.drain_events();
            let busy = commands_pending || frames_pending;
            let wake = self.session.poll_timeout().map(|at| self.origin + at);
            if inbound.capacity() - inbound.len() < READ_CHUNK_BYTES {
                inbound.reserve(READ_CHUNK_BYTES);
            }
            tokio::select! {
                biased;
                written = writer.write_buf(&mut outbound.buffer), if !outbound.buffer.is_empty() => {
                    if let Err(error) = self.written(written, &mut outbound, &mut writer).await {
                        break error;
                    }
                }
                read = reader.read_buf(&mut inbound), if !frames_pending => match read {
                    Ok(0) => break ConnectionError::ClosedByBroker.into(),
                    Ok(_) => {}
                    Err(error) => break error.into(),
                },
                command = self.commands.recv(), if !commands_pending => self.handle_command(command),
                () = tokio::time::sleep_until(wake.unwrap_or(self.origin)), if wake.is_some() => {}
                // More work is buffered: yield instead of blocking, so the
                // next turn runs at once but other tasks (on a
                // current-thread runtime, the whole simulation) still run.
                () = tokio::task::yield_now(), if busy => {}
            }
        };
        if let Some(permit) = permit.take() {
            permit.error(error.kind());
        }
        // Half-written bytes mean a DISCONNECT would land mid-packet; then
        // closing the stream is the only clean thing left to do.
        let clean_cut = outbound.buffer.is_empty();
        self.link_lost(&error, &mut outbound);
        if !self.is_open() {
            goodbye(&mut writer, clean_cut, self.config.request_timeout()).await;
        }
        healthy
    }

    fn link_lost(&mut self, error: &MqttError, outbound: &mut Outbound) {
        if self.is_open() {
            tracing::warn!(%error, "link lost");
            self.set_status(LinkStatus::Down {
                error: error.clone(),
            });
        }
        self.session.handle_link_lost(error);
        for (_, token) in outbound.marks.drain(..) {
            self.reply(token, Err(error.clone()));
        }
        self.drain_events();
    }

    /// Takes up to [`BATCH`] commands without waiting; true if more may wait.
    fn take_commands(&mut self) -> bool {
        for _ in 0..BATCH {
            match self.commands.try_recv() {
                Ok(command) => self.handle_command(Some(command)),
                Err(mpsc::error::TryRecvError::Empty) => return false,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.handle_command(None);
                    return false;
                }
            }
        }
        true
    }

    /// Feeds up to [`BATCH`] buffered frames to the session; true if more
    /// complete frames may be buffered.
    fn take_frames(&mut self, inbound: &mut BytesMut) -> Result<bool, MqttError> {
        for _ in 0..BATCH {
            match codec::decode(inbound, self.max_frame_bytes)? {
                Some(packet) => self.session.handle_packet(self.now(), packet)?,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Encodes what the session wants sent, up to the high-water mark.
    fn fill(&mut self, outbound: &mut Outbound) -> Result<(), ProtocolError> {
        while outbound.buffer.len() < WRITE_HIGH_WATER_BYTES {
            let Some(transmit) = self.session.poll_transmit() else {
                break;
            };
            let before = outbound.buffer.len();
            codec::encode(&transmit.packet, &mut outbound.buffer)?;
            outbound.encoded_total += (outbound.buffer.len() - before) as u64;
            if let Some(token) = transmit.on_written {
                outbound.marks.push_back((outbound.encoded_total, token));
            }
        }
        Ok(())
    }

    async fn written<W: AsyncWrite + Unpin>(
        &mut self,
        written: std::io::Result<usize>,
        outbound: &mut Outbound,
        writer: &mut W,
    ) -> Result<(), MqttError> {
        let n = match written {
            Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into()),
            Ok(n) => n,
            Err(error) => return Err(error.into()),
        };
        outbound.written_total += n as u64;
        self.session.handle_written(self.now());
        while let Some(&(mark, token)) = outbound.marks.front() {
            if mark > outbound.written_total {
                break;
            }
            outbound.marks.pop_front();
            self.reply(token, Ok(Reply::Published));
        }
        if outbound.buffer.is_empty() {
            // Streams that buffer internally need a flush to move bytes.
            writer.flush().await?;
        }
        Ok(())
    }

    fn handle_command(&mut self, command: Option<Command>) {
        match command {
            Some(Command::Request {
                token,
                request,
                reply,
            }) => {
                self.replies.insert(token, reply);
                self.session.submit(token, request);
            }
            Some(Command::Cancel(token)) => {
                self.replies.remove(&token);
                self.session.cancel(token);
            }
            Some(Command::Disconnect(reply)) => self.closing = Closing::Requested(Some(reply)),
            None => {
                if self.is_open() {
                    self.closing = Closing::Requested(None);
                }
            }
        }
        self.drain_events();
    }

    /// Delivers replies and messages; returns `Some(session_present)` if
    /// the link became healthy.
    fn drain_events(&mut self) -> Option<bool> {
        let mut healthy = None;
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Completed { token, outcome } => self.reply(token, outcome),
                Event::Message(message) => self.dispatch(&message),
                Event::Healthy { session_present } => healthy = Some(session_present),
            }
        }
        let dequeued = self.session.take_dequeued();
        if dequeued > 0 {
            self.shared.queued.fetch_sub(dequeued, Ordering::AcqRel);
        }
        healthy
    }

    fn reply(&mut self, token: Token, outcome: Outcome) {
        if let Some(reply) = self.replies.remove(&token) {
            // The caller may have stopped waiting; nothing to do then.
            let _ = reply.send(outcome);
        }
    }

    fn dispatch(&self, message: &Message) {
        for handler in self.session.handlers_for(&message.topic) {
            // A panicking handler must not take the connection down with it.
            let result = catch_unwind(AssertUnwindSafe(|| handler(message.clone())));
            if result.is_err() {
                tracing::error!(topic = %message.topic, "subscription handler panicked");
            }
        }
    }

    fn finish(mut self) {
        self.session.shutdown();
        self.drain_events();
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Request { reply, .. } => {
                    let _ = reply.send(Err(MqttError::Closed));
                }
                Command::Disconnect(reply) => {
                    let _ = reply.send(());
                }
                Command::Cancel(_) => {}
            }
        }
        self.set_status(LinkStatus::Closed);
        if let Closing::Requested(Some(reply)) = std::mem::replace(&mut self.closing, Closing::Open)
        {
            let _ = reply.send(());
        }
    }
}

/// Dials and waits for a successful CONNACK; bytes after it stay buffered.
async fn handshake<C: Connector>(
    connector: Arc<C>,
    connect: Bytes,
    max_frame_bytes: usize,
) -> Result<(C::Stream, BytesMut, ConnAck), MqttError> {
    let mut stream = connector.connect().await?;
    stream.write_all(&connect).await?;
    stream.flush().await?;
    let mut inbound = BytesMut::with_capacity(1024);
    loop {
        if let Some(packet) = codec::decode(&mut inbound, max_frame_bytes)? {
            return match packet {
                Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success => {
                    Ok((stream, inbound, ack))
                }
                Packet::ConnAck(ack) => Err(MqttError::Refused(ack.code)),
                other => Err(ProtocolError::Unexpected {
                    packet: codec::packet_name(&other),
                }
                .into()),
            };
        }
        if read_more(&mut stream, &mut inbound).await? == 0 {
            return Err(ConnectionError::ClosedByBroker.into());
        }
    }
}

async fn read_more<S: AsyncRead + Unpin>(
    stream: &mut S,
    inbound: &mut BytesMut,
) -> std::io::Result<usize> {
    inbound.reserve(1024);
    stream.read_buf(inbound).await
}

/// Best-effort DISCONNECT on an orderly close, bounded in time.
async fn goodbye<W: AsyncWrite + Unpin>(writer: &mut W, send_disconnect: bool, limit: Duration) {
    let mut bytes = BytesMut::new();
    if send_disconnect {
        // Encoding a DISCONNECT cannot fail; if it ever did, the stream is
        // still shut down below.
        let _ = codec::encode(&Packet::Disconnect, &mut bytes);
    }
    let _ = tokio::time::timeout(limit, async {
        writer.write_all(&bytes).await?;
        writer.shutdown().await
    })
    .await;
}
