//! The `breakwater` command line: argument parsing (clap) and the five
//! commands. Exit codes mean something: [`EXIT_OK`], [`EXIT_FAILED`] (an
//! oracle failed or runs differed), [`EXIT_USAGE`] (bad arguments or input
//! files, unreadable or unwritable reports).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::{self, Resolved, ENTRIES};
use crate::determinism::{self, Difference};
use crate::duration::format_duration;
use crate::logging::{self, LogArgs};
use crate::plot::{self, PlotArgs};
use crate::report::run::RunFile;
use crate::report::sweep::{self, SummaryRow, WallRow};
use crate::report::table::Table;
use crate::runner::{self, Job, RunReport, JOBS_LIMIT};
use crate::scenario::ScenarioKind;
use crate::select::{SeedRange, Shard};
use crate::swarm;

/// Every run passed (or every compared run was identical).
pub const EXIT_OK: u8 = 0;
/// An oracle failed, or `check-determinism` found a difference.
pub const EXIT_FAILED: u8 = 1;
/// Bad arguments, a bad scenario file, or reports that cannot be read or
/// written.
pub const EXIT_USAGE: u8 = 2;

/// Seeds `check-determinism` uses by default: two, to stay quick.
const DETERMINISM_SEEDS: SeedRange = SeedRange {
    start: 1,
    end_exclusive: 3,
};

#[derive(Parser, Debug)]
#[command(
    name = "breakwater",
    version = crate::VERSION,
    about = "Seeded chaos scenarios for the Breakwater circuit breaker and MQTT client",
    long_about = "Runs scenarios (a TOML fault schedule against a simulated MQTT broker) on \
                  seeds, checks oracles on every run, and writes CSV reports.\n\n\
                  Exit codes: 0 ok, 1 an oracle failed (or runs differed), 2 usage or input error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the catalog's scenarios (and swarm mode).
    List,
    /// Run scenarios over seeds, check oracles, write reports.
    ///
    /// With no arguments: the whole catalog on seeds 1..4 into `reports/`.
    Run(RunArgs),
    /// Run one scenario on one seed again, exactly, and write its report.
    Replay(ReplayArgs),
    /// Run each scenario twice per seed and compare every report byte.
    CheckDeterminism(CheckArgs),
    /// Join the reports of shards (`run --shard K/N`) into one summary.
    Merge(MergeArgs),
    /// Draw SVG charts of a run folder (state.svg, operations.svg) or of a
    /// sweep folder (recovery.svg, and every run folder in it) from the
    /// CSVs there.
    Plot(PlotArgs),
    /// Run one scenario against a real MQTT broker over real TCP.
    ///
    /// The scenario is parsed as `run` parses it and played in wall-clock
    /// time at --time-scale, each client through a fault-injecting TCP
    /// proxy in front of the broker (--broker, or mosquitto started with
    /// --spawn-mosquitto); the sim's oracles that apply to a real network
    /// are checked and the same CSV reports written.
    Real(crate::real::RealArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Catalog names, scenario files (`path/x.toml`), or `swarm`.
    /// Default: the whole catalog.
    scenarios: Vec<String>,
    /// Run this one seed (0 to 2^64 - 2).
    #[arg(long, conflicts_with = "seeds", value_parser = clap::value_parser!(u64).range(..u64::MAX))]
    seed: Option<u64>,
    /// Run these seeds: `A..B` (B excluded), `A..=B`, or `N` [default: 1..4].
    #[arg(long, value_name = "A..B")]
    seeds: Option<SeedRange>,
    /// Worker threads, one simulation each [default: every core].
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Folder the reports go to.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    out: PathBuf,
    /// Run only shard K of N of the sorted run list (K from 1); join the
    /// shards' folders with `breakwater merge`.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Write no SVG charts (state.svg and operations.svg per run,
    /// recovery.svg per sweep).
    #[arg(long)]
    no_plots: bool,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// A catalog name, a scenario file, or `swarm`.
    scenario: String,
    /// The seed to replay (0 to 2^64 - 2).
    #[arg(long, value_parser = clap::value_parser!(u64).range(..u64::MAX))]
    seed: u64,
    /// Folder the report goes to (as `<scenario>/seed-<n>/`).
    #[arg(long, value_name = "DIR", default_value = "reports")]
    out: PathBuf,
    /// Write no SVG charts (state.svg, operations.svg).
    #[arg(long)]
    no_plots: bool,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Catalog names, scenario files, or `swarm`. Default: the whole catalog.
    scenarios: Vec<String>,
    /// Seeds to check: `A..B`, `A..=B` or `N` [default: 1..3].
    #[arg(long, value_name = "A..B")]
    seeds: Option<SeedRange>,
    /// Worker threads [default: every core]. The two runs of a pair may
    /// land on different threads, which the check then also covers.
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// Report folders written by `breakwater run --shard K/N`.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Folder the merged summary (and the shards' run folders) go to.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    out: PathBuf,
}

