//! What a run observed, stamped with virtual time: breaker samples, every
//! breaker transition, every publish and its outcome, every delivery to a
//! subscriber, and a one-line-per-event log.
//!
//! All of it is appended from the simulation's single thread (host tasks,
//! the transition tap, the driver between steps), so append order is the
//! simulation's order and the same seed gives the same records.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use breakwater_core::{
    CallError, CircuitBreaker, Classify, ErrorKind, MetricsSnapshot, State, Status, Transition,
};
use breakwater_mqtt::MqttError;
use bytes::Bytes;
use mqttbytes::QoS;

/// Virtual milliseconds since the run started, as seen from inside a host
/// (0 outside one: only the driver is outside, and it stamps its own).
pub(crate) fn now_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |elapsed| {
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    })
}

/// One breaker of one client, read at one virtual instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Virtual time of the read.
    pub at_ms: u64,
    /// Client host the breaker belongs to.
    pub host: String,
    /// Breaker name (`mqtt_connect`, `mqtt_publish`, `mqtt_subscribe` by
    /// default).
    pub breaker: String,
    /// State at the read.
    pub state: State,
    /// Calls that ended since the previous sample, indexed like
    /// [`Status::ALL`].
    pub interval_operations: [u64; Status::COUNT],
    /// Failed attempts since the previous sample, indexed like
    /// [`ErrorKind::ALL`].
    pub interval_errors: [u64; ErrorKind::COUNT],
    /// Every metric, cumulative since the client started.
    pub metrics: MetricsSnapshot,
}

impl Sample {
    /// Reads `breaker` now, stamped `at_ms`: the interval counts are what
    /// changed since `previous`, which then becomes this read's metrics
    /// (for the next sample of the same breaker).
    pub fn read(
        at_ms: u64,
        host: &str,
        breaker: &CircuitBreaker,
        previous: &mut MetricsSnapshot,
    ) -> Sample {
        let metrics = breaker.metrics();
        let mut interval_operations = [0; Status::COUNT];
        for (i, slot) in interval_operations.iter_mut().enumerate() {
            *slot = metrics.operations[i] - previous.operations[i];
        }
        let mut interval_errors = [0; ErrorKind::COUNT];
        for (i, slot) in interval_errors.iter_mut().enumerate() {
            *slot = metrics.errors[i] - previous.errors[i];
        }
        *previous = metrics.clone();
        Sample {
            at_ms,
            host: host.to_owned(),
            breaker: metrics.breaker.clone(),
            state: metrics.state,
            interval_operations,
            interval_errors,
            metrics,
        }
    }

    /// Calls that ended with `status` in this interval.
    pub fn interval(&self, status: Status) -> u64 {
        self.interval_operations[status as usize]
    }

    /// Failed attempts of `kind` in this interval.
    pub fn interval_error(&self, kind: ErrorKind) -> u64 {
        self.interval_errors[kind.index()]
    }
}

/// One breaker state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionRecord {
    /// Virtual time of the change.
    pub at_ms: u64,
    /// Client host the breaker belongs to.
    pub host: String,
    /// Breaker name.
    pub breaker: String,
    /// The change.
    pub transition: Transition,
}

/// Its event-log line: `<ms>ms <host> transition breaker=<name> from=<state>
/// to=<state>`.
impl fmt::Display for TransitionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>9}ms {} transition breaker={} from={} to={}",
            self.at_ms,
            self.host,
            self.breaker,
            self.transition.from(),
            self.transition.to()
        )
    }
}

/// How a publish ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishResult {
    /// Written (QoS 0) or acknowledged with PUBACK (QoS 1).
    Acked,
    /// The publish breaker refused it; nothing was sent.
    Rejected,
    /// It failed with an error of this kind (never `Timeout`).
    Failed(ErrorKind),
    /// It failed because a deadline passed.
    Timeout,
    /// Still unresolved when the run ended.
    Pending,
}

impl PublishResult {
    /// How the client's `publish` call ended: a timeout (the client's own
    /// request timeout or one of the breaker's) is [`PublishResult::Timeout`],
    /// any other error [`PublishResult::Failed`] with its kind.
    pub fn from_call(result: &Result<(), CallError<MqttError>>) -> PublishResult {
        match result {
            Ok(()) => PublishResult::Acked,
            Err(CallError::Rejected(_)) => PublishResult::Rejected,
            Err(CallError::Failed { last_error, .. } | CallError::NotRetried(last_error)) => {
                match last_error.kind() {
                    ErrorKind::Timeout => PublishResult::Timeout,
                    kind => PublishResult::Failed(kind),
                }
            }
        }
    }

    /// Stable name for logs and reports (`failed:connection` style).
    pub fn label(&self) -> String {
        match self {
            PublishResult::Acked => "acked".to_owned(),
            PublishResult::Rejected => "rejected".to_owned(),
            PublishResult::Failed(kind) => format!("failed:{}", kind.as_str()),
            PublishResult::Timeout => "timeout".to_owned(),
            PublishResult::Pending => "pending".to_owned(),
        }
    }
}

