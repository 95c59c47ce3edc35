//! `breakwater real`: one scenario against a real MQTT broker (mosquitto)
//! over real TCP, through `breakwater_real`'s fault-injecting proxies.
//!
//! The scenario is resolved and turned into a world exactly as `run` does
//! ([`catalog::resolve`], [`crate::scenario::Scenario::world`]), played by
//! [`breakwater_real::run`] in wall-clock time at a time scale, and checked
//! by the same [`oracle::check`] as a simulated run. Oracles that only hold
//! on the simulation's virtual clock are reported as skipped, with why
//! ([`SIM_ONLY`]), and so are faults the real mode cannot inject.
//!
//! Every report is written flat into one folder (default
//! `reports/real/<scenario>/`) by the same writers as a simulated run:
//! `summary.csv` is the one-row summary in the columns of `breakwater
//! run`'s `summary.csv` (so the two compare column for column), and the
//! per-breaker summary a simulated run folder calls `summary.csv` is
//! `breakers.csv` here. `skipped.csv` lists the faults not injected and
//! `real.txt` says how the run was made and that every time is wall-clock.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use breakwater_real::{
    fault_mapping, Broker, FaultMapping, RealOptions, RealRun, TIME_SCALE_MAX, TIME_SCALE_MIN,
};
use breakwater_sim::spec::WorldSpec;
use clap::{ArgGroup, Args};

use crate::catalog;
use crate::cli::{EXIT_FAILED, EXIT_OK};
use crate::oracle::{self, Oracle, RunFacts, Verdict};
use crate::report::run::{self as run_report, csv_bytes, RunFile};
use crate::report::sweep::{self, RowInput, SummaryRow};
use crate::scenario::Expectations;

/// Time scale when `--time-scale` is not given: a one-minute scenario runs
/// in six seconds.
pub const DEFAULT_TIME_SCALE: f64 = 0.1;
/// Seed when `--seed` is not given (the first seed `breakwater run` uses).
pub const DEFAULT_SEED: u64 = 1;
/// How long `--broker` gets to accept a TCP connection before the run is
/// refused: a wrong address should fail in seconds, not after a whole run.
const BROKER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Oracles a real run is not checked against, and why: each relies on the
/// simulation's virtual clock, where nothing happens between reading a
/// breaker and stamping the read.
pub const SIM_ONLY: [(Oracle, &str); 3] = [
    (
        Oracle::StateGauge,
        "a sample is stamped with the wall instant it was due but read a timer tick later, so a transition in between is not a mismatch",
    ),
    (
        Oracle::Operations,
        "the last sample's counters are read a timer tick after the instant they are stamped with, so publishes resolving in between make the exact per-publish count racy",
    ),
    (
        Oracle::Simulation,
        "there is no simulation: a real run that cannot complete is an error (exit 2), not a verdict",
    ),
];

/// Arguments of `breakwater real`.
#[derive(Args, Debug)]
#[command(after_help = REAL_AFTER_HELP)]
#[command(group(
    ArgGroup::new("target")
        .required(true)
        .args(["broker", "spawn_mosquitto"])
))]
pub struct RealArgs {
    /// A catalog name or a scenario file (`path/x.toml`), parsed exactly as
    /// `breakwater run` parses it.
    #[arg(value_name = "NAME|FILE")]
    scenario: String,
    /// A running MQTT 3.1.1 broker to test against (e.g. 127.0.0.1:1883).
    /// `crash` and `host-crash` faults are skipped: its process is not ours.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_broker)]
    broker: Option<SocketAddr>,
    /// Start mosquitto (from PATH or /usr/sbin) on a free 127.0.0.1 port
    /// with a temporary config and database, and stop it at the end. Broker
    /// crashes are injected by stopping and restarting it.
    #[arg(long)]
    spawn_mosquitto: bool,
    /// Serve the first client's breaker metrics (OpenMetrics text) at
    /// `http://ADDR/metrics` while the run lasts; port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Folder the reports go to [default: reports/real/<scenario>/].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Factor applied to every duration of the scenario (run length, fault
    /// times and durations, latencies, client timeouts and reconnect
    /// delays, breaker open_timeout and backoff, the recovery bound); the
    /// publish rate is divided by it, so the run makes as many publishes as
    /// the scenario says. 0.1 plays a 60 s scenario in about 6 s of wall
    /// time; 1 plays it in real time. MQTT keep-alive is whole seconds, so
    /// it is rounded up to at least 1 s.
    #[arg(long, value_name = "F", default_value_t = DEFAULT_TIME_SCALE, value_parser = parse_time_scale)]
    time_scale: f64,
    /// Seed of the clients' jitter and the proxies' randomness, as in
    /// `breakwater run --seed` (a real network adds its own timing).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
}

