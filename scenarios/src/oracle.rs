//! Oracles: what every run must show, checked on its [`RunOutput`]. The
//! safety oracles hold for any scenario; the last two compare the run with
//! the scenario's own bounds.

use std::collections::BTreeMap;
use std::fmt;

use breakwater_core::{State, Status, Transition};
use breakwater_sim::spec::WorldSpec;
use breakwater_sim::{PublishResult, RunOutput, Sample, TransitionRecord};

use crate::duration::format_duration;
use crate::scenario::Expectations;

/// One oracle. The order of [`Oracle::ALL`] is the order checks run and
/// columns appear in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Oracle {
    /// Each breaker's transitions chain from Closed (every `from` is the
    /// previous `to`) in non-decreasing virtual time.
    Transitions,
    /// Every sampled state is the state the transitions put the breaker in
    /// at that instant.
    StateGauge,
    /// `operations_total` by status adds up: interval counts sum to the
    /// cumulative counters, and the publish breaker counted one call per
    /// publish, with `success` matching acknowledged publishes.
    Operations,
    /// Every publish resolved (none pending when the run ended).
    Resolved,
    /// No acknowledged QoS 1 message is missing from the broker's ledger.
    AckedAtBroker,
    /// Every breaker was Closed for good within the bound after the last
    /// fault ended (by the end of the run if the scenario sets no bound).
    Recovery,
    /// The scenario's own bounds: success rate and number of opens.
    Expectations,
    /// The simulation itself ran to the end (no error, no panic).
    Simulation,
}

impl Oracle {
    /// Every oracle, in report order.
    pub const ALL: [Oracle; 8] = [
        Oracle::Transitions,
        Oracle::StateGauge,
        Oracle::Operations,
        Oracle::Resolved,
        Oracle::AckedAtBroker,
        Oracle::Recovery,
        Oracle::Expectations,
        Oracle::Simulation,
    ];

    /// Stable snake_case name, used in reports and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Oracle::Transitions => "transitions",
            Oracle::StateGauge => "state_gauge",
            Oracle::Operations => "operations",
            Oracle::Resolved => "resolved",
            Oracle::AckedAtBroker => "acked_at_broker",
            Oracle::Recovery => "recovery",
            Oracle::Expectations => "expectations",
            Oracle::Simulation => "simulation",
        }
    }
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one oracle on one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Which oracle.
    pub oracle: Oracle,
    /// `None` if it held, else why it failed.
    pub failure: Option<String>,
}

impl Verdict {
    /// Whether the oracle held.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Facts about a run that oracles and reports share.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFacts {
    /// Publishes started.
    pub published: u64,
    /// Publishes acknowledged (QoS 1) or written (QoS 0).
    pub acked: u64,
    /// Publishes the breaker rejected.
    pub rejected: u64,
    /// Publishes that failed with an error other than a timeout.
    pub failed: u64,
    /// Publishes that timed out.
    pub timeout: u64,
    /// Publishes unresolved at the end.
    pub pending: u64,
    /// Messages handed to subscribers.
    pub delivered: u64,
    /// Acknowledged QoS 1 messages missing from the broker's ledger.
    pub lost_acked: u64,
    /// Closed -> Open transitions over every breaker.
    pub opens: u64,
    /// HalfOpen -> Open transitions over every breaker.
    pub reopens: u64,
    /// Virtual time the last fault ended.
    pub last_fault_end_ms: Option<u64>,
    /// Virtual time from which every breaker stayed Closed.
    pub all_closed_since_ms: Option<u64>,
}

