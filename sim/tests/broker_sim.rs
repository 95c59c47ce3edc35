//! The simulated broker under turmoil, driven by a raw mqttbytes client.

mod support;

use std::time::Duration;

use breakwater_sim::{Broker, BrokerFault, CloseReason, Record};
use mqttbytes::v4::{ConnectReturnCode, Packet, SubscribeReasonCode};
use mqttbytes::QoS;
use support::{add_broker_host, builder, RawClient, RecvError};
use tokio::time::{sleep, Instant};

fn world(seed: u64) -> (turmoil::Sim<'static>, Broker) {
    let mut sim = builder(seed).build();
    let broker = Broker::for_sim();
    add_broker_host(&mut sim, &broker);
    (sim, broker)
}

/// Gives subscribers time to subscribe before a publisher starts.
const SETTLE: Duration = Duration::from_millis(100);

#[test]
fn client_connects_and_gets_connack_success_without_a_session() -> turmoil::Result {
    let (mut sim, _broker) = world(1);
    sim.client("client", async {
        let mut client = RawClient::dial().await?;
        let connack = client.connect("c1", true).await;
        assert_eq!(connack.code, ConnectReturnCode::Success);
        assert!(!connack.session_present);
        client.send(Packet::PingReq).await?;
        assert_eq!(client.expect_packet().await, Packet::PingResp);
        client.disconnect().await;
        Ok(())
    });
    sim.run()
}

#[test]
fn subscriber_receives_qos0_publish_on_exact_topic() -> turmoil::Result {
    let (mut sim, _broker) = world(2);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        client.connect("sub", true).await;
        let suback = client.subscribe(1, "a/b", QoS::AtMostOnce).await;
        assert_eq!(
            suback.return_codes,
            [SubscribeReasonCode::Success(QoS::AtMostOnce)]
        );
        let publish = client.expect_publish().await;
        assert_eq!(publish.topic, "a/b");
        assert_eq!(publish.qos, QoS::AtMostOnce);
        assert_eq!(&publish.payload[..], b"hello");
        Ok(())
    });
    sim.client("pub", async {
        sleep(SETTLE).await;
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        client.publish(0, "a/b", QoS::AtMostOnce, b"hello").await;
        client.disconnect().await;
        Ok(())
    });
    sim.run()
}

#[test]
fn qos1_publish_is_acked_and_delivered_with_the_brokers_own_packet_id() -> turmoil::Result {
    let (mut sim, broker) = world(3);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        client.connect("sub", true).await;
        client.subscribe(7, "q/1", QoS::AtLeastOnce).await;
        let publish = client.expect_publish().await;
        assert_eq!(publish.qos, QoS::AtLeastOnce);
        assert_eq!(publish.pkid, 1, "the broker numbers its own deliveries");
        assert!(!publish.dup);
        client.puback(publish.pkid).await;
        client.disconnect().await;
        Ok(())
    });
    sim.client("pub", async {
        sleep(SETTLE).await;
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        client.publish_acked(42, "q/1", b"once").await;
        client.disconnect().await;
        Ok(())
    });
    sim.run()?;
    let ledger = broker.ledger();
    let accepted = ledger.iter().find_map(|entry| match &entry.record {
        Record::Accepted(message) => Some(message.clone()),
        _ => None,
    });
    let accepted = accepted.expect("the publish is in the ledger");
    assert_eq!(
        (accepted.client_id.as_str(), accepted.packet_id),
        ("pub", 42)
    );
    let delivered = ledger.iter().find_map(|entry| match &entry.record {
        Record::Delivered(message) => Some(message.clone()),
        _ => None,
    });
    let delivered = delivered.expect("the delivery is in the ledger");
    assert_eq!(
        (delivered.client_id.as_str(), delivered.packet_id),
        ("sub", 1)
    );
    Ok(())
}

