//! The client against a real mosquitto started by each test on its own
//! free loopback port; faults are real signals to the broker process.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakwater_core::{ErrorKind, State, Status, Transition};
use breakwater_mqtt::{Connector, LinkStatus, MqttClient, MqttError, Operation, QoS, TcpConnector};
use support::mosquitto::{sub_once, Mosquitto, Sub};
use support::{quick_breaker, quick_config, quick_connect_breaker};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

/// Publishes QoS 0 warm-up messages until `sub` prints one, so the test
/// knows the independent subscriber is in place.
async fn until_subscriber_ready(client: &MqttClient, sub: &Sub, topic: &str) {
    for _ in 0..50 {
        client
            .publish(topic, "warmup", QoS::AtMostOnce)
            .await
            .unwrap();
        let seen = sub.collect_until(100 * MS, |l| l.starts_with(topic)).await;
        if !seen.is_empty() {
            return;
        }
    }
    panic!("mosquitto_sub never received a warm-up message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_and_qos1_round_trip_through_mosquitto() {
    let broker = Mosquitto::start().await;
    let witness = Sub::spawn(broker.port(), &["-q", "1", "-t", "rt/#"]);
    let client = MqttClient::tcp(quick_config(&broker.addr(), "round-trip").build().unwrap());
    client.wait_connected(Duration::from_secs(2)).await.unwrap();
    let echoed = Arc::new(Mutex::new(Vec::new()));
    {
        let echoed = Arc::clone(&echoed);
        client
            .subscribe("rt/data/+", QoS::AtLeastOnce, move |m| {
                echoed.lock().unwrap().push((m.topic, m.payload))
            })
            .await
            .unwrap();
    }
    until_subscriber_ready(&client, &witness, "rt/warmup").await;

    client
        .publish("rt/data/q0", "zero", QoS::AtMostOnce)
        .await
        .unwrap();
    client
        .publish("rt/data/q1", "one", QoS::AtLeastOnce)
        .await
        .unwrap();

    let lines = witness
        .collect_until(Duration::from_secs(3), |l| l == "rt/data/q1 one")
        .await;
    assert!(lines.contains(&"rt/data/q0 zero".to_owned()), "{lines:?}");
    assert!(lines.contains(&"rt/data/q1 one".to_owned()), "{lines:?}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while echoed.lock().unwrap().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(10 * MS).await;
    }
    let echoed = echoed.lock().unwrap().clone();
    let topics: BTreeSet<&str> = echoed.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, BTreeSet::from(["rt/data/q0", "rt/data/q1"]));
    let publish = client.breakers().publish.metrics();
    assert_eq!(publish.operations(Status::Failure), 0);
    assert!(publish.operations(Status::Success) >= 3);
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_recovers_through_half_open_without_losing_acknowledged_messages() {
    let mut broker = Mosquitto::start_persistent().await;
    let port = broker.port();
    // The witness: a persistent QoS 1 session that queues while offline and
    // survives the broker restart (persistence is written on SIGTERM).
    sub_once(
        port,
        &["-c", "-i", "witness", "-q", "1", "-t", "stop/#", "-E"],
    );
    let config = quick_config(&broker.addr(), "restarter")
        .request_timeout(500 * MS)
        .connect_breaker(quick_connect_breaker(1))
        .publish_breaker(quick_breaker("mqtt_publish", 1))
        .build()
        .unwrap();
    let client = MqttClient::tcp(config);
    client.wait_connected(Duration::from_secs(2)).await.unwrap();
    let echoes = Arc::new(AtomicUsize::new(0));
    {
        let echoes = Arc::clone(&echoes);
        client
            .subscribe("stop/echo", QoS::AtLeastOnce, move |_| {
                echoes.fetch_add(1, Ordering::Relaxed);
            })
            .await
            .unwrap();
    }
    let publish_breaker = client.breakers().publish.clone();
    let mut acked = Vec::new();
    let mut seq = 0u32;
    for _ in 0..20 {
        client
            .publish("stop/data", format!("m{seq}"), QoS::AtLeastOnce)
            .await
            .unwrap();
        acked.push(seq);
        seq += 1;
    }

    broker.stop().await;
    let stopped_at = Instant::now();
    let mut rejected_fast = false;
    while stopped_at.elapsed() < Duration::from_secs(5) {
        let started = Instant::now();
        let result = client
            .publish("stop/data", format!("m{seq}"), QoS::AtLeastOnce)
            .await;
        let took = started.elapsed();
        assert!(
            took < 900 * MS, // request_timeout (500ms) plus scheduling slack
            "a publish took {took:?} with the broker down"
        );
        match result {
            Ok(()) => acked.push(seq),
            Err(error) if error.is_rejected() => {
                assert!(took < 50 * MS, "a rejection took {took:?}");
                rejected_fast = true;
                break;
            }
            Err(_) => {}
        }
        seq += 1;
    }
    assert!(rejected_fast, "the publish breaker never opened");
    assert_eq!(publish_breaker.state(), State::Open);
    assert!(!client.is_connected());

    broker.restart().await;
    let restarted_at = Instant::now();
    let mut successes = 0;
    while publish_breaker.state() != State::Closed || successes < 2 {
        assert!(
            restarted_at.elapsed() < Duration::from_secs(10),
            "no recovery: breaker {:?}, {successes} successes",
            publish_breaker.state()
        );
        seq += 1;
        match client
            .publish("stop/data", format!("m{seq}"), QoS::AtLeastOnce)
            .await
        {
            Ok(()) => {
                acked.push(seq);
                successes += 1;
            }
            Err(_) => tokio::time::sleep(50 * MS).await,
        }
    }
    let metrics = publish_breaker.metrics();
    assert!(metrics.transitions(Transition::ClosedToOpen) >= 1);
    assert!(metrics.transitions(Transition::OpenToHalfOpen) >= 1);
    assert!(metrics.transitions(Transition::HalfOpenToClosed) >= 1);
    assert!(metrics.errors(ErrorKind::Connection) + metrics.errors(ErrorKind::Timeout) >= 2);
    assert!(client.is_connected());

    // The client re-subscribed on the fresh broker: its echo handler fires.
    let before = echoes.load(Ordering::Relaxed);
    client
        .publish("stop/echo", "ping", QoS::AtLeastOnce)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while echoes.load(Ordering::Relaxed) == before {
        assert!(
            Instant::now() < deadline,
            "no message after re-subscription"
        );
        tokio::time::sleep(10 * MS).await;
    }

    client
        .publish("stop/data", "end", QoS::AtLeastOnce)
        .await
        .unwrap();
    let witness = Sub::spawn(port, &["-c", "-i", "witness", "-q", "1", "-t", "stop/#"]);
    let lines = witness
        .collect_until(Duration::from_secs(5), |l| l == "stop/data end")
        .await;
    assert_eq!(lines.last().map(String::as_str), Some("stop/data end"));
    let received: BTreeSet<&str> = lines.iter().map(String::as_str).collect();
    let missing: Vec<u32> = acked
        .iter()
        .copied()
        .filter(|n| !received.contains(format!("stop/data m{n}").as_str()))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    client.disconnect().await;
}

/// Dials TCP and records when each attempt started.
struct Recording {
    inner: TcpConnector,
    attempts: Arc<AtomicUsize>,
}

impl Connector for Recording {
    type Stream = tokio::net::TcpStream;

    async fn connect(&self) -> std::io::Result<Self::Stream> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        self.inner.connect().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_broker_is_detected_by_keep_alive_and_the_client_recovers_after_thaw() {
    let broker = Mosquitto::start().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let config = quick_config(&broker.addr(), "frozen")
        .keep_alive(Duration::from_secs(1))
        .ping_timeout(500 * MS)
        .connect_timeout(400 * MS)
        .connect_breaker(quick_connect_breaker(3))
        .build()
        .unwrap();
    let connector = Recording {
        inner: TcpConnector::new(config.broker_addr()),
        attempts: Arc::clone(&attempts),
    };
    let client = MqttClient::new(config, connector);
    client.wait_connected(Duration::from_secs(2)).await.unwrap();

    // Record every status change with its time.
    let changes = Arc::new(Mutex::new(Vec::new()));
    let recorder = {
        let mut link = client.watch_link();
        let changes = Arc::clone(&changes);
        tokio::spawn(async move {
            while link.changed().await.is_ok() {
                let status = link.borrow_and_update().clone();
                changes.lock().unwrap().push((Instant::now(), status));
            }
        })
    };

    broker.freeze();
    let frozen_at = Instant::now();
    let mut link = client.watch_link();
    let down = link
        .wait_for(|s| matches!(s, LinkStatus::Down { .. }))
        .await
        .unwrap()
        .clone();
    let noticed_after = frozen_at.elapsed();
    assert!(
        matches!(
            down,
            LinkStatus::Down {
                error: MqttError::Timeout {
                    operation: Operation::Ping,
                    ..
                }
            }
        ),
        "{down:?}"
    );
    // keep_alive (1s) + ping_timeout (0.5s), plus scheduling slack.
    assert!(
        noticed_after < 1900 * MS,
        "dead link noticed after {noticed_after:?}"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    broker.thaw();
    client.wait_connected(Duration::from_secs(5)).await.unwrap();
    client
        .publish("after/thaw", "ok", QoS::AtLeastOnce)
        .await
        .unwrap();
    recorder.abort();

    // While frozen, each connect attempt gave up at connect_timeout (the
    // kernel accepts TCP for a stopped process; CONNACK never comes).
    let changes = changes.lock().unwrap().clone();
    let mut bounded_attempts = 0;
    for pair in changes.windows(2) {
        if let (
            (started, LinkStatus::Connecting),
            (
                ended,
                LinkStatus::Down {
                    error:
                        MqttError::Timeout {
                            operation: Operation::Connect,
                            after,
                        },
                },
            ),
        ) = (&pair[0], &pair[1])
        {
            let took = *ended - *started;
            assert_eq!(*after, 400 * MS);
            assert!(
                took >= 390 * MS && took < 800 * MS,
                "connect attempt lasted {took:?}"
            );
            bounded_attempts += 1;
        }
    }
    assert!(
        bounded_attempts >= 1,
        "no timed-out connect attempt: {changes:?}"
    );
    assert!(attempts.load(Ordering::Relaxed) >= 3);
    let connect = client.breakers().connect.metrics();
    assert!(connect.errors(ErrorKind::Timeout) >= 1);
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_qos1_publishes_are_all_acknowledged_by_mosquitto() {
    let broker = Mosquitto::start().await;
    let config = quick_config(&broker.addr(), "pipeline")
        .max_in_flight(100)
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let client = MqttClient::tcp(config);
    client.wait_connected(Duration::from_secs(2)).await.unwrap();
    let total: u32 = 1000;
    let started = Instant::now();
    let publishing: Vec<_> = (0..total)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .publish("pipe/data", format!("{i}"), QoS::AtLeastOnce)
                    .await
            })
        })
        .collect();
    for publishing in publishing {
        publishing.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    eprintln!("{total} concurrent QoS 1 publishes acknowledged in {elapsed:?}");
    // A stalled window (ids never freed, acks lost) would show up as
    // request timeouts above or as a run far beyond this bound.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let publish = client.breakers().publish.metrics();
    assert_eq!(publish.operations(Status::Success), u64::from(total));
    client.disconnect().await;
}
