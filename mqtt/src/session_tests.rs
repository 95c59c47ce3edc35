//! Sans-IO tests: packets and time are handed in by hand, no runtime.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use mqttbytes::v4::{Packet, PubAck, Publish, SubAck, SubscribeReasonCode, UnsubAck};
use mqttbytes::QoS;

use super::*;

const S: Duration = Duration::from_secs(1);

fn config() -> SessionConfig {
    SessionConfig {
        client_id: "t".into(),
        keep_alive: 10 * S,
        ping_timeout: 2 * S,
        clean_session: true,
        max_in_flight: 4,
        offline_queue_limit: 8,
        resubscribe_timeout: 3 * S,
    }
}

fn publish(topic: &str, qos: QoS) -> Request<u32> {
    Request::Publish {
        topic: topic.into(),
        payload: Bytes::from_static(b"p"),
        qos,
        retain: false,
    }
}

fn subscribe(filter: &str, handler: u32) -> Request<u32> {
    Request::Subscribe {
        filter: filter.into(),
        qos: QoS::AtLeastOnce,
        handler,
    }
}

fn drain(session: &mut Session<u32>) -> Vec<Packet> {
    std::iter::from_fn(|| session.poll_transmit().map(|t| t.packet)).collect()
}

fn events(session: &mut Session<u32>) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn completed(events: &[Event]) -> Vec<(Token, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Completed { token, outcome } => Some((*token, outcome.is_ok())),
            _ => None,
        })
        .collect()
}

fn publishes(packets: &[Packet]) -> Vec<Publish> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn connected() -> Session<u32> {
    let mut session = Session::new(config());
    session.handle_connack(Duration::ZERO, false);
    events(&mut session);
    session
}

#[test]
fn requests_wait_offline_until_connack_then_qos1_completes_on_puback() {
    let mut session = Session::new(config());
    session.submit(1, publish("a", QoS::AtLeastOnce));
    assert!(
        drain(&mut session).is_empty(),
        "nothing is sent without a link"
    );
    session.handle_connack(Duration::ZERO, false);
    let sent = publishes(&drain(&mut session));
    assert_eq!(sent.len(), 1);
    assert_ne!(sent[0].pkid, 0);
    assert!(!sent[0].dup);
    assert!(completed(&events(&mut session)).is_empty());
    session
        .handle_packet(S, Packet::PubAck(PubAck::new(sent[0].pkid)))
        .unwrap();
    assert_eq!(completed(&events(&mut session)), vec![(1, true)]);
    assert_eq!(session.in_flight_ids().count(), 0);
}

#[test]
fn qos0_publish_completes_only_when_its_bytes_are_written() {
    let mut session = connected();
    session.submit(7, publish("a", QoS::AtMostOnce));
    let transmit = session.poll_transmit().unwrap();
    assert_eq!(transmit.on_written, Some(7));
    assert!(completed(&events(&mut session)).is_empty());
}

#[test]
fn in_flight_packets_never_share_an_id_and_the_window_bounds_sending() {
    let mut session = connected();
    for token in 0..8 {
        session.submit(token, publish("a", QoS::AtLeastOnce));
    }
    let mut wrapped = false;
    let mut highest = 0;
    // Ack in a scrambled order for enough rounds to cross the 65535 wrap.
    for round in 0..70_000u32 {
        let sent = publishes(&drain(&mut session));
        let ids: BTreeSet<u16> = session.in_flight_ids().collect();
        assert!(ids.len() <= 4, "window of 4 exceeded: {ids:?}");
        assert!(!ids.contains(&0));
        for p in &sent {
            assert!(ids.contains(&p.pkid));
            wrapped |= p.pkid < highest;
            highest = highest.max(p.pkid);
        }
        let victim = *ids.iter().nth(round as usize % ids.len()).unwrap();
        session
            .handle_packet(S, Packet::PubAck(PubAck::new(victim)))
            .unwrap();
        session.submit(100 + u64::from(round), publish("a", QoS::AtLeastOnce));
        let live: BTreeSet<u16> = session.in_flight_ids().collect();
        assert_eq!(live.len(), ids.len() - 1);
    }
    assert!(wrapped, "ids never wrapped around");
}

#[test]
fn unacked_publish_is_resent_with_dup_and_the_same_id_on_the_next_link() {
    let mut session = connected();
    session.submit(1, publish("a", QoS::AtLeastOnce));
    let first = publishes(&drain(&mut session)).remove(0);
    session.handle_link_lost(&MqttError::Closed);
    session.handle_connack(5 * S, false);
    let again = publishes(&drain(&mut session));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].pkid, first.pkid);
    assert!(again[0].dup);
    assert_eq!(again[0].payload, first.payload);
}

