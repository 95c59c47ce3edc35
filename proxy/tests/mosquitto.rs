//! End to end: a real mosquitto on a free loopback port, with the stock
//! `mosquitto_pub` / `mosquitto_sub` clients talking to it through the proxy.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use breakwater_proxy::{Proxy, Stream, Toxic};
use common::{any_port, STEP};
use tokio::process::Command;
use tokio::time::{sleep, timeout, Instant};

const INSTALL_HINT: &str = "apt-get install -y mosquitto";
const TOPIC: &str = "breakwater/proxy/e2e";

/// Finds a mosquitto program on PATH or in the Debian locations.
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} not found; install it with: {INSTALL_HINT}"))
}

/// A mosquitto process with its own config in a temp dir; killed on drop so
/// a failing test leaves no broker behind.
struct Broker {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Broker {
    async fn start() -> Broker {
        let mosquitto = program("mosquitto");
        let addr = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\n",
                addr.port()
            ),
        )
        .expect("write config");
        let child = std::process::Command::new(mosquitto)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run mosquitto ({error}); {INSTALL_HINT}"));
        let mut broker = Broker {
            child,
            addr,
            _dir: dir,
        };
        broker.wait_until_listening().await;
        broker
    }

    async fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + STEP;
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mosquitto exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen in time"
            );
            sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago (the OS picked it).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Runs a mosquitto client program against `addr`, killed after [`STEP`].
async fn run(name: &str, addr: SocketAddr, args: &[&str]) -> Output {
    let mut command = Command::new(program(name));
    command
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    timeout(STEP, command.output())
        .await
        .unwrap_or_else(|_| panic!("{name} did not finish within {STEP:?}"))
        .unwrap_or_else(|error| panic!("cannot run {name} ({error}); {INSTALL_HINT}"))
}

/// Publishes `message` as retained (so a later subscriber gets it without a
/// race), then reads it back with a fresh subscriber. Both go through `addr`.
async fn publish_and_receive(addr: SocketAddr, message: &str) -> Result<String, String> {
    let published = run(
        "mosquitto_pub",
        addr,
        &["-q", "1", "-r", "-t", TOPIC, "-m", message],
    )
    .await;
    if !published.status.success() {
        return Err(format!(
            "mosquitto_pub failed: {}",
            String::from_utf8_lossy(&published.stderr).trim()
        ));
    }
    let received = run(
        "mosquitto_sub",
        addr,
        &["-q", "1", "-t", TOPIC, "-C", "1", "-W", "3"],
    )
    .await;
    if !received.status.success() {
        return Err(format!(
            "mosquitto_sub failed: {}",
            String::from_utf8_lossy(&received.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&received.stdout).trim().to_owned())
}

#[tokio::test]
async fn mosquitto_clients_pass_through_fail_while_down_and_pass_again_after_clear() {
    let broker = Broker::start().await;
    let proxy = Proxy::start(any_port(), broker.addr)
        .await
        .expect("start proxy");
    let through = proxy.local_addr();

    assert_eq!(
        publish_and_receive(through, "one").await,
        Ok("one".to_owned())
    );
    let forwarded = proxy.stats();
    assert!(forwarded.connections_accepted >= 2);
    assert!(forwarded.upstream.bytes_forwarded > 0);
    assert!(forwarded.downstream.bytes_forwarded > 0);

    proxy.set_toxic(Toxic::Down).await.expect("valid");
    let refused = publish_and_receive(through, "two").await;
    let error = refused.expect_err("nothing passes while down");
    assert!(error.contains("mosquitto_pub failed"), "{error}");
    // The broker itself is fine: only the proxy refused.
    assert_eq!(
        publish_and_receive(broker.addr, "direct").await,
        Ok("direct".to_owned())
    );

    proxy.clear().await;
    assert_eq!(
        publish_and_receive(through, "three").await,
        Ok("three".to_owned())
    );
}

#[tokio::test]
async fn mosquitto_clients_still_pass_under_latency_but_take_at_least_the_latency() {
    let broker = Broker::start().await;
    let proxy = Proxy::start(any_port(), broker.addr)
        .await
        .expect("start proxy");
    proxy
        .set_toxic(Toxic::Latency {
            stream: Stream::Downstream,
            latency: Duration::from_millis(200),
            jitter: Duration::from_millis(20),
        })
        .await
        .expect("valid");
    let started = Instant::now();
    assert_eq!(
        publish_and_receive(proxy.local_addr(), "slow").await,
        Ok("slow".to_owned())
    );
    // CONNACK, PUBACK, CONNACK, SUBACK and PUBLISH each cross downstream:
    // at least 180 ms each even with jitter pulling the wrong way.
    assert!(started.elapsed() >= Duration::from_millis(180 * 4));
}
