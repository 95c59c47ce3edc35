//! `breakwater plot`, the charts `run` writes, and the CLI's logs: each
//! test runs the binary in its own temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_breakwater");

fn breakwater(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the breakwater binary starts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// `breakwater run partition-heal --seed 1 --out out` (plus `extra`) in
/// `dir`; returns the run folder.
fn run_partition_heal(dir: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["run", "partition-heal", "--seed", "1", "--out", "out"];
    args.extend_from_slice(extra);
    assert_exit(&breakwater(dir, &args), 0);
    dir.join("out/partition-heal/seed-1")
}

fn svg_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "svg") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, &mut found);
    found
}

/// Rows of a CSV as maps from column to cell.
fn csv_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .map(str::to_owned)
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// The value of attribute `name` on one element line of an SVG.
fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = element.find(&key)? + key.len();
    let end = start + element[start..].find('"')?;
    Some(&element[start..end])
}

fn num(element: &str, name: &str) -> f64 {
    attr(element, name)
        .unwrap_or_else(|| panic!("no {name} in {element}"))
        .parse()
        .unwrap()
}

/// The time axis mapping the root `<svg>` states: ms -> pixel column.
struct Axis {
    min_ms: f64,
    max_ms: f64,
    min_px: f64,
    max_px: f64,
}

impl Axis {
    fn of(svg: &str) -> Axis {
        let root = svg.lines().find(|l| l.starts_with("<svg ")).unwrap();
        Axis {
            min_ms: num(root, "data-x-min-ms"),
            max_ms: num(root, "data-x-max-ms"),
            min_px: num(root, "data-x-min-px"),
            max_px: num(root, "data-x-max-px"),
        }
    }

    fn px(&self, ms: f64) -> f64 {
        self.min_px + (ms - self.min_ms) / (self.max_ms - self.min_ms) * (self.max_px - self.min_px)
    }
}

fn elements<'a>(svg: &'a str, prefix: &str) -> Vec<&'a str> {
    svg.lines().filter(|l| l.starts_with(prefix)).collect()
}

fn points(polyline: &str) -> Vec<(f64, f64)> {
    attr(polyline, "points")
        .unwrap()
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

#[test]
fn run_writes_charts_that_plot_redraws_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_partition_heal(dir.path(), &[]);
    let state = std::fs::read(run.join("state.svg")).unwrap();
    let operations = std::fs::read(run.join("operations.svg")).unwrap();
    assert!(dir.path().join("out/recovery.svg").is_file());

    let output = breakwater(dir.path(), &["plot", "out/partition-heal/seed-1"]);
    assert_exit(&output, 0);
    assert!(text(&output.stdout).contains("state.svg"));
    assert_eq!(std::fs::read(run.join("state.svg")).unwrap(), state);
    assert_eq!(
        std::fs::read(run.join("operations.svg")).unwrap(),
        operations
    );
}

