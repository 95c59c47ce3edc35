//! The broker's ledger: what it accepted, what it delivered, and what
//! happened to connections and faults, stamped with injected time.
//!
//! Oracles read it after a run ("no acknowledged QoS 1 message missing at
//! the broker"), and the determinism check compares its text form byte for
//! byte, so the entries are appended in the order the single-threaded
//! simulation produced them and rendered without any wall-clock field.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use mqttbytes::v4::ConnectReturnCode;
use mqttbytes::QoS;

use super::conn::CloseReason;
use super::fault::BrokerFault;

/// A source of elapsed time in milliseconds, injected so the ledger reads
/// virtual time under turmoil and a monotonic clock on real TCP.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the run started.
    fn elapsed_ms(&self) -> u64;
}

/// Turmoil's simulation time (`turmoil::sim_elapsed`).
///
/// Used instead of `tokio::time::Instant`: every turmoil host has its own
/// paused tokio runtime whose `Instant` base is taken from the OS clock when
/// the runtime is built (and rebuilt on a host crash), so instants from the
/// broker host and from a client host that calls `set_fault` are not
/// comparable. `sim_elapsed` is the one time every host agrees on.
/// Outside any host (e.g. the test body between `Sim::step` calls) it
/// returns the latest time it saw inside the simulation.
#[derive(Debug, Default)]
pub struct SimClock {
    last_seen_ms: AtomicU64,
}

impl SimClock {
    /// A clock reading turmoil's simulated time.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Clock for SimClock {
    fn elapsed_ms(&self) -> u64 {
        match turmoil::sim_elapsed() {
            Some(elapsed) => {
                let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
                self.last_seen_ms.fetch_max(ms, Ordering::Relaxed);
                ms
            }
            None => self.last_seen_ms.load(Ordering::Relaxed),
        }
    }
}

/// Time since a `tokio::time::Instant`, for the broker on real TCP (and for
/// tests on a paused tokio runtime, where it is virtual).
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose zero is now.
    pub fn starting_now() -> Self {
        Self {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// When it happened, from the broker's [`Clock`].
    pub at_ms: u64,
    /// What happened.
    pub record: Record,
}

/// A message as the broker saw it: the PUBLISH it accepted or sent.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    /// Publisher (for an acceptance) or receiver (for a delivery).
    pub client_id: String,
    /// Topic name.
    pub topic: String,
    /// Payload bytes.
    pub payload: Bytes,
    /// QoS of this PUBLISH packet.
    pub qos: QoS,
    /// Packet id on that link (0 for QoS 0).
    pub packet_id: u16,
    /// DUP flag of this PUBLISH packet.
    pub dup: bool,
}

/// What a ledger line records.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The broker accepted a PUBLISH: it is routed, and for QoS 1 it is the
    /// point after which a PUBACK may be sent (faults permitting).
    Accepted(MessageRecord),
    /// The broker handed a PUBLISH to a subscriber's connection.
    Delivered(MessageRecord),
    /// A message for an offline or slow subscriber was dropped because its
    /// queue was full.
    QueueFull {
        /// Subscriber whose queue overflowed.
        client_id: String,
        /// Topic of the dropped message.
        topic: String,
    },
    /// A CONNECT was accepted.
    Connected {
        /// Client id (assigned by the broker when the client sent none).
        client_id: String,
        /// The CONNECT's clean-session flag.
        clean_session: bool,
        /// The CONNACK's session-present flag.
        session_present: bool,
    },
    /// A CONNECT was refused with a CONNACK return code.
    Refused {
        /// Client id from the CONNECT.
        client_id: String,
        /// The refusal code sent.
        code: ConnectReturnCode,
    },
    /// A connection ended.
    Closed {
        /// Client id, if the connection got past CONNECT.
        client_id: Option<String>,
        /// Why it ended.
        reason: CloseReason,
    },
    /// A fault was set (mode or action).
    FaultSet(BrokerFault),
    /// The active fault mode was cleared.
    FaultCleared,
    /// The broker came back from a crash.
    Restarted {
        /// Whether sessions survived.
        keep_sessions: bool,
    },
}

fn qos_number(qos: QoS) -> u8 {
    qos as u8
}

/// Payloads up to this size are written in full in text logs; longer ones
/// are cut, so a ledger of 64 KiB payloads stays small.
pub const PAYLOAD_TEXT_LIMIT_BYTES: usize = 64;

/// A payload as it appears in the ledger and event log: `"<escaped>"` when
/// at most [`PAYLOAD_TEXT_LIMIT_BYTES`], else its first 32 bytes, its length
/// and an FNV-1a digest of the whole, `"<escaped prefix>..." len=N
/// fnv=<16 hex>`. Deterministic: the digest reads only the bytes.
pub struct PayloadText<'a>(pub &'a [u8]);