/// Text appended to `breakwater real --help`.
pub const REAL_AFTER_HELP: &str = "\
Every time in the reports (timeline.csv, transitions.csv, outcomes.csv, \
faults.csv, events.log, summary.csv) is wall-clock milliseconds since the \
run started, on the scaled clock: at --time-scale 0.1 a fault at 10 s in \
the scenario is at 1000 ms. Reports: summary.csv (the columns of `breakwater \
run`'s summary.csv), breakers.csv (per breaker), timeline.csv, \
transitions.csv, outcomes.csv, faults.csv (as run, scaled), oracles.csv, \
skipped.csv (faults not injected, by name), events.log, ledger.txt (what the \
witness subscriber saw) and real.txt (how the run was made). Oracles that \
need the simulation's virtual clock (state_gauge, operations, simulation) \
are skipped and listed; the recovery bound is scaled by the time scale.\n\n\
Exit codes: 0 every checked oracle held, 1 one failed, 2 bad arguments, an \
unreachable broker, no mosquitto, or a run that could not be carried out.";

fn parse_broker(text: &str) -> Result<SocketAddr, String> {
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| format!("expected HOST:PORT (e.g. 127.0.0.1:1883): {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("{text} resolves to no address"))
}

fn parse_time_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if scale.is_finite() && (TIME_SCALE_MIN..=TIME_SCALE_MAX).contains(&scale) {
        Ok(scale)
    } else {
        Err(format!(
            "must be between {TIME_SCALE_MIN} and {TIME_SCALE_MAX}, got {text}"
        ))
    }
}

/// A fault of the scenario the real mode did not inject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedFault {
    /// Index in the scenario's fault list.
    pub index: usize,
    /// Its kind, e.g. `drop-acks`.
    pub kind: &'static str,
    /// Wall start (scaled), in ms since the run started.
    pub at_ms: u64,
    /// Wall end (scaled), if it lasts.
    pub end_ms: Option<u64>,
    /// Why it was not injected.
    pub reason: &'static str,
}

/// The faults of the (scaled) `spec` that `broker` cannot take, by the
/// same mapping the real run applies.
pub fn skipped_faults(spec: &WorldSpec, broker: &Broker) -> Vec<SkippedFault> {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    spec.faults
        .iter()
        .enumerate()
        .filter_map(
            |(index, fault)| match fault_mapping(&fault.fault, &spec.workload, broker) {
                FaultMapping::Skipped { reason } => Some(SkippedFault {
                    index,
                    kind: fault.fault.kind_name(),
                    at_ms: millis(fault.at),
                    end_ms: fault.end().map(millis),
                    reason,
                }),
                _ => None,
            },
        )
        .collect()
}

/// The scenario's expectations on the scaled clock: the recovery bound is
/// scaled like every other duration (rounded to whole ms, as fault times
/// are). With faults skipped, `min_opens` no longer says anything (the
/// faults meant to open the breakers did not happen) and is dropped.
pub fn real_expectations(
    expect: &Expectations,
    time_scale: f64,
    faults_skipped: bool,
) -> Expectations {
    let max_recovery = expect.max_recovery.map(|bound| {
        let ms = (bound.as_secs_f64() * time_scale * 1_000.0)
            .round()
            .max(1.0);
        Duration::from_millis(ms as u64)
    });
    Expectations {
        max_recovery,
        min_opens: if faults_skipped {
            None
        } else {
            expect.min_opens
        },
        min_opens_by_breaker: if faults_skipped {
            Default::default()
        } else {
            expect.min_opens_by_breaker.clone()
        },
        ..expect.clone()
    }
}

