//! Each fault kind, scheduled through a `WorldSpec`, shows its effect on
//! the real MQTT client and its breakers.

mod support_world;

use breakwater_core::{ErrorKind, State, Transition};
use breakwater_sim::net::Latency;
use breakwater_sim::spec::{Direction, Fault};
use breakwater_sim::{PublishResult, RunOutput};
use support_world::*;

fn dump(output: &RunOutput) -> String {
    output.events.join("\n")
}

#[test]
fn partition_opens_the_publish_breaker_which_closes_again_after_heal() {
    let output = run(&with_fault(
        1,
        secs(20),
        Fault::Partition,
        secs(3),
        Some(secs(4)),
    ));
    let publish: Vec<_> = output.transitions_of(PUBLISHER, "mqtt_publish").collect();
    let opened = publish
        .iter()
        .find(|t| t.transition == Transition::ClosedToOpen)
        .unwrap_or_else(|| panic!("publish breaker never opened:\n{}", dump(&output)));
    assert!((3_000..7_000).contains(&opened.at_ms), "{opened:?}");
    let closed = publish
        .iter()
        .find(|t| t.transition == Transition::HalfOpenToClosed && t.at_ms > 7_000)
        .unwrap_or_else(|| panic!("publish breaker never closed:\n{}", dump(&output)));
    assert!(closed.at_ms < 15_000, "{closed:?}");
    assert!(output.count(PublishResult::Rejected) > 0);
    assert!(started_between(&output, 12_000, 20_000)
        .iter()
        .all(|p| p.result == PublishResult::Acked));
    assert_eq!(
        output.last_sample(PUBLISHER, "mqtt_publish").unwrap().state,
        State::Closed
    );
    assert!(output.acked_missing_at_broker().is_empty());
}

#[test]
fn one_way_partition_to_the_broker_times_publishes_out() {
    let fault = Fault::PartitionOneWay {
        direction: Direction::ToBroker,
    };
    let output = run(&with_fault(2, secs(12), fault, secs(3), Some(secs(3))));
    // Publishes whose deadline passes before the heal at 6 s time out;
    // later ones are re-sent with DUP=1 after the reconnect and acked.
    let cut = started_between(&output, 3_000, 4_000);
    assert!(
        cut.iter().all(|p| p.result == PublishResult::Timeout),
        "{}",
        dump(&output)
    );
    assert!(errors(&output, PUBLISHER, "mqtt_publish", ErrorKind::Timeout) > 0);
    assert!(started_between(&output, 10_000, 12_000)
        .iter()
        .all(|p| p.result == PublishResult::Acked));
}

#[test]
fn hold_delays_messages_until_release_without_losing_them() {
    let output = run(&with_fault(
        3,
        secs(8),
        Fault::Hold,
        secs(3),
        Some(ms(1_000)),
    ));
    let held = started_between(&output, 3_000, 3_500);
    assert!(!held.is_empty());
    for publish in held {
        assert_eq!(publish.result, PublishResult::Acked, "{}", dump(&output));
        assert!(publish.resolved_at_ms.unwrap() >= 4_000, "{publish:?}");
    }
    assert!(output.acked_missing_at_broker().is_empty());
}

#[test]
fn black_hole_broker_makes_connects_time_out_until_it_ends() {
    let output = run(&with_fault(
        4,
        secs(12),
        Fault::BlackHole,
        secs(0),
        Some(secs(4)),
    ));
    assert!(
        errors(&output, PUBLISHER, "mqtt_connect", ErrorKind::Timeout) > 0,
        "{}",
        dump(&output)
    );
    let connected = events(&output, PUBLISHER, "link connected");
    assert!(
        connected.iter().all(|line| at_ms(line) >= 4_000),
        "{connected:?}"
    );
    assert!(!connected.is_empty());
    assert!(started_between(&output, 8_000, 12_000)
        .iter()
        .all(|p| p.result == PublishResult::Acked));
}

#[test]
fn broker_crash_gives_eof_and_the_client_reconnects_after_restart() {
    let fault = Fault::Crash {
        keep_sessions: true,
    };
    let output = run(&with_fault(5, secs(12), fault, secs(3), Some(secs(3))));
    let down = events(&output, PUBLISHER, "link down");
    assert!(
        down.iter().any(|line| at_ms(line) >= 3_000
            && at_ms(line) < 3_100
            && line.contains("kind=connection")),
        "{}",
        dump(&output)
    );
    let back = events(&output, PUBLISHER, "link connected");
    assert!(back.iter().any(|line| at_ms(line) >= 6_000), "{back:?}");
    assert!(started_between(&output, 9_000, 12_000)
        .iter()
        .all(|p| p.result == PublishResult::Acked));
}

#[test]
fn broker_host_crash_gives_eof_and_the_client_reconnects_after_restart() {
    let output = run(&with_fault(
        6,
        secs(12),
        Fault::HostCrash,
        secs(3),
        Some(secs(3)),
    ));
    let down = events(&output, PUBLISHER, "link down");
    assert!(
        down.iter()
            .any(|line| (3_000..3_100).contains(&at_ms(line))),
        "{}",
        dump(&output)
    );
    let back = events(&output, PUBLISHER, "link connected");
    assert!(back.iter().any(|line| at_ms(line) >= 6_000), "{back:?}");
    assert!(started_between(&output, 9_000, 12_000)
        .iter()
        .all(|p| p.result == PublishResult::Acked));
}