/// An error that ends a command with [`EXIT_USAGE`].
struct UsageError(String);

impl<E: std::fmt::Display> From<E> for UsageError {
    fn from(error: E) -> Self {
        UsageError(error.to_string())
    }
}

type CommandResult = Result<u8, UsageError>;

/// Parses `args` (program name first) and runs the command, printing to
/// `out` and `err`. Returns the process exit code.
pub fn main_with(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version are successes that clap reports as errors.
            let code = if error.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            };
            // Plain text: the output may be a file or a pipe.
            let text = error.render().to_string();
            let _ = if error.use_stderr() {
                write!(err, "{text}")
            } else {
                write!(out, "{text}")
            };
            return code;
        }
    };
    if let Err(message) = logging::init(&cli.log) {
        let _ = writeln!(err, "error: {message}");
        return EXIT_USAGE;
    }
    let result = match cli.command {
        Command::List => list(out),
        Command::Plot(args) => plot::command(&args, out)
            .map(|()| EXIT_OK)
            .map_err(UsageError::from),
        Command::Run(args) => run(args, out, err),
        Command::Replay(args) => replay(args, out, err),
        Command::CheckDeterminism(args) => check_determinism(args, out, err),
        Command::Merge(args) => merge(args, out, err),
        Command::Real(args) => crate::real::command(args, out, err).map_err(UsageError),
    };
    match result {
        Ok(code) => code,
        Err(UsageError(message)) => {
            let _ = writeln!(err, "error: {message}");
            EXIT_USAGE
        }
    }
}

/// Entry point of the binary: real arguments, stdout and stderr.
pub fn main() -> std::process::ExitCode {
    let code = main_with(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        // Not locked for the whole command: log lines from worker
        // threads go to stderr too.
        &mut std::io::stderr(),
    );
    std::process::ExitCode::from(code)
}

fn list(out: &mut dyn Write) -> CommandResult {
    let mut table = Table::new(["scenario", "duration", "faults", "description"]);
    for entry in ENTRIES {
        let resolved = catalog::load_entry(&entry)?;
        let scenario = &resolved.scenario;
        let ScenarioKind::Fixed(spec) = &scenario.kind else {
            continue;
        };
        let kinds: Vec<&str> = spec.faults.iter().map(|f| f.fault.kind_name()).collect();
        table.row([
            scenario.name.clone(),
            format_duration(spec.duration),
            kinds.join(","),
            first_sentence(&scenario.description),
        ]);
    }
    let swarm = swarm::scenario();
    table.row([
        swarm.name.clone(),
        format_duration(swarm::SWARM_DURATION),
        "random per seed".to_owned(),
        first_sentence(&swarm.description),
    ]);
    table.write_to(out)?;
    Ok(EXIT_OK)
}

fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
}

/// Resolves the arguments (the whole catalog if there are none) and
/// refuses two scenarios with one name: their reports would collide.
fn resolve_all(args: &[String]) -> Result<Vec<Arc<Resolved>>, UsageError> {
    let resolved: Vec<Resolved> = if args.is_empty() {
        catalog::load_all()?
    } else {
        args.iter()
            .map(|arg| catalog::resolve(arg))
            .collect::<Result<_, _>>()?
    };
    let mut names = BTreeSet::new();
    for r in &resolved {
        if !names.insert(r.scenario.name.clone()) {
            return Err(UsageError(format!(
                "two scenarios are named {:?}; their reports would overwrite each other",
                r.scenario.name
            )));
        }
    }
    Ok(resolved.into_iter().map(Arc::new).collect())
}