#[test]
fn acks_owed_on_an_old_link_are_never_sent_on_the_new_one() {
    let mut session = connected();
    let mut inbound = Publish::new("in", QoS::AtLeastOnce, vec![1]);
    inbound.pkid = 9;
    session.handle_packet(S, Packet::Publish(inbound)).unwrap();
    session.handle_link_lost(&MqttError::Closed);
    session.handle_connack(2 * S, true);
    let sent = drain(&mut session);
    assert!(
        !sent.iter().any(|p| matches!(p, Packet::PubAck(_))),
        "{sent:?}"
    );
}

#[test]
fn resubscribes_every_filter_before_reporting_healthy_without_a_session() {
    let mut session = connected();
    for (token, filter) in [(1, "a/#"), (2, "b/+"), (3, "c")] {
        session.submit(token, subscribe(filter, token as u32));
        let Packet::Subscribe(s) = drain(&mut session).remove(0) else {
            panic!("expected SUBSCRIBE")
        };
        let ack = SubAck::new(s.pkid, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);
        session.handle_packet(S, Packet::SubAck(ack)).unwrap();
    }
    session.handle_link_lost(&MqttError::Closed);
    session.submit(10, publish("x", QoS::AtLeastOnce));
    session.handle_connack(2 * S, false);
    assert!(!session.is_healthy());
    let sent = drain(&mut session);
    assert_eq!(
        sent.len(),
        1,
        "user traffic waits for re-subscription: {sent:?}"
    );
    let Packet::Subscribe(resubscribe) = &sent[0] else {
        panic!("expected SUBSCRIBE, got {sent:?}")
    };
    let filters: Vec<&str> = resubscribe
        .filters
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(filters, ["a/#", "b/+", "c"]);
    assert!(!events(&mut session)
        .iter()
        .any(|e| matches!(e, Event::Healthy { .. })));
    let codes = vec![SubscribeReasonCode::Success(QoS::AtLeastOnce); 3];
    session
        .handle_packet(3 * S, Packet::SubAck(SubAck::new(resubscribe.pkid, codes)))
        .unwrap();
    assert!(session.is_healthy());
    assert!(events(&mut session).iter().any(|e| matches!(
        e,
        Event::Healthy {
            session_present: false
        }
    )));
    assert_eq!(publishes(&drain(&mut session)).len(), 1);
}

#[test]
fn a_present_session_is_healthy_at_once_without_resubscribing() {
    let mut session = connected();
    session.submit(1, subscribe("a", 1));
    let Packet::Subscribe(s) = drain(&mut session).remove(0) else {
        panic!("expected SUBSCRIBE")
    };
    let ack = SubAck::new(s.pkid, vec![SubscribeReasonCode::Success(QoS::AtMostOnce)]);
    session.handle_packet(S, Packet::SubAck(ack)).unwrap();
    session.handle_link_lost(&MqttError::Closed);
    session.handle_connack(2 * S, true);
    assert!(session.is_healthy());
    assert!(drain(&mut session).is_empty());
}

#[test]
fn too_slow_resubscription_kills_the_link() {
    let mut session = connected();
    session.submit(1, subscribe("a", 1));
    let Packet::Subscribe(s) = drain(&mut session).remove(0) else {
        panic!("expected SUBSCRIBE")
    };
    let ack = SubAck::new(s.pkid, vec![SubscribeReasonCode::Success(QoS::AtMostOnce)]);
    session.handle_packet(S, Packet::SubAck(ack)).unwrap();
    session.handle_link_lost(&MqttError::Closed);
    session.handle_connack(10 * S, false);
    assert_eq!(session.poll_timeout(), Some(13 * S));
    let error = session.handle_timeout(13 * S).unwrap_err();
    assert!(matches!(
        error,
        MqttError::Timeout {
            operation: Operation::Resubscribe,
            ..
        }
    ));
}

#[test]
fn cancelled_queued_request_is_never_sent() {
    let mut session = Session::new(config());
    session.submit(1, publish("a", QoS::AtLeastOnce));
    session.submit(2, publish("b", QoS::AtLeastOnce));
    session.cancel(1);
    session.handle_connack(Duration::ZERO, false);
    let sent = publishes(&drain(&mut session));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].topic, "b");
    assert_eq!(session.take_dequeued(), 2);
}

#[test]
fn cancelled_in_flight_publish_keeps_its_id_until_the_link_ends_and_is_not_resent() {
    let mut session = connected();
    session.submit(1, publish("a", QoS::AtLeastOnce));
    let sent = publishes(&drain(&mut session));
    session.cancel(1);
    assert_eq!(
        session.in_flight_ids().collect::<Vec<_>>(),
        vec![sent[0].pkid]
    );
    session
        .handle_packet(S, Packet::PubAck(PubAck::new(sent[0].pkid)))
        .unwrap();
    assert!(completed(&events(&mut session)).is_empty());

    session.submit(2, publish("b", QoS::AtLeastOnce));
    drain(&mut session);
    session.cancel(2);
    session.handle_link_lost(&MqttError::Closed);
    assert_eq!(session.in_flight_ids().count(), 0);
    session.handle_connack(2 * S, false);
    assert!(publishes(&drain(&mut session)).is_empty());
}

