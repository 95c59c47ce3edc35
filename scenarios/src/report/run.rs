//! The files of one run's report folder (`<scenario>/seed-<n>/`), rendered
//! to bytes in memory: the determinism check compares them byte for byte,
//! and the disk reporter writes them as they are. Every file is a pure
//! function of the run's output, so equal runs give equal bytes.

use std::collections::BTreeMap;

use breakwater_core::{ErrorKind, State, Status, Transition};
use breakwater_sim::spec::WorldSpec;
use breakwater_sim::{RunOutput, Sample};

use crate::oracle::{RunFacts, Verdict};

/// One rendered file: its name within the run folder and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFile {
    /// File name, e.g. `timeline.csv`.
    pub name: &'static str,
    /// Content.
    pub bytes: Vec<u8>,
}

/// Column names of `timeline.csv`.
pub fn timeline_header() -> Vec<String> {
    let mut header: Vec<String> = ["time_ms", "host", "breaker", "state"]
        .map(String::from)
        .to_vec();
    header.extend(counter_columns());
    header
}

/// `ops_<status>` then `errors_<kind>`, in the core's counter order.
fn counter_columns() -> Vec<String> {
    let ops = Status::ALL.iter().map(|s| format!("ops_{}", s.as_str()));
    let errors = ErrorKind::ALL
        .iter()
        .map(|k| format!("errors_{}", k.as_str()));
    ops.chain(errors).collect()
}

/// Column names of `transitions.csv`.
pub const TRANSITIONS_HEADER: [&str; 5] = ["time_ms", "host", "breaker", "from", "to"];

/// Column names of the per-run `summary.csv` (one row per breaker).
pub fn breaker_summary_header() -> Vec<String> {
    let mut header: Vec<String> = [
        "scenario",
        "seed",
        "host",
        "breaker",
        "final_state",
        "opens",
        "half_opens",
        "reopens",
        "closes",
        "last_closed_ms",
        "recovery_ms",
        "retries",
        "recoveries",
        "recovery_sum_ms",
    ]
    .map(String::from)
    .to_vec();
    header.extend(counter_columns());
    header
}

/// Column names of `outcomes.csv`.
pub const OUTCOMES_HEADER: [&str; 9] = [
    "id",
    "host",
    "seq",
    "topic",
    "qos",
    "started_ms",
    "resolved_ms",
    "latency_ms",
    "result",
];

/// Column names of `faults.csv`.
pub const FAULTS_HEADER: [&str; 5] = ["at_ms", "end_ms", "kind", "fault", "targets"];

/// Column names of `oracles.csv`.
pub const ORACLES_HEADER: [&str; 3] = ["oracle", "verdict", "detail"];

/// Renders every file of a completed run, in a fixed order.
pub fn render(
    scenario: &str,
    spec: &WorldSpec,
    output: &RunOutput,
    verdicts: &[Verdict],
) -> Vec<RunFile> {
    let facts = RunFacts::of(output);
    vec![
        RunFile {
            name: "timeline.csv",
            bytes: timeline(output),
        },
        RunFile {
            name: "transitions.csv",
            bytes: transitions(output),
        },
        RunFile {
            name: "summary.csv",
            bytes: breaker_summary(scenario, spec.seed, output, &facts),
        },
        RunFile {
            name: "outcomes.csv",
            bytes: outcomes(output),
        },
        RunFile {
            name: "faults.csv",
            bytes: faults(spec),
        },
        RunFile {
            name: "oracles.csv",
            bytes: oracles(verdicts),
        },
        RunFile {
            name: "events.log",
            bytes: lines(&output.events),
        },
        RunFile {
            name: "ledger.txt",
            bytes: output.ledger_text.clone().into_bytes(),
        },
    ]
}

/// The files of a run that did not complete: its faults and the verdict
/// saying why, so the folder still tells what was attempted.
pub fn render_failed(spec: &WorldSpec, verdicts: &[Verdict]) -> Vec<RunFile> {
    vec![
        RunFile {
            name: "faults.csv",
            bytes: faults(spec),
        },
        RunFile {
            name: "oracles.csv",
            bytes: oracles(verdicts),
        },
    ]
}

/// Writes rows through the csv crate into memory. Writing to a `Vec`
/// cannot fail, and every row has the header's length by construction, so
/// the only errors possible would be programmer errors.
pub(crate) fn csv_bytes<H, R>(header: H, rows: impl IntoIterator<Item = R>) -> Vec<u8>
where
    H: IntoIterator,
    H::Item: AsRef<[u8]>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(header)
        .expect("writing a CSV header to memory cannot fail");
    for row in rows {
        writer
            .write_record(row)
            .expect("writing a CSV row of header length to memory cannot fail");
    }
    writer
        .into_inner()
        .expect("flushing a CSV writer into memory cannot fail")
}

