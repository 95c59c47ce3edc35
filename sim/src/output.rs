//! What [`crate::run`] returns: the records of one run, facts derived from
//! them, and a text rendering for byte-for-byte comparison.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use breakwater_core::{ErrorKind, State, Status};
use bytes::Bytes;
use mqttbytes::QoS;

use crate::broker::{LedgerEntry, Record};
use crate::recorder::{Delivery, PublishOutcome, PublishResult, Records, Sample, TransitionRecord};
use crate::spec::WorldSpec;

/// Everything one run observed. Every field is deterministic: no wall
/// clock, no hash order.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutput {
    /// The run's seed.
    pub seed: u64,
    /// Virtual time the run ended (the spec's duration, plus the time the
    /// last publishes took to resolve).
    pub end_ms: u64,
    /// Breaker samples in virtual-time order (per instant: hosts in
    /// start order, then connect, publish, subscribe).
    pub samples: Vec<Sample>,
    /// Every breaker transition, in order.
    pub transitions: Vec<TransitionRecord>,
    /// Every publish, indexed by its id (start order).
    pub publishes: Vec<PublishOutcome>,
    /// Every message handed to a subscriber, in order.
    pub deliveries: Vec<Delivery>,
    /// The broker's ledger.
    pub ledger: Vec<LedgerEntry>,
    /// The ledger as text (see `Broker::ledger_text`).
    pub ledger_text: String,
    /// One line per event (`<ms>ms <host> <what>`), in order: faults,
    /// transitions, link changes, subscriptions, publish results,
    /// deliveries.
    pub events: Vec<String>,
    /// Facts derived from the records.
    pub facts: Facts,
}

/// The records of a run made outside the simulation, for
/// [`RunOutput::from_external`]; each field is the one of [`RunOutput`] with
/// the same name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExternalRecords {
    /// Breaker samples in time order.
    pub samples: Vec<Sample>,
    /// Every breaker transition, in order.
    pub transitions: Vec<TransitionRecord>,
    /// Every publish, indexed by its id (start order).
    pub publishes: Vec<PublishOutcome>,
    /// Every message handed to a subscriber, in order.
    pub deliveries: Vec<Delivery>,
    /// One line per event, in order.
    pub events: Vec<String>,
}

/// Facts derived from a run, for oracles and summaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Virtual time the last fault ended (a one-shot fault ends when it
    /// starts; an open-ended one at the spec's duration); `None` with no
    /// faults.
    pub last_fault_end_ms: Option<u64>,
    /// Earliest virtual time from which every breaker of every client was
    /// Closed until the end; `None` if some breaker did not end Closed.
    pub all_closed_since_ms: Option<u64>,
    /// Publishes by result label (`acked`, `timeout`, ...), sorted.
    pub publish_results: Vec<(String, u64)>,
}

impl RunOutput {
    pub(crate) fn new(
        spec: &WorldSpec,
        end_ms: u64,
        records: Records,
        ledger: Vec<LedgerEntry>,
        ledger_text: String,
    ) -> Self {
        let facts = Facts {
            last_fault_end_ms: last_fault_end_ms(spec),
            all_closed_since_ms: all_closed_since_ms(spec, &records),
            publish_results: publish_results(&records.publishes),
        };
        RunOutput {
            seed: spec.seed,
            end_ms,
            samples: records.samples,
            transitions: records.transitions,
            publishes: records.publishes,
            deliveries: records.deliveries,
            ledger,
            ledger_text,
            events: records.events,
            facts,
        }
    }

    /// A run recorded outside the simulation, e.g. by `breakwater-real`
    /// against a real broker, where times are wall milliseconds since the
    /// run started and `ledger` is whatever stands in for the broker's
    /// ledger. Facts are derived exactly as for a simulated run, so
    /// reports and oracles read both alike.
    pub fn from_external(
        spec: &WorldSpec,
        end_ms: u64,
        records: ExternalRecords,
        ledger: Vec<LedgerEntry>,
        ledger_text: String,
    ) -> Self {
        let records = Records {
            events: records.events,
            samples: records.samples,
            transitions: records.transitions,
            publishes: records.publishes,
            deliveries: records.deliveries,
            pending_publishes: 0,
        };
        RunOutput::new(spec, end_ms, records, ledger, ledger_text)
    }

    /// Publishes whose result is `result`.
    pub fn count(&self, result: PublishResult) -> usize {
        self.publishes.iter().filter(|p| p.result == result).count()
    }

