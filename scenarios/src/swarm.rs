//! Swarm mode: every seed draws its own valid fault schedule (kinds,
//! parameters, targets and times), so a sweep over seeds explores fault
//! combinations no hand-written scenario names. The draw uses only the
//! seed, so `breakwater replay swarm --seed N` rebuilds the same world.

use std::time::Duration;

use breakwater_core::rng::{mix, uniform_inclusive, SplitMix64};
use breakwater_core::BreakerConfig;
use breakwater_mqtt::{BreakerConfigs, QoS};
use breakwater_sim::net::Latency;
use breakwater_sim::spec::{
    ClientSpec, Direction, Fault, ScheduledFault, SubscriberSpec, Workload, WorldSpec,
};

use crate::scenario::{Expectations, Scenario, ScenarioKind};

/// The scenario name of swarm mode.
pub const SWARM_NAME: &str = "swarm";

/// Virtual length of a swarm run.
pub const SWARM_DURATION: Duration = Duration::from_secs(120);
/// Quiet time after the last fault: every breaker must be Closed again
/// within it (the recovery bound of swarm runs).
pub const SWARM_RECOVERY: Duration = Duration::from_secs(40);
/// Most faults one swarm schedule holds.
pub const SWARM_FAULTS_LIMIT: usize = 6;

/// Separates swarm draws from every other use of the same seed.
const SWARM_STREAM: u64 = 0x5157_4152_4d00_0001;

/// The swarm scenario (its world depends on the seed).
pub fn scenario() -> Scenario {
    Scenario {
        name: SWARM_NAME.to_owned(),
        description: "A random valid fault schedule drawn from the seed: up to six faults of any kind, back to back, then a quiet tail in which every breaker must close again.".to_owned(),
        kind: ScenarioKind::Swarm,
        expect: Expectations {
            max_recovery: Some(SWARM_RECOVERY),
            ..Expectations::default()
        },
    }
}

/// Draws the world of swarm run `seed`.
pub fn world(seed: u64) -> WorldSpec {
    let rng = SplitMix64::new(mix(seed ^ SWARM_STREAM));
    let hosts = ["publisher-0".to_owned(), "subscriber-0".to_owned()];
    let mut faults = Vec::new();
    let mut cursor = Duration::from_secs(5);
    let last_end = SWARM_DURATION - SWARM_RECOVERY;
    while faults.len() < SWARM_FAULTS_LIMIT {
        let at = cursor + millis(&rng, 500, 8_000);
        let fault = draw_fault(&rng);
        let duration = (!fault.is_action()).then(|| millis(&rng, 1_000, 15_000));
        let end = at + duration.unwrap_or(Duration::ZERO);
        if end > last_end {
            break;
        }
        let targets = if fault.is_network() && uniform_inclusive(rng.next_u64(), 2) == 0 {
            vec![hosts[uniform_inclusive(rng.next_u64(), 1) as usize].clone()]
        } else {
            Vec::new()
        };
        faults.push(ScheduledFault {
            at,
            duration,
            fault,
            targets,
        });
        // Faults never overlap: each starts after the previous one ended,
        // so every schedule is valid by construction.
        cursor = end;
    }
    WorldSpec {
        seed,
        duration: SWARM_DURATION,
        tick: Duration::from_millis(1),
        sample_interval: Duration::from_secs(1),
        breakers: breakers(),
        client: ClientSpec {
            keep_alive: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            reconnect_delay_min: Duration::from_millis(100),
            reconnect_delay_max: Duration::from_secs(2),
            ..ClientSpec::default()
        },
        workload: Workload {
            publishers: 1,
            publish_rate_per_s: 10.0,
            qos: QoS::AtLeastOnce,
            payload_size_bytes: 64,
            topics: vec!["swarm/a".to_owned(), "swarm/b".to_owned()],
            subscribers: vec![SubscriberSpec {
                filter: "swarm/#".to_owned(),
                qos: QoS::AtLeastOnce,
                clean_session: false,
            }],
            publish_start: Duration::from_secs(1),
        },
        faults,
        ..WorldSpec::default()
    }
}

/// Breakers that react within seconds, so a two-minute run sees whole
/// open / half-open / closed cycles.
fn breakers() -> BreakerConfigs {
    let fast = |name: &str, success_threshold: u32| {
        BreakerConfig::builder(name)
            .max_retries(2)
            .base_delay(Duration::from_millis(50))
            .max_delay(Duration::from_millis(500))
            .open_timeout(Duration::from_secs(2))
            .success_threshold(success_threshold)
            .build()
            .expect("swarm breaker configs are valid constants")
    };
    BreakerConfigs {
        connect: fast("mqtt_connect", 1),
        publish: fast("mqtt_publish", 2),
        subscribe: fast("mqtt_subscribe", 1),
    }
}

fn millis(rng: &SplitMix64, min_ms: u64, max_ms: u64) -> Duration {
    Duration::from_millis(min_ms + uniform_inclusive(rng.next_u64(), max_ms - min_ms))
}

fn draw_fault(rng: &SplitMix64) -> Fault {
    match uniform_inclusive(rng.next_u64(), 12) {
        0 => Fault::Partition,
        1 => Fault::PartitionOneWay {
            direction: if rng.next_u64() & 1 == 0 {
                Direction::ToBroker
            } else {
                Direction::FromBroker
            },
        },
        2 => Fault::Hold,
        3 => {
            if rng.next_u64() & 1 == 0 {
                Fault::Latency(Latency::Fixed(millis(rng, 50, 3_000)))
            } else {
                let min = millis(rng, 10, 500);
                Fault::Latency(Latency::Range {
                    min,
                    max: min + millis(rng, 0, 2_500),
                })
            }
        }
        4 => Fault::FailRate {
            // Whole percents keep the value exact in reports and logs.
            rate: uniform_inclusive(rng.next_u64(), 30) as f64 / 100.0,
        },
        5 => Fault::Refuse,
        6 => Fault::BlackHole,
        7 => Fault::DelayAcks {
            delay: millis(rng, 100, 4_000),
        },
        8 => Fault::DropAcks,
        9 => Fault::CloseConnections,
        10 => Fault::Crash {
            keep_sessions: rng.next_u64() & 1 == 0,
        },
        11 => Fault::Malformed,
        _ => Fault::HostCrash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_draws_a_valid_world() {
        for seed in 0..500 {
            let spec = world(seed);
            assert_eq!(spec.validate(), Ok(()), "seed {seed}");
            assert!(!spec.faults.is_empty(), "seed {seed} drew no fault");
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_world() {
        assert_eq!(world(42), world(42));
        assert_ne!(world(42).faults, world(43).faults);
    }

    #[test]
    fn faults_never_overlap_and_leave_a_quiet_tail() {
        for seed in 0..200 {
            let spec = world(seed);
            let mut previous_end = Duration::ZERO;
            for fault in &spec.faults {
                assert!(fault.at >= previous_end, "seed {seed}");
                previous_end = fault.end().unwrap_or(fault.at);
            }
            assert!(previous_end <= SWARM_DURATION - SWARM_RECOVERY);
        }
    }
}
