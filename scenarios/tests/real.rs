//! `breakwater real` end to end, through the binary: catalog scenarios
//! against a mosquitto it spawns on a free 127.0.0.1 port, each in its own
//! temporary folder, at a small time scale so each run takes a few seconds.
//! Needs `mosquitto` and `promtool` (see the README's set-up).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_breakwater");
/// 60 s scenarios run in 3 s of wall time.
const SCALE: &str = "0.05";

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

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// Rows of a CSV report as column -> cell maps.
fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
    let header = reader.headers().expect("a header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("a well-formed row");
            header
                .iter()
                .zip(record.iter())
                .map(|(h, c)| (h.to_owned(), c.to_owned()))
                .collect()
        })
        .collect()
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
}

/// Runs `scenario` against a spawned mosquitto into `out`.
fn real_spawned(dir: &Path, scenario: &str, out: &Path) -> Output {
    let out = out.to_str().expect("a UTF-8 temp path");
    breakwater(
        dir,
        &[
            "real",
            scenario,
            "--spawn-mosquitto",
            "--time-scale",
            SCALE,
            "--out",
            out,
        ],
    )
}

/// The run opened the publish breaker and every breaker ended Closed, the
/// applicable oracles passed, and every report is on disk.
fn assert_opened_and_recovered(out: &Path, output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{}", describe(output));
    for file in [
        "summary.csv",
        "breakers.csv",
        "timeline.csv",
        "transitions.csv",
        "outcomes.csv",
        "faults.csv",
        "oracles.csv",
        "skipped.csv",
        "events.log",
        "ledger.txt",
        "real.txt",
    ] {
        assert!(
            out.join(file).is_file(),
            "{file} missing\n{}",
            describe(output)
        );
    }
    let transitions = read_csv(&out.join("transitions.csv"));
    assert!(
        transitions.iter().any(|t| t["host"] == "publisher-0"
            && t["breaker"] == "mqtt_publish"
            && t["to"] == "open"),
        "the publish breaker never opened: {transitions:?}"
    );
    let mut last: BTreeMap<(String, String), String> = BTreeMap::new();
    for t in &transitions {
        last.insert((t["host"].clone(), t["breaker"].clone()), t["to"].clone());
    }
    for ((host, breaker), state) in &last {
        assert_eq!(state, "closed", "{host}/{breaker} did not recover");
    }
    let oracles = read_csv(&out.join("oracles.csv"));
    let checked: BTreeSet<&str> = oracles.iter().map(|o| o["oracle"].as_str()).collect();
    for oracle in [
        "transitions",
        "resolved",
        "acked_at_broker",
        "recovery",
        "expectations",
    ] {
        assert!(
            checked.contains(oracle),
            "{oracle} not checked: {oracles:?}"
        );
    }
    assert!(
        oracles.iter().all(|o| o["verdict"] == "pass"),
        "{oracles:?}"
    );
    let summary = read_csv(&out.join("summary.csv"));
    assert_eq!(summary.len(), 1);
    let row = &summary[0];
    assert_eq!(row["verdict"], "pass");
    assert_eq!(row["lost_acked"], "0");
    assert_eq!(row["pending"], "0");
    assert_eq!(row["oracle_state_gauge"], "skip");
    assert_eq!(row["oracle_recovery"], "pass");
    let recovery_ms: u64 = row["recovery_ms"].parse().expect("recovered");
    let bound_ms: u64 = row["max_recovery_ms"].parse().expect("a scaled bound");
    assert!(recovery_ms <= bound_ms, "{row:?}");
    let note = std::fs::read_to_string(out.join("real.txt")).unwrap();
    assert!(note.contains("wall-clock"), "{note}");
    let stdout = text(&output.stdout);
    assert!(stdout.contains("verdict: pass"), "{}", describe(output));
    assert!(stdout.contains("skip  state_gauge"), "{}", describe(output));
}

#[test]
fn partition_heal_against_a_spawned_mosquitto_opens_recovers_and_passes_the_oracles() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ph");
    let output = real_spawned(dir.path(), "partition-heal", &out);
    assert_opened_and_recovered(&out, &output);
    let summary = read_csv(&out.join("summary.csv"));
    // 20 s of the scenario at 0.05.
    assert_eq!(summary[0]["max_recovery_ms"], "1000");
    assert!(read_csv(&out.join("skipped.csv")).is_empty());
}

#[test]
fn black_hole_broker_against_a_spawned_mosquitto_opens_recovers_and_passes_the_oracles() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bh");
    let output = real_spawned(dir.path(), "black-hole-broker", &out);
    assert_opened_and_recovered(&out, &output);
    let faults = read_csv(&out.join("faults.csv"));
    let kinds: Vec<&str> = faults.iter().map(|f| f["kind"].as_str()).collect();
    assert_eq!(kinds, ["black-hole", "hold"]);
    // The schedule as run: 8 s into the scenario is 400 ms of wall time.
    assert_eq!(faults[0]["at_ms"], "400");
}

