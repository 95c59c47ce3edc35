//! The sweep-level files: `summary.csv` (one row per run, deterministic)
//! and `wall-clock.csv` (timings, the only non-deterministic report), plus
//! reading `summary.csv` back for `breakwater merge`.

use std::io;
use std::path::Path;
use std::time::Duration;

use crate::oracle::{Oracle, RunFacts, Verdict};
use crate::report::run::csv_bytes;

/// Columns of `summary.csv` before the per-oracle verdicts.
const SUMMARY_FIXED: [&str; 21] = [
    "scenario",
    "seed",
    "verdict",
    "failed_oracles",
    "faults",
    "last_fault_end_ms",
    "all_closed_ms",
    "recovery_ms",
    "max_recovery_ms",
    "end_ms",
    "published",
    "acked",
    "rejected",
    "failed",
    "timeout",
    "pending",
    "success_rate",
    "delivered",
    "lost_acked",
    "opens",
    "reopens",
];

/// Column names of the sweep's `summary.csv`: the fixed columns, then
/// `oracle_<name>` for every oracle.
pub fn summary_header() -> Vec<String> {
    let fixed = SUMMARY_FIXED.iter().map(|c| (*c).to_owned());
    let oracles = Oracle::ALL.iter().map(|o| format!("oracle_{}", o.as_str()));
    fixed.chain(oracles).collect()
}

/// Column names of `wall-clock.csv`.
pub const WALL_CLOCK_HEADER: [&str; 8] = [
    "scope",
    "scenario",
    "seed",
    "jobs",
    "runs",
    "wall_ms",
    "virtual_ms",
    "runs_per_s",
];

/// One row of the sweep's `summary.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Whether every oracle held.
    pub passed: bool,
    /// Every cell, in [`summary_header`] order.
    pub cells: Vec<String>,
}

/// Everything a summary row is made of.
pub struct RowInput<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// Seed.
    pub seed: u64,
    /// Number of scheduled faults.
    pub faults: usize,
    /// Recovery bound, if the scenario sets one.
    pub max_recovery: Option<Duration>,
    /// Facts of the run; `None` if the simulation did not complete.
    pub facts: Option<&'a RunFacts>,
    /// Virtual end of the run (0 if it did not complete).
    pub end_ms: u64,
    /// The oracles' verdicts.
    pub verdicts: &'a [Verdict],
}

impl SummaryRow {
    /// Builds the row of one run.
    pub fn new(input: &RowInput<'_>) -> SummaryRow {
        let passed = input.verdicts.iter().all(Verdict::passed);
        let failed: Vec<&str> = input
            .verdicts
            .iter()
            .filter(|v| !v.passed())
            .map(|v| v.oracle.as_str())
            .collect();
        let opt = |value: Option<u64>| value.map_or(String::new(), |v| v.to_string());
        let mut cells = vec![
            input.scenario.to_owned(),
            input.seed.to_string(),
            if passed { "pass" } else { "fail" }.to_owned(),
            failed.join(";"),
            input.faults.to_string(),
        ];
        match input.facts {
            Some(f) => cells.extend([
                opt(f.last_fault_end_ms),
                opt(f.all_closed_since_ms),
                opt(f.recovery_ms()),
                opt(input.max_recovery.map(|d| d.as_millis() as u64)),
                input.end_ms.to_string(),
                f.published.to_string(),
                f.acked.to_string(),
                f.rejected.to_string(),
                f.failed.to_string(),
                f.timeout.to_string(),
                f.pending.to_string(),
                format!("{:.4}", f.success_rate()),
                f.delivered.to_string(),
                f.lost_acked.to_string(),
                f.opens.to_string(),
                f.reopens.to_string(),
            ]),
            None => {
                cells.resize(SUMMARY_FIXED.len(), String::new());
                cells[8] = opt(input.max_recovery.map(|d| d.as_millis() as u64));
            }
        }
        for oracle in Oracle::ALL {
            let verdict = input.verdicts.iter().find(|v| v.oracle == oracle);
            cells.push(
                match verdict {
                    Some(v) if v.passed() => "pass",
                    Some(_) => "fail",
                    // Not checked: the simulation failed before it could be.
                    None => "skip",
                }
                .to_owned(),
            );
        }
        SummaryRow {
            scenario: input.scenario.to_owned(),
            seed: input.seed,
            passed,
            cells,
        }
    }

    /// Cell of `column`, or "" if there is no such column.
    pub fn cell(&self, column: &str) -> &str {
        summary_header()
            .iter()
            .position(|c| c == column)
            .and_then(|i| self.cells.get(i))
            .map_or("", String::as_str)
    }
}

/// Sorts rows into report order: by scenario name, then seed. A total
/// order independent of which thread or shard finished first.
pub fn sort_rows(rows: &mut [SummaryRow]) {
    rows.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
}

/// `summary.csv` of sorted rows.
pub fn summary_bytes(rows: &[SummaryRow]) -> Vec<u8> {
    csv_bytes(summary_header(), rows.iter().map(|r| r.cells.iter()))
}

/// Reads a `summary.csv` written by [`summary_bytes`]; the header must be
/// exactly ours, so shards of different versions are never mixed.
pub fn read_summary(path: &Path) -> Result<Vec<SummaryRow>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header != summary_header() {
        return Err(format!(
            "{}: header does not match this version's summary.csv columns",
            path.display()
        ));
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.map_err(|e| format!("{}:{line}: {e}", path.display()))?;
        let cells: Vec<String> = record.iter().map(str::to_owned).collect();
        let seed = cells[1].parse::<u64>().map_err(|_| {
            format!(
                "{}:{line}: seed {:?} is not a number",
                path.display(),
                cells[1]
            )
        })?;
        let passed = match cells[2].as_str() {
            "pass" => true,
            "fail" => false,
            other => {
                return Err(format!(
                    "{}:{line}: verdict {other:?} is neither pass nor fail",
                    path.display()
                ))
            }
        };
        rows.push(SummaryRow {
            scenario: cells[0].clone(),
            seed,
            passed,
            cells,
        });
    }
    Ok(rows)
}