/// Every scenario x seed, sorted by scenario name then seed: the order of
/// the summary, and the list shards are cut from.
fn jobs_for(scenarios: &[Arc<Resolved>], seeds: SeedRange) -> Vec<Job> {
    let mut jobs: Vec<Job> = scenarios
        .iter()
        .flat_map(|scenario| {
            seeds.seeds().map(move |seed| Job {
                scenario: Arc::clone(scenario),
                seed,
            })
        })
        .collect();
    jobs.sort_by(|a, b| {
        (&a.scenario.scenario.name, a.seed).cmp(&(&b.scenario.scenario.name, b.seed))
    });
    jobs
}

fn threads(jobs: Option<usize>) -> Result<usize, UsageError> {
    match jobs {
        None => Ok(runner::default_jobs()),
        Some(n) if (1..=JOBS_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(UsageError(format!(
            "--jobs {n}: must be between 1 and {JOBS_LIMIT}"
        ))),
    }
}

/// A progress bar on stderr when it is a terminal; hidden otherwise, so
/// logs and CI output stay quiet.
fn progress_bar(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {elapsed} (eta {eta}) {msg}")
    {
        bar.set_style(style);
    }
    bar
}

fn write_run_files(out_dir: &Path, run_dir: &Path, files: &[RunFile]) -> std::io::Result<()> {
    for file in files {
        sweep::write_file(&out_dir.join(run_dir).join(file.name), &file.bytes)?;
    }
    Ok(())
}

fn run(args: RunArgs, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let scenarios = resolve_all(&args.scenarios)?;
    let seeds = args
        .seed
        .map(SeedRange::single)
        .or(args.seeds)
        .unwrap_or(SeedRange::DEFAULT);
    let threads = threads(args.jobs)?;
    let mut jobs = jobs_for(&scenarios, seeds);
    if let Some(shard) = args.shard {
        jobs = jobs
            .into_iter()
            .enumerate()
            .filter(|(position, _)| shard.owns(*position))
            .map(|(_, job)| job)
            .collect();
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| UsageError(format!("{}: cannot create: {e}", args.out.display())))?;
    if let Some(shard) = args.shard {
        sweep::write_shard_file(&args.out, shard.index, shard.count)?;
    }

    let progress = progress_bar(jobs.len());
    let started = Instant::now();
    let mut reports: Vec<Option<RunReport>> = vec![None; jobs.len()];
    let mut write_error = None;
    runner::run_all(&jobs, threads, |position, mut report| {
        progress.inc(1);
        if !report.passed() {
            progress.set_message(format!("{} failed", report.scenario));
        }
        if !args.no_plots {
            if let Err(error) = plot::add_run_charts(&mut report.files) {
                write_error.get_or_insert(error.to_string());
            }
        }
        let written = write_run_files(&args.out, &jobs[position].dir(), &report.files);
        if let Err(error) = written {
            write_error.get_or_insert(format!(
                "{}: cannot write reports: {error}",
                args.out.join(jobs[position].dir()).display()
            ));
        }
        // The files are on disk; keep only the summary in memory.
        report.files = Vec::new();
        reports[position] = Some(report);
    });
    progress.finish_and_clear();
    let wall = started.elapsed();
    if let Some(message) = write_error {
        return Err(UsageError(message));
    }
    let reports: Vec<RunReport> = reports.into_iter().flatten().collect();
    let rows = write_sweep_files(&args.out, &reports, threads, wall)?;
    if !args.no_plots {
        plot::write_recovery_chart(&args.out)?;
    }
    sweep::write_file(&args.out.join(sweep::RUN_FILE), &sweep::run_file_bytes())?;
    print_summary_table(out, &rows)?;
    let failed = reports.iter().filter(|r| !r.passed()).count();
    let secs = wall.as_secs_f64();
    writeln!(
        out,
        "{} runs: {} passed, {failed} failed; {:.2} s wall on {threads} jobs ({:.2} runs/s); reports in {}",
        reports.len(),
        reports.len() - failed,
        secs,
        if secs > 0.0 { reports.len() as f64 / secs } else { 0.0 },
        args.out.display()
    )?;
    for report in reports.iter().filter(|r| !r.passed()) {
        print_failure(err, report)?;
    }
    Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED })
}

