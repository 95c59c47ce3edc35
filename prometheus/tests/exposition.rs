//! The exposition of breakers with real traffic: valid for promtool, every
//! contract metric present with the contract's labels, values equal to the
//! breakers' snapshots.

mod common;

use std::time::Duration;

use breakwater_core::{BreakerConfig, CircuitBreaker, ErrorKind, ManualClock, Status, Transition};
use breakwater_prometheus::prometheus_client::registry::Registry;
use breakwater_prometheus::{
    names, promtool_text, render, BreakerCollector, CollectorError, BREAKERS_LIMIT,
};
use common::{assert_promtool_ok, promtool, traffic, Exposition, ODD_NAME};

fn labels<'a>(breaker: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut labels = vec![("breaker", breaker)];
    labels.extend_from_slice(extra);
    labels
}

#[tokio::test(flavor = "current_thread")]
async fn exposition_of_breakers_with_real_traffic_passes_promtool_check_metrics() {
    let traffic = traffic().await;
    let text = traffic.render();
    let classic = promtool_text(&text);
    let output = promtool(&["check", "metrics"], Some(&classic), &std::env::temp_dir());
    assert_promtool_ok(&format!("check metrics on\n{classic}"), &output);
}

#[tokio::test(flavor = "current_thread")]
async fn exposition_declares_every_contract_family_with_type_help_and_unit() {
    let text = traffic().await.render();
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics ends in # EOF:\n{text}"
    );
    let exposition = Exposition::parse(&text);
    let declared = |family: &str, kind: &str| {
        assert_eq!(
            exposition.types.get(family).map(String::as_str),
            Some(kind),
            "# TYPE of {family} in\n{text}"
        );
        assert!(
            exposition.help.get(family).is_some_and(|h| !h.is_empty()),
            "# HELP of {family} in\n{text}"
        );
    };
    // OpenMetrics names a counter family without `_total`; its samples have it.
    declared("circuit_breaker_state", "gauge");
    declared("circuit_breaker_errors", "counter");
    declared("circuit_breaker_recovery_time_seconds", "histogram");
    declared("circuit_breaker_operations", "counter");
    declared("circuit_breaker_transitions", "counter");
    declared("circuit_breaker_retries", "counter");
    assert_eq!(exposition.types.len(), 6, "no other family: {text}");
    assert_eq!(
        exposition
            .units
            .get(names::RECOVERY_TIME)
            .map(String::as_str),
        Some("seconds")
    );

    let expected_samples = [
        "circuit_breaker_state",
        "circuit_breaker_errors_total",
        "circuit_breaker_recovery_time_seconds_bucket",
        "circuit_breaker_recovery_time_seconds_sum",
        "circuit_breaker_recovery_time_seconds_count",
        "circuit_breaker_operations_total",
        "circuit_breaker_transitions_total",
        "circuit_breaker_retries_total",
    ];
    assert_eq!(
        exposition.sample_names(),
        expected_samples.iter().map(|s| s.to_string()).collect(),
        "exposed sample names"
    );
    let label_names =
        |name: &str| -> Vec<String> { exposition.label_names(name).into_iter().collect() };
    assert_eq!(label_names(names::STATE), ["breaker"]);
    assert_eq!(label_names(names::ERRORS), ["breaker", "error_type"]);
    assert_eq!(label_names(names::OPERATIONS), ["breaker", "status"]);
    assert_eq!(label_names(names::TRANSITIONS), ["breaker", "from", "to"]);
    assert_eq!(label_names(names::RETRIES), ["breaker"]);
    assert_eq!(
        label_names("circuit_breaker_recovery_time_seconds_bucket"),
        ["breaker", "le"]
    );
    assert_eq!(
        label_names("circuit_breaker_recovery_time_seconds_count"),
        ["breaker"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn every_exposed_value_equals_the_breakers_snapshot() {
    let traffic = traffic().await;
    let exposition = Exposition::parse(&traffic.render());
    let mut outages = 0;
    for breaker in &traffic.breakers {
        let snapshot = breaker.metrics();
        let name = snapshot.breaker.as_str();
        assert_eq!(
            exposition.value(names::STATE, &labels(name, &[])),
            f64::from(snapshot.state_gauge()),
            "state of {name}"
        );
        for kind in ErrorKind::ALL {
            let value = exposition.value(
                names::ERRORS,
                &labels(name, &[("error_type", kind.as_str())]),
            );
            assert_eq!(value, snapshot.errors(kind) as f64, "{name} {kind}");
        }
        for status in Status::ALL {
            let value = exposition.value(
                names::OPERATIONS,
                &labels(name, &[("status", status.as_str())]),
            );
            assert_eq!(
                value,
                snapshot.operations(status) as f64,
                "{name} {status:?}"
            );
        }
        for transition in Transition::ALL {
            let value = exposition.value(
                names::TRANSITIONS,
                &labels(
                    name,
                    &[
                        ("from", transition.from().as_str()),
                        ("to", transition.to().as_str()),
                    ],
                ),
            );
            assert_eq!(
                value,
                snapshot.transitions(transition) as f64,
                "{name} {transition}"
            );
        }
        assert_eq!(
            exposition.value(names::RETRIES, &labels(name, &[])),
            snapshot.retries as f64
        );

        let recovery = &snapshot.recovery;
        outages += recovery.count;
        let bucket = "circuit_breaker_recovery_time_seconds_bucket";
        for &(le, cumulative) in &recovery.buckets {
            let le = format!("{le:?}");
            let value = exposition.value(bucket, &labels(name, &[("le", le.as_str())]));
            assert_eq!(value, cumulative as f64, "{name} bucket le={le}");
        }
        assert_eq!(
            exposition.value(bucket, &labels(name, &[("le", "+Inf")])),
            recovery.count as f64
        );
        assert_eq!(
            exposition.value(
                "circuit_breaker_recovery_time_seconds_count",
                &labels(name, &[])
            ),
            recovery.count as f64
        );
        let sum = exposition.value(
            "circuit_breaker_recovery_time_seconds_sum",
            &labels(name, &[]),
        );
        assert!(
            (sum - recovery.sum_seconds).abs() < 1e-9,
            "{name}: {sum} vs {recovery:?}"
        );
    }

    // The traffic is meant to exercise everything; make sure it still does.
    assert_eq!(outages, 2, "two recoveries give the histogram samples");
    let states: Vec<f64> = traffic
        .breakers
        .iter()
        .map(|b| exposition.value(names::STATE, &labels(b.name(), &[])))
        .collect();
    assert_eq!(
        states,
        [0.0, 1.0, 2.0],
        "closed, open and half-open all shown"
    );
    let connect = &traffic.breakers[0].metrics();
    assert_eq!(connect.retries, 2);
    assert_eq!(connect.errors(ErrorKind::Connection), 3);
    assert!(traffic.breakers[1].metrics().operations(Status::Ignored) == 1);
    assert!(traffic.breakers[2].metrics().operations(Status::Cancelled) == 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_breaker_name_with_quotes_and_backslashes_is_escaped_in_labels() {
    let text = traffic().await.render();
    assert!(
        text.contains(r#"circuit_breaker_state{breaker="mqtt \"odd\" \\ name"} 2"#),
        "escaped name in\n{text}"
    );
    let exposition = Exposition::parse(&text);
    assert_eq!(exposition.value(names::STATE, &labels(ODD_NAME, &[])), 2.0);
}

#[tokio::test(flavor = "current_thread")]
async fn each_scrape_reads_the_breakers_live_counters() {
    let traffic = traffic().await;
    let publish = &traffic.breakers[1];
    let rejected = |text: &str| {
        Exposition::parse(text).value(
            names::OPERATIONS,
            &labels("mqtt_publish", &[("status", "rejected")]),
        )
    };
    let before = rejected(&traffic.render());
    for _ in 0..5 {
        publish.try_acquire().expect_err("open breaker rejects");
    }
    assert_eq!(rejected(&traffic.render()), before + 5.0);

    // Open -> HalfOpen shows on the gauge at scrape time, with no traffic.
    traffic.clock.advance(Duration::from_secs(31));
    let text = traffic.render();
    assert_eq!(
        Exposition::parse(&text).value(names::STATE, &labels("mqtt_publish", &[])),
        2.0
    );
}

#[test]
fn two_breakers_with_one_name_are_refused() {
    let clock = ManualClock::new();
    let make = || {
        CircuitBreaker::builder(BreakerConfig::builder("twin").build().expect("valid"))
            .clock(clock.clone())
            .build()
    };
    let mut collector = BreakerCollector::new();
    collector.add(make()).expect("first twin");
    assert_eq!(
        collector.add(make()).unwrap_err(),
        CollectorError::DuplicateBreaker {
            name: "twin".into()
        }
    );
    assert_eq!(collector.len(), 1);
    assert_eq!(collector.breaker_names().collect::<Vec<_>>(), ["twin"]);
}

#[test]
fn a_collector_holds_at_most_the_breakers_limit() {
    let clock = ManualClock::new();
    let mut collector = BreakerCollector::new();
    for i in 0..BREAKERS_LIMIT {
        let config = BreakerConfig::builder(format!("b{i}"))
            .build()
            .expect("valid");
        collector
            .add(CircuitBreaker::builder(config).clock(clock.clone()).build())
            .expect("under the limit");
    }
    let config = BreakerConfig::builder("one_too_many")
        .build()
        .expect("valid");
    assert_eq!(
        collector
            .add(CircuitBreaker::builder(config).clock(clock).build())
            .unwrap_err(),
        CollectorError::TooManyBreakers {
            limit: BREAKERS_LIMIT
        }
    );
}

#[test]
fn an_empty_collector_exposes_no_family() {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BreakerCollector::new()));
    assert_eq!(render(&registry), "# EOF\n");
}
