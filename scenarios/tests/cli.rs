//! End-to-end tests of the `breakwater` binary, each in its own temporary
//! directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_breakwater");

fn breakwater(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the breakwater binary starts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn catalog_names() -> Vec<String> {
    breakwater_scenarios::catalog::ENTRIES
        .iter()
        .map(|e| e.name.to_owned())
        .collect()
}

/// Every file under `dir`, relative, sorted, except `wall-clock.csv`
/// (timings differ between any two sweeps).
fn report_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, files);
            } else if path.file_name().unwrap() != "wall-clock.csv" {
                files.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

#[test]
fn run_with_no_arguments_finishes_the_default_suite_and_writes_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(dir.path(), &["run"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let reports = dir.path().join("reports");
    let summary = std::fs::read_to_string(reports.join("summary.csv")).unwrap();
    let names = catalog_names();
    assert_eq!(summary.lines().count(), 1 + names.len() * 3);
    for name in &names {
        for seed in 1..4 {
            let run = reports.join(name).join(format!("seed-{seed}"));
            for file in [
                "timeline.csv",
                "transitions.csv",
                "summary.csv",
                "outcomes.csv",
            ] {
                assert!(
                    run.join(file).is_file(),
                    "{} missing",
                    run.join(file).display()
                );
            }
            assert!(
                summary.contains(&format!("\n{name},{seed},pass,")),
                "{name} seed {seed}"
            );
        }
    }
    let wall = std::fs::read_to_string(reports.join("wall-clock.csv")).unwrap();
    assert_eq!(
        wall.lines().filter(|l| l.starts_with("run,")).count(),
        names.len() * 3
    );
    assert_eq!(wall.lines().filter(|l| l.starts_with("sweep,")).count(), 1);
    // The summary table is printed at the end.
    let stdout = text(&output.stdout);
    assert!(stdout.contains("36 runs: 36 passed, 0 failed"), "{stdout}");
}

#[test]
fn check_determinism_passes_for_the_whole_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(dir.path(), &["check-determinism", "--seeds", "1"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("{} runs compared twice", catalog_names().len())),
        "{stdout}"
    );
    assert!(stdout.contains("0 differing"), "{stdout}");
}

#[test]
fn check_determinism_covers_swarm_runs_too() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(dir.path(), &["check-determinism", "swarm", "--seeds", "7"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

const IMPOSSIBLE: &str = r#"
name = "impossible-recovery"
description = "Asks breakers to recover from a partition within 1 ms: they cannot."
duration = "40s"

[client]
keep_alive = "2s"
ping_timeout = "1s"
request_timeout = "1s"
connect_timeout = "1s"
reconnect_delay_max = "1s"

[breakers.connect]
open_timeout = "2s"
success_threshold = 1

[breakers.publish]
max_retries = 1
open_timeout = "2s"
success_threshold = 2

[workload]
publish_rate_per_s = 10
topics = ["t/1"]

[[faults]]
at = "5s"
kind = "partition"
duration = "10s"

[expect]
max_recovery = "1ms"
"#;

#[test]
fn an_impossible_expectation_fails_with_a_replay_command_that_reproduces_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("impossible.toml");
    std::fs::write(&file, IMPOSSIBLE).unwrap();
    let output = breakwater(dir.path(), &["run", "impossible.toml", "--seed", "5"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("FAILED impossible-recovery seed 5"),
        "{stderr}"
    );
    let failure = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("recovery:"))
        .unwrap_or_else(|| panic!("no recovery failure in:\n{stderr}"))
        .to_owned();
    assert!(failure.contains("the bound is 1ms"), "{failure}");
    let replay = stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("replay: "))
        .unwrap_or_else(|| panic!("no replay command in:\n{stderr}"))
        .to_owned();
    let absolute = std::path::absolute(&file).unwrap();
    assert_eq!(
        replay,
        format!("breakwater replay {} --seed 5", absolute.display())
    );

    // Run the printed command (from another directory: the path is
    // absolute) and get the same failure, byte for byte.
    let elsewhere = tempfile::tempdir().unwrap();
    let words: Vec<&str> = replay.split(' ').skip(1).collect();
    let again = breakwater(elsewhere.path(), &words);
    assert_eq!(again.status.code(), Some(1));
    let again_stderr = text(&again.stderr);
    assert!(again_stderr.contains(&failure), "{again_stderr}");
    assert!(
        again_stderr.contains(&format!("replay: {replay}")),
        "{again_stderr}"
    );
    // The replayed run's report is the failing run's report.
    let run_dir = Path::new("reports/impossible-recovery/seed-5");
    for file in [
        "timeline.csv",
        "transitions.csv",
        "oracles.csv",
        "events.log",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join(run_dir).join(file)).unwrap(),
            std::fs::read(elsewhere.path().join(run_dir).join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn a_bad_scenario_file_exits_2_naming_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let broken = IMPOSSIBLE.replace("duration = \"10s\"", "duration = \"10 s\"");
    std::fs::write(dir.path().join("broken.toml"), broken).unwrap();
    let output = breakwater(dir.path(), &["run", "broken.toml"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("broken.toml:29:12: invalid duration \"10 s\""),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        breakwater(dir.path(), &["run", "--seeds", "5..1"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        breakwater(dir.path(), &["run", "no-such-scenario"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        breakwater(dir.path(), &["frobnicate"]).status.code(),
        Some(2)
    );
    for command in ["run", "replay", "check-determinism", "merge", "list"] {
        let help = breakwater(dir.path(), &[command, "--help"]);
        assert_eq!(help.status.code(), Some(0), "{command}");
        assert!(
            text(&help.stdout).contains("Usage: breakwater"),
            "{command}"
        );
    }
    let list = breakwater(dir.path(), &["list"]);
    assert_eq!(list.status.code(), Some(0));
    for name in catalog_names() {
        assert!(text(&list.stdout).contains(&name), "{name}");
    }
}

#[test]
fn shards_merged_equal_the_unsharded_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let common = ["partition-heal", "lossy-link", "--seeds", "1..3", "-j", "2"];
    let run = |extra: &[&str]| {
        let mut args = vec!["run"];
        args.extend(common);
        args.extend(extra);
        let output = breakwater(dir.path(), &args);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    };
    run(&["--out", "whole"]);
    run(&["--out", "shard-1", "--shard", "1/2"]);
    run(&["--out", "shard-2", "--shard", "2/2"]);
    let shard_rows = |name: &str| {
        std::fs::read_to_string(dir.path().join(name).join("summary.csv"))
            .unwrap()
            .lines()
            .count()
            - 1
    };
    assert_eq!(shard_rows("shard-1") + shard_rows("shard-2"), 4);
    assert!(shard_rows("shard-1") > 0 && shard_rows("shard-2") > 0);

    let merged = breakwater(
        dir.path(),
        &["merge", "shard-1", "shard-2", "--out", "merged"],
    );
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged.stderr));
    let whole = dir.path().join("whole");
    let joined = dir.path().join("merged");
    assert_eq!(
        std::fs::read(whole.join("summary.csv")).unwrap(),
        std::fs::read(joined.join("summary.csv")).unwrap()
    );
    // Not just the summary: the merged folder is the unsharded one.
    assert_eq!(report_files(&whole), report_files(&joined));
    for file in report_files(&whole) {
        assert_eq!(
            std::fs::read(whole.join(&file)).unwrap(),
            std::fs::read(joined.join(&file)).unwrap(),
            "{}",
            file.display()
        );
    }
    let wall = std::fs::read_to_string(joined.join("wall-clock.csv")).unwrap();
    assert_eq!(wall.lines().filter(|l| l.starts_with("run,")).count(), 4);
    assert_eq!(wall.lines().filter(|l| l.starts_with("sweep,")).count(), 2);

    // The same run in two shards is refused.
    let twice = breakwater(dir.path(), &["merge", "shard-1", "shard-1", "--out", "bad"]);
    assert_eq!(twice.status.code(), Some(2));
}

#[test]
fn a_refused_connection_storm_opens_the_connect_breaker_and_fails_when_it_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = breakwater(
        dir.path(),
        &["run", "refused-connection-storm", "--seed", "1"],
    );
    assert_eq!(catalog.status.code(), Some(0), "{}", text(&catalog.stderr));
    // Without `refused` in the connect breaker's `retry_on`, refusals are
    // ignored, the connect breaker stays Closed, and the scenario says so.
    let source = breakwater_scenarios::catalog::ENTRIES
        .iter()
        .find(|e| e.name == "refused-connection-storm")
        .unwrap()
        .source;
    let without = source.replace(
        "retry_on = [\"connection\", \"timeout\", \"refused\"]\n",
        "",
    );
    assert_ne!(without, source);
    std::fs::write(dir.path().join("storm.toml"), without).unwrap();
    let output = breakwater(dir.path(), &["run", "storm.toml", "--seed", "1"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("the connect breaker (mqtt_connect) opened 0 times"),
        "{}",
        text(&output.stderr)
    );
}

/// A partition from the very first millisecond: connect fails before the
/// first sample is due.
const FAULT_AT_ZERO: &str = r#"name = "fault-at-zero"
duration = "30s"

[breakers.connect]
open_timeout = "2s"

[breakers.publish]
open_timeout = "2s"

[workload]
topics = ["t/1"]

[[faults]]
at = "0s"
kind = "partition"
duration = "5s"
"#;

#[test]
fn a_fault_at_zero_seconds_is_counted_in_the_first_sample_interval() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zero.toml"), FAULT_AT_ZERO).unwrap();
    let output = breakwater(dir.path(), &["run", "zero.toml", "--seeds", "1..5"]);
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("operations:"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn merge_refuses_an_out_inside_an_input_an_incomplete_set_and_a_non_shard_folder() {
    let dir = tempfile::tempdir().unwrap();
    let common = ["partition-heal", "--seeds", "1..3", "--no-plots"];
    for (out, shard) in [("shard-1", "1/2"), ("shard-2", "2/2")] {
        let mut args = vec!["run", "--out", out, "--shard", shard];
        args.extend(common);
        let output = breakwater(dir.path(), &args);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    let plain = breakwater(
        dir.path(),
        &[
            "run",
            "--out",
            "plain",
            "partition-heal",
            "--seed",
            "1",
            "--no-plots",
        ],
    );
    assert_eq!(plain.status.code(), Some(0));
    let refused = |args: &[&str], why: &str| {
        let output = breakwater(dir.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains(why),
            "{}",
            text(&output.stderr)
        );
    };
    refused(
        &["merge", "shard-1", "shard-2", "--out", "shard-1"],
        "is the input folder",
    );
    refused(
        &["merge", "shard-1", "shard-2", "--out", "shard-2/merged"],
        "is the input folder",
    );
    refused(
        &["merge", "shard-1", "--out", "merged"],
        "missing shard 2/2",
    );
    refused(
        &["merge", "shard-1", "plain", "--out", "merged"],
        "not a shard folder",
    );
    assert!(!dir.path().join("merged").exists());
    let merged = breakwater(
        dir.path(),
        &["merge", "shard-1", "shard-2", "--out", "merged"],
    );
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged.stderr));
}

#[test]
fn the_largest_seed_is_refused_rather_than_running_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["run", "replay"] {
        let output = breakwater(
            dir.path(),
            &[command, "partition-heal", "--seed", "18446744073709551615"],
        );
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command}: {}",
            text(&output.stdout)
        );
    }
}

#[test]
fn reports_name_the_crash_parameter_as_the_file_does_and_the_build_commit() {
    let dir = tempfile::tempdir().unwrap();
    let version = breakwater(dir.path(), &["--version"]);
    assert!(
        text(&version.stdout).contains("(commit "),
        "{}",
        text(&version.stdout)
    );
    let output = breakwater(
        dir.path(),
        &["run", "broker-crash-restart", "--seed", "1", "--no-plots"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let reports = dir.path().join("reports");
    let faults =
        std::fs::read_to_string(reports.join("broker-crash-restart/seed-1/faults.csv")).unwrap();
    assert!(faults.contains("keep_session="), "{faults}");
    assert!(!faults.contains("keep_sessions="), "{faults}");
    let run = std::fs::read_to_string(reports.join("run.txt")).unwrap();
    assert!(
        run.starts_with("breakwater ") && run.contains("(commit "),
        "{run}"
    );
}