#[test]
fn no_plots_writes_no_svg() {
    let dir = tempfile::tempdir().unwrap();
    run_partition_heal(dir.path(), &["--no-plots"]);
    assert_eq!(svg_files(&dir.path().join("out")), Vec::<PathBuf>::new());
    let output = breakwater(
        dir.path(),
        &[
            "replay",
            "partition-heal",
            "--seed",
            "1",
            "--out",
            "replayed",
            "--no-plots",
        ],
    );
    assert_exit(&output, 0);
    assert_eq!(
        svg_files(&dir.path().join("replayed")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn state_chart_shades_the_fault_windows_and_steps_at_every_transition() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_partition_heal(dir.path(), &["--no-plots"]);
    assert_exit(&breakwater(&run, &["plot", "."]), 0);
    let svg = std::fs::read_to_string(run.join("state.svg")).unwrap();
    let axis = Axis::of(&svg);

    let faults = csv_rows(&run.join("faults.csv"));
    let windows: Vec<(f64, f64)> = faults
        .iter()
        .filter(|f| !f["end_ms"].is_empty())
        .map(|f| (f["at_ms"].parse().unwrap(), f["end_ms"].parse().unwrap()))
        .collect();
    assert!(!windows.is_empty(), "partition-heal has a fault window");
    let lines = elements(&svg, "<polyline class=\"state\"");
    let rects = elements(&svg, "<rect class=\"fault\"");
    // Every panel (one per breaker) shades every window.
    assert_eq!(rects.len(), windows.len() * lines.len());
    for (rect, (start_ms, end_ms)) in rects.iter().zip(windows.iter().cycle()) {
        assert_eq!(num(rect, "data-start-ms"), *start_ms);
        assert_eq!(num(rect, "data-end-ms"), *end_ms);
        let x = num(rect, "x");
        let right = x + num(rect, "width");
        assert!((x - axis.px(*start_ms)).abs() <= 1.0, "{rect}");
        assert!((right - axis.px(*end_ms)).abs() <= 1.0, "{rect}");
    }

    let transitions = csv_rows(&run.join("transitions.csv"));
    assert!(!transitions.is_empty());
    for line in &lines {
        let host = attr(line, "data-host").unwrap();
        let breaker = attr(line, "data-breaker").unwrap();
        let mine: Vec<f64> = transitions
            .iter()
            .filter(|t| t["host"] == host && t["breaker"] == breaker)
            .map(|t| t["time_ms"].parse().unwrap())
            .collect();
        let points = points(line);
        // Closed at 0, two points (from, to) per transition, held to the end.
        assert_eq!(points.len(), 2 + 2 * mine.len(), "{host} {breaker}");
        assert!((points[0].0 - axis.px(0.0)).abs() <= 1.0);
        for (step, time_ms) in points[1..].chunks(2).zip(&mine) {
            assert!((step[0].0 - axis.px(*time_ms)).abs() <= 1.0, "{line}");
            assert_eq!(step[0].0, step[1].0, "a vertical step at {time_ms} ms");
        }
    }
    // Some line actually steps: partition-heal opens breakers.
    assert!(lines.iter().any(|l| points(l).len() > 2));
    // Axis text is there, as SVG text elements.
    for label in ["closed", "open", "half_open", "virtual time (s)"] {
        assert!(svg.contains(&format!("\n{label}\n")), "no label {label}");
    }

    let operations = std::fs::read_to_string(run.join("operations.svg")).unwrap();
    let series = elements(&operations, "<polyline class=\"operations\"");
    assert_eq!(series.len(), 3 * 5, "3 breaker names x 5 statuses");
    assert!(series.iter().any(|s| {
        attr(s, "data-breaker") == Some("mqtt_publish")
            && attr(s, "data-status") == Some("rejected")
            && points(s).iter().any(|p| p.1 != points(s)[0].1)
    }));
}

#[test]
fn recovery_chart_of_a_sweep_has_one_mark_per_seed() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(
        dir.path(),
        &[
            "run",
            "partition-heal",
            "--seeds",
            "1..4",
            "--out",
            "out",
            "--no-plots",
        ],
    );
    assert_exit(&output, 0);
    let output = breakwater(dir.path(), &["plot", "out"]);
    assert_exit(&output, 0);
    let svg = std::fs::read_to_string(dir.path().join("out/recovery.svg")).unwrap();
    let marks = elements(&svg, "<circle class=\"recovery");
    let summary = csv_rows(&dir.path().join("out/summary.csv"));
    assert_eq!(marks.len(), summary.len());
    assert_eq!(marks.len(), 3);
    for (mark, row) in marks.iter().zip(&summary) {
        assert_eq!(attr(mark, "data-scenario"), Some("partition-heal"));
        assert_eq!(attr(mark, "data-seed"), Some(row["seed"].as_str()));
        assert_eq!(
            attr(mark, "data-recovery-ms"),
            Some(row["recovery_ms"].as_str())
        );
    }
    // The sweep's run folders got their charts too.
    for seed in 1..4 {
        let run = dir.path().join(format!("out/partition-heal/seed-{seed}"));
        assert!(run.join("state.svg").is_file());
    }
}

#[test]
fn plot_names_a_missing_csv_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_partition_heal(dir.path(), &["--no-plots"]);
    std::fs::remove_file(run.join("transitions.csv")).unwrap();
    let output = breakwater(dir.path(), &["plot", "out/partition-heal/seed-1"]);
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("out/partition-heal/seed-1/transitions.csv: missing"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn plot_names_the_file_and_line_of_a_corrupt_csv_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_partition_heal(dir.path(), &["--no-plots"]);
    let timeline = std::fs::read_to_string(run.join("timeline.csv")).unwrap();
    let mut lines: Vec<String> = timeline.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replacen(",closed,", ",shut,", 1);
    std::fs::write(run.join("timeline.csv"), lines.join("\n")).unwrap();
    let output = breakwater(dir.path(), &["plot", "out/partition-heal/seed-1"]);
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "out/partition-heal/seed-1/timeline.csv:4: column `state`: \"shut\" is not closed, open or half_open"
        ),
        "{stderr}"
    );

    std::fs::write(run.join("faults.csv"), "at_ms,end_ms,kind\n10,20\n").unwrap();
    std::fs::write(run.join("timeline.csv"), timeline).unwrap();
    let output = breakwater(dir.path(), &["plot", "out/partition-heal/seed-1"]);
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("seed-1/faults.csv:2: "), "{stderr}");
}

