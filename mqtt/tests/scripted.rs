//! The client against scripted fake brokers: the test plays the broker
//! packet by packet. In-memory streams run on paused (virtual) time, so
//! these are deterministic and take no wall time; raw TCP where the brief
//! is about real sockets.

mod support;

use std::collections::BTreeSet;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakwater_core::{CallError, ErrorKind, State, Status};
use breakwater_mqtt::{
    ConnectionError, Connector, LinkStatus, MqttClient, MqttError, Operation, QoS, TopicError,
};
use mqttbytes::v4::{Packet, PubAck, Publish, SubAck, SubscribeReasonCode};
use support::fake::{duplex_connector, Peer};
use support::{quick_breaker, quick_config};
use tokio::net::TcpListener;
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

fn ok_codes(n: usize) -> Vec<SubscribeReasonCode> {
    vec![SubscribeReasonCode::Success(QoS::AtLeastOnce); n]
}

async fn expect_publish<S>(peer: &mut Peer<S>) -> Publish
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match peer.read_skipping_pings().await {
        Some(Packet::Publish(publish)) => publish,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_fails_at_deadline_when_peer_never_sends_connack() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Accept and keep every connection open, never answering.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let config = quick_config(&addr, "silent")
        .connect_timeout(300 * MS)
        .build()
        .unwrap();
    let client = MqttClient::tcp(config);
    let started = Instant::now();
    let mut link = client.watch_link();
    let status = link
        .wait_for(|s| matches!(s, LinkStatus::Down { .. }))
        .await
        .unwrap()
        .clone();
    let elapsed = started.elapsed();
    assert!(
        matches!(
            status,
            LinkStatus::Down {
                error: MqttError::Timeout {
                    operation: Operation::Connect,
                    ..
                }
            }
        ),
        "{status:?}"
    );
    assert!(
        elapsed >= 300 * MS && elapsed < 700 * MS,
        "gave up after {elapsed:?}"
    );
    let metrics = client.breakers().connect.metrics();
    assert_eq!(metrics.errors(ErrorKind::Timeout), 1);
    client.disconnect().await;
    silent.abort();
}

/// Refuses every connection and records when each attempt was made.
struct Refusing {
    attempts: Arc<Mutex<Vec<Instant>>>,
}

impl Connector for Refusing {
    type Stream = tokio::io::DuplexStream;

    async fn connect(&self) -> io::Result<Self::Stream> {
        self.attempts.lock().unwrap().push(Instant::now());
        Err(io::Error::from(io::ErrorKind::ConnectionRefused))
    }
}