/// One row of `wall-clock.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct WallRow {
    /// `run` (one run) or `sweep` (a whole command).
    pub scope: &'static str,
    /// Scenario (empty for a sweep row).
    pub scenario: String,
    /// Seed (empty for a sweep row).
    pub seed: Option<u64>,
    /// Worker threads of the sweep.
    pub jobs: usize,
    /// Runs covered.
    pub runs: usize,
    /// Wall-clock time.
    pub wall: Duration,
    /// Virtual time simulated.
    pub virtual_ms: u64,
}

impl WallRow {
    fn cells(&self) -> [String; 8] {
        let secs = self.wall.as_secs_f64();
        let rate = if secs > 0.0 {
            format!("{:.3}", self.runs as f64 / secs)
        } else {
            String::new()
        };
        [
            self.scope.to_owned(),
            self.scenario.clone(),
            self.seed.map_or(String::new(), |s| s.to_string()),
            self.jobs.to_string(),
            self.runs.to_string(),
            self.wall.as_millis().to_string(),
            self.virtual_ms.to_string(),
            rate,
        ]
    }
}

/// `wall-clock.csv`: run rows (in the order given) then sweep rows.
pub fn wall_clock_bytes(rows: &[WallRow]) -> Vec<u8> {
    csv_bytes(WALL_CLOCK_HEADER, rows.iter().map(WallRow::cells))
}

/// Reads the raw records of a `wall-clock.csv` (for merge), header checked.
pub fn read_wall_clock(path: &Path) -> Result<Vec<Vec<String>>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let header = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    if header.iter().ne(WALL_CLOCK_HEADER) {
        return Err(format!(
            "{}: header does not match this version's wall-clock.csv columns",
            path.display()
        ));
    }
    reader
        .records()
        .map(|r| {
            r.map(|r| r.iter().map(str::to_owned).collect())
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// Writes bytes to `path`, creating parent folders.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

/// File a `run --shard K/N` folder gets, holding `K/N`: `merge` reads it
/// to refuse a folder that is not a shard and an incomplete shard set.
pub const SHARD_FILE: &str = "shard.txt";

/// Writes `dir/shard.txt` for shard `index` of `count`.
pub fn write_shard_file(dir: &Path, index: u32, count: u32) -> io::Result<()> {
    write_file(
        &dir.join(SHARD_FILE),
        format!("{index}/{count}\n").as_bytes(),
    )
}

/// Checks the folders given to `merge`: `out` is none of them and not
/// inside one (merging would read what it writes), each is a shard folder
/// (has `shard.txt`), all have the same N, and shards 1..=N are each
/// present exactly once.
pub fn check_merge_inputs(dirs: &[&Path], out: &Path) -> Result<(), String> {
    let absolute = |p: &Path| {
        p.canonicalize()
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let out_abs = absolute(out);
    let mut seen: Vec<(u32, u32, &Path)> = Vec::new();
    for dir in dirs {
        if out_abs.starts_with(absolute(dir)) {
            return Err(format!(
                "--out {} is the input folder {} or inside it: choose another folder",
                out.display(),
                dir.display()
            ));
        }
        let path = dir.join(SHARD_FILE);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            format!(
                "{}: not a shard folder (no {SHARD_FILE}; write shards with `breakwater run --shard K/N --out DIR`)",
                dir.display()
            )
        })?;
        let shard: crate::select::Shard = text
            .trim()
            .parse()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some((index, _, first)) = seen.iter().find(|(i, _, _)| *i == shard.index) {
            return Err(format!(
                "{} and {} are both shard {index}",
                first.display(),
                dir.display()
            ));
        }
        if let Some((_, count, first)) = seen.iter().find(|(_, n, _)| *n != shard.count) {
            return Err(format!(
                "{} is a shard of {count} but {} a shard of {}",
                first.display(),
                dir.display(),
                shard.count
            ));
        }
        seen.push((shard.index, shard.count, dir));
    }
    let count = seen.first().map_or(0, |(_, n, _)| *n);
    let missing: Vec<String> = (1..=count)
        .filter(|k| seen.iter().all(|(i, _, _)| i != k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "incomplete shard set: missing shard {}",
            missing.join(", ")
        ));
    }
    Ok(())
}

/// Sweep-level file naming the build: `breakwater <version>` on one line.
/// Kept out of the run folders, so `check-determinism` compares only what a
/// seed determines; constant for one build, so two sweeps of one binary
/// still match byte for byte.
pub const RUN_FILE: &str = "run.txt";

/// The bytes of [`RUN_FILE`].
pub fn run_file_bytes() -> Vec<u8> {
    format!("breakwater {}\n", crate::VERSION).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_simulation_row_has_every_column() {
        let verdicts = crate::oracle::failed_simulation("boom".into());
        let row = SummaryRow::new(&RowInput {
            scenario: "x",
            seed: 3,
            faults: 2,
            max_recovery: Some(Duration::from_secs(5)),
            facts: None,
            end_ms: 0,
            verdicts: &verdicts,
        });
        assert_eq!(row.cells.len(), summary_header().len());
        assert_eq!(row.cell("verdict"), "fail");
        assert_eq!(row.cell("failed_oracles"), "simulation");
        assert_eq!(row.cell("max_recovery_ms"), "5000");
        assert_eq!(row.cell("oracle_recovery"), "skip");
    }
}
