//! The same broker on real loopback TCP, driven by mosquitto's own command
//! line clients: if they interoperate, the broker speaks MQTT 3.1.1 and not
//! just what our own codec expects.

use std::io;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use breakwater_sim::{Broker, BrokerConfig, Record, TokioClock};
use mqttbytes::QoS;
use tokio::time::{sleep, Instant};

/// Longest any mosquitto client process may run.
const PROCESS_LIMIT: Duration = Duration::from_secs(20);

/// Longest wait for a subscriber to be subscribed.
const SUBSCRIBE_LIMIT: Duration = Duration::from_secs(10);

const POLL_INTERVAL: Duration = Duration::from_millis(20);

fn command(binary: &str) -> Command {
    match Command::new(binary)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => panic!(
            "{binary} is not installed; these tests need it: apt-get install -y mosquitto-clients"
        ),
        Err(error) => panic!("cannot run {binary}: {error}"),
    }
    let mut command = Command::new(binary);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn start_broker() -> (Broker, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    let broker = Broker::new(BrokerConfig::default(), TokioClock::starting_now())
        .expect("default config is valid");
    let serving = broker.clone();
    tokio::spawn(async move {
        if let Err(error) = serving.serve_tcp(listener).await {
            panic!("broker stopped accepting: {error}");
        }
    });
    (broker, port.to_string())
}

fn spawn(mut command: Command) -> Child {
    command.spawn().expect("spawn mosquitto client")
}

/// Waits for `child` to exit, killing it (and failing) after
/// [`PROCESS_LIMIT`]. Polls so the broker, on this same runtime, keeps
/// serving meanwhile.
async fn finish(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + PROCESS_LIMIT;
    loop {
        if child.try_wait().expect("poll child").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!(
                "{what} did not finish within {PROCESS_LIMIT:?}; stdout: {:?} stderr: {:?}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        sleep(POLL_INTERVAL).await;
    }
}

async fn succeed(child: Child, what: &str) -> String {
    let output = finish(child, what).await;
    assert!(
        output.status.success(),
        "{what} failed with {}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

async fn wait_for_subscription(broker: &Broker, client_id: &str, filter: &str) {
    let deadline = Instant::now() + SUBSCRIBE_LIMIT;
    while !broker
        .subscriptions_of(client_id)
        .iter()
        .any(|(subscribed, _)| subscribed == filter)
    {
        assert!(
            Instant::now() < deadline,
            "{client_id} did not subscribe to {filter} within {SUBSCRIBE_LIMIT:?}"
        );
        sleep(POLL_INTERVAL).await;
    }
}

fn subscriber(port: &str, client_id: &str, filter: &str, count: u32) -> Child {
    let mut sub = command("mosquitto_sub");
    sub.args(["-h", "127.0.0.1", "-p", port, "-i", client_id, "-t", filter])
        .args(["-q", "1", "-v", "-W", "15", "-C", &count.to_string()]);
    spawn(sub)
}

async fn publish(port: &str, topic: &str, qos: u8, message: &str) {
    let mut publisher = command("mosquitto_pub");
    publisher
        .args(["-h", "127.0.0.1", "-p", port, "-t", topic, "-m", message])
        .args(["-q", &qos.to_string()]);
    succeed(spawn(publisher), "mosquitto_pub").await;
}

#[tokio::test]
async fn mosquitto_sub_receives_qos0_and_qos1_messages_from_mosquitto_pub() {
    let (broker, port) = start_broker().await;
    let sub = subscriber(&port, "sub-basic", "t/basic", 2);
    wait_for_subscription(&broker, "sub-basic", "t/basic").await;
    assert_eq!(
        broker.subscriptions_of("sub-basic"),
        [("t/basic".to_owned(), QoS::AtLeastOnce)]
    );

    publish(&port, "t/basic", 0, "zero").await;
    publish(&port, "t/basic", 1, "one").await;

    let received = succeed(sub, "mosquitto_sub").await;
    assert_eq!(received, "t/basic zero\nt/basic one\n");
    let accepted_qos: Vec<_> = broker
        .ledger()
        .into_iter()
        .filter_map(|entry| match entry.record {
            Record::Accepted(message) => Some(message.qos),
            _ => None,
        })
        .collect();
    assert_eq!(accepted_qos, [QoS::AtMostOnce, QoS::AtLeastOnce]);
}

#[tokio::test]
async fn mosquitto_sub_with_plus_wildcard_receives_only_matching_topics() {
    let (broker, port) = start_broker().await;
    let sub = subscriber(&port, "sub-plus", "sensors/+/temp", 1);
    wait_for_subscription(&broker, "sub-plus", "sensors/+/temp").await;

    publish(&port, "sensors/kitchen/humidity", 1, "no").await;
    publish(&port, "sensors/kitchen/temp/raw", 1, "no").await;
    publish(&port, "sensors/kitchen/temp", 1, "yes").await;

    assert_eq!(
        succeed(sub, "mosquitto_sub").await,
        "sensors/kitchen/temp yes\n"
    );
}

#[tokio::test]
async fn mosquitto_sub_with_hash_wildcard_receives_the_parent_and_descendants() {
    let (broker, port) = start_broker().await;
    let sub = subscriber(&port, "sub-hash", "home/#", 2);
    wait_for_subscription(&broker, "sub-hash", "home/#").await;

    publish(&port, "elsewhere/x", 1, "no").await;
    publish(&port, "home", 1, "parent").await;
    publish(&port, "home/a/b", 0, "child").await;

    assert_eq!(
        succeed(sub, "mosquitto_sub").await,
        "home parent\nhome/a/b child\n"
    );
}

#[tokio::test]
async fn persistent_mosquitto_sub_receives_qos1_message_queued_while_it_was_stopped() {
    let (broker, port) = start_broker().await;
    let mut first = command("mosquitto_sub");
    first
        .args(["-h", "127.0.0.1", "-p", &port, "-c", "-i", "durable"])
        .args(["-q", "1", "-t", "jobs/#", "-E"]);
    succeed(spawn(first), "mosquitto_sub -E").await;
    assert_eq!(
        broker.session_count(),
        1,
        "the persistent session outlives the client"
    );

    publish(&port, "jobs/1", 1, "queued").await;

    let mut second = command("mosquitto_sub");
    second
        .args(["-h", "127.0.0.1", "-p", &port, "-c", "-i", "durable"])
        .args(["-q", "1", "-t", "jobs/#", "-v", "-C", "1", "-W", "15"]);
    assert_eq!(
        succeed(spawn(second), "mosquitto_sub").await,
        "jobs/1 queued\n"
    );

    let resumed = broker.ledger().into_iter().any(|entry| {
        entry.record
            == Record::Connected {
                client_id: "durable".into(),
                clean_session: false,
                session_present: true,
            }
    });
    assert!(resumed, "the second CONNACK says session present");
}