impl fmt::Display for PayloadText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        if bytes.len() <= PAYLOAD_TEXT_LIMIT_BYTES {
            return write!(f, "\"{}\"", bytes.escape_ascii());
        }
        let digest = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
        write!(
            f,
            "\"{}...\" len={} fnv={digest:016x}",
            bytes[..32].escape_ascii(),
            bytes.len()
        )
    }
}

impl fmt::Display for MessageRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client={} topic={:?} qos={} pkid={} dup={} payload={}",
            self.client_id,
            self.topic,
            qos_number(self.qos),
            self.packet_id,
            u8::from(self.dup),
            PayloadText(&self.payload),
        )
    }
}

impl fmt::Display for LedgerEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>9}ms ", self.at_ms)?;
        match &self.record {
            Record::Accepted(message) => write!(f, "accepted {message}"),
            Record::Delivered(message) => write!(f, "delivered {message}"),
            Record::QueueFull { client_id, topic } => {
                write!(f, "queue-full client={client_id} topic={topic:?}")
            }
            Record::Connected {
                client_id,
                clean_session,
                session_present,
            } => write!(
                f,
                "connected client={client_id} clean={} session_present={}",
                u8::from(*clean_session),
                u8::from(*session_present)
            ),
            Record::Refused { client_id, code } => {
                write!(f, "refused client={client_id} code={code:?}")
            }
            Record::Closed { client_id, reason } => write!(
                f,
                "closed client={} reason={reason}",
                client_id.as_deref().unwrap_or("-")
            ),
            Record::FaultSet(fault) => write!(f, "fault-set {fault}"),
            Record::FaultCleared => f.write_str("fault-cleared"),
            Record::Restarted { keep_sessions } => {
                write!(f, "restarted keep_session={keep_sessions}")
            }
        }
    }
}

/// Append-only, bounded list of [`LedgerEntry`].
#[derive(Debug)]
pub(crate) struct Ledger {
    entries: Vec<LedgerEntry>,
    max_entries: usize,
    /// Entries refused because the ledger was full, so an oracle can tell a
    /// truncated ledger from a complete one.
    overflow_count: u64,
}

impl Ledger {
    pub(crate) fn new(max_entries: usize) -> Self {
        Self {
            entries: Vec::new(),
            max_entries,
            overflow_count: 0,
        }
    }

    pub(crate) fn push(&mut self, at_ms: u64, record: Record) {
        if self.entries.len() >= self.max_entries {
            self.overflow_count += 1;
            return;
        }
        self.entries.push(LedgerEntry { at_ms, record });
    }

    pub(crate) fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    pub(crate) fn overflow_count(&self) -> u64 {
        self.overflow_count
    }

    pub(crate) fn render(&self) -> String {
        use fmt::Write as _;
        let mut text = String::new();
        for entry in &self.entries {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "{entry}");
        }
        if self.overflow_count > 0 {
            let _ = writeln!(text, "ledger-overflow dropped={}", self.overflow_count);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_stops_growing_at_its_limit_and_counts_the_rest() {
        let mut ledger = Ledger::new(2);
        for at_ms in 0..5 {
            ledger.push(at_ms, Record::FaultCleared);
        }
        assert_eq!(ledger.entries().len(), 2);
        assert_eq!(ledger.overflow_count(), 3);
        assert!(ledger.render().ends_with("ledger-overflow dropped=3\n"));
    }

    #[test]
    fn message_lines_escape_binary_payloads() {
        let entry = LedgerEntry {
            at_ms: 7,
            record: Record::Accepted(MessageRecord {
                client_id: "c".into(),
                topic: "t".into(),
                payload: Bytes::from_static(b"a\x00\""),
                qos: QoS::AtLeastOnce,
                packet_id: 3,
                dup: false,
            }),
        };
        assert_eq!(
            entry.to_string(),
            "        7ms accepted client=c topic=\"t\" qos=1 pkid=3 dup=0 payload=\"a\\x00\\\"\""
        );
    }

    #[test]
    fn long_payloads_are_written_as_a_prefix_length_and_digest() {
        let long = vec![b'x'; 65_536];
        let text = PayloadText(&long).to_string();
        assert!(
            text.starts_with(&format!("\"{}...\" len=65536 fnv=", "x".repeat(32))),
            "{text}"
        );
        assert!(text.len() < 100, "{text}");
        let mut other = long.clone();
        other[60_000] = b'y';
        assert_ne!(
            text,
            PayloadText(&other).to_string(),
            "the digest tells payloads apart"
        );
        let short = [b'x'; PAYLOAD_TEXT_LIMIT_BYTES];
        assert_eq!(
            PayloadText(&short).to_string(),
            format!("\"{}\"", "x".repeat(64))
        );
    }
}
