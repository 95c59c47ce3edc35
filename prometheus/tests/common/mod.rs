//! Shared by the integration tests: breakers with real traffic, a small
//! reader of the exposition, and running `promtool`.
#![allow(dead_code)] // each test binary uses a different part

pub mod promql;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use breakwater_core::{BreakerConfig, CallError, CircuitBreaker, ErrorKind, ManualClock, State};
use breakwater_prometheus::prometheus_client::registry::Registry;
use breakwater_prometheus::{render, BreakerCollector};

/// A breaker whose name needs escaping in the text format.
pub const ODD_NAME: &str = r#"mqtt "odd" \ name"#;

/// Three breakers after real traffic on one manual clock, registered into a
/// fresh registry:
/// - `mqtt_connect` tripped after retries, then recovered (Closed, one
///   recovery sample);
/// - `mqtt_publish` saw an ignored error, then tripped and stays Open;
/// - [`ODD_NAME`] recovered once, tripped again and now reads HalfOpen,
///   with one cancelled call.
pub struct Traffic {
    pub clock: ManualClock,
    pub breakers: Vec<CircuitBreaker<ManualClock>>,
    pub registry: Registry,
}

impl Traffic {
    /// The exposition, as a `/metrics` handler would serve it.
    pub fn render(&self) -> String {
        render(&self.registry)
    }
}

fn breaker(
    clock: &ManualClock,
    name: &str,
    max_retries: u32,
    open_timeout: Duration,
    success_threshold: u32,
) -> CircuitBreaker<ManualClock> {
    let config = BreakerConfig::builder(name)
        .max_retries(max_retries)
        .base_delay(Duration::from_millis(100))
        .max_delay(Duration::from_secs(2))
        .open_timeout(open_timeout)
        .success_threshold(success_threshold)
        .build()
        .expect("valid test config");
    CircuitBreaker::builder(config)
        .clock(clock.clone())
        .seed(7)
        .build()
}

async fn succeed(breaker: &CircuitBreaker<ManualClock>) {
    let result: Result<(), CallError<io::Error>> = breaker.call(|| async { Ok(()) }).await;
    result.expect("the call is admitted and succeeds");
}

async fn fail(breaker: &CircuitBreaker<ManualClock>, kind: io::ErrorKind) -> CallError<io::Error> {
    breaker
        .call(|| async move { Err::<(), _>(io::Error::from(kind)) })
        .await
        .expect_err("the operation always fails")
}

