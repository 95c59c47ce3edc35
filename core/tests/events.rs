//! `tracing` events: state changes at INFO, failed attempts at WARN, call
//! results at DEBUG, each carrying the breaker name.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakwater_core::{BreakerConfig, CircuitBreaker, ManualClock};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured(run: impl FnOnce()) -> Vec<serde_json::Value> {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, run);
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn trip_and_recovery_emit_state_changes_failed_attempts_and_results() {
    let events = captured(|| {
        let config = BreakerConfig::builder("traced")
            .max_retries(1)
            .base_delay(Duration::from_millis(10))
            .success_threshold(1)
            .open_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::builder(config).clock(clock.clone()).build();
        let failing =
            || async { Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)) };
        let _ = futures::executor::block_on(breaker.call(failing));
        // The trip happened after the backoff sleep (<= 10ms) on the manual clock.
        clock.advance(Duration::from_millis(1010));
        let _ =
            futures::executor::block_on(breaker.call(|| async { Ok::<(), std::io::Error>(()) }));
    });
    let find = |level: &str, message: &str| -> Vec<&serde_json::Value> {
        events
            .iter()
            .filter(|e| e["level"] == level && e["fields"]["message"] == message)
            .collect()
    };
    let changes = find("INFO", "circuit breaker state changed");
    let pairs: Vec<(String, String)> = changes
        .iter()
        .map(|e| {
            assert_eq!(e["fields"]["breaker"], "traced");
            (
                e["fields"]["from"].as_str().unwrap().into(),
                e["fields"]["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ];
    assert_eq!(pairs, expected.map(|(a, b)| (a.to_string(), b.to_string())));

    let failures = find("WARN", "attempt failed");
    assert_eq!(failures.len(), 2, "two attempts failed (1 + max_retries)");
    assert_eq!(failures[1]["fields"]["attempt"], 2);
    assert_eq!(failures[0]["fields"]["error_type"], "connection");
    assert!(failures[0]["fields"]["error"]
        .as_str()
        .unwrap()
        .contains("refused"));

    let results = find("DEBUG", "call finished");
    let statuses: Vec<_> = results
        .iter()
        .map(|e| e["fields"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failure", "success"]);
}