/// The verdicts of every oracle that applies to a real run, in
/// [`Oracle::ALL`] order ([`SIM_ONLY`] ones left out).
pub fn real_verdicts(spec: &WorldSpec, real: &RealRun, expect: &Expectations) -> Vec<Verdict> {
    oracle::check(spec, &real.output, expect)
        .into_iter()
        .filter(|v| SIM_ONLY.iter().all(|(skipped, _)| *skipped != v.oracle))
        .collect()
}

/// Runs `breakwater real`. `Err` is a usage or environment error (exit 2).
pub fn command(args: RealArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, String> {
    let resolved = catalog::resolve(&args.scenario).map_err(|e| e.to_string())?;
    let scenario = &resolved.scenario;
    let spec = scenario.world(args.seed);
    let broker = match args.broker {
        Some(addr) => {
            check_reachable(addr)?;
            Broker::Address(addr)
        }
        None => Broker::Spawn,
    };
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("reports").join("real").join(&scenario.name));
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("{}: cannot create: {e}", out_dir.display()))?;
    let wall_s = spec.duration.as_secs_f64() * args.time_scale;
    writeln!(
        out,
        "{} seed {} against {} at time scale {} (about {wall_s:.1} s of wall time)",
        scenario.name,
        args.seed,
        match broker {
            Broker::Address(addr) => format!("the broker at {addr}"),
            Broker::Spawn => "a spawned mosquitto".to_owned(),
        },
        args.time_scale,
    )
    .map_err(|e| e.to_string())?;
    if let Some(addr) = args.metrics_addr {
        writeln!(out, "metrics: http://{addr}/metrics while the run lasts")
            .map_err(|e| e.to_string())?;
    }
    let _ = out.flush();

    let options = RealOptions {
        broker,
        time_scale: args.time_scale,
        metrics_addr: args.metrics_addr,
    };
    let started = Instant::now();
    let real = match panic::catch_unwind(AssertUnwindSafe(|| breakwater_real::run(&spec, options)))
    {
        Ok(Ok(real)) => real,
        Ok(Err(error)) => return Err(format!("the real run could not be carried out: {error}")),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".to_owned());
            writeln!(
                err,
                "FAILED {}: the real run panicked: {message}",
                scenario.name
            )
            .map_err(|e| e.to_string())?;
            return Ok(EXIT_FAILED);
        }
    };
    let wall = started.elapsed();

    let skipped = skipped_faults(&real.spec, &broker);
    let expect = real_expectations(&scenario.expect, real.time_scale, !skipped.is_empty());
    let verdicts = real_verdicts(&real.spec, &real, &expect);
    let facts = RunFacts::of(&real.output);
    let row = SummaryRow::new(&RowInput {
        scenario: &scenario.name,
        seed: args.seed,
        faults: real.spec.faults.len(),
        max_recovery: expect.max_recovery,
        facts: Some(&facts),
        end_ms: real.output.end_ms,
        verdicts: &verdicts,
    });
    let files = report_files(
        &scenario.name,
        &real,
        &Checked {
            skipped: &skipped,
            expect: &expect,
            verdicts: &verdicts,
            row: &row,
        },
        wall,
    );
    for file in &files {
        sweep::write_file(&out_dir.join(file.name), &file.bytes)
            .map_err(|e| format!("{}: cannot write reports: {e}", out_dir.display()))?;
    }
    print_result(out, &real, &skipped, &verdicts, &row, &out_dir).map_err(|e| e.to_string())?;
    if row.passed {
        Ok(EXIT_OK)
    } else {
        writeln!(err, "FAILED {} (real, seed {})", scenario.name, args.seed)
            .map_err(|e| e.to_string())?;
        for verdict in verdicts.iter().filter(|v| !v.passed()) {
            writeln!(
                err,
                "  {}: {}",
                verdict.oracle,
                verdict.failure.as_deref().unwrap_or_default()
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(EXIT_FAILED)
    }
}

/// Refuses a `--broker` nobody answers at, before a run that would only
/// time out.
fn check_reachable(addr: SocketAddr) -> Result<(), String> {
    TcpStream::connect_timeout(&addr, BROKER_CONNECT_TIMEOUT)
        .map(drop)
        .map_err(|e| format!("cannot reach the broker at {addr}: {e}"))
}

/// What the CLI made of a real run: the inputs of its report files.
struct Checked<'a> {
    skipped: &'a [SkippedFault],
    expect: &'a Expectations,
    verdicts: &'a [Verdict],
    row: &'a SummaryRow,
}