#[test]
fn subscriber_with_plus_wildcard_receives_matching_topic() -> turmoil::Result {
    let (mut sim, _broker) = world(4);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        client.connect("sub", true).await;
        client.subscribe(1, "sensors/+/temp", QoS::AtMostOnce).await;
        let publish = client.expect_publish().await;
        assert_eq!(publish.topic, "sensors/kitchen/temp");
        client.expect_silence(Duration::from_millis(500)).await;
        Ok(())
    });
    sim.client("pub", async {
        sleep(SETTLE).await;
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        for topic in [
            "sensors/kitchen/humidity",
            "sensors/kitchen/temp",
            "sensors/kitchen/temp/raw",
            "sensors/temp",
        ] {
            client.publish(0, topic, QoS::AtMostOnce, b"x").await;
        }
        client.disconnect().await;
        Ok(())
    });
    sim.run()
}

#[test]
fn subscriber_with_hash_wildcard_receives_descendants_but_not_dollar_topics() -> turmoil::Result {
    let (mut sim, _broker) = world(5);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        client.connect("sub", true).await;
        client.subscribe(1, "#", QoS::AtMostOnce).await;
        let first = client.expect_publish().await;
        let second = client.expect_publish().await;
        assert_eq!(
            (first.topic.as_str(), second.topic.as_str()),
            ("home", "home/a/b")
        );
        client.expect_silence(Duration::from_millis(500)).await;
        Ok(())
    });
    sim.client("pub", async {
        sleep(SETTLE).await;
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        for topic in ["home", "$SYS/uptime", "home/a/b"] {
            client.publish(0, topic, QoS::AtMostOnce, b"x").await;
        }
        client.disconnect().await;
        Ok(())
    });
    sim.run()
}

#[test]
fn delivered_qos_is_the_lower_of_publish_and_subscription_qos() -> turmoil::Result {
    let (mut sim, _broker) = world(6);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        client.connect("sub", true).await;
        client.subscribe(1, "low", QoS::AtMostOnce).await;
        client.subscribe(2, "high", QoS::AtLeastOnce).await;
        let from_qos1_to_qos0_sub = client.expect_publish().await;
        assert_eq!(
            (
                from_qos1_to_qos0_sub.topic.as_str(),
                from_qos1_to_qos0_sub.qos
            ),
            ("low", QoS::AtMostOnce)
        );
        let from_qos0_to_qos1_sub = client.expect_publish().await;
        assert_eq!(
            (
                from_qos0_to_qos1_sub.topic.as_str(),
                from_qos0_to_qos1_sub.qos
            ),
            ("high", QoS::AtMostOnce)
        );
        Ok(())
    });
    sim.client("pub", async {
        sleep(SETTLE).await;
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        client.publish_acked(1, "low", b"x").await;
        client.publish(0, "high", QoS::AtMostOnce, b"y").await;
        client.disconnect().await;
        Ok(())
    });
    sim.run()
}

#[test]
fn qos2_subscription_is_granted_qos1_and_invalid_filter_fails() -> turmoil::Result {
    let (mut sim, _broker) = world(7);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        client.connect("sub", true).await;
        let granted = client.subscribe(1, "a", QoS::ExactlyOnce).await;
        assert_eq!(
            granted.return_codes,
            [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
        );
        let refused = client.subscribe(2, "a/#/b", QoS::AtMostOnce).await;
        assert_eq!(refused.return_codes, [SubscribeReasonCode::Failure]);
        Ok(())
    });
    sim.run()
}

#[test]
fn qos2_publish_closes_the_connection_and_is_not_accepted() -> turmoil::Result {
    let (mut sim, broker) = world(8);
    sim.client("pub", async {
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        client.publish(9, "a", QoS::ExactlyOnce, b"x").await;
        assert_eq!(
            client.recv_within(Duration::from_secs(1)).await,
            Some(Err(RecvError::Eof))
        );
        Ok(())
    });
    sim.run()?;
    let ledger = broker.ledger();
    assert!(!ledger
        .iter()
        .any(|e| matches!(e.record, Record::Accepted(_))));
    assert!(ledger.iter().any(|e| e.record
        == Record::Closed {
            client_id: Some("pub".into()),
            reason: CloseReason::Qos2Unsupported
        }));
    Ok(())
}