#[test]
fn offline_queue_refuses_requests_beyond_its_limit() {
    let mut session = Session::new(config());
    for token in 0..9 {
        session.submit(token, publish("a", QoS::AtMostOnce));
    }
    let done = events(&mut session);
    assert_eq!(done.len(), 1);
    assert!(matches!(
        &done[0],
        Event::Completed {
            token: 8,
            outcome: Err(MqttError::QueueFull { limit: 8 })
        }
    ));
    assert_eq!(session.queued_len(), 8);
}

#[test]
fn keep_alive_pings_when_idle_and_declares_the_link_dead_without_pingresp() {
    let mut session = connected();
    assert_eq!(session.poll_timeout(), Some(10 * S));
    session.handle_timeout(10 * S).unwrap();
    assert!(matches!(drain(&mut session)[..], [Packet::PingReq]));
    assert_eq!(session.poll_timeout(), Some(12 * S));
    let error = session.handle_timeout(12 * S).unwrap_err();
    assert!(matches!(
        error,
        MqttError::Timeout {
            operation: Operation::Ping,
            ..
        }
    ));
}

#[test]
fn pingresp_keeps_the_link_alive() {
    let mut session = connected();
    session.handle_timeout(10 * S).unwrap();
    drain(&mut session);
    session.handle_written(10 * S);
    session.handle_packet(11 * S, Packet::PingResp).unwrap();
    session.handle_timeout(12 * S).unwrap();
    assert_eq!(session.poll_timeout(), Some(20 * S));
}

#[test]
fn broker_only_or_mismatched_packets_are_protocol_errors() {
    let mut session = connected();
    assert!(session.handle_packet(S, Packet::PingReq).is_err());
    let mut qos2 = Publish::new("a", QoS::ExactlyOnce, vec![]);
    qos2.pkid = 1;
    assert!(session.handle_packet(S, Packet::Publish(qos2)).is_err());
    session.submit(1, subscribe("a", 1));
    let Packet::Subscribe(s) = drain(&mut session).remove(0) else {
        panic!("expected SUBSCRIBE")
    };
    let two_codes = vec![SubscribeReasonCode::Failure; 2];
    assert!(session
        .handle_packet(S, Packet::SubAck(SubAck::new(s.pkid, two_codes)))
        .is_err());
    assert!(session
        .handle_packet(S, Packet::PubAck(PubAck::new(s.pkid)))
        .is_err());
    assert!(session
        .handle_packet(S, Packet::UnsubAck(UnsubAck::new(s.pkid)))
        .is_err());
}

#[test]
fn messages_route_to_every_matching_handler_in_filter_order() {
    let mut session = connected();
    for (token, filter) in [(1, "a/#"), (2, "a/+"), (3, "b")] {
        session.submit(token, subscribe(filter, token as u32));
        let Packet::Subscribe(s) = drain(&mut session).remove(0) else {
            panic!("expected SUBSCRIBE")
        };
        let ack = SubAck::new(s.pkid, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);
        session.handle_packet(S, Packet::SubAck(ack)).unwrap();
    }
    let handlers: Vec<u32> = session.handlers_for("a/x").copied().collect();
    assert_eq!(handlers, [1, 2]);
}

#[test]
fn refused_subscription_is_reported_and_not_recorded() {
    let mut session = connected();
    session.submit(1, subscribe("a", 1));
    let Packet::Subscribe(s) = drain(&mut session).remove(0) else {
        panic!("expected SUBSCRIBE")
    };
    let ack = SubAck::new(s.pkid, vec![SubscribeReasonCode::Failure]);
    session.handle_packet(S, Packet::SubAck(ack)).unwrap();
    assert_eq!(completed(&events(&mut session)), vec![(1, false)]);
    assert_eq!(session.subscribed_filters().count(), 0);
}

#[test]
fn shutdown_fails_queued_and_in_flight_requests_as_closed() {
    let mut session = connected();
    for token in 0..6 {
        session.submit(token, publish("a", QoS::AtLeastOnce));
    }
    drain(&mut session);
    session.shutdown();
    let done = events(&mut session);
    assert_eq!(done.len(), 6);
    assert!(done.iter().all(|e| matches!(
        e,
        Event::Completed {
            outcome: Err(MqttError::Closed),
            ..
        }
    )));
}