/// Every file of the report folder, in a fixed order.
fn report_files(
    scenario: &str,
    real: &RealRun,
    checked: &Checked<'_>,
    wall: Duration,
) -> Vec<RunFile> {
    let mut files = vec![RunFile {
        name: "summary.csv",
        bytes: sweep::summary_bytes(std::slice::from_ref(checked.row)),
    }];
    for mut file in run_report::render(scenario, &real.spec, &real.output, checked.verdicts) {
        // The flat folder's summary.csv is the sweep-format row above.
        if file.name == "summary.csv" {
            file.name = "breakers.csv";
        }
        files.push(file);
    }
    files.push(RunFile {
        name: "skipped.csv",
        bytes: skipped_csv(checked.skipped),
    });
    files.push(RunFile {
        name: "real.txt",
        bytes: real_txt(scenario, real, checked.skipped, checked.expect, wall).into_bytes(),
    });
    files
}

/// Column names of `skipped.csv`.
pub const SKIPPED_HEADER: [&str; 5] = ["index", "kind", "at_ms", "end_ms", "reason"];

fn skipped_csv(skipped: &[SkippedFault]) -> Vec<u8> {
    let rows = skipped.iter().map(|s| {
        [
            s.index.to_string(),
            s.kind.to_owned(),
            s.at_ms.to_string(),
            s.end_ms.map_or(String::new(), |ms| ms.to_string()),
            s.reason.to_owned(),
        ]
    });
    csv_bytes(SKIPPED_HEADER, rows)
}

fn real_txt(
    scenario: &str,
    real: &RealRun,
    skipped: &[SkippedFault],
    expect: &Expectations,
    wall: Duration,
) -> String {
    let mut text = format!(
        "breakwater real: {scenario}, seed {seed}, against a real MQTT broker over real TCP\n\
         \n\
         broker: {broker}\n\
         time_scale: {scale}\n\
         metrics: {metrics}\n\
         wall_ms: {wall_ms}\n\
         scaled duration_ms: {duration_ms}\n\
         scaled max_recovery_ms: {bound}\n\
         \n\
         Times: every time in these files (timeline.csv, transitions.csv, outcomes.csv,\n\
         faults.csv, summary.csv, breakers.csv, events.log, ledger.txt) is wall-clock\n\
         milliseconds since the run started, on the scaled clock: one ms here is\n\
         {per_ms} ms of scenario time. faults.csv is the schedule as run (scaled).\n\
         Timeline samples are stamped with the instant they were due.\n\
         \n\
         summary.csv has the columns of `breakwater run`'s summary.csv; breakers.csv is\n\
         what a simulated run folder calls summary.csv (one row per breaker).\n\
         ledger.txt is what the witness subscriber (connected to the broker without a\n\
         proxy) received: the real broker's stand-in for the simulated broker's ledger.\n",
        seed = real.spec.seed,
        broker = real.broker_addr,
        scale = real.time_scale,
        metrics = real
            .metrics_addr
            .map_or("off".to_owned(), |a| format!("http://{a}/metrics")),
        wall_ms = wall.as_millis(),
        duration_ms = real.spec.duration.as_millis(),
        bound = expect
            .max_recovery
            .map_or("none (recovery by the end of the run)".to_owned(), |b| {
                b.as_millis().to_string()
            }),
        per_ms = 1.0 / real.time_scale,
    );
    text.push_str("\nOracles not checked (they need the simulation's virtual clock):\n");
    for (oracle, why) in SIM_ONLY {
        text.push_str(&format!("  {oracle}: {why}\n"));
    }
    if skipped.is_empty() {
        text.push_str("\nFaults skipped: none\n");
    } else {
        text.push_str("\nFaults skipped (not injected; min_opens not checked):\n");
        for s in skipped {
            text.push_str(&format!("  faults[{}] {}: {}\n", s.index, s.kind, s.reason));
        }
    }
    text
}