#[test]
fn first_packet_other_than_connect_closes_the_connection() -> turmoil::Result {
    let (mut sim, _broker) = world(9);
    sim.client("client", async {
        let mut client = RawClient::dial().await?;
        client.send(Packet::PingReq).await?;
        assert_eq!(
            client.recv_within(Duration::from_secs(1)).await,
            Some(Err(RecvError::Eof))
        );
        Ok(())
    });
    sim.run()
}

#[test]
fn unsubscribe_stops_delivery() -> turmoil::Result {
    let (mut sim, _broker) = world(10);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        client.connect("sub", true).await;
        client.subscribe(1, "t", QoS::AtMostOnce).await;
        client.unsubscribe(2, "t").await;
        client.expect_silence(Duration::from_secs(1)).await;
        Ok(())
    });
    sim.client("pub", async {
        sleep(SETTLE).await;
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        client.publish(0, "t", QoS::AtMostOnce, b"x").await;
        client.disconnect().await;
        Ok(())
    });
    sim.run()
}

#[test]
fn persistent_session_receives_qos1_messages_queued_while_offline() -> turmoil::Result {
    let (mut sim, _broker) = world(11);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        let first = client.connect("sub", false).await;
        assert!(!first.session_present);
        client.subscribe(1, "jobs/#", QoS::AtLeastOnce).await;
        client.disconnect().await;

        sleep(Duration::from_secs(1)).await; // the publisher runs meanwhile

        let mut client = RawClient::dial().await?;
        let again = client.connect("sub", false).await;
        assert!(again.session_present, "the subscription survived");
        let one = client.expect_publish().await;
        let two = client.expect_publish().await;
        assert_eq!((&one.payload[..], &two.payload[..]), (&b"1"[..], &b"2"[..]));
        assert!(!one.dup && !two.dup, "never sent before, so not duplicates");
        client.puback(one.pkid).await;
        client.puback(two.pkid).await;
        client.disconnect().await;
        Ok(())
    });
    sim.client("pub", async {
        sleep(Duration::from_millis(300)).await;
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        client.publish_acked(1, "jobs/a", b"1").await;
        client.publish_acked(2, "jobs/b", b"2").await;
        client
            .publish(0, "jobs/c", QoS::AtMostOnce, b"qos0 is not kept offline")
            .await;
        client.disconnect().await;
        Ok(())
    });
    sim.run()
}

#[test]
fn clean_session_reconnect_starts_without_subscriptions() -> turmoil::Result {
    let (mut sim, _broker) = world(12);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        client.connect("sub", false).await;
        client.subscribe(1, "t", QoS::AtLeastOnce).await;
        client.disconnect().await;

        let mut client = RawClient::dial().await?;
        let connack = client.connect("sub", true).await;
        assert!(!connack.session_present);
        sleep(Duration::from_millis(500)).await;
        client.expect_silence(Duration::from_millis(500)).await;
        Ok(())
    });
    sim.client("pub", async {
        sleep(Duration::from_millis(300)).await;
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        client.publish_acked(1, "t", b"x").await;
        client.disconnect().await;
        Ok(())
    });
    sim.run()
}

#[test]
fn unacked_qos1_delivery_is_resent_with_dup_and_the_same_packet_id_on_reconnect() -> turmoil::Result
{
    let (mut sim, _broker) = world(13);
    sim.client("sub", async {
        let mut client = RawClient::dial().await?;
        client.connect("sub", false).await;
        client.subscribe(1, "t", QoS::AtLeastOnce).await;
        let first = client.expect_publish().await;
        assert!(!first.dup);
        drop(client); // no PUBACK

        sleep(Duration::from_millis(100)).await;
        let mut client = RawClient::dial().await?;
        let connack = client.connect("sub", false).await;
        assert!(connack.session_present);
        let again = client.expect_publish().await;
        assert!(again.dup, "a redelivery carries DUP=1");
        assert_eq!(again.pkid, first.pkid);
        assert_eq!(again.payload, first.payload);
        client.puback(again.pkid).await;
        client.disconnect().await;

        let mut client = RawClient::dial().await?;
        client.connect("sub", false).await;
        client.expect_silence(Duration::from_millis(500)).await;
        Ok(())
    });
    sim.client("pub", async {
        sleep(SETTLE).await;
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        client.publish_acked(5, "t", b"payload").await;
        client.disconnect().await;
        Ok(())
    });
    sim.run()
}

