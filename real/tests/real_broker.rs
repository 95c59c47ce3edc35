//! Scenarios against a real mosquitto over real TCP, through the
//! fault-injecting proxies: each test starts its own broker on a free
//! loopback port (`Broker::Spawn`) and plays a 5 s (wall) scenario.

mod support;

use std::time::Duration;

use breakwater_core::State;
use breakwater_mqtt::QoS;
use breakwater_real::{run, RealError, RealOptions, RealRun};
use breakwater_sim::spec::{Fault, SubscriberSpec};
use breakwater_sim::PublishResult;
use support::{fault, free_addr, http_get, promtool_check_metrics, spec, SCALE};

const PUBLISHER: &str = "publisher-0";

fn run_spawned(spec: &breakwater_sim::spec::WorldSpec) -> RealRun {
    run(spec, RealOptions::spawn(SCALE)).unwrap_or_else(|e| panic!("real run failed: {e}"))
}

/// Every oracle a healthy recovery must pass, with the events log in the
/// message when one fails.
fn assert_recovered(real: &RealRun, breaker: &str) {
    let output = &real.output;
    let log = || output.events.join("\n");
    let opened = output
        .transitions_of(PUBLISHER, breaker)
        .any(|t| t.transition.to() == State::Open);
    assert!(opened, "{breaker} never opened:\n{}", log());
    let last = output
        .transitions_of(PUBLISHER, breaker)
        .last()
        .expect("it opened");
    assert_eq!(
        last.transition.to(),
        State::Closed,
        "{breaker} did not end closed:\n{}",
        log()
    );
    let last_fault_end_ms = output.facts.last_fault_end_ms.expect("the spec has faults");
    assert!(
        last.at_ms >= last_fault_end_ms,
        "{breaker} closed at {} ms, before the fault ended at {last_fault_end_ms} ms",
        last.at_ms
    );
    assert!(
        output.facts.all_closed_since_ms.is_some(),
        "some breaker did not end closed: {:?}\n{}",
        output.transitions,
        log()
    );
    assert_eq!(
        output.count(PublishResult::Pending),
        0,
        "unresolved publishes:\n{}",
        log()
    );
    let missing = output.acked_missing_at_broker();
    assert!(
        missing.is_empty(),
        "acknowledged but never seen by the witness: {missing:?}\n{}",
        log()
    );
    let acked_after_fault = output
        .publishes
        .iter()
        .filter(|p| p.result == PublishResult::Acked && p.started_at_ms > last.at_ms)
        .count();
    assert!(
        acked_after_fault > 0,
        "nothing acked after recovery:\n{}",
        log()
    );
    assert!(real.skipped.is_empty(), "skipped: {:?}", real.skipped);
}

#[test]
fn a_partition_opens_the_publish_breaker_and_it_closes_again_after_the_heal() {
    let spec = spec(vec![fault(Fault::Partition, 15, Some(15))]);
    let real = run_spawned(&spec);
    assert_recovered(&real, "mqtt_publish");
    assert!(
        real.output
            .events
            .iter()
            .any(|e| e.contains("fault[0] partition start")),
        "the fault is in the events"
    );
    // Times are wall milliseconds on the scaled spec: the 50 s scenario
    // took about 5 s.
    assert_eq!(real.spec.duration, Duration::from_secs(5));
    assert!(
        real.output.end_ms >= 5_000 && real.output.end_ms < 9_000,
        "end_ms={}",
        real.output.end_ms
    );
}

#[test]
fn a_broker_black_hole_opens_the_publish_breaker_and_it_closes_again_after() {
    let spec = spec(vec![fault(Fault::BlackHole, 15, Some(15))]);
    let real = run_spawned(&spec);
    assert_recovered(&real, "mqtt_publish");
    let timeouts = real.output.count(PublishResult::Timeout);
    assert!(
        timeouts > 0,
        "a black hole shows as timeouts:\n{}",
        real.output.events.join("\n")
    );
}

#[test]
fn a_broker_crash_with_sessions_kept_restarts_mosquitto_and_nothing_acked_is_lost() {
    let mut spec = spec(vec![fault(
        Fault::Crash {
            keep_sessions: true,
        },
        15,
        Some(10),
    )]);
    spec.workload.subscribers.push(SubscriberSpec {
        filter: "sensors/#".to_owned(),
        qos: QoS::AtLeastOnce,
        clean_session: false,
    });
    let real = run_spawned(&spec);
    assert_recovered(&real, "mqtt_connect");
    let events = real.output.events.join("\n");
    assert!(
        events.contains("mosquitto restarted with its database"),
        "{events}"
    );
    // The persistent subscriber got messages published after the restart.
    let restart_ms = 2_500;
    assert!(
        real.output
            .deliveries
            .iter()
            .any(|d| d.host == "subscriber-0" && d.at_ms > restart_ms),
        "no delivery to the subscriber after the restart:\n{events}"
    );
}

