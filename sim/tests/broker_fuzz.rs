//! Hostile bytes: whatever arrives on one connection, the broker neither
//! panics nor disturbs another client's session.
//!
//! Runs on in-memory duplex streams under a paused tokio runtime (virtual
//! time, no network): the broker is the same code turmoil drives, and a
//! connection task is awaited directly so a panic fails the case.

mod support;

use std::time::Duration;

use breakwater_sim::{Broker, BrokerConfig, CloseReason, TokioClock};
use bytes::BytesMut;
use mqttbytes::v4::{Connect, Packet, Publish, Subscribe};
use mqttbytes::QoS;
use proptest::prelude::*;
use support::{encode, RawClient};
use tokio::io::{duplex, AsyncWriteExt, DuplexStream};

const DUPLEX_BUFFER_BYTES: usize = 64 * 1024;

/// Deliveries from the attacker the victim may see before the one it waits
/// for (512 random bytes hold fewer PUBLISH packets than this).
const MAX_SKIPPED_DELIVERIES: usize = 300;

/// Small limits so random bytes hit them too.
fn small_broker() -> Broker {
    let config = BrokerConfig {
        max_packet_size_bytes: 1_024,
        max_queued_messages: 8,
        max_inflight: 4,
        max_sessions: 8,
        max_connections: 8,
        max_subscriptions: 4,
        ..BrokerConfig::default()
    };
    Broker::new(config, TokioClock::starting_now()).expect("valid config")
}

fn connect_bytes(client_id: &str) -> BytesMut {
    encode(&Packet::Connect(Connect::new(client_id)))
}

/// Some well-formed packets to splice into and mutate.
fn valid_packets() -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut subscribe = Subscribe::new("fuzz/#", QoS::AtLeastOnce);
    subscribe.pkid = 1;
    let mut publish = Publish::new("fuzz/a", QoS::AtLeastOnce, b"p".to_vec());
    publish.pkid = 2;
    for packet in [
        Packet::Subscribe(subscribe),
        Packet::Publish(publish),
        Packet::Publish(Publish::new("victim/t", QoS::AtMostOnce, b"noise".to_vec())),
        Packet::PingReq,
    ] {
        bytes.extend_from_slice(&encode(&packet));
    }
    bytes
}

#[derive(Debug, Clone)]
enum Attack {
    /// Bytes from the first byte on.
    Raw(Vec<u8>),
    /// A valid CONNECT, then random bytes.
    AfterConnect(Vec<u8>),
    /// A valid CONNECT, then valid packets with some bytes overwritten.
    Mutated(Vec<(usize, u8)>),
}

fn attack() -> impl Strategy<Value = Attack> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Attack::Raw),
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Attack::AfterConnect),
        prop::collection::vec((any::<usize>(), any::<u8>()), 1..8).prop_map(Attack::Mutated),
    ]
}

fn attack_bytes(attack: &Attack) -> Vec<u8> {
    match attack {
        Attack::Raw(bytes) => bytes.clone(),
        Attack::AfterConnect(tail) => {
            let mut bytes = connect_bytes("attacker").to_vec();
            bytes.extend_from_slice(tail);
            bytes
        }
        Attack::Mutated(edits) => {
            let mut packets = valid_packets();
            for (index, value) in edits {
                let len = packets.len();
                packets[index % len] = *value;
            }
            let mut bytes = connect_bytes("attacker").to_vec();
            bytes.extend_from_slice(&packets);
            bytes
        }
    }
}

fn serve(broker: &Broker) -> (DuplexStream, tokio::task::JoinHandle<CloseReason>) {
    let (client_side, broker_side) = duplex(DUPLEX_BUFFER_BYTES);
    let broker = broker.clone();
    let task = tokio::spawn(async move { broker.serve_connection(broker_side).await });
    (client_side, task)
}

async fn run_case(bytes: Vec<u8>) {
    let broker = small_broker();

    let (victim_stream, victim_task) = serve(&broker);
    let mut victim = RawClient::new(victim_stream);
    victim.connect("victim", false).await;
    victim.subscribe(1, "victim/#", QoS::AtLeastOnce).await;

    // The attacker's connection is awaited here, not spawned, so a panic
    // in the broker fails this case.
    let (mut attacker, attacker_side) = duplex(DUPLEX_BUFFER_BYTES);
    let attacking = broker.clone();
    let serving = attacking.serve_connection(attacker_side);
    let writing = async move {
        // The broker may close mid-write; that is a valid outcome.
        let _ = attacker.write_all(&bytes).await;
        let _ = attacker.shutdown().await;
        attacker
    };
    let (reason, attacker) = tokio::join!(serving, writing);
    drop(attacker);
    assert_ne!(
        reason,
        CloseReason::TakenOver,
        "the attacker cannot be the victim"
    );

    let (publisher_stream, publisher_task) = serve(&broker);
    let mut publisher = RawClient::new(publisher_stream);
    publisher.connect("publisher", true).await;
    publisher
        .publish_acked(9, "victim/after", b"still here")
        .await;

    // The attacker may legitimately have published to the victim's topics
    // first; skip (and acknowledge) those, within a bound.
    let mut found = false;
    for _ in 0..MAX_SKIPPED_DELIVERIES {
        let delivered = victim.expect_publish().await;
        if delivered.qos == QoS::AtLeastOnce {
            victim.puback(delivered.pkid).await;
        }
        if delivered.topic == "victim/after" {
            assert_eq!(&delivered.payload[..], b"still here");
            found = true;
            break;
        }
    }
    assert!(
        found,
        "the victim never got the message published after the attack"
    );
    assert_eq!(
        broker.subscriptions_of("victim"),
        [("victim/#".to_owned(), QoS::AtLeastOnce)]
    );

    drop(victim);
    drop(publisher);
    for task in [victim_task, publisher_task] {
        let reason = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("connection ends once its client is gone")
            .expect("connection task did not panic");
        assert_eq!(reason, CloseReason::PeerClosed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_broker_nor_disturb_another_session(attack in attack()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        runtime.block_on(run_case(attack_bytes(&attack)));
    }
}

#[test]
fn oversized_packet_is_refused_before_its_body_arrives() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let broker = small_broker();
        let (client, task) = serve(&broker);
        let mut client = RawClient::new(client);
        client.connect("big", true).await;
        // PUBLISH header announcing 1 MiB; only the header is sent.
        client
            .send_bytes(&[0x30, 0x80, 0x80, 0x40])
            .await
            .expect("send header");
        let reason = task.await.expect("no panic");
        assert_eq!(
            reason,
            CloseReason::Malformed(mqttbytes::Error::PayloadSizeLimitExceeded(1 << 20))
        );
    });
}