#[test]
fn duplicate_client_id_takes_over_and_the_old_connection_is_closed() -> turmoil::Result {
    let (mut sim, broker) = world(14);
    sim.client("old", async {
        let mut client = RawClient::dial().await?;
        client.connect("same", false).await;
        client.subscribe(1, "t", QoS::AtLeastOnce).await;
        assert_eq!(
            client.recv_within(Duration::from_secs(2)).await,
            Some(Err(RecvError::Eof))
        );
        Ok(())
    });
    sim.client("new", async {
        sleep(SETTLE).await;
        let mut client = RawClient::dial().await?;
        let connack = client.connect("same", false).await;
        assert!(
            connack.session_present,
            "the new connection inherits the session"
        );
        client.publish_acked(1, "t", b"to myself").await;
        let publish = client.expect_publish().await;
        assert_eq!(&publish.payload[..], b"to myself");
        client.puback(publish.pkid).await;
        client.disconnect().await;
        Ok(())
    });
    sim.run()?;
    assert!(broker.ledger().iter().any(|e| e.record
        == Record::Closed {
            client_id: Some("same".into()),
            reason: CloseReason::TakenOver
        }));
    Ok(())
}

#[test]
fn refuse_connections_answers_connack_service_unavailable() -> turmoil::Result {
    let (mut sim, broker) = world(20);
    sim.client("client", async move {
        let mut live = RawClient::dial().await?;
        live.connect("live", true).await;
        broker.set_fault(BrokerFault::RefuseConnections);

        let mut refused = RawClient::dial().await?;
        let connack = refused.connect("new", true).await;
        assert_eq!(connack.code, ConnectReturnCode::ServiceUnavailable);
        assert_eq!(
            refused.recv_within(Duration::from_secs(1)).await,
            Some(Err(RecvError::Eof))
        );

        live.send(Packet::PingReq).await?;
        assert_eq!(
            live.expect_packet().await,
            Packet::PingResp,
            "established links keep working"
        );

        broker.clear_fault();
        let mut admitted = RawClient::dial().await?;
        assert_eq!(
            admitted.connect("new", true).await.code,
            ConnectReturnCode::Success
        );
        Ok(())
    });
    sim.run()
}

#[test]
fn black_hole_never_sends_connack_and_never_closes() -> turmoil::Result {
    let (mut sim, broker) = world(21);
    sim.client("client", async move {
        broker.set_fault(BrokerFault::BlackHole);
        let mut client = RawClient::dial().await?;
        client
            .send(Packet::Connect(mqttbytes::v4::Connect::new("c")))
            .await?;
        // Longer than the broker's 10 s connect timeout: a black hole
        // neither answers nor closes.
        assert_eq!(client.recv_within(Duration::from_secs(15)).await, None);
        assert_eq!(broker.connection_count(), 1);
        Ok(())
    });
    sim.run()
}

#[test]
fn black_hole_silences_established_connections_until_cleared() -> turmoil::Result {
    let (mut sim, broker) = world(22);
    let handle = broker.clone();
    sim.client("client", async move {
        let broker = handle;
        let mut sub = RawClient::dial().await?;
        sub.connect("sub", true).await;
        sub.subscribe(1, "t", QoS::AtLeastOnce).await;
        let mut publisher = RawClient::dial().await?;
        publisher.connect("pub", true).await;

        broker.set_fault(BrokerFault::BlackHole);
        publisher.send(Packet::PingReq).await?;
        publisher
            .publish(1, "t", QoS::AtLeastOnce, b"swallowed")
            .await;
        publisher.expect_silence(Duration::from_secs(1)).await;
        sub.expect_silence(Duration::from_millis(10)).await;

        broker.clear_fault();
        publisher.publish_acked(2, "t", b"after").await;
        assert_eq!(&sub.expect_publish().await.payload[..], b"after");
        Ok(())
    });
    sim.run()?;
    let accepted: Vec<_> = broker
        .ledger()
        .into_iter()
        .filter_map(|e| match e.record {
            Record::Accepted(m) => Some(m.payload),
            _ => None,
        })
        .collect();
    assert_eq!(
        accepted,
        [&b"after"[..]],
        "packets read during the black hole are never processed"
    );
    Ok(())
}