    /// Transitions of `breaker` on `host`.
    pub fn transitions_of<'a>(
        &'a self,
        host: &'a str,
        breaker: &'a str,
    ) -> impl Iterator<Item = &'a TransitionRecord> + 'a {
        self.transitions
            .iter()
            .filter(move |t| t.host == host && t.breaker == breaker)
    }

    /// The last sample of `breaker` on `host`: its cumulative metrics are
    /// the run's totals up to the spec's duration.
    pub fn last_sample(&self, host: &str, breaker: &str) -> Option<&Sample> {
        self.samples
            .iter()
            .rev()
            .find(|s| s.host == host && s.breaker == breaker)
    }

    /// Acknowledged QoS 1 publishes the broker has no `Accepted` record of
    /// (same client id and payload). Must be empty: an ack the broker never
    /// gave would be a lie.
    pub fn acked_missing_at_broker(&self) -> Vec<&PublishOutcome> {
        let accepted: BTreeSet<(&str, &Bytes)> = self
            .ledger
            .iter()
            .filter_map(|entry| match &entry.record {
                Record::Accepted(message) => Some((message.client_id.as_str(), &message.payload)),
                _ => None,
            })
            .collect();
        self.publishes
            .iter()
            .filter(|p| p.qos == QoS::AtLeastOnce && p.result == PublishResult::Acked)
            .filter(|p| !accepted.contains(&(p.host.as_str(), &p.payload)))
            .collect()
    }

    /// Every record as text, in a fixed layout: the value two runs are
    /// compared on.
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(64 * (self.events.len() + self.ledger.len() + 64));
        // Writing to a String cannot fail.
        let _ = writeln!(text, "# run seed={} end_ms={}", self.seed, self.end_ms);
        let _ = writeln!(text, "# facts {:?}", self.facts);
        text.push_str("# events\n");
        for line in &self.events {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str("# samples\n");
        for sample in &self.samples {
            render_sample(&mut text, sample);
        }
        text.push_str("# transitions\n");
        for t in &self.transitions {
            let _ = writeln!(
                text,
                "{} {} {} {} {}",
                t.at_ms,
                t.host,
                t.breaker,
                t.transition.from(),
                t.transition.to()
            );
        }
        text.push_str("# publishes\n");
        for p in &self.publishes {
            let _ = writeln!(
                text,
                "{} {} {} {} qos={} started={} resolved={} {}",
                p.id,
                p.host,
                p.seq,
                p.topic,
                p.qos as u8,
                p.started_at_ms,
                p.resolved_at_ms.map_or("-".to_owned(), |ms| ms.to_string()),
                p.result.label()
            );
        }
        text.push_str("# ledger\n");
        text.push_str(&self.ledger_text);
        text
    }

    /// A 64-bit FNV-1a hash of [`Self::render`]: equal digests mean equal
    /// runs (for a quick look; compare `render` to see the difference).
    pub fn digest(&self) -> u64 {
        self.render()
            .bytes()
            .fold(0xCBF2_9CE4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
            })
    }
}

fn render_sample(text: &mut String, sample: &Sample) {
    let _ = write!(
        text,
        "{} {} {} {}",
        sample.at_ms, sample.host, sample.breaker, sample.state
    );
    for status in Status::ALL {
        let _ = write!(text, " {}={}", status.as_str(), sample.interval(status));
    }
    for kind in ErrorKind::ALL {
        let _ = write!(
            text,
            " err_{}={}",
            kind.as_str(),
            sample.interval_error(kind)
        );
    }
    let m = &sample.metrics;
    let _ = writeln!(
        text,
        " total_ops={} retries={} transitions={:?} recoveries={} recovery_sum_s={:.3}",
        m.operations_total(),
        m.retries,
        m.transitions,
        m.recovery.count,
        m.recovery.sum_seconds
    );
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn last_fault_end_ms(spec: &WorldSpec) -> Option<u64> {
    spec.faults
        .iter()
        .map(|fault| match fault.end() {
            Some(end) => millis(end),
            None if fault.fault.is_action() => millis(fault.at),
            None => millis(spec.duration),
        })
        .max()
}

/// For each breaker, the time it last entered Closed (0 if it never left),
/// or `None` if it ended elsewhere; the answer is the latest of those.
fn all_closed_since_ms(spec: &WorldSpec, records: &Records) -> Option<u64> {
    let breakers = [
        spec.breakers.connect.name(),
        spec.breakers.publish.name(),
        spec.breakers.subscribe.name(),
    ];
    let mut since_ms = 0;
    for host in spec.client_hosts() {
        for breaker in breakers {
            let last = records
                .transitions
                .iter()
                .rev()
                .find(|t| t.host == host && t.breaker == breaker);
            match last {
                None => {}
                Some(t) if t.transition.to() == State::Closed => since_ms = since_ms.max(t.at_ms),
                Some(_) => return None,
            }
        }
    }
    Some(since_ms)
}

fn publish_results(publishes: &[PublishOutcome]) -> Vec<(String, u64)> {
    let mut counts = std::collections::BTreeMap::new();
    for publish in publishes {
        *counts.entry(publish.result.label()).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}