/// Builds [`Traffic`]; the asserts pin the story so a change in the core
/// shows up here rather than as a puzzling metric value.
pub async fn traffic() -> Traffic {
    let clock = ManualClock::new();

    let connect = breaker(&clock, "mqtt_connect", 2, Duration::from_secs(10), 1);
    succeed(&connect).await;
    let error = fail(&connect, io::ErrorKind::ConnectionRefused).await;
    assert!(
        matches!(error, CallError::Failed { attempts: 3, .. }),
        "{error:?}"
    );
    assert_eq!(connect.state(), State::Open);
    assert!(matches!(
        fail(&connect, io::ErrorKind::ConnectionRefused).await,
        CallError::Rejected(_)
    ));
    clock.advance(Duration::from_secs(11));
    succeed(&connect).await;
    assert_eq!(connect.state(), State::Closed);

    let publish = breaker(&clock, "mqtt_publish", 0, Duration::from_secs(30), 3);
    succeed(&publish).await;
    let error = fail(&publish, io::ErrorKind::InvalidInput).await;
    assert!(matches!(error, CallError::NotRetried(_)), "{error:?}");
    let error = fail(&publish, io::ErrorKind::TimedOut).await;
    assert!(
        matches!(error, CallError::Failed { attempts: 1, .. }),
        "{error:?}"
    );
    assert!(matches!(
        fail(&publish, io::ErrorKind::TimedOut).await,
        CallError::Rejected(_)
    ));
    assert_eq!(publish.state(), State::Open);

    let odd = breaker(&clock, ODD_NAME, 0, Duration::from_secs(5), 2);
    fail(&odd, io::ErrorKind::ConnectionReset).await;
    clock.advance(Duration::from_secs(6));
    succeed(&odd).await;
    succeed(&odd).await;
    assert_eq!(odd.state(), State::Closed);
    drop(odd.try_acquire().expect("closed breaker admits"));
    fail(&odd, io::ErrorKind::TimedOut).await;
    clock.advance(Duration::from_secs(6));
    assert_eq!(odd.state(), State::HalfOpen);

    let breakers = vec![connect, publish, odd];
    let mut collector = BreakerCollector::new();
    for breaker in &breakers {
        collector.add(breaker.clone()).expect("distinct names");
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    Traffic {
        clock,
        breakers,
        registry,
    }
}

/// One sample line of the exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// What the exposition declares and holds.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Family name -> `# TYPE`.
    pub types: BTreeMap<String, String>,
    /// Family name -> `# HELP`.
    pub help: BTreeMap<String, String>,
    /// Family name -> `# UNIT`.
    pub units: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// Reads OpenMetrics text; panics on a line it cannot read.
    pub fn parse(text: &str) -> Exposition {
        let mut exposition = Exposition::default();
        for line in text.lines() {
            if let Some(comment) = line.strip_prefix("# ") {
                let mut parts = comment.splitn(3, ' ');
                let (keyword, name, rest) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                );
                match keyword {
                    "TYPE" => exposition.types.insert(name, rest),
                    "HELP" => exposition.help.insert(name, rest),
                    "UNIT" => exposition.units.insert(name, rest),
                    "EOF" => None,
                    other => panic!("unknown comment {other:?} in line {line:?}"),
                };
                continue;
            }
            exposition.samples.push(parse_sample(line));
        }
        exposition
    }

    /// Every sample name (with `_total`, `_bucket`... as exposed).
    pub fn sample_names(&self) -> BTreeSet<String> {
        self.samples.iter().map(|s| s.name.clone()).collect()
    }

    /// Label names used by samples of `name`.
    pub fn label_names(&self, name: &str) -> BTreeSet<String> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .flat_map(|s| s.labels.keys().cloned())
            .collect()
    }

    /// The one value of `name` with exactly `labels`; panics if absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.name == name && s.labels == wanted)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one sample {name}{wanted:?}, found {found:?}"
        );
        found[0].value
    }
}

fn parse_sample(line: &str) -> Sample {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(at) => line.split_at(at),
        None => panic!("sample line without value: {line:?}"),
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i + 1);
                    break;
                }
                ',' => {}
                '=' => {
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(escaped @ ('\\' | '"')) => value.push(escaped),
                                other => panic!("bad escape {other:?} in {line:?}"),
                            },
                            Some(c) => value.push(c),
                            None => panic!("unterminated label value in {line:?}"),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                c => key.push(c),
            }
        }
        let end = end.unwrap_or_else(|| panic!("unterminated labels in {line:?}"));
        rest = &inner[end..];
    }
    let value = rest
        .trim()
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// Runs `promtool` with `args`, feeding `stdin`; fails the test, saying how
/// to install it, if promtool is missing.
pub fn promtool(args: &[&str], stdin: Option<&str>, dir: &Path) -> Output {
    let mut child = match Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            panic!("promtool is not installed (it comes with Prometheus): apt-get install -y prometheus")
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes())
            .expect("promtool reads its stdin");
    }
    child
        .wait_with_output()
        .expect("promtool runs to completion")
}

/// Panics with promtool's output unless it exited 0.
pub fn assert_promtool_ok(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "promtool {what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// The workspace's `reports/` folder.
pub fn reports_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .join("reports")
}

/// The contract's error kinds, as label values.
pub fn error_types() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|k| k.as_str()).collect()
}
