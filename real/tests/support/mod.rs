//! Helpers of the real-broker tests: specs short enough for a test, a tiny
//! HTTP/1.1 GET over a tokio `TcpStream`, and `promtool`.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use breakwater_core::BreakerConfig;
use breakwater_mqtt::BreakerConfigs;
use breakwater_sim::spec::{Fault, ScheduledFault, WorldSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Virtual time of a test scenario; at [`SCALE`] it runs in 5 s of wall
/// time.
pub const DURATION: Duration = Duration::from_secs(50);
/// The time scale of every test.
pub const SCALE: f64 = 0.1;

/// One publisher at 5 QoS 1 messages per virtual second (50/s of wall
/// time), with breakers and timeouts tight enough that a 15 s (1.5 s wall)
/// fault opens them and they recover well before the end.
pub fn spec(faults: Vec<ScheduledFault>) -> WorldSpec {
    let mut spec = WorldSpec {
        seed: 7,
        duration: DURATION,
        sample_interval: Duration::from_secs(1),
        ..WorldSpec::default()
    };
    spec.workload.publish_rate_per_s = 5.0;
    spec.workload.publish_start = Duration::from_secs(2);
    spec.client.keep_alive = Duration::from_secs(10);
    spec.client.ping_timeout = Duration::from_secs(5);
    spec.client.request_timeout = Duration::from_secs(2);
    spec.client.connect_timeout = Duration::from_secs(2);
    spec.client.reconnect_delay_min = Duration::from_secs(1);
    spec.client.reconnect_delay_max = Duration::from_secs(5);
    let breaker = |name: &str, success_threshold| {
        BreakerConfig::builder(name)
            .max_retries(1)
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_secs(1))
            .open_timeout(Duration::from_secs(5))
            .success_threshold(success_threshold)
            .build()
            .expect("valid test breaker")
    };
    spec.breakers = BreakerConfigs {
        connect: breaker("mqtt_connect", 1),
        publish: breaker("mqtt_publish", 2),
        subscribe: breaker("mqtt_subscribe", 1),
    };
    spec.faults = faults;
    spec
}

/// `fault` on every client from `at_s` for `duration_s` virtual seconds.
pub fn fault(fault: Fault, at_s: u64, duration_s: Option<u64>) -> ScheduledFault {
    ScheduledFault {
        at: Duration::from_secs(at_s),
        duration: duration_s.map(Duration::from_secs),
        fault,
        targets: Vec::new(),
    }
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
}

/// `GET path` over HTTP/1.1 with `Connection: close`: the status line,
/// the headers (lowercased names) and the body.
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
) -> io::Result<(String, Vec<(String, String)>, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no response in 5 s"))??;
    let text = String::from_utf8(raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok((status, headers, body.to_owned()))
}

/// Runs `promtool check metrics` on `text`; fails the test, saying how to
/// install it, if promtool is missing.
pub fn promtool_check_metrics(text: &str) -> Output {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
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