async fn attempt_gaps(seed: u64, attempts_wanted: usize) -> Vec<Duration> {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let config = quick_config("127.0.0.1:1", "refused")
        .reconnect_delay(100 * MS, 3200 * MS)
        // Keep the connect breaker closed so only the backoff spaces attempts.
        .connect_breaker(quick_breaker("mqtt_connect", 100))
        .seed(seed)
        .build()
        .unwrap();
    let client = MqttClient::new(
        config,
        Refusing {
            attempts: Arc::clone(&attempts),
        },
    );
    for _ in 0..10_000 {
        if attempts.lock().unwrap().len() >= attempts_wanted {
            break;
        }
        tokio::time::sleep(10 * MS).await;
    }
    client.disconnect().await;
    let times = attempts.lock().unwrap().clone();
    assert!(
        times.len() >= attempts_wanted,
        "only {} attempts",
        times.len()
    );
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn reconnect_attempts_to_dead_broker_are_spaced_by_growing_jittered_delay() {
    let gaps = attempt_gaps(11, 9).await;
    for (failures, gap) in gaps.iter().take(8).enumerate() {
        // After n failures the ceiling is min(100ms * 2^(n-1), 3.2s); the
        // delay is uniform in [ceiling/2, ceiling].
        let ceiling = (100 * MS * (1 << failures)).min(3200 * MS);
        assert!(
            *gap >= ceiling / 2 && *gap <= ceiling,
            "gap {failures} = {gap:?}, ceiling {ceiling:?}; all: {gaps:?}"
        );
    }
    assert!(
        gaps[..6].windows(2).all(|w| w[1] >= w[0]),
        "gaps shrank: {gaps:?}"
    );
    let exact: Vec<Duration> = (0..8).map(|n| 100 * MS * (1 << n)).collect();
    assert_ne!(&gaps[..8], &exact[..], "no jitter at all");
    assert_eq!(gaps, attempt_gaps(11, 9).await, "same seed, same spacing");
    assert_ne!(
        gaps,
        attempt_gaps(12, 9).await,
        "another seed, other jitter"
    );
}

#[tokio::test(start_paused = true)]
async fn resubscribes_every_filter_after_reconnect_without_session() {
    let (connector, mut accepted) = duplex_connector();
    let client = MqttClient::new(quick_config("fake:1", "resub").build().unwrap(), connector);
    let received = Arc::new(Mutex::new(Vec::new()));

    let mut first = Peer::new(accepted.recv().await.unwrap());
    first.accept_session(false).await;
    let filters = ["a/#", "b/+/c", "d"];
    for filter in filters {
        let received = Arc::clone(&received);
        let subscribing = {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .subscribe(filter, QoS::AtLeastOnce, move |m| {
                        received.lock().unwrap().push(m.topic)
                    })
                    .await
            })
        };
        let Some(Packet::Subscribe(subscribe)) = first.read_skipping_pings().await else {
            panic!("expected SUBSCRIBE")
        };
        first
            .write(Packet::SubAck(SubAck::new(subscribe.pkid, ok_codes(1))))
            .await;
        subscribing.await.unwrap().unwrap();
    }
    drop(first); // the broker dies and forgets the session

    let mut second = Peer::new(accepted.recv().await.unwrap());
    second.accept_session(false).await;
    let mut resubscribed = BTreeSet::new();
    let mut pkids = Vec::new();
    while resubscribed.len() < filters.len() {
        let Some(Packet::Subscribe(subscribe)) = second.read_skipping_pings().await else {
            panic!("expected SUBSCRIBE")
        };
        assert_ne!(subscribe.pkid, 0);
        resubscribed.extend(subscribe.filters.iter().map(|f| f.path.clone()));
        pkids.push((subscribe.pkid, subscribe.filters.len()));
    }
    assert_eq!(
        resubscribed,
        filters.iter().map(|f| f.to_string()).collect()
    );
    tokio::time::sleep(200 * MS).await;
    assert!(
        !client.is_connected(),
        "reported healthy before re-subscription finished"
    );
    for (pkid, n) in pkids {
        second
            .write(Packet::SubAck(SubAck::new(pkid, ok_codes(n))))
            .await;
    }
    client.wait_connected(Duration::from_secs(1)).await.unwrap();
    let mut message = Publish::new("b/x/c", QoS::AtMostOnce, b"hi".to_vec());
    message.pkid = 0;
    second.write(Packet::Publish(message)).await;
    tokio::time::sleep(50 * MS).await;
    assert_eq!(*received.lock().unwrap(), ["b/x/c"]);
    client.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn unacked_qos1_publish_is_resent_with_dup_and_same_packet_id() {
    let (connector, mut accepted) = duplex_connector();
    let config = quick_config("fake:1", "dup")
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let client = MqttClient::new(config, connector);
    let publishing = {
        let client = client.clone();
        tokio::spawn(async move { client.publish("t", "payload", QoS::AtLeastOnce).await })
    };
    let mut first = Peer::new(accepted.recv().await.unwrap());
    first.accept_session(false).await;
    let original = expect_publish(&mut first).await;
    assert!(!original.dup);
    assert_ne!(original.pkid, 0);
    drop(first); // link lost before the PUBACK

    let mut second = Peer::new(accepted.recv().await.unwrap());
    second.accept_session(true).await;
    let resent = expect_publish(&mut second).await;
    assert!(resent.dup, "redelivery must set DUP");
    assert_eq!(resent.pkid, original.pkid);
    assert_eq!(resent.topic, original.topic);
    assert_eq!(resent.payload, original.payload);
    second.write(Packet::PubAck(PubAck::new(resent.pkid))).await;
    publishing.await.unwrap().unwrap();
    assert_eq!(
        client
            .breakers()
            .publish
            .metrics()
            .operations(Status::Success),
        1
    );
    client.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn in_flight_packets_never_share_a_packet_id() {
    let (connector, mut accepted) = duplex_connector();
    let config = quick_config("fake:1", "ids")
        .max_in_flight(16)
        .request_timeout(Duration::from_secs(30))
        .keep_alive(Duration::from_secs(60))
        .build()
        .unwrap();
    let client = MqttClient::new(config, connector);
    let total = 200;
    let publishing: Vec<_> = (0..total)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .publish(&format!("t/{i}"), vec![0u8; 8], QoS::AtLeastOnce)
                    .await
            })
        })
        .collect();
    let mut broker = Peer::new(accepted.recv().await.unwrap());
    broker.accept_session(false).await;
    let mut live: Vec<u16> = Vec::new();
    let mut acked = 0;
    while acked < total {
        // Fill: read until the window is full or everything has been sent.
        while live.len() < 16 && acked + live.len() < total {
            let publish = expect_publish(&mut broker).await;
            assert_ne!(publish.pkid, 0);
            assert!(
                !live.contains(&publish.pkid),
                "packet id {} reused while in flight: {live:?}",
                publish.pkid
            );
            live.push(publish.pkid);
        }
        // The window is full: nothing more may arrive until an ack.
        let extra = tokio::time::timeout(100 * MS, broker.read_skipping_pings()).await;
        assert!(extra.is_err(), "sent beyond the window: {extra:?}");
        // Ack the newest first, so freed ids are scattered.
        let pkid = live.pop().unwrap();
        broker.write(Packet::PubAck(PubAck::new(pkid))).await;
        acked += 1;
    }
    for publishing in publishing {
        publishing.await.unwrap().unwrap();
    }
    client.disconnect().await;
}