#[test]
fn a_fault_the_real_mode_cannot_inject_is_listed_as_skipped_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("da");
    let output = real_spawned(dir.path(), "dropped-acks", &out);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("SKIPPED fault faults[0] drop-acks"),
        "{}",
        describe(&output)
    );
    let skipped = read_csv(&out.join("skipped.csv"));
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["kind"], "drop-acks");
    assert!(!skipped[0]["reason"].is_empty());
    let note = std::fs::read_to_string(out.join("real.txt")).unwrap();
    assert!(note.contains("faults[0] drop-acks"), "{note}");
}

/// `GET path` over HTTP/1.1 with `Connection: close`: status line and body.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

fn promtool_check_metrics(text: &str) -> Output {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (it comes with Prometheus: apt-get install -y prometheus)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("promtool reads its stdin");
    child
        .wait_with_output()
        .expect("promtool runs to completion")
}

#[test]
fn metrics_are_served_during_a_real_run_and_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("metrics");
    let addr = free_addr();
    let child = Command::new(BIN)
        .args([
            "real",
            "partition-heal",
            "--spawn-mosquitto",
            "--time-scale",
            SCALE,
        ])
        .args(["--metrics-addr", &addr.to_string()])
        .arg("--out")
        .arg(&out)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the breakwater binary starts");
    // The endpoint comes up once the clients are connected, a moment after
    // the start; the run lasts about 3 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut scraped = None;
    while Instant::now() < deadline {
        if let Ok((status, body)) = http_get(addr, "/metrics") {
            if status.contains(" 200") && body.contains("mqtt_publish") {
                scraped = Some(body);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("the run ends");
    let body =
        scraped.unwrap_or_else(|| panic!("no /metrics during the run\n{}", describe(&output)));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(text(&output.stdout).contains(&format!("http://{addr}/metrics")));
    let checked = promtool_check_metrics(&breakwater_prometheus::promtool_text(&body));
    assert!(
        checked.status.success(),
        "promtool refused the exposition:\n{}\n{}\n{body}",
        text(&checked.stdout),
        text(&checked.stderr)
    );
}

/// Exit 2, the expected message on stderr, and no panic.
fn assert_usage_error(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", describe(output));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(message), "{}", describe(output));
    assert!(!stderr.contains("panicked"), "{}", describe(output));
}

#[test]
fn broker_and_spawn_mosquitto_together_or_neither_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let both = breakwater(
        dir.path(),
        &[
            "real",
            "partition-heal",
            "--broker",
            "127.0.0.1:1883",
            "--spawn-mosquitto",
        ],
    );
    assert_usage_error(&both, "cannot be used with");
    let neither = breakwater(dir.path(), &["real", "partition-heal"]);
    assert_usage_error(&neither, "--broker");
}

#[test]
fn an_unreachable_broker_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr().to_string();
    let output = breakwater(dir.path(), &["real", "partition-heal", "--broker", &addr]);
    assert_usage_error(&output, &format!("cannot reach the broker at {addr}"));
    assert!(!dir.path().join("reports").exists());
    let malformed = breakwater(
        dir.path(),
        &["real", "partition-heal", "--broker", "nowhere"],
    );
    assert_usage_error(&malformed, "HOST:PORT");
}

#[test]
fn a_bad_scenario_or_time_scale_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = breakwater(
        dir.path(),
        &["real", "no-such-scenario", "--spawn-mosquitto"],
    );
    assert_usage_error(
        &unknown,
        "is neither a scenario file nor a catalog scenario",
    );
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "name = \"bad\"\nduration = \"forever\"\n").unwrap();
    let invalid = breakwater(
        dir.path(),
        &["real", file.to_str().unwrap(), "--spawn-mosquitto"],
    );
    assert_usage_error(&invalid, "bad.toml:2");
    let scale = breakwater(
        dir.path(),
        &[
            "real",
            "partition-heal",
            "--spawn-mosquitto",
            "--time-scale",
            "0",
        ],
    );
    assert_usage_error(&scale, "between");
}

#[test]
fn real_help_documents_the_broker_choice_time_scale_and_wall_clock_times() {
    let dir = tempfile::tempdir().unwrap();
    let output = breakwater(dir.path(), &["real", "--help"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let help = text(&output.stdout);
    for needle in [
        "--broker",
        "--spawn-mosquitto",
        "--metrics-addr",
        "--time-scale",
        "--out",
        "reports/real/<scenario>/",
        "wall-clock",
        "[default: 0.1]",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}