/// One publish of the workload.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishOutcome {
    /// Index in [`crate::RunOutput::publishes`]: the order publishes started.
    pub id: u64,
    /// Publisher host (also its MQTT client id).
    pub host: String,
    /// Per-publisher sequence number, from 0.
    pub seq: u64,
    /// Topic published to.
    pub topic: String,
    /// Exact payload sent (see [`crate::workload::payload`]).
    pub payload: Bytes,
    /// QoS asked for.
    pub qos: QoS,
    /// Virtual time `publish` was called.
    pub started_at_ms: u64,
    /// Virtual time it resolved, if it did.
    pub resolved_at_ms: Option<u64>,
    /// How it ended.
    pub result: PublishResult,
}

impl PublishOutcome {
    /// Records that this publish resolved at `at_ms` with `result`, and
    /// returns its event-log line; the simulation and the real mode share
    /// both so their logs cannot drift apart.
    ///
    /// # Panics
    /// If it had already resolved: a publish future completes once.
    pub fn resolve(&mut self, at_ms: u64, result: PublishResult) -> String {
        assert!(
            self.resolved_at_ms.is_none(),
            "publish {} resolved twice: a publish future completes once",
            self.id
        );
        self.resolved_at_ms = Some(at_ms);
        self.result = result;
        format!(
            "{at_ms:>9}ms {} publish id={} seq={} topic={} result={} latency_ms={}",
            self.host,
            self.id,
            self.seq,
            self.topic,
            result.label(),
            at_ms.saturating_sub(self.started_at_ms)
        )
    }
}

/// One message handed to a subscriber's handler.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Virtual time of delivery.
    pub at_ms: u64,
    /// Subscriber host.
    pub host: String,
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS delivered with.
    pub qos: QoS,
    /// Whether the broker marked it as a redelivery.
    pub dup: bool,
}

/// Its event-log line: `<ms>ms <host> delivery topic=<topic> qos=<0|1>
/// dup=<0|1> payload=<payload>`, the payload as
/// [`crate::broker::PayloadText`] writes it (cut when long).
impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>9}ms {} delivery topic={} qos={} dup={} payload={}",
            self.at_ms,
            self.host,
            self.topic,
            self.qos as u8,
            u8::from(self.dup),
            crate::broker::PayloadText(&self.payload)
        )
    }
}

/// Everything recorded, owned by one run.
#[derive(Debug, Default)]
pub(crate) struct Records {
    pub(crate) events: Vec<String>,
    pub(crate) samples: Vec<Sample>,
    pub(crate) transitions: Vec<TransitionRecord>,
    pub(crate) publishes: Vec<PublishOutcome>,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) pending_publishes: u64,
}

/// Shared handle to a run's [`Records`]. The mutex is never contended (one
/// thread runs the whole simulation); it exists because host tasks must be
/// `Send`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Recorder {
    records: Arc<Mutex<Records>>,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Records> {
        // A panic in a host fails the run anyway; keep the records readable.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one event line: `<ms>ms <host> <text>`.
    pub(crate) fn event(&self, at_ms: u64, host: &str, text: std::fmt::Arguments<'_>) {
        let mut line = String::with_capacity(64);
        // Writing to a String cannot fail.
        let _ = write!(line, "{at_ms:>9}ms {host} {text}");
        self.lock().events.push(line);
    }

    pub(crate) fn sample(&self, sample: Sample) {
        self.lock().samples.push(sample);
    }

    pub(crate) fn transition(&self, record: TransitionRecord) {
        let line = record.to_string();
        let mut records = self.lock();
        records.events.push(line);
        records.transitions.push(record);
    }

    /// Registers a publish about to start and returns its id.
    pub(crate) fn publish_started(&self, mut outcome: PublishOutcome) -> u64 {
        let mut records = self.lock();
        let id = records.publishes.len() as u64;
        outcome.id = id;
        records.pending_publishes += 1;
        records.publishes.push(outcome);
        id
    }

    pub(crate) fn publish_resolved(&self, id: u64, at_ms: u64, result: PublishResult) {
        let mut records = self.lock();
        records.pending_publishes -= 1;
        let line = records.publishes[id as usize].resolve(at_ms, result);
        records.events.push(line);
    }

    pub(crate) fn delivery(&self, delivery: Delivery) {
        let line = delivery.to_string();
        let mut records = self.lock();
        records.events.push(line);
        records.deliveries.push(delivery);
    }

    pub(crate) fn pending_publishes(&self) -> u64 {
        self.lock().pending_publishes
    }

    /// Takes the records out, leaving empty ones (host tasks still holding
    /// a handle after the run write into those, unobserved).
    pub(crate) fn take(&self) -> Records {
        std::mem::take(&mut *self.lock())
    }
}
