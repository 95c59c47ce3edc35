//! A small MQTT 3.1.1 broker that speaks real bytes (`mqttbytes::v4`) over
//! any `AsyncRead + AsyncWrite` stream, so the same code serves turmoil's
//! simulated TCP and real loopback TCP (where `mosquitto_pub`/`_sub` drive
//! it).
//!
//! Supported: CONNECT/CONNACK with refusal codes; PUBLISH QoS 0 and 1 with
//! PUBACK; SUBSCRIBE/SUBACK with `+` and `#`; UNSUBSCRIBE/UNSUBACK;
//! PINGREQ/PINGRESP; DISCONNECT; persistent sessions (`clean_session = 0`:
//! subscriptions kept, QoS 1 queued while offline, unacknowledged QoS 1
//! resent with DUP=1 and the same packet id on reconnect); takeover of a
//! duplicate client id; delivered QoS = min(publish QoS, granted QoS).
//!
//! Not supported, on purpose: QoS 2 (subscriptions asking for it are
//! granted QoS 1; a QoS 2 PUBLISH closes the connection with
//! [`CloseReason::Qos2Unsupported`]), retained messages (the retain flag is
//! ignored), last will (accepted, never published), authentication.
//!
//! Everything is bounded by [`BrokerConfig`], and every failure mode a
//! breaker must survive is one [`BrokerFault`] away.

mod conn;
mod fault;
mod ledger;
mod session;
mod state;
pub mod topic;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};

pub use conn::{CloseReason, Violation};
pub use fault::{BrokerFault, MALFORMED_REPLY};
pub use ledger::{
    Clock, LedgerEntry, MessageRecord, PayloadText, Record, SimClock, TokioClock,
    PAYLOAD_TEXT_LIMIT_BYTES,
};

use state::BrokerState;

/// The standard MQTT port, used for the broker host in simulations.
pub const MQTT_PORT: u16 = 1883;

/// Limits and timeouts of one broker. Every queue and table has a bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Largest accepted packet (remaining length); larger ones close the
    /// connection before their body is read.
    pub max_packet_size_bytes: usize,
    /// Messages waiting per session (offline, or beyond the inflight
    /// window); more are dropped and recorded as `QueueFull`.
    pub max_queued_messages: usize,
    /// Outbound QoS 1 messages awaiting PUBACK per session.
    pub max_inflight: usize,
    /// Sessions, persistent or not; a CONNECT that would create one more is
    /// refused with `ServiceUnavailable`.
    pub max_sessions: usize,
    /// Open connections; more are closed on accept.
    pub max_connections: usize,
    /// Topic filters per session; more are refused in SUBACK (0x80).
    pub max_subscriptions: usize,
    /// Ledger lines kept; the rest are counted, not stored.
    pub max_ledger_entries: usize,
    /// Time a new connection has to send CONNECT.
    pub connect_timeout: Duration,
    /// Time one write may take before the connection is closed.
    pub write_timeout: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            max_packet_size_bytes: 256 * 1024,
            max_queued_messages: 1_000,
            max_inflight: 32,
            max_sessions: 1_024,
            max_connections: 1_024,
            max_subscriptions: 64,
            max_ledger_entries: 1_000_000,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// A [`BrokerConfig`] field broke its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("invalid broker config: {field} {rule}")]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// The rule it broke.
    pub rule: &'static str,
}

/// Largest remaining length MQTT's variable-length encoding can carry.
const MQTT_MAX_REMAINING_LENGTH: usize = 268_435_455;

impl BrokerConfig {
    /// Checks every field, naming the first one that breaks its rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max_packet_size_bytes", self.max_packet_size_bytes),
            ("max_queued_messages", self.max_queued_messages),
            ("max_inflight", self.max_inflight),
            ("max_sessions", self.max_sessions),
            ("max_connections", self.max_connections),
            ("max_subscriptions", self.max_subscriptions),
            ("max_ledger_entries", self.max_ledger_entries),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ConfigError {
                    field,
                    rule: "must be at least 1",
                });
            }
        }
        if self.max_packet_size_bytes > MQTT_MAX_REMAINING_LENGTH {
            return Err(ConfigError {
                field: "max_packet_size_bytes",
                rule: "must be at most 268435455 (MQTT's length limit)",
            });
        }
        if self.max_inflight >= usize::from(u16::MAX) {
            return Err(ConfigError {
                field: "max_inflight",
                rule: "must be below 65535 (packet ids in flight must stay unique)",
            });
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError {
                field: "connect_timeout",
                rule: "must be positive",
            });
        }
        if self.write_timeout.is_zero() {
            return Err(ConfigError {
                field: "write_timeout",
                rule: "must be positive",
            });
        }
        Ok(())
    }
}