#[test]
fn crash_gives_peers_eof_and_new_connections_nothing_until_restart() -> turmoil::Result {
    let (mut sim, broker) = world(23);
    let handle = broker.clone();
    sim.client("client", async move {
        let broker = handle;
        let mut client = RawClient::dial().await?;
        client.connect("p", false).await;
        client.subscribe(1, "t", QoS::AtLeastOnce).await;

        broker.set_fault(BrokerFault::Crash {
            keep_sessions: true,
        });
        assert_eq!(
            client.recv_within(Duration::from_secs(1)).await,
            Some(Err(RecvError::Eof))
        );

        let mut during = RawClient::dial().await?;
        during
            .send(Packet::Connect(mqttbytes::v4::Connect::new("q")))
            .await?;
        match during.recv_within(Duration::from_secs(1)).await {
            Some(Err(RecvError::Eof | RecvError::Io(_))) => {}
            other => panic!("a crashed broker must not answer, got {other:?}"),
        }

        broker.clear_fault();
        let mut after = RawClient::dial().await?;
        let connack = after.connect("p", false).await;
        assert_eq!(connack.code, ConnectReturnCode::Success);
        assert!(
            connack.session_present,
            "keep_sessions: true keeps the session"
        );
        Ok(())
    });
    sim.run()?;
    assert!(broker.ledger().iter().any(|e| e.record
        == Record::Restarted {
            keep_sessions: true
        }));
    Ok(())
}

#[test]
fn crash_without_keep_sessions_forgets_persistent_sessions() -> turmoil::Result {
    let (mut sim, broker) = world(24);
    sim.client("client", async move {
        let mut client = RawClient::dial().await?;
        client.connect("p", false).await;
        client.subscribe(1, "t", QoS::AtLeastOnce).await;
        broker.set_fault(BrokerFault::Crash {
            keep_sessions: false,
        });
        assert_eq!(
            client.recv_within(Duration::from_secs(1)).await,
            Some(Err(RecvError::Eof))
        );
        sleep(Duration::from_millis(500)).await;
        broker.clear_fault();
        let mut after = RawClient::dial().await?;
        assert!(!after.connect("p", false).await.session_present);
        Ok(())
    });
    sim.run()
}

#[test]
fn drop_acks_accepts_and_routes_the_message_but_sends_no_puback() -> turmoil::Result {
    let (mut sim, broker) = world(25);
    let handle = broker.clone();
    sim.client("client", async move {
        let mut sub = RawClient::dial().await?;
        sub.connect("sub", true).await;
        sub.subscribe(1, "t", QoS::AtLeastOnce).await;
        handle.set_fault(BrokerFault::DropAcks);
        let mut publisher = RawClient::dial().await?;
        publisher.connect("pub", true).await;
        publisher.publish(3, "t", QoS::AtLeastOnce, b"m").await;
        assert_eq!(&sub.expect_publish().await.payload[..], b"m");
        publisher.expect_silence(Duration::from_secs(2)).await;
        Ok(())
    });
    sim.run()?;
    assert!(broker
        .ledger()
        .iter()
        .any(|e| matches!(&e.record, Record::Accepted(m) if m.packet_id == 3)));
    Ok(())
}

#[test]
fn delay_acks_sends_puback_after_the_delay_in_virtual_time() -> turmoil::Result {
    let (mut sim, broker) = world(26);
    sim.client("client", async move {
        let mut client = RawClient::dial().await?;
        client.connect("pub", true).await;
        broker.set_fault(BrokerFault::DelayAcks {
            delay: Duration::from_millis(750),
        });
        let sent_at = Instant::now();
        client.publish(4, "t", QoS::AtLeastOnce, b"m").await;
        match client.expect_packet().await {
            Packet::PubAck(puback) => assert_eq!(puback.pkid, 4),
            other => panic!("expected PUBACK, got {other:?}"),
        }
        let waited = sent_at.elapsed();
        // 750 ms held back plus 1 ms of link latency each way.
        assert!(
            waited >= Duration::from_millis(750),
            "PUBACK came after {waited:?}"
        );
        assert!(
            waited <= Duration::from_millis(760),
            "PUBACK came after {waited:?}"
        );
        Ok(())
    });
    sim.run()
}

