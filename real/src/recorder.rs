//! What a real run observed, stamped with wall milliseconds since the run
//! started, appended from every client thread and the controller.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use breakwater_mqtt::{Message, QoS};
use breakwater_sim::{
    Delivery, ExternalRecords, LedgerEntry, MessageRecord, PublishOutcome, PublishResult, Record,
    Sample, TransitionRecord,
};
use bytes::Bytes;

/// Ledger lines kept from the witness; more are counted, not stored (as in
/// the simulated broker's ledger).
const WITNESS_ENTRIES_LIMIT: usize = 1_000_000;

#[derive(Debug, Default)]
struct Records {
    /// `(at_ms, line)`: threads append in nearly but not exactly time
    /// order, so lines are sorted by time (stably) when taken.
    events: Vec<(u64, String)>,
    samples: Vec<Sample>,
    transitions: Vec<TransitionRecord>,
    publishes: Vec<PublishOutcome>,
    deliveries: Vec<Delivery>,
    ledger: Vec<LedgerEntry>,
    ledger_overflow: u64,
    /// Payloads the witness has seen.
    witnessed: BTreeSet<Bytes>,
}

/// Shared handle to a run's records. The mutex is held for an append only.
#[derive(Clone, Debug)]
pub(crate) struct Recorder {
    start: Instant,
    records: Arc<Mutex<Records>>,
}

/// What [`Recorder::take`] hands back.
pub(crate) struct Taken {
    pub(crate) records: ExternalRecords,
    pub(crate) ledger: Vec<LedgerEntry>,
    pub(crate) ledger_text: String,
}

impl Recorder {
    pub(crate) fn new(start: Instant) -> Self {
        Recorder {
            start,
            records: Arc::default(),
        }
    }

    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        // A panicking client thread fails the run anyway; keep the records
        // readable for the report.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wall milliseconds since the run started.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Appends `<ms>ms <host> <text>`, stamped now.
    pub(crate) fn event(&self, host: &str, text: std::fmt::Arguments<'_>) {
        let at_ms = self.now_ms();
        let mut line = String::with_capacity(64);
        // Writing to a String cannot fail.
        let _ = write!(line, "{at_ms:>9}ms {host} {text}");
        self.lock().events.push((at_ms, line));
    }

    pub(crate) fn sample(&self, sample: Sample) {
        self.lock().samples.push(sample);
    }

    pub(crate) fn transition(&self, record: TransitionRecord) {
        let line = record.to_string();
        let mut records = self.lock();
        records.events.push((record.at_ms, line));
        records.transitions.push(record);
    }

    /// Records a started publish and returns its id.
    pub(crate) fn publish_started(&self, mut outcome: PublishOutcome) -> u64 {
        let mut records = self.lock();
        let id = records.publishes.len() as u64;
        outcome.id = id;
        records.publishes.push(outcome);
        id
    }

    pub(crate) fn publish_resolved(&self, id: u64, result: PublishResult) {
        let at_ms = self.now_ms();
        let mut records = self.lock();
        let line = records.publishes[id as usize].resolve(at_ms, result);
        records.events.push((at_ms, line));
    }

    pub(crate) fn delivery(&self, host: &str, message: Message) {
        let delivery = Delivery {
            at_ms: self.now_ms(),
            host: host.to_owned(),
            topic: message.topic,
            payload: message.payload,
            qos: message.qos,
            dup: message.dup,
        };
        let line = delivery.to_string();
        let mut records = self.lock();
        records.events.push((delivery.at_ms, line));
        records.deliveries.push(delivery);
    }

    /// A message the witness received: the broker accepted it from the
    /// publisher named in its payload (`<host>#<seq>`). Recorded once per
    /// payload, as an `Accepted` ledger entry.
    pub(crate) fn witnessed(&self, message: Message) {
        let at_ms = self.now_ms();
        let mut records = self.lock();
        if !records.witnessed.insert(message.payload.clone()) {
            return; // A redelivery (DUP) of a message already on record.
        }
        if records.ledger.len() >= WITNESS_ENTRIES_LIMIT {
            records.ledger_overflow += 1;
            return;
        }
        let publisher = message
            .payload
            .split(|byte| *byte == b'#')
            .next()
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .unwrap_or_default();
        records.ledger.push(LedgerEntry {
            at_ms,
            record: Record::Accepted(MessageRecord {
                client_id: publisher,
                topic: message.topic,
                payload: message.payload,
                qos: message.qos,
                // The witness's packet id says nothing about the
                // publisher's; 0 marks it unknown.
                packet_id: 0,
                dup: message.dup,
            }),
        });
    }

    /// Publishes started so far that have not resolved.
    pub(crate) fn pending_publishes(&self) -> usize {
        let records = self.lock();
        records
            .publishes
            .iter()
            .filter(|p| p.resolved_at_ms.is_none())
            .count()
    }

    /// Acknowledged QoS 1 publishes the witness has not seen yet.
    pub(crate) fn acked_unwitnessed(&self) -> usize {
        let records = self.lock();
        records
            .publishes
            .iter()
            .filter(|p| p.qos == QoS::AtLeastOnce && p.result == PublishResult::Acked)
            .filter(|p| !records.witnessed.contains(&p.payload))
            .count()
    }

    /// Takes everything out, events sorted by time.
    pub(crate) fn take(&self) -> Taken {
        let mut records = std::mem::take(&mut *self.lock());
        records.events.sort_by_key(|(at_ms, _)| *at_ms);
        let mut ledger_text = String::with_capacity(96 * records.ledger.len() + 64);
        ledger_text.push_str("# witness ledger: every distinct message the witness subscriber received, as accepted from its publisher\n");
        for entry in &records.ledger {
            let _ = writeln!(ledger_text, "{entry}");
        }
        if records.ledger_overflow > 0 {
            let _ = writeln!(
                ledger_text,
                "ledger-overflow dropped={}",
                records.ledger_overflow
            );
        }
        Taken {
            records: ExternalRecords {
                samples: records.samples,
                transitions: records.transitions,
                publishes: records.publishes,
                deliveries: records.deliveries,
                events: records.events.into_iter().map(|(_, line)| line).collect(),
            },
            ledger: records.ledger,
            ledger_text,
        }
    }
}