/// A listener the broker can serve: turmoil's simulated one or tokio's.
pub trait Accept {
    /// The accepted byte stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Waits for the next connection.
    fn accept_stream(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;
}

impl Accept for turmoil::net::TcpListener {
    type Stream = turmoil::net::TcpStream;

    fn accept_stream(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> {
        self.accept()
    }
}

impl Accept for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    fn accept_stream(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> {
        self.accept()
    }
}

/// Handle to one broker: cheap to clone, shared by the serving host, its
/// connection tasks, and the test or scenario that injects faults and reads
/// the ledger.
#[derive(Clone)]
pub struct Broker {
    state: Arc<Mutex<BrokerState>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Broker")
            .field("connections", &state.connection_count())
            .field("sessions", &state.session_count())
            .field("fault", &state.mode())
            .finish()
    }
}

/// Unregisters a connection however its task ends, including when turmoil
/// drops the task because its host crashed.
struct Registration {
    broker: Broker,
    conn_id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.broker.lock().unregister_conn(self.conn_id);
    }
}

impl Broker {
    /// A broker with `config`, stamping its ledger with `clock`.
    pub fn new(config: BrokerConfig, clock: impl Clock) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            state: Arc::new(Mutex::new(BrokerState::new(config, Box::new(clock)))),
        })
    }

    /// A broker with default limits and turmoil's clock.
    pub fn for_sim() -> Self {
        Self {
            state: Arc::new(Mutex::new(BrokerState::new(
                BrokerConfig::default(),
                Box::new(SimClock::new()),
            ))),
        }
    }

    /// Poisoning is ignored: state changes are small and complete before
    /// anything that could panic, and a broker that stops answering because
    /// one task panicked would hide the panic behind a hang.
    fn lock(&self) -> MutexGuard<'_, BrokerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Switches a fault on (see [`BrokerFault`] for each one's effect).
    pub fn set_fault(&self, fault: BrokerFault) {
        self.lock().set_fault(fault);
    }

    /// Back to normal service; a crashed broker restarts, keeping sessions
    /// or not as its [`BrokerFault::Crash`] said.
    pub fn clear_fault(&self) {
        self.lock().clear_fault();
    }

    /// The active fault mode, if any.
    pub fn fault(&self) -> Option<BrokerFault> {
        self.lock().mode()
    }

    /// Open connections (including those not past CONNECT yet).
    pub fn connection_count(&self) -> usize {
        self.lock().connection_count()
    }

    /// Sessions held: connected clients plus offline persistent sessions.
    pub fn session_count(&self) -> usize {
        self.lock().session_count()
    }

    /// Filters `client_id`'s session is subscribed to, with granted QoS, in
    /// filter order (empty if there is no such session).
    pub fn subscriptions_of(&self, client_id: &str) -> Vec<(String, mqttbytes::QoS)> {
        self.lock().subscriptions_of(client_id)
    }

    /// A copy of the ledger so far.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.lock().ledger().entries().to_vec()
    }

    /// The ledger as text, one entry per line, stable for byte comparison.
    pub fn ledger_text(&self) -> String {
        self.lock().ledger().render()
    }

    /// Entries not stored because the ledger reached its limit.
    pub fn ledger_overflow_count(&self) -> u64 {
        self.lock().ledger().overflow_count()
    }

    /// Serves one client connection until it closes, and says why it did.
    pub async fn serve_connection<S>(&self, mut stream: S) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let registered = self.lock().register_conn();
        let (conn_id, wake) = match registered {
            Ok(registered) => registered,
            Err(reason) => {
                self.lock().record_dropped_at_accept(reason);
                return reason;
            }
        };
        let registration = Registration {
            broker: self.clone(),
            conn_id,
        };
        let mut driver = conn::Driver::new(self.clone(), conn_id, wake);
        let reason = driver.run(&mut stream).await;
        tracing::debug!(conn_id, client_id = driver.client_id(), %reason, "closing connection");
        self.lock().record_close(conn_id, reason);
        drop(registration);
        reason
    }

    /// Accepts connections forever, one task each. Returns only when
    /// accepting fails.
    pub async fn serve<L: Accept>(&self, listener: L) -> io::Result<()> {
        loop {
            let (stream, peer) = listener.accept_stream().await?;
            tracing::trace!(%peer, "accepted");
            let broker = self.clone();
            tokio::spawn(async move {
                broker.serve_connection(stream).await;
            });
        }
    }

    /// Binds turmoil's listener on `0.0.0.0:port` of the current host and
    /// serves it: the body of a broker host in a simulation.
    pub async fn serve_turmoil(&self, port: u16) -> io::Result<()> {
        let listener = turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?;
        self.serve(listener).await
    }

    /// Serves a real TCP listener (bind `127.0.0.1:0` for tests).
    pub async fn serve_tcp(&self, listener: tokio::net::TcpListener) -> io::Result<()> {
        self.serve(listener).await
    }
}