impl RunFacts {
    /// Derives the facts from a run.
    pub fn of(output: &RunOutput) -> RunFacts {
        let count = |result| output.count(result) as u64;
        let transitions = |kind| {
            output
                .transitions
                .iter()
                .filter(|t| t.transition == kind)
                .count() as u64
        };
        RunFacts {
            published: output.publishes.len() as u64,
            acked: count(PublishResult::Acked),
            rejected: count(PublishResult::Rejected),
            failed: output
                .publishes
                .iter()
                .filter(|p| matches!(p.result, PublishResult::Failed(_)))
                .count() as u64,
            timeout: count(PublishResult::Timeout),
            pending: count(PublishResult::Pending),
            delivered: output.deliveries.len() as u64,
            lost_acked: output.acked_missing_at_broker().len() as u64,
            opens: transitions(Transition::ClosedToOpen),
            reopens: transitions(Transition::HalfOpenToOpen),
            last_fault_end_ms: output.facts.last_fault_end_ms,
            all_closed_since_ms: output.facts.all_closed_since_ms,
        }
    }

    /// Share of publishes acknowledged; 1 when nothing was published.
    pub fn success_rate(&self) -> f64 {
        if self.published == 0 {
            1.0
        } else {
            self.acked as f64 / self.published as f64
        }
    }

    /// Time from the end of the last fault until every breaker was Closed
    /// for good (0 if they already were, or with no faults); `None` if some
    /// breaker did not end Closed.
    pub fn recovery_ms(&self) -> Option<u64> {
        let since = self.all_closed_since_ms?;
        Some(since.saturating_sub(self.last_fault_end_ms.unwrap_or(0)))
    }
}

/// Runs every oracle on a completed run, in [`Oracle::ALL`] order.
pub fn check(spec: &WorldSpec, output: &RunOutput, expect: &Expectations) -> Vec<Verdict> {
    let facts = RunFacts::of(output);
    let by_breaker = group_by_breaker(output);
    let verdict = |oracle, result: Result<(), String>| Verdict {
        oracle,
        failure: result.err(),
    };
    vec![
        verdict(Oracle::Transitions, check_transitions(&by_breaker)),
        verdict(Oracle::StateGauge, check_gauge(&by_breaker)),
        verdict(
            Oracle::Operations,
            check_operations(spec, output, &by_breaker),
        ),
        verdict(Oracle::Resolved, check_resolved(output)),
        verdict(Oracle::AckedAtBroker, check_acked_at_broker(output)),
        verdict(Oracle::Recovery, check_recovery(&facts, expect, output)),
        verdict(
            Oracle::Expectations,
            check_expectations(spec, output, &facts, expect),
        ),
        verdict(Oracle::Simulation, Ok(())),
    ]
}

/// The verdicts of a run that did not complete: every oracle but
/// `simulation` is unknown, so only that one is reported, as failed.
pub fn failed_simulation(why: String) -> Vec<Verdict> {
    vec![Verdict {
        oracle: Oracle::Simulation,
        failure: Some(why),
    }]
}

/// One breaker's records: samples and transitions in run order.
#[derive(Default)]
struct BreakerRecords<'a> {
    samples: Vec<&'a Sample>,
    transitions: Vec<&'a TransitionRecord>,
}

/// Records per (host, breaker), in a `BTreeMap` so the first failure named
/// is the same on every run.
fn group_by_breaker(output: &RunOutput) -> BTreeMap<(&str, &str), BreakerRecords<'_>> {
    let mut groups: BTreeMap<(&str, &str), BreakerRecords<'_>> = BTreeMap::new();
    for sample in &output.samples {
        groups
            .entry((sample.host.as_str(), sample.breaker.as_str()))
            .or_default()
            .samples
            .push(sample);
    }
    for transition in &output.transitions {
        groups
            .entry((transition.host.as_str(), transition.breaker.as_str()))
            .or_default()
            .transitions
            .push(transition);
    }
    groups
}

