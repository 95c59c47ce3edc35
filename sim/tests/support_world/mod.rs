//! Shared spec builders for the world tests: short runs with deadlines and
//! breaker timeouts scaled down so each fault shows within seconds of
//! virtual time.

// Each test binary uses a different subset of the helpers.
#![allow(dead_code)]

use std::time::Duration;

use breakwater_core::{BreakerConfig, ErrorKind};
use breakwater_mqtt::{BreakerConfigs, QoS};
use breakwater_sim::spec::{Fault, ScheduledFault, SubscriberSpec, WorldSpec};
use breakwater_sim::{PublishOutcome, RunOutput};

pub const PUBLISHER: &str = "publisher-0";
pub const SUBSCRIBER: &str = "subscriber-0";

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn breaker(name: &str, success_threshold: u32) -> BreakerConfig {
    BreakerConfig::builder(name)
        .max_retries(3)
        .base_delay(ms(50))
        .max_delay(ms(500))
        .retry_on([ErrorKind::Connection, ErrorKind::Timeout])
        .open_timeout(secs(2))
        .success_threshold(success_threshold)
        .build()
        .expect("valid test breaker")
}

/// One publisher at 10 QoS 1 messages/s from 1 s, one subscriber on
/// `sensors/#`, fixed 1 ms links, 2 s request deadlines, 1 s connect
/// deadline, 2 s keep-alive and breakers that open for 2 s.
pub fn spec(seed: u64, duration: Duration) -> WorldSpec {
    let mut spec = WorldSpec {
        seed,
        duration,
        sample_interval: ms(500),
        breakers: BreakerConfigs {
            connect: breaker("mqtt_connect", 1),
            publish: breaker("mqtt_publish", 2),
            subscribe: breaker("mqtt_subscribe", 1),
        },
        ..WorldSpec::default()
    };
    spec.client.keep_alive = secs(2);
    spec.client.ping_timeout = secs(1);
    spec.client.request_timeout = secs(2);
    spec.client.connect_timeout = secs(1);
    spec.client.reconnect_delay_min = ms(100);
    spec.client.reconnect_delay_max = secs(1);
    spec.workload.subscribers.push(SubscriberSpec {
        filter: "sensors/#".to_owned(),
        qos: QoS::AtLeastOnce,
        clean_session: true,
    });
    spec
}

/// `spec` with one fault from `at` for `duration`.
pub fn with_fault(
    seed: u64,
    run: Duration,
    fault: Fault,
    at: Duration,
    duration: Option<Duration>,
) -> WorldSpec {
    let mut world = spec(seed, run);
    world.faults.push(ScheduledFault {
        at,
        duration,
        fault,
        targets: Vec::new(),
    });
    world
}

pub fn run(spec: &WorldSpec) -> RunOutput {
    match breakwater_sim::run(spec) {
        Ok(output) => output,
        Err(error) => panic!("seed {}: run failed: {error}", spec.seed),
    }
}

/// Publishes started in `[from_ms, to_ms)`.
pub fn started_between(output: &RunOutput, from_ms: u64, to_ms: u64) -> Vec<&PublishOutcome> {
    output
        .publishes
        .iter()
        .filter(|p| p.started_at_ms >= from_ms && p.started_at_ms < to_ms)
        .collect()
}

/// Ack latency of a resolved publish.
pub fn latency_ms(publish: &PublishOutcome) -> u64 {
    publish.resolved_at_ms.expect("resolved") - publish.started_at_ms
}

/// Total errors of `kind` on `breaker` of `host` over the run.
pub fn errors(output: &RunOutput, host: &str, breaker: &str, kind: ErrorKind) -> u64 {
    output
        .last_sample(host, breaker)
        .map_or(0, |sample| sample.metrics.errors(kind))
}

/// Event lines of `host` containing `text`.
pub fn events<'a>(output: &'a RunOutput, host: &str, text: &str) -> Vec<&'a String> {
    let tag = format!("ms {host} ");
    output
        .events
        .iter()
        .filter(|line| line.contains(&tag) && line.contains(text))
        .collect()
}

/// Virtual time stamped on an event line.
pub fn at_ms(line: &str) -> u64 {
    line.trim_start()
        .split("ms ")
        .next()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no time on event line {line:?}"))
}