#[test]
fn faults_the_real_mode_cannot_inject_are_reported_as_skipped_by_name() {
    let mut spec = spec(vec![
        fault(Fault::DropAcks, 3, Some(2)),
        fault(Fault::Malformed, 5, Some(2)),
    ]);
    spec.duration = Duration::from_secs(10);
    let real = run_spawned(&spec);
    assert_eq!(real.skipped.len(), 2, "{:?}", real.skipped);
    assert!(
        real.skipped[0].starts_with("faults[0] drop-acks: "),
        "{:?}",
        real.skipped
    );
    assert!(
        real.skipped[1].starts_with("faults[1] malformed: "),
        "{:?}",
        real.skipped
    );
    for name in ["drop-acks", "malformed"] {
        assert!(
            real.output
                .events
                .iter()
                .any(|e| e.contains("SKIPPED") && e.contains(name)),
            "{name} is not logged as SKIPPED:\n{}",
            real.output.events.join("\n")
        );
    }
    // Nothing was injected, so nothing failed.
    assert!(real
        .output
        .publishes
        .iter()
        .all(|p| p.result == PublishResult::Acked));
    assert!(real.output.acked_missing_at_broker().is_empty());
}

#[test]
fn the_metrics_endpoint_serves_openmetrics_that_promtool_accepts_while_running() {
    let mut spec = spec(vec![fault(Fault::Partition, 5, Some(10))]);
    spec.duration = Duration::from_secs(30);
    let addr = free_addr();
    let options = RealOptions {
        metrics_addr: Some(addr),
        ..RealOptions::spawn(SCALE)
    };
    let running = std::thread::spawn(move || run(&spec, options));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Scrape during the partition (1.5 s of wall time in), when the
    // breakers have something to say.
    let (status, headers, body) = runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let mut last_error = None;
        for _ in 0..50 {
            match http_get(addr, "/metrics").await {
                Ok(response) => return response,
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no /metrics at {addr}: {last_error:?}")
    });
    let real = running.join().expect("run thread").expect("real run");
    assert_eq!(real.metrics_addr, Some(addr));
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let content_type = headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .map(|(_, value)| value.as_str());
    assert_eq!(content_type, Some(breakwater_prometheus::CONTENT_TYPE));
    for breaker in ["mqtt_connect", "mqtt_publish", "mqtt_subscribe"] {
        assert!(
            body.contains(&format!("circuit_breaker_state{{breaker=\"{breaker}\"}}")),
            "{breaker} missing from\n{body}"
        );
    }
    assert!(body.ends_with("# EOF\n"), "{body}");
    let classic = breakwater_prometheus::promtool_text(&body);
    let output = promtool_check_metrics(&classic);
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}\n{}\non\n{classic}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_from_inside_a_runtime_is_refused_before_anything_starts() {
    let error = run(&spec(Vec::new()), RealOptions::spawn(SCALE)).unwrap_err();
    assert!(matches!(error, RealError::InsideRuntime), "{error}");
}

#[test]
fn a_partition_of_one_publisher_leaves_the_other_publisher_untouched() {
    let mut cut = fault(Fault::Partition, 15, Some(15));
    cut.targets = vec!["publisher-1".to_owned()];
    let mut spec = spec(vec![cut]);
    spec.workload.publishers = 2;
    let real = run_spawned(&spec);
    let output = &real.output;
    let log = || output.events.join("\n");
    assert!(
        output
            .transitions_of("publisher-1", "mqtt_publish")
            .any(|t| t.transition.to() == State::Open),
        "the cut publisher's breaker opens:\n{}",
        log()
    );
    assert_eq!(
        output.transitions_of("publisher-0", "mqtt_publish").count(),
        0,
        "the other publisher's breaker never moves:\n{}",
        log()
    );
    assert!(
        output
            .publishes
            .iter()
            .filter(|p| p.host == "publisher-0")
            .all(|p| p.result == PublishResult::Acked),
        "every publish of the other publisher is acked:\n{}",
        log()
    );
    assert!(output.facts.all_closed_since_ms.is_some(), "{}", log());
    assert!(output.acked_missing_at_broker().is_empty());
}

#[test]
fn a_broker_crash_without_sessions_restarts_empty_and_the_witness_still_sees_every_ack() {
    let spec = spec(vec![fault(
        Fault::Crash {
            keep_sessions: false,
        },
        15,
        Some(10),
    )]);
    let real = run_spawned(&spec);
    assert_recovered(&real, "mqtt_connect");
    let events = real.output.events.join("\n");
    assert!(
        events.contains("mosquitto restarted with an empty database; witness back=true"),
        "{events}"
    );
}