#[test]
fn malformed_replies_make_the_client_decoder_fail() -> turmoil::Result {
    let (mut sim, broker) = world(27);
    sim.client("client", async move {
        broker.set_fault(BrokerFault::MalformedReplies);
        let mut client = RawClient::dial().await?;
        client
            .send(Packet::Connect(mqttbytes::v4::Connect::new("c")))
            .await?;
        assert_eq!(
            client.recv_within(Duration::from_secs(1)).await,
            Some(Err(RecvError::Decode(mqttbytes::Error::InvalidPacketType(
                15
            ))))
        );
        Ok(())
    });
    sim.run()
}

#[test]
fn close_all_connections_closes_live_links_but_serves_new_ones() -> turmoil::Result {
    let (mut sim, broker) = world(28);
    sim.client("client", async move {
        let mut one = RawClient::dial().await?;
        one.connect("one", true).await;
        let mut two = RawClient::dial().await?;
        two.connect("two", true).await;
        broker.set_fault(BrokerFault::CloseAllConnections);
        assert_eq!(
            one.recv_within(Duration::from_secs(1)).await,
            Some(Err(RecvError::Eof))
        );
        assert_eq!(
            two.recv_within(Duration::from_secs(1)).await,
            Some(Err(RecvError::Eof))
        );
        assert_eq!(broker.fault(), None, "close-all is an action, not a mode");
        let mut three = RawClient::dial().await?;
        assert_eq!(
            three.connect("three", true).await.code,
            ConnectReturnCode::Success
        );
        Ok(())
    });
    sim.run()
}

#[test]
fn silent_client_is_closed_after_one_and_a_half_keep_alives() -> turmoil::Result {
    let (mut sim, _broker) = world(29);
    sim.client("client", async {
        let mut client = RawClient::dial().await?;
        let mut connect = mqttbytes::v4::Connect::new("quiet");
        connect.keep_alive = 2;
        client.send(Packet::Connect(connect)).await?;
        assert!(matches!(client.expect_packet().await, Packet::ConnAck(_)));
        let started = Instant::now();
        assert_eq!(
            client.recv_within(Duration::from_secs(10)).await,
            Some(Err(RecvError::Eof))
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_millis(3_100),
            "closed after {waited:?}"
        );
        Ok(())
    });
    sim.run()
}

#[test]
fn crashing_the_broker_host_drops_links_and_a_restart_resumes_persistent_sessions(
) -> turmoil::Result {
    // A turmoil host crash kills the broker's tasks but not the shared
    // handle, so it behaves like `Crash { keep_sessions: true }` with a
    // hanging (not refused) port while down.
    let (mut sim, broker) = world(30);
    sim.client("client", async {
        let mut client = RawClient::dial().await?;
        client.connect("p", false).await;
        client.subscribe(1, "t", QoS::AtLeastOnce).await;
        assert_eq!(
            client.recv_within(Duration::from_secs(1)).await,
            Some(Err(RecvError::Eof))
        );
        sleep(Duration::from_secs(1)).await; // restarted meanwhile
        let mut client = RawClient::dial().await?;
        assert!(client.connect("p", false).await.session_present);
        Ok(())
    });
    support::run_until(&mut sim, Duration::from_millis(200))?;
    breakwater_sim::net::crash_host(&mut sim, "broker");
    support::run_until(&mut sim, Duration::from_millis(300))?;
    assert_eq!(broker.connection_count(), 0, "dropped tasks unregister");
    assert_eq!(
        broker.session_count(),
        1,
        "the persistent session waits offline"
    );
    support::run_until(&mut sim, Duration::from_millis(1_000))?;
    breakwater_sim::net::restart_host(&mut sim, "broker");
    sim.run()
}