#[tokio::test]
async fn publish_while_broker_down_returns_promptly() {
    let port = support::mosquitto::free_port(); // nothing listens there
    let config = quick_config(&format!("127.0.0.1:{port}"), "down")
        .request_timeout(400 * MS)
        .connect_breaker(quick_breaker("mqtt_connect", 1))
        .publish_breaker(quick_breaker("mqtt_publish", 1))
        .build()
        .unwrap();
    let client = MqttClient::tcp(config);
    let started = Instant::now();
    let first = client.publish("t", "x", QoS::AtLeastOnce).await;
    assert!(first.is_err(), "published with no broker");
    assert!(started.elapsed() < 600 * MS, "took {:?}", started.elapsed());
    // Once the connect breaker is open, publishing fails without waiting.
    let deadline = Instant::now() + Duration::from_secs(3);
    while client.breakers().connect.state() != State::Open {
        assert!(Instant::now() < deadline, "connect breaker never opened");
        tokio::time::sleep(10 * MS).await;
    }
    for _ in 0..5 {
        let started = Instant::now();
        let error = client
            .publish("t", "x", QoS::AtLeastOnce)
            .await
            .unwrap_err();
        assert!(started.elapsed() < 50 * MS, "took {:?}", started.elapsed());
        let fast_fail = error.is_rejected()
            || matches!(
                error.inner(),
                Some(MqttError::Connection(ConnectionError::Unavailable))
            );
        assert!(fast_fail, "{error}");
    }
    assert_eq!(client.breakers().publish.state(), State::Open);
    client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_requests_progress_under_an_inbound_flood() {
    let (connector, mut accepted) = duplex_connector();
    let config = quick_config("fake:1", "flood")
        .request_timeout(Duration::from_secs(2))
        .keep_alive(Duration::from_secs(30))
        .build()
        .unwrap();
    let client = MqttClient::new(config, connector);
    let mut broker = Peer::new(accepted.recv().await.unwrap());
    let (subscribe_done, subscribed) = tokio::sync::oneshot::channel();
    let inbound = Arc::new(AtomicUsize::new(0));
    {
        let client = client.clone();
        let inbound = Arc::clone(&inbound);
        tokio::spawn(async move {
            let result = client
                .subscribe("flood/#", QoS::AtMostOnce, move |_| {
                    inbound.fetch_add(1, Ordering::Relaxed);
                })
                .await;
            let _ = subscribe_done.send(result);
        });
    }
    broker.accept_session(false).await;
    let Some(Packet::Subscribe(subscribe)) = broker.read_skipping_pings().await else {
        panic!("expected SUBSCRIBE")
    };
    broker
        .write(Packet::SubAck(SubAck::new(subscribe.pkid, ok_codes(1))))
        .await;
    subscribed.await.unwrap().unwrap();

    // The broker floods QoS 0 messages without pause and acks publishes in
    // between; the client's reader is never idle.
    let (stream, _) = broker.into_inner();
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel::<u16>();
    tokio::spawn(async move {
        let mut peer = Peer::new(&mut reader);
        while let Some(packet) = peer.read().await {
            if let Packet::Publish(p) = packet {
                let _ = ack_tx.send(p.pkid);
            }
        }
    });
    let flooding = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut chunk = bytes::BytesMut::new();
        for _ in 0..256 {
            let mut p = Publish::new("flood/x", QoS::AtMostOnce, vec![7u8; 32]);
            p.pkid = 0;
            p.write(&mut chunk).unwrap();
        }
        loop {
            while let Ok(pkid) = ack_rx.try_recv() {
                let mut ack = bytes::BytesMut::new();
                PubAck::new(pkid).write(&mut ack).unwrap();
                if writer.write_all(&ack).await.is_err() {
                    return;
                }
            }
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(50 * MS).await;
    let before = inbound.load(Ordering::Relaxed);
    assert!(before > 0, "the flood has not started");
    let started = Instant::now();
    for i in 0..100 {
        client
            .publish("out", format!("{i}"), QoS::AtLeastOnce)
            .await
            .unwrap_or_else(|e| panic!("publish {i} starved: {e}"));
    }
    let elapsed = started.elapsed();
    let during = inbound.load(Ordering::Relaxed) - before;
    assert!(during > 1000, "the flood stopped: only {during} messages");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    flooding.abort();
    client.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn invalid_input_is_refused_before_any_byte_is_sent() {
    let (connector, mut accepted) = duplex_connector();
    let config = quick_config("fake:1", "bad")
        .max_payload_bytes(1024)
        .keep_alive(Duration::from_secs(60))
        .build()
        .unwrap();
    let client = MqttClient::new(config, connector);
    let mut broker = Peer::new(accepted.recv().await.unwrap());
    broker.accept_session(false).await;
    client.wait_connected(Duration::from_secs(1)).await.unwrap();

    let long = "x".repeat(65_536);
    let bad_topics = [
        ("a/+", TopicError::Wildcard),
        ("a/#", TopicError::Wildcard),
        ("", TopicError::Empty),
        ("a\0b", TopicError::ContainsNul),
        (long.as_str(), TopicError::TooLong { len_bytes: 65_536 }),
    ];
    for (topic, expected) in bad_topics {
        match client.publish(topic, "x", QoS::AtLeastOnce).await {
            Err(CallError::NotRetried(MqttError::InvalidTopic(e))) => assert_eq!(e, expected),
            other => panic!("topic {topic:.20?}: {other:?}"),
        }
    }
    for filter in ["a/#/b", "a+", "#/a", ""] {
        let subscribed = client.subscribe(filter, QoS::AtMostOnce, |_| {}).await;
        assert!(
            matches!(
                subscribed,
                Err(CallError::NotRetried(MqttError::InvalidFilter(_)))
            ),
            "filter {filter:?}: {subscribed:?}"
        );
        let unsubscribed = client.unsubscribe(filter).await;
        assert!(
            matches!(
                unsubscribed,
                Err(CallError::NotRetried(MqttError::InvalidFilter(_)))
            ),
            "filter {filter:?}: {unsubscribed:?}"
        );
    }
    let too_big = client.publish("t", vec![0u8; 1025], QoS::AtMostOnce).await;
    assert!(
        matches!(
            too_big,
            Err(CallError::NotRetried(MqttError::PayloadTooLarge {
                size_bytes: 1025,
                limit_bytes: 1024
            }))
        ),
        "{too_big:?}"
    );
    let qos2 = client.publish("t", "x", QoS::ExactlyOnce).await;
    assert!(matches!(
        qos2,
        Err(CallError::NotRetried(MqttError::UnsupportedQos(_)))
    ));
    for error in [&too_big.unwrap_err(), &qos2.unwrap_err()] {
        assert_eq!(
            error.inner().map(breakwater_core::Classify::kind),
            Some(ErrorKind::InvalidInput)
        );
    }
    // Not a byte reached the broker, and the breakers never saw the calls.
    let nothing = tokio::time::timeout(Duration::from_secs(5), broker.read()).await;
    assert!(nothing.is_err(), "the broker received {nothing:?}");
    for breaker in [&client.breakers().publish, &client.breakers().subscribe] {
        assert_eq!(
            breaker.metrics().operations_total(),
            0,
            "{}",
            breaker.name()
        );
    }
    // A valid publish still works on the same link.
    let publishing = {
        let client = client.clone();
        tokio::spawn(async move { client.publish("ok", "x", QoS::AtLeastOnce).await })
    };
    let publish = expect_publish(&mut broker).await;
    broker
        .write(Packet::PubAck(PubAck::new(publish.pkid)))
        .await;
    publishing.await.unwrap().unwrap();
    client.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn garbage_from_the_broker_is_a_protocol_error_and_the_client_reconnects() {
    let (connector, mut accepted) = duplex_connector();
    let client = MqttClient::new(
        quick_config("fake:1", "garbage").build().unwrap(),
        connector,
    );
    let mut link = client.watch_link();

    // Garbage instead of a CONNACK (packet type 15 does not exist).
    let mut first = Peer::new(accepted.recv().await.unwrap());
    assert!(matches!(first.read().await, Some(Packet::Connect(_))));
    first.write_raw(&[0xF0, 0x00]).await;
    let status = link
        .wait_for(|s| matches!(s, LinkStatus::Down { .. }))
        .await
        .unwrap()
        .clone();
    assert!(
        matches!(
            status,
            LinkStatus::Down {
                error: MqttError::Protocol(_)
            }
        ),
        "{status:?}"
    );

    // A valid CONNACK, then a remaining length that can never be valid.
    let mut second = Peer::new(accepted.recv().await.unwrap());
    second.accept_session(false).await;
    client.wait_connected(Duration::from_secs(1)).await.unwrap();
    let mut link = client.watch_link();
    second
        .write_raw(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        .await;
    let status = link
        .wait_for(|s| matches!(s, LinkStatus::Down { .. }))
        .await
        .unwrap()
        .clone();
    assert!(
        matches!(
            status,
            LinkStatus::Down {
                error: MqttError::Protocol(_)
            }
        ),
        "{status:?}"
    );

    // A well-formed packet a broker must never send (PINGREQ).
    let mut third = Peer::new(accepted.recv().await.unwrap());
    third.accept_session(false).await;
    client.wait_connected(Duration::from_secs(1)).await.unwrap();
    let mut link = client.watch_link();
    third.write_raw(&[0xC0, 0x00]).await;
    link.wait_for(|s| {
        matches!(
            s,
            LinkStatus::Down {
                error: MqttError::Protocol(_)
            }
        )
    })
    .await
    .unwrap();

    // And it still recovers.
    let mut fourth = Peer::new(accepted.recv().await.unwrap());
    fourth.accept_session(false).await;
    client.wait_connected(Duration::from_secs(1)).await.unwrap();
    let metrics = client.breakers().connect.metrics();
    assert_eq!(
        metrics.errors(ErrorKind::Protocol),
        1,
        "the CONNACK garbage"
    );
    client.disconnect().await;
}

/// Accepts the TCP-level connect and then never completes the handshake.
struct Hanging;

impl Connector for Hanging {
    type Stream = tokio::io::DuplexStream;

    async fn connect(&self) -> io::Result<Self::Stream> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_offline_queue_is_an_immediate_error() {
    let config = quick_config("fake:1", "full")
        .offline_queue_limit(2)
        .connect_timeout(Duration::from_secs(60))
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let client = MqttClient::new(config, Hanging);
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.publish("t", "x", QoS::AtMostOnce).await })
        })
        .collect();
    tokio::time::sleep(10 * MS).await;
    let started = Instant::now();
    let error = client.publish("t", "x", QoS::AtMostOnce).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO, "did not fail at once");
    assert!(
        matches!(
            error,
            CallError::NotRetried(MqttError::QueueFull { limit: 2 })
        ),
        "{error:?}"
    );
    // The queued ones end at their deadline, never later.
    for waiting in waiting {
        let error = waiting.await.unwrap().unwrap_err();
        assert!(
            matches!(
                error.inner(),
                Some(MqttError::Timeout {
                    operation: Operation::Publish,
                    ..
                })
            ),
            "{error:?}"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited <= Duration::from_secs(10) && waited >= Duration::from_millis(9_900),
        "queued publishes ended after {waited:?}"
    );
    client.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn publish_json_sends_the_serialized_value() {
    let (connector, mut accepted) = duplex_connector();
    let client = MqttClient::new(quick_config("fake:1", "json").build().unwrap(), connector);
    let mut broker = Peer::new(accepted.recv().await.unwrap());
    broker.accept_session(false).await;
    let publishing = {
        let client = client.clone();
        tokio::spawn(async move {
            let reading = serde_json::json!({"sensor": "t1", "celsius": 21.5});
            client.publish_json("json", &reading, QoS::AtMostOnce).await
        })
    };
    let publish = expect_publish(&mut broker).await;
    publishing.await.unwrap().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&publish.payload).unwrap();
    assert_eq!(value["celsius"], 21.5);
    client.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn disconnect_sends_disconnect_and_later_calls_fail_as_closed() {
    let (connector, mut accepted) = duplex_connector();
    let client = MqttClient::new(quick_config("fake:1", "bye").build().unwrap(), connector);
    let mut broker = Peer::new(accepted.recv().await.unwrap());
    broker.accept_session(false).await;
    client.wait_connected(Duration::from_secs(1)).await.unwrap();
    client.disconnect().await;
    assert!(matches!(broker.read().await, Some(Packet::Disconnect)));
    assert!(broker.read().await.is_none(), "stream not closed");
    assert!(matches!(client.link_status(), LinkStatus::Closed));
    let error = client
        .publish("t", "x", QoS::AtLeastOnce)
        .await
        .unwrap_err();
    assert!(
        matches!(error.inner(), Some(MqttError::Closed)),
        "{error:?}"
    );
}