fn print_result(
    out: &mut dyn Write,
    real: &RealRun,
    skipped: &[SkippedFault],
    verdicts: &[Verdict],
    row: &SummaryRow,
    out_dir: &Path,
) -> std::io::Result<()> {
    writeln!(
        out,
        "ran against {}; times are wall-clock ms since the start",
        real.broker_addr
    )?;
    if let Some(addr) = real.metrics_addr {
        writeln!(out, "metrics were served at http://{addr}/metrics")?;
    }
    for s in skipped {
        writeln!(
            out,
            "  SKIPPED fault faults[{}] {} at {} ms: {}",
            s.index, s.kind, s.at_ms, s.reason
        )?;
    }
    for verdict in verdicts {
        match &verdict.failure {
            None => writeln!(out, "  pass  {}", verdict.oracle)?,
            Some(why) => writeln!(out, "  FAIL  {}: {why}", verdict.oracle)?,
        }
    }
    for (oracle, _) in SIM_ONLY {
        writeln!(out, "  skip  {oracle} (sim-only, see real.txt)")?;
    }
    writeln!(
        out,
        "published {} acked {} success_rate {} opens {} recovery_ms {} (bound {})",
        row.cell("published"),
        row.cell("acked"),
        row.cell("success_rate"),
        row.cell("opens"),
        non_empty(row.cell("recovery_ms")),
        non_empty(row.cell("max_recovery_ms")),
    )?;
    writeln!(
        out,
        "verdict: {}; reports in {}",
        if row.passed { "pass" } else { "FAIL" },
        out_dir.display()
    )
}

fn non_empty(cell: &str) -> &str {
    if cell.is_empty() {
        "-"
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recovery_bound_is_scaled_and_min_opens_dropped_when_faults_are_skipped() {
        let expect = Expectations {
            max_recovery: Some(Duration::from_secs(20)),
            min_success_rate: Some(0.5),
            min_opens: Some(1),
            max_opens: Some(9),
            min_opens_by_breaker: [("connect".to_owned(), 1)].into(),
        };
        let scaled = real_expectations(&expect, 0.1, false);
        assert_eq!(scaled.max_recovery, Some(Duration::from_secs(2)));
        assert_eq!(scaled.min_opens, Some(1));
        let skipped = real_expectations(&expect, 0.1, true);
        assert_eq!(skipped.min_opens, None);
        assert!(skipped.min_opens_by_breaker.is_empty());
        assert_eq!(skipped.max_opens, Some(9));
        assert_eq!(skipped.min_success_rate, Some(0.5));
    }

    #[test]
    fn a_time_scale_out_of_range_is_refused_with_the_range() {
        assert_eq!(parse_time_scale("0.5"), Ok(0.5));
        let error = parse_time_scale("0").unwrap_err();
        assert!(error.contains("between"), "{error}");
        assert!(parse_time_scale("fast").is_err());
        assert!(parse_time_scale("NaN").is_err());
    }

    #[test]
    fn drop_acks_is_skipped_by_name_and_crash_only_against_a_given_broker() {
        let resolved = catalog::resolve("dropped-acks").unwrap();
        let spec = resolved.scenario.world(1);
        let skipped = skipped_faults(&spec, &Broker::Spawn);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].kind, "drop-acks");
        let crash = catalog::resolve("broker-crash-restart").unwrap();
        let spec = crash.scenario.world(1);
        assert!(skipped_faults(&spec, &Broker::Spawn).is_empty());
        let given = Broker::Address("127.0.0.1:1883".parse().unwrap());
        assert!(!skipped_faults(&spec, &given).is_empty());
    }
}