#[test]
fn plot_of_a_folder_without_reports_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(dir.path(), &["plot", "."]);
    assert_exit(&output, 2);
    assert!(
        text(&output.stderr).contains("not a report folder"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn json_logs_of_a_run_are_stamped_with_virtual_time() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(
        dir.path(),
        &[
            "--log-format",
            "json",
            "run",
            "partition-heal",
            "--seed",
            "1",
            "--out",
            "out",
            "--no-plots",
            "--log-level",
            "info",
        ],
    );
    assert_exit(&output, 0);
    let lines: Vec<serde_json::Value> = text(&output.stderr)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let logged: Vec<[String; 5]> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "circuit breaker state changed")
        .map(|l| {
            let ms = l["virtual_ms"].as_u64().expect("a sim line has virtual_ms");
            assert_eq!(
                l["timestamp"],
                format!("sim+{}.{:03}s", ms / 1000, ms % 1000),
                "{l}"
            );
            let field = |name: &str| l["fields"][name].as_str().unwrap().to_owned();
            [
                ms.to_string(),
                l["host"].as_str().unwrap().to_owned(),
                field("breaker"),
                field("from"),
                field("to"),
            ]
        })
        .collect();
    let recorded: Vec<[String; 5]> =
        csv_rows(&dir.path().join("out/partition-heal/seed-1/transitions.csv"))
            .into_iter()
            .map(|t| ["time_ms", "host", "breaker", "from", "to"].map(|c| t[c].clone()))
            .collect();
    assert!(!recorded.is_empty());
    assert_eq!(logged, recorded);
    // The CLI's own lines (outside any simulation) carry wall-clock time
    // and no virtual time.
    let cli_line = lines
        .iter()
        .find(|l| l["target"] == "breakwater_scenarios::runner")
        .expect("the runner logs at info");
    assert!(cli_line.get("virtual_ms").is_none());
    assert!(!cli_line["timestamp"].as_str().unwrap().starts_with("sim+"));
}

#[test]
fn default_logs_are_modest_text() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(
        dir.path(),
        &["run", "partition-heal", "--seed", "1", "--out", "out"],
    );
    assert_exit(&output, 0);
    let stderr = text(&output.stderr);
    assert!(stderr.lines().count() <= 2, "{stderr}");
    assert!(!stderr.contains("attempt failed"), "{stderr}");
    assert!(!stderr.contains('{'), "text, not JSON: {stderr}");

    let output = breakwater(
        dir.path(),
        &[
            "run",
            "partition-heal",
            "--seed",
            "1",
            "--out",
            "out",
            "--no-plots",
            "--log-level",
            "breakwater_core=info",
        ],
    );
    assert_exit(&output, 0);
    let stderr = text(&output.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("sim+12.200s  INFO publisher-0 breakwater_core::breaker")),
        "{stderr}"
    );
}

#[test]
fn a_bad_log_level_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(dir.path(), &["--log-level", "breakwater=loud", "list"]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("--log-level"));
}

#[test]
fn check_determinism_compares_the_charts_too() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(
        dir.path(),
        &["check-determinism", "partition-heal", "--seeds", "1..2"],
    );
    assert_exit(&output, 0);
    assert!(text(&output.stdout).contains("1 identical"));
}