#[test]
fn refusing_broker_shows_refused_connect_errors() {
    let output = run(&with_fault(
        7,
        secs(10),
        Fault::Refuse,
        secs(0),
        Some(secs(3)),
    ));
    assert!(
        errors(&output, PUBLISHER, "mqtt_connect", ErrorKind::Refused) > 0,
        "{}",
        dump(&output)
    );
    let refused_samples = output
        .samples
        .iter()
        .filter(|s| s.host == PUBLISHER && s.breaker == "mqtt_connect")
        .filter(|s| s.interval_error(ErrorKind::Refused) > 0)
        .count();
    assert!(refused_samples > 0);
    let connected = events(&output, PUBLISHER, "link connected");
    assert!(
        connected.iter().all(|line| at_ms(line) >= 3_000),
        "{connected:?}"
    );
    assert!(!connected.is_empty());
}

#[test]
fn dropped_acks_turn_publishes_into_timeouts() {
    let output = run(&with_fault(
        8,
        secs(12),
        Fault::DropAcks,
        secs(3),
        Some(secs(3)),
    ));
    let dropped = started_between(&output, 3_000, 3_500);
    assert!(
        dropped.iter().all(|p| p.result == PublishResult::Timeout),
        "{}",
        dump(&output)
    );
    assert!(errors(&output, PUBLISHER, "mqtt_publish", ErrorKind::Timeout) > 0);
    assert!(output
        .transitions_of(PUBLISHER, "mqtt_publish")
        .any(|t| t.transition == Transition::ClosedToOpen));
}

#[test]
fn delayed_acks_arrive_late_but_arrive() {
    let fault = Fault::DelayAcks { delay: ms(500) };
    let output = run(&with_fault(9, secs(8), fault, secs(3), Some(secs(2))));
    for publish in started_between(&output, 1_000, 3_000) {
        assert!(latency_ms(publish) < 50, "{publish:?}");
    }
    let slow = started_between(&output, 3_000, 4_500);
    assert!(!slow.is_empty());
    for publish in slow {
        assert_eq!(publish.result, PublishResult::Acked);
        assert!(latency_ms(publish) >= 500, "{publish:?}");
    }
}

#[test]
fn malformed_replies_show_up_as_protocol_errors() {
    let output = run(&with_fault(
        10,
        secs(10),
        Fault::Malformed,
        secs(3),
        Some(secs(3)),
    ));
    let protocol = events(&output, PUBLISHER, "kind=protocol");
    assert!(!protocol.is_empty(), "{}", dump(&output));
    assert!(protocol.iter().all(|line| at_ms(line) >= 3_000));
    assert!(started_between(&output, 8_000, 10_000)
        .iter()
        .all(|p| p.result == PublishResult::Acked));
}

#[test]
fn added_latency_makes_acks_later_and_goes_away_after() {
    let fault = Fault::Latency(Latency::Fixed(ms(200)));
    let output = run(&with_fault(11, secs(8), fault, secs(3), Some(secs(2))));
    let slow = started_between(&output, 3_000, 4_500);
    assert!(!slow.is_empty());
    for publish in slow {
        assert!(latency_ms(publish) >= 400, "{publish:?}");
    }
    for publish in started_between(&output, 6_000, 8_000) {
        assert!(latency_ms(publish) < 50, "{publish:?}");
    }
}

#[test]
fn fail_rate_loses_messages_so_publishes_time_out_and_the_link_is_rebuilt() {
    // turmoil's fail rate drops segments silently (no RST): the client
    // sees missing acks and a missing PINGRESP, i.e. timeouts, and then
    // redials.
    let fault = Fault::FailRate { rate: 0.5 };
    let output = run(&with_fault(12, secs(12), fault, secs(3), Some(secs(3))));
    let lost = started_between(&output, 3_000, 6_000)
        .iter()
        .filter(|p| p.result != PublishResult::Acked)
        .count();
    assert!(lost > 0, "{}", dump(&output));
    assert!(errors(&output, PUBLISHER, "mqtt_publish", ErrorKind::Timeout) > 0);
    let down = events(&output, PUBLISHER, "link down");
    assert!(
        down.iter()
            .any(|line| (3_000..7_000).contains(&at_ms(line))),
        "{}",
        dump(&output)
    );
    assert!(started_between(&output, 10_000, 12_000)
        .iter()
        .all(|p| p.result == PublishResult::Acked));
}

#[test]
fn closing_all_connections_makes_every_client_reconnect() {
    let output = run(&with_fault(
        13,
        secs(6),
        Fault::CloseConnections,
        secs(3),
        None,
    ));
    for host in [PUBLISHER, SUBSCRIBER] {
        let down = events(&output, host, "link down");
        assert!(
            down.iter()
                .any(|line| (3_000..3_050).contains(&at_ms(line))),
            "{}",
            dump(&output)
        );
        let back = events(&output, host, "link connected");
        assert!(back.iter().any(|line| at_ms(line) > 3_000), "{back:?}");
    }
}
