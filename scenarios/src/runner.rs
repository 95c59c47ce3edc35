//! Runs scenario x seed jobs on a pool of OS threads, one simulation per
//! thread at a time (turmoil's `Sim` is `!Send`, and a run is CPU-bound),
//! and hands each finished run to the caller as an event, in the order
//! runs finish. Reporters (disk, progress bar, summary table) consume the
//! events; nothing here prints.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::catalog::Resolved;
use crate::oracle::{self, RunFacts, Verdict};
use crate::report::run::{self as run_report, RunFile};
use crate::report::sweep::{RowInput, SummaryRow};

/// Stack of each worker thread: the simulation's futures nest deeply, and
/// worker threads would otherwise get the 2 MiB default rather than the
/// main thread's 8 MiB.
const WORKER_STACK_BYTES: usize = 16 << 20;

/// Most worker threads: far above any machine this runs on, and a bound
/// so a typo in `--jobs` cannot spawn thousands of threads.
pub const JOBS_LIMIT: usize = 256;

/// One run to do: a scenario and a seed.
#[derive(Clone, Debug)]
pub struct Job {
    /// The scenario (shared by all its seeds).
    pub scenario: Arc<Resolved>,
    /// The seed.
    pub seed: u64,
}

impl Job {
    /// Report folder of this run, relative to the output folder.
    pub fn dir(&self) -> PathBuf {
        run_dir(&self.scenario.scenario.name, self.seed)
    }
}

/// `<scenario>/seed-<n>`: where one run's files go.
pub fn run_dir(scenario: &str, seed: u64) -> PathBuf {
    PathBuf::from(scenario).join(format!("seed-{seed}"))
}

/// Everything one finished run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// The argument that names the scenario to `breakwater replay`.
    pub replay_arg: String,
    /// Seed.
    pub seed: u64,
    /// Oracle verdicts, in oracle order.
    pub verdicts: Vec<Verdict>,
    /// The run folder's files, rendered.
    pub files: Vec<RunFile>,
    /// The run's row of the sweep summary.
    pub row: SummaryRow,
    /// Virtual time simulated.
    pub virtual_ms: u64,
    /// Wall-clock time the run took (reported only in `wall-clock.csv`).
    pub wall: Duration,
}

impl RunReport {
    /// Whether every oracle held.
    pub fn passed(&self) -> bool {
        self.row.passed
    }

    /// The failed verdicts.
    pub fn failures(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| !v.passed())
    }

    /// The command that replays this run exactly.
    pub fn replay_command(&self) -> String {
        replay_command(&self.replay_arg, self.seed)
    }
}

/// `breakwater replay <arg> --seed <n>`, with the argument quoted when a
/// shell would split it.
pub fn replay_command(arg: &str, seed: u64) -> String {
    let plain = arg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:".contains(&b));
    if plain {
        format!("breakwater replay {arg} --seed {seed}")
    } else {
        format!(
            "breakwater replay '{}' --seed {seed}",
            arg.replace('\'', r"'\''")
        )
    }
}

/// Runs one job on the calling thread. A simulation error or a panic in
/// the simulation is a failed run (the `simulation` oracle), never a crash
/// of the sweep.
pub fn execute(job: &Job) -> RunReport {
    let started = Instant::now();
    let resolved = &job.scenario;
    let scenario = &resolved.scenario;
    let spec = scenario.world(job.seed);
    tracing::debug!(scenario = %scenario.name, seed = job.seed, "run started");
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| breakwater_sim::run(&spec)));
    let (verdicts, files, facts, end_ms) = match outcome {
        Ok(Ok(output)) => {
            let verdicts = oracle::check(&spec, &output, &scenario.expect);
            let files = run_report::render(&scenario.name, &spec, &output, &verdicts);
            (verdicts, files, Some(RunFacts::of(&output)), output.end_ms)
        }
        Ok(Err(error)) => {
            let verdicts = oracle::failed_simulation(format!("the simulation failed: {error}"));
            let files = run_report::render_failed(&spec, &verdicts);
            (verdicts, files, None, 0)
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".to_owned());
            let verdicts = oracle::failed_simulation(format!("the simulation panicked: {message}"));
            let files = run_report::render_failed(&spec, &verdicts);
            (verdicts, files, None, 0)
        }
    };
    let row = SummaryRow::new(&RowInput {
        scenario: &scenario.name,
        seed: job.seed,
        faults: spec.faults.len(),
        max_recovery: scenario.expect.max_recovery,
        facts: facts.as_ref(),
        end_ms,
        verdicts: &verdicts,
    });
    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|v| !v.passed())
        .map(|v| v.oracle.as_str())
        .collect();
    if failed.is_empty() {
        tracing::debug!(scenario = %scenario.name, seed = job.seed, end_ms, "run passed");
    } else {
        tracing::warn!(
            scenario = %scenario.name,
            seed = job.seed,
            failed = %failed.join(";"),
            replay = %replay_command(&resolved.replay_arg, job.seed),
            "run failed"
        );
    }
    RunReport {
        scenario: scenario.name.clone(),
        replay_arg: resolved.replay_arg.clone(),
        seed: job.seed,
        verdicts,
        files,
        row,
        virtual_ms: end_ms,
        wall: started.elapsed(),
    }
}

/// Runs every job on `threads` worker threads (at least 1, at most
/// [`JOBS_LIMIT`] and never more than there are jobs) and calls
/// `on_report(position, report)` on the calling thread as each run
/// finishes; `position` is the job's index in `jobs`.
pub fn run_all(jobs: &[Job], threads: usize, mut on_report: impl FnMut(usize, RunReport)) {
    let threads = threads.clamp(1, JOBS_LIMIT).min(jobs.len().max(1));
    tracing::info!(runs = jobs.len(), threads, "running simulations");
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel::<(usize, RunReport)>();
    std::thread::scope(|scope| {
        for worker in 0..threads {
            let sender = sender.clone();
            let next = &next;
            let spawned = std::thread::Builder::new()
                .name(format!("sim-{worker}"))
                .stack_size(WORKER_STACK_BYTES)
                .spawn_scoped(scope, move || loop {
                    let position = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(position) else {
                        break;
                    };
                    if sender.send((position, execute(job))).is_err() {
                        break;
                    }
                });
            if spawned.is_err() {
                // Fewer workers is slower but still correct; with none at
                // all, the jobs run on this thread below.
                break;
            }
        }
        drop(sender);
        for (position, report) in receiver {
            on_report(position, report);
        }
    });
    // If not even one worker could be spawned, every job is still undone:
    // `next` tells which ones no worker took.
    let mut position = next.load(Ordering::Relaxed);
    while let Some(job) = jobs.get(position) {
        on_report(position, execute(job));
        position += 1;
    }
}

/// Default worker count: every core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