/// Writes the sweep's `summary.csv` and `wall-clock.csv` and returns the
/// summary rows in report order.
fn write_sweep_files(
    out_dir: &Path,
    reports: &[RunReport],
    threads: usize,
    wall: std::time::Duration,
) -> std::io::Result<Vec<SummaryRow>> {
    let mut rows: Vec<SummaryRow> = reports.iter().map(|r| r.row.clone()).collect();
    sweep::sort_rows(&mut rows);
    sweep::write_file(&out_dir.join("summary.csv"), &sweep::summary_bytes(&rows))?;
    let mut wall_rows: Vec<WallRow> = reports
        .iter()
        .map(|r| WallRow {
            scope: "run",
            scenario: r.scenario.clone(),
            seed: Some(r.seed),
            jobs: threads,
            runs: 1,
            wall: r.wall,
            virtual_ms: r.virtual_ms,
        })
        .collect();
    wall_rows.push(WallRow {
        scope: "sweep",
        scenario: String::new(),
        seed: None,
        jobs: threads,
        runs: reports.len(),
        wall,
        virtual_ms: reports.iter().map(|r| r.virtual_ms).sum(),
    });
    sweep::write_file(
        &out_dir.join("wall-clock.csv"),
        &sweep::wall_clock_bytes(&wall_rows),
    )?;
    Ok(rows)
}

fn print_summary_table(out: &mut dyn Write, rows: &[SummaryRow]) -> std::io::Result<()> {
    let columns = [
        "scenario",
        "seed",
        "verdict",
        "recovery_ms",
        "success_rate",
        "opens",
        "published",
        "acked",
        "delivered",
        "lost_acked",
        "failed_oracles",
    ];
    let mut table = Table::new(columns);
    for row in rows {
        table.row(columns.iter().map(|c| row.cell(c).to_owned()));
    }
    table.write_to(out)
}

fn print_failure(err: &mut dyn Write, report: &RunReport) -> std::io::Result<()> {
    writeln!(err, "FAILED {} seed {}", report.scenario, report.seed)?;
    for verdict in report.failures() {
        writeln!(
            err,
            "  {}: {}",
            verdict.oracle,
            verdict.failure.as_deref().unwrap_or_default()
        )?;
    }
    writeln!(err, "  replay: {}", report.replay_command())
}

/// Runs one job on a worker thread (for its stack size) and returns it.
fn run_one(job: Job) -> RunReport {
    let jobs = [job];
    let mut result = None;
    runner::run_all(&jobs, 1, |_, report| result = Some(report));
    result.unwrap_or_else(|| runner::execute(&jobs[0]))
}

fn replay(args: ReplayArgs, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let resolved = Arc::new(catalog::resolve(&args.scenario)?);
    let job = Job {
        scenario: resolved,
        seed: args.seed,
    };
    let dir = job.dir();
    let mut report = run_one(job);
    if !args.no_plots {
        plot::add_run_charts(&mut report.files)?;
    }
    write_run_files(&args.out, &dir, &report.files)
        .map_err(|e| UsageError(format!("{}: cannot write reports: {e}", args.out.display())))?;
    writeln!(out, "{} seed {}", report.scenario, report.seed)?;
    for verdict in &report.verdicts {
        match &verdict.failure {
            None => writeln!(out, "  pass  {}", verdict.oracle)?,
            Some(why) => writeln!(out, "  FAIL  {}: {why}", verdict.oracle)?,
        }
    }
    writeln!(out, "report: {}", args.out.join(&dir).display())?;
    if report.passed() {
        Ok(EXIT_OK)
    } else {
        print_failure(err, &report)?;
        Ok(EXIT_FAILED)
    }
}

/// Where two renderings of the same run first differ.
fn first_difference(a: &RunReport, b: &RunReport) -> Option<Difference> {
    determinism::first_difference(&a.files, &b.files)
        .or_else(|| (a.row != b.row).then_some(Difference::SummaryRow))
}

fn check_determinism(args: CheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let scenarios = resolve_all(&args.scenarios)?;
    let seeds = args.seeds.unwrap_or(DETERMINISM_SEEDS);
    let threads = threads(args.jobs)?;
    let single = jobs_for(&scenarios, seeds);
    // Each job twice, side by side, so the two runs of a pair usually run
    // at the same time on different threads.
    let jobs: Vec<Job> = single
        .iter()
        .flat_map(|job| [job.clone(), job.clone()])
        .collect();
    let progress = progress_bar(jobs.len());
    let mut reports: Vec<Option<RunReport>> = vec![None; jobs.len()];
    let mut chart_error = None;
    runner::run_all(&jobs, threads, |position, mut report| {
        progress.inc(1);
        // The charts are report files too: compared like the CSVs.
        if let Err(error) = plot::add_run_charts(&mut report.files) {
            chart_error.get_or_insert(error.to_string());
        }
        reports[position] = Some(report);
    });
    progress.finish_and_clear();
    if let Some(message) = chart_error {
        return Err(UsageError(message));
    }
    let mut differing = 0;
    let mut bytes_compared = 0usize;
    for pair in reports.chunks(2) {
        let (Some(a), Some(b)) = (&pair[0], &pair[1]) else {
            continue;
        };
        bytes_compared += a.files.iter().map(|f| f.bytes.len()).sum::<usize>();
        if let Some(difference) = first_difference(a, b) {
            differing += 1;
            writeln!(
                err,
                "DIFFERS {} seed {}: {difference}\n  replay: {}",
                a.scenario,
                a.seed,
                a.replay_command()
            )?;
        }
    }
    writeln!(
        out,
        "{} runs compared twice ({bytes_compared} report bytes per copy): {} identical, {differing} differing",
        single.len(),
        single.len() - differing
    )?;
    Ok(if differing == 0 { EXIT_OK } else { EXIT_FAILED })
}