fn counters(operations: impl Fn(Status) -> u64, errors: impl Fn(ErrorKind) -> u64) -> Vec<String> {
    let ops = Status::ALL.iter().map(|s| operations(*s).to_string());
    let errs = ErrorKind::ALL.iter().map(|k| errors(*k).to_string());
    ops.chain(errs).collect()
}

fn timeline(output: &RunOutput) -> Vec<u8> {
    let rows = output.samples.iter().map(|sample: &Sample| {
        let mut row = vec![
            sample.at_ms.to_string(),
            sample.host.clone(),
            sample.breaker.clone(),
            sample.state.as_str().to_owned(),
        ];
        row.extend(counters(
            |s| sample.interval(s),
            |k| sample.interval_error(k),
        ));
        row
    });
    csv_bytes(timeline_header(), rows)
}

fn transitions(output: &RunOutput) -> Vec<u8> {
    let rows = output.transitions.iter().map(|t| {
        [
            t.at_ms.to_string(),
            t.host.clone(),
            t.breaker.clone(),
            t.transition.from().as_str().to_owned(),
            t.transition.to().as_str().to_owned(),
        ]
    });
    csv_bytes(TRANSITIONS_HEADER, rows)
}

fn breaker_summary(scenario: &str, seed: u64, output: &RunOutput, facts: &RunFacts) -> Vec<u8> {
    // Breakers in the order they were first sampled: hosts in start order,
    // then connect, publish, subscribe.
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut last: BTreeMap<(&str, &str), &Sample> = BTreeMap::new();
    for sample in &output.samples {
        let key = (sample.host.as_str(), sample.breaker.as_str());
        if last.insert(key, sample).is_none() {
            order.push(key);
        }
    }
    let fault_end_ms = facts.last_fault_end_ms.unwrap_or(0);
    let rows = order.into_iter().map(|(host, breaker)| {
        let sample = last[&(host, breaker)];
        let m = &sample.metrics;
        let mine: Vec<_> = output.transitions_of(host, breaker).collect();
        let final_state = mine.last().map_or(State::Closed, |t| t.transition.to());
        let last_closed_ms = mine
            .iter()
            .rev()
            .find(|t| t.transition.to() == State::Closed)
            .map_or(0, |t| t.at_ms);
        let recovery_ms = if final_state == State::Closed {
            last_closed_ms.saturating_sub(fault_end_ms).to_string()
        } else {
            String::new()
        };
        let mut row = vec![
            scenario.to_owned(),
            seed.to_string(),
            host.to_owned(),
            breaker.to_owned(),
            final_state.as_str().to_owned(),
            m.transitions(Transition::ClosedToOpen).to_string(),
            m.transitions(Transition::OpenToHalfOpen).to_string(),
            m.transitions(Transition::HalfOpenToOpen).to_string(),
            m.transitions(Transition::HalfOpenToClosed).to_string(),
            last_closed_ms.to_string(),
            recovery_ms,
            m.retries.to_string(),
            m.recovery.count.to_string(),
            format!("{:.0}", m.recovery.sum_seconds * 1000.0),
        ];
        row.extend(counters(|s| m.operations(s), |k| m.errors(k)));
        row
    });
    csv_bytes(breaker_summary_header(), rows)
}

fn outcomes(output: &RunOutput) -> Vec<u8> {
    let rows = output.publishes.iter().map(|p| {
        let resolved = p.resolved_at_ms.map_or(String::new(), |ms| ms.to_string());
        let latency = p
            .resolved_at_ms
            .map_or(String::new(), |ms| (ms - p.started_at_ms).to_string());
        [
            p.id.to_string(),
            p.host.clone(),
            p.seq.to_string(),
            p.topic.clone(),
            (p.qos as u8).to_string(),
            p.started_at_ms.to_string(),
            resolved,
            latency,
            p.result.label(),
        ]
    });
    csv_bytes(OUTCOMES_HEADER, rows)
}

fn faults(spec: &WorldSpec) -> Vec<u8> {
    let rows = spec.faults.iter().map(|f| {
        let targets = if f.targets.is_empty() && f.fault.is_network() {
            "all".to_owned()
        } else {
            f.targets.join(" ")
        };
        [
            f.at.as_millis().to_string(),
            f.end()
                .map_or(String::new(), |end| end.as_millis().to_string()),
            f.fault.kind_name().to_owned(),
            f.fault.to_string(),
            targets,
        ]
    });
    csv_bytes(FAULTS_HEADER, rows)
}

fn oracles(verdicts: &[Verdict]) -> Vec<u8> {
    let rows = verdicts.iter().map(|v| {
        [
            v.oracle.as_str().to_owned(),
            if v.passed() { "pass" } else { "fail" }.to_owned(),
            v.failure.clone().unwrap_or_default(),
        ]
    });
    csv_bytes(ORACLES_HEADER, rows)
}

fn lines(lines: &[String]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes
}