fn check_transitions(groups: &BTreeMap<(&str, &str), BreakerRecords<'_>>) -> Result<(), String> {
    for ((host, breaker), records) in groups {
        let mut state = State::Closed;
        let mut last_ms = 0;
        for t in &records.transitions {
            if t.transition.from() != state {
                return Err(format!(
                    "{host}/{breaker} at {} ms: {} -> {} while the breaker was {state}",
                    t.at_ms,
                    t.transition.from(),
                    t.transition.to()
                ));
            }
            if t.at_ms < last_ms {
                return Err(format!(
                    "{host}/{breaker}: transition at {} ms recorded after one at {last_ms} ms",
                    t.at_ms
                ));
            }
            state = t.transition.to();
            last_ms = t.at_ms;
        }
    }
    Ok(())
}

/// A sample taken in the same virtual millisecond as transitions may have
/// been read before, between or after them (the log does not order events
/// within a millisecond against samples), so any state along that
/// millisecond's chain is consistent; any other is a mismatch.
fn check_gauge(groups: &BTreeMap<(&str, &str), BreakerRecords<'_>>) -> Result<(), String> {
    for ((host, breaker), records) in groups {
        let mut next = 0;
        let mut state = State::Closed;
        for sample in &records.samples {
            while next < records.transitions.len() && records.transitions[next].at_ms < sample.at_ms
            {
                state = records.transitions[next].transition.to();
                next += 1;
            }
            let mut allowed = vec![state];
            allowed.extend(
                records.transitions[next..]
                    .iter()
                    .take_while(|t| t.at_ms == sample.at_ms)
                    .map(|t| t.transition.to()),
            );
            if !allowed.contains(&sample.state) {
                return Err(format!(
                    "{host}/{breaker} at {} ms: gauge says {} but the transitions put it in {state}",
                    sample.at_ms, sample.state
                ));
            }
            if sample.state != sample.metrics.state {
                return Err(format!(
                    "{host}/{breaker} at {} ms: sample state {} differs from its metrics' {}",
                    sample.at_ms, sample.state, sample.metrics.state
                ));
            }
        }
    }
    Ok(())
}

fn check_operations(
    spec: &WorldSpec,
    output: &RunOutput,
    groups: &BTreeMap<(&str, &str), BreakerRecords<'_>>,
) -> Result<(), String> {
    for ((host, breaker), records) in groups {
        let Some(last) = records.samples.last() else {
            continue;
        };
        for status in Status::ALL {
            let summed: u64 = records.samples.iter().map(|s| s.interval(status)).sum();
            let total = last.metrics.operations(status);
            if summed != total {
                return Err(format!(
                    "{host}/{breaker}: interval `{}` counts sum to {summed} but the counter says {total}",
                    status.as_str()
                ));
            }
        }
        if *breaker == spec.breakers.publish.name() {
            check_publish_calls(output, host, breaker, last)?;
        }
    }
    Ok(())
}

/// The publish breaker makes one call per publish, so at its last sample
/// its `operations_total` equals the publishes of that host resolved by
/// then, and `success` / `rejected` equal the acked / rejected ones.
/// Publishes resolved in the sample's own millisecond may fall on either
/// side of the read, hence a range.
fn check_publish_calls(
    output: &RunOutput,
    host: &str,
    breaker: &str,
    last: &Sample,
) -> Result<(), String> {
    let at = last.at_ms;
    let mine: Vec<_> = output.publishes.iter().filter(|p| p.host == host).collect();
    let range = |keep: &dyn Fn(PublishResult) -> bool| {
        let matching = mine.iter().filter(|p| keep(p.result));
        let before = matching
            .clone()
            .filter(|p| p.resolved_at_ms.is_some_and(|ms| ms < at))
            .count() as u64;
        let by = matching
            .filter(|p| p.resolved_at_ms.is_some_and(|ms| ms <= at))
            .count() as u64;
        before..=by
    };
    let checks: [(&str, u64, std::ops::RangeInclusive<u64>); 3] = [
        (
            "operations_total",
            last.metrics.operations_total(),
            range(&|_| true),
        ),
        (
            "success",
            last.metrics.operations(Status::Success),
            range(&|r| r == PublishResult::Acked),
        ),
        (
            "rejected",
            last.metrics.operations(Status::Rejected),
            range(&|r| r == PublishResult::Rejected),
        ),
    ];
    for (what, counted, expected) in checks {
        if !expected.contains(&counted) {
            return Err(format!(
                "{host}/{breaker} at {at} ms: `{what}` is {counted} but {}..={} publishes resolved that way",
                expected.start(),
                expected.end()
            ));
        }
    }
    Ok(())
}