fn copy_run_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn merge(args: MergeArgs, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let out_dir = &args.out;
    let same_as_out = |dir: &Path| match (dir.canonicalize(), out_dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let mut rows: Vec<SummaryRow> = Vec::new();
    let mut copies = Vec::new();
    let mut wall_runs: Vec<Vec<String>> = Vec::new();
    let mut wall_sweeps: Vec<Vec<String>> = Vec::new();
    let dirs: Vec<&Path> = args.dirs.iter().map(PathBuf::as_path).collect();
    sweep::check_merge_inputs(&dirs, out_dir).map_err(UsageError)?;
    for dir in &args.dirs {
        let shard_rows = sweep::read_summary(&dir.join("summary.csv"))?;
        for row in &shard_rows {
            if rows
                .iter()
                .any(|r| r.scenario == row.scenario && r.seed == row.seed)
            {
                return Err(UsageError(format!(
                    "{}: {} seed {} is in more than one shard",
                    dir.display(),
                    row.scenario,
                    row.seed
                )));
            }
            let run_dir = runner::run_dir(&row.scenario, row.seed);
            if !same_as_out(dir) && dir.join(&run_dir).is_dir() {
                copies.push((dir.join(&run_dir), out_dir.join(&run_dir)));
            }
        }
        rows.extend(shard_rows);
        let wall_path = dir.join("wall-clock.csv");
        if wall_path.is_file() {
            for record in sweep::read_wall_clock(&wall_path)? {
                if record.first().is_some_and(|scope| scope == "run") {
                    wall_runs.push(record);
                } else {
                    wall_sweeps.push(record);
                }
            }
        }
    }
    sweep::sort_rows(&mut rows);
    std::fs::create_dir_all(out_dir)
        .map_err(|e| UsageError(format!("{}: cannot create: {e}", out_dir.display())))?;
    for (from, to) in &copies {
        copy_run_dir(from, to)
            .map_err(|e| UsageError(format!("{}: cannot copy: {e}", from.display())))?;
    }
    sweep::write_file(&out_dir.join("summary.csv"), &sweep::summary_bytes(&rows))?;
    // Run rows in summary order; each shard's sweep row after them, so
    // the merged file still shows every shard's throughput.
    wall_runs.sort_by(|a, b| {
        let key = |r: &Vec<String>| (r[1].clone(), r[2].parse::<u64>().unwrap_or(0));
        key(a).cmp(&key(b))
    });
    wall_runs.extend(wall_sweeps);
    let wall_bytes = crate::report::run::csv_bytes(sweep::WALL_CLOCK_HEADER, wall_runs);
    sweep::write_file(&out_dir.join("wall-clock.csv"), &wall_bytes)?;
    sweep::write_file(&out_dir.join(sweep::RUN_FILE), &sweep::run_file_bytes())?;
    // The sweep chart is drawn from the merged summary, as `run` draws it,
    // when the shards were run with plots.
    if dirs
        .iter()
        .all(|dir| dir.join(plot::RECOVERY_SVG).is_file())
    {
        plot::write_recovery_chart(out_dir)?;
    }
    print_summary_table(out, &rows)?;
    let failed = rows.iter().filter(|r| !r.passed).count();
    writeln!(
        out,
        "merged {} shards: {} runs, {} passed, {failed} failed; summary in {}",
        args.dirs.len(),
        rows.len(),
        rows.len() - failed,
        out_dir.join("summary.csv").display()
    )?;
    Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED })
}
