//! The world runner: determinism, a healthy world, the recorder's shape
//! and spec validation.

mod support_world;

use breakwater_core::{State, Status};
use breakwater_sim::net::Latency;
use breakwater_sim::spec::{Fault, ScheduledFault, WorldSpec};
use breakwater_sim::{PublishResult, SimError};
use support_world::*;

/// A world with random link latency and a partition, so the seed has
/// something to change.
fn jittery(seed: u64) -> WorldSpec {
    let mut world = with_fault(seed, secs(8), Fault::Partition, secs(3), Some(secs(2)));
    world.network.latency = Latency::Range {
        min: ms(1),
        max: ms(30),
    };
    world
}

#[test]
fn same_seed_twice_gives_byte_identical_event_logs_and_records() {
    let first = run(&jittery(21));
    let second = run(&jittery(21));
    assert_eq!(first.events, second.events);
    assert_eq!(first.render(), second.render());
    assert_eq!(first.digest(), second.digest());
    assert_eq!(first, second);
    assert!(!first.transitions.is_empty(), "the run did real work");
}

#[test]
fn different_seeds_with_random_latency_give_different_event_logs() {
    let a = run(&jittery(21));
    let b = run(&jittery(22));
    assert_ne!(a.events, b.events);
    assert_ne!(a.digest(), b.digest());
}

#[test]
fn a_world_without_faults_acks_every_qos1_publish_and_the_ledger_has_each() {
    let output = run(&spec(31, secs(6)));
    assert_eq!(output.publishes.len(), 50, "10/s from 1 s to 6 s");
    assert_eq!(output.count(PublishResult::Acked), output.publishes.len());
    assert!(output.acked_missing_at_broker().is_empty());
    assert_eq!(output.deliveries.len(), output.publishes.len());
    assert!(output.transitions.is_empty());
    assert_eq!(output.facts.all_closed_since_ms, Some(0));
    assert_eq!(output.facts.last_fault_end_ms, None);
    assert_eq!(output.facts.publish_results, [("acked".to_owned(), 50)]);
}

#[test]
fn samples_come_every_interval_for_every_breaker_with_interval_counts() {
    let output = run(&spec(32, secs(3)));
    // 500 ms interval over 3 s, 2 clients x 3 breakers.
    assert_eq!(output.samples.len(), 6 * 6);
    let times: Vec<u64> = output.samples.iter().step_by(6).map(|s| s.at_ms).collect();
    assert_eq!(times, [500, 1_000, 1_500, 2_000, 2_500, 3_000]);
    let publish: Vec<_> = output
        .samples
        .iter()
        .filter(|s| s.host == PUBLISHER && s.breaker == "mqtt_publish")
        .collect();
    let per_interval: u64 = publish.iter().map(|s| s.interval(Status::Success)).sum();
    assert_eq!(
        per_interval,
        publish.last().unwrap().metrics.operations(Status::Success)
    );
    assert!(publish.iter().all(|s| s.state == State::Closed));
}

#[test]
fn a_publish_still_in_flight_at_the_end_is_resolved_during_the_drain() {
    let output = run(&with_fault(
        33,
        secs(4),
        Fault::DropAcks,
        secs(3),
        Some(secs(1)),
    ));
    assert_eq!(output.count(PublishResult::Pending), 0);
    assert!(output.end_ms > 4_000, "drained past the duration");
    assert!(output.count(PublishResult::Timeout) > 0);
}

#[test]
fn fault_start_and_end_are_logged_at_their_exact_virtual_times() {
    let output = run(&with_fault(
        34,
        secs(5),
        Fault::Hold,
        ms(2_345),
        Some(ms(655)),
    ));
    let start = output
        .events
        .iter()
        .find(|l| l.contains("fault-start #0 hold"));
    let end = output
        .events
        .iter()
        .find(|l| l.contains("fault-end #0 hold"));
    assert_eq!(at_ms(start.unwrap()), 2_345);
    assert_eq!(at_ms(end.unwrap()), 3_000);
    assert_eq!(output.facts.last_fault_end_ms, Some(3_000));
}

#[test]
fn an_invalid_spec_is_refused_before_the_run_naming_the_field() {
    let mut world = spec(35, secs(5));
    world.faults.push(ScheduledFault {
        at: secs(4),
        duration: Some(secs(2)),
        fault: Fault::Partition,
        targets: Vec::new(),
    });
    let error = breakwater_sim::run(&world).unwrap_err();
    assert!(
        matches!(&error, SimError::Spec(e) if e.field == "faults[0].duration"),
        "{error}"
    );

    let mut world = spec(35, secs(5));
    world.faults.push(ScheduledFault {
        at: secs(1),
        duration: None,
        fault: Fault::Refuse,
        targets: vec![PUBLISHER.to_owned()],
    });
    let error = breakwater_sim::run(&world).unwrap_err();
    assert!(
        matches!(&error, SimError::Spec(e) if e.field == "faults[0].targets"),
        "{error}"
    );

    let mut world = spec(35, secs(5));
    world.faults.push(ScheduledFault {
        at: secs(1),
        duration: None,
        fault: Fault::Partition,
        targets: vec!["nobody".to_owned()],
    });
    assert!(breakwater_sim::run(&world).is_err());

    let mut world = spec(35, secs(5));
    world.workload.publish_rate_per_s = 0.0;
    let error = breakwater_sim::run(&world).unwrap_err();
    assert!(matches!(&error, SimError::Spec(e) if e.field == "workload.publish_rate_per_s"));
}

#[test]
fn client_settings_the_mqtt_client_refuses_are_a_client_config_error() {
    let mut world = spec(36, secs(5));
    world.client.keep_alive = ms(1_500);
    let error = breakwater_sim::run(&world).unwrap_err();
    assert!(
        matches!(&error, SimError::Client(e) if e.field == "keep_alive"),
        "{error}"
    );
}