fn check_resolved(output: &RunOutput) -> Result<(), String> {
    let pending: Vec<_> = output
        .publishes
        .iter()
        .filter(|p| p.result == PublishResult::Pending)
        .collect();
    match pending.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} publishes never resolved; first: {} seq {} started at {} ms",
            pending.len(),
            first.host,
            first.seq,
            first.started_at_ms
        )),
    }
}

fn check_acked_at_broker(output: &RunOutput) -> Result<(), String> {
    let missing = output.acked_missing_at_broker();
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} acknowledged QoS 1 messages are not in the broker's ledger; first: {} seq {} acked at {} ms",
            missing.len(),
            first.host,
            first.seq,
            first.resolved_at_ms.unwrap_or(0)
        )),
    }
}

fn check_recovery(
    facts: &RunFacts,
    expect: &Expectations,
    output: &RunOutput,
) -> Result<(), String> {
    let since = facts.last_fault_end_ms.unwrap_or(0);
    let Some(recovery_ms) = facts.recovery_ms() else {
        let stuck: Vec<String> = stuck_breakers(output);
        return Err(format!(
            "not every breaker was Closed at the end of the run ({}); the last fault ended at {since} ms",
            stuck.join(", ")
        ));
    };
    if let Some(bound) = expect.max_recovery {
        let bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        if recovery_ms > bound_ms {
            return Err(format!(
                "breakers took {recovery_ms} ms after the last fault ended (at {since} ms) to close for good; the bound is {}",
                format_duration(bound)
            ));
        }
    }
    Ok(())
}

fn stuck_breakers(output: &RunOutput) -> Vec<String> {
    let mut last: BTreeMap<(&str, &str), State> = BTreeMap::new();
    for t in &output.transitions {
        last.insert((t.host.as_str(), t.breaker.as_str()), t.transition.to());
    }
    last.into_iter()
        .filter(|(_, state)| *state != State::Closed)
        .map(|((host, breaker), state)| format!("{host}/{breaker} {state}"))
        .collect()
}

fn check_expectations(
    spec: &WorldSpec,
    output: &RunOutput,
    facts: &RunFacts,
    expect: &Expectations,
) -> Result<(), String> {
    if let Some(min) = expect.min_success_rate {
        let rate = facts.success_rate();
        if rate < min {
            return Err(format!(
                "success rate {rate:.4} ({} of {} publishes acked) is below min_success_rate {min}",
                facts.acked, facts.published
            ));
        }
    }
    if let Some(min) = expect.min_opens {
        if facts.opens < min {
            return Err(format!(
                "breakers opened {} times, fewer than min_opens {min}: the faults were not felt",
                facts.opens
            ));
        }
    }
    if let Some(max) = expect.max_opens {
        if facts.opens > max {
            return Err(format!(
                "breakers opened {} times, more than max_opens {max}",
                facts.opens
            ));
        }
    }
    for (table, min) in &expect.min_opens_by_breaker {
        let name = match table.as_str() {
            "connect" => spec.breakers.connect.name(),
            "publish" => spec.breakers.publish.name(),
            _ => spec.breakers.subscribe.name(),
        };
        let opens = output
            .transitions
            .iter()
            .filter(|t| t.breaker == name && t.transition == Transition::ClosedToOpen)
            .count() as u64;
        if opens < *min {
            return Err(format!(
                "the {table} breaker ({name}) opened {opens} times, fewer than min_opens_by_breaker.{table} {min}: the fault it guards against was not felt"
            ));
        }
    }
    Ok(())
}
