//! Compressing (or stretching) a scenario's virtual time onto wall time.

use std::time::Duration;

use breakwater_core::BreakerConfig;
use breakwater_mqtt::BreakerConfigs;
use breakwater_sim::net::Latency;
use breakwater_sim::spec::{ClientSpec, Fault, ScheduledFault, WorldSpec};

use crate::error::RealError;
use crate::options::{check_time_scale, REAL_PUBLISH_RATE_LIMIT_PER_S, WALL_DURATION_LIMIT};

/// Shortest non-zero duration after scaling: the client and breaker
/// builders refuse less, and real timers do not resolve less anyway.
const FLOOR: Duration = Duration::from_millis(1);

fn scaled(duration: Duration, scale: f64) -> Duration {
    if duration.is_zero() {
        return duration;
    }
    Duration::from_secs_f64(duration.as_secs_f64() * scale).max(FLOOR)
}

/// Scaled and rounded to whole milliseconds, for the fields the simulation
/// stamps in milliseconds (so facts derived from the scaled spec line up
/// with recorded times).
fn scaled_ms(duration: Duration, scale: f64) -> Duration {
    if duration.is_zero() {
        return duration;
    }
    let ms = (duration.as_secs_f64() * scale * 1_000.0).round().max(1.0);
    Duration::from_millis(ms as u64)
}

fn scaled_latency(latency: Latency, scale: f64) -> Latency {
    match latency {
        Latency::Fixed(value) => Latency::Fixed(scaled(value, scale)),
        Latency::Range { min, max } => Latency::Range {
            min: scaled(min, scale),
            max: scaled(max, scale),
        },
    }
}

fn scaled_breaker(config: &BreakerConfig, scale: f64) -> Result<BreakerConfig, RealError> {
    let built = BreakerConfig::builder(config.name())
        .max_retries(config.max_retries())
        .max_delay(scaled(config.max_delay(), scale))
        .base_delay(scaled(config.base_delay(), scale))
        .retry_on(config.retry_on())
        .open_timeout(scaled(config.open_timeout(), scale))
        .success_threshold(config.success_threshold())
        .half_open_max_calls(config.half_open_max_calls())
        .build()?;
    Ok(built)
}

fn scaled_client(client: &ClientSpec, scale: f64) -> ClientSpec {
    // MQTT carries keep-alive in whole seconds; round up so the link is
    // never probed more eagerly than the scenario allows for, and never
    // switched off.
    let keep_alive_s = (client.keep_alive.as_secs_f64() * scale).ceil().max(1.0);
    ClientSpec {
        keep_alive: Duration::from_secs(keep_alive_s as u64),
        ping_timeout: scaled(client.ping_timeout, scale),
        request_timeout: scaled(client.request_timeout, scale),
        connect_timeout: scaled(client.connect_timeout, scale),
        reconnect_delay_min: scaled(client.reconnect_delay_min, scale),
        reconnect_delay_max: scaled(client.reconnect_delay_max, scale),
        ..client.clone()
    }
}

fn scaled_fault(fault: &ScheduledFault, scale: f64) -> ScheduledFault {
    let kind = match &fault.fault {
        Fault::Latency(latency) => Fault::Latency(scaled_latency(*latency, scale)),
        Fault::DelayAcks { delay } => Fault::DelayAcks {
            delay: scaled(*delay, scale),
        },
        other => other.clone(),
    };
    ScheduledFault {
        at: scaled_ms(fault.at, scale),
        duration: fault.duration.map(|d| scaled_ms(d, scale)),
        fault: kind,
        targets: fault.targets.clone(),
    }
}

/// The spec a real run plays: every virtual duration of `spec` multiplied
/// by `time_scale` and the publish rate divided by it (see the crate docs
/// for the full list and the roundings). Fails if the scale is out of
/// range, or if the scaled run would be longer than
/// [`WALL_DURATION_LIMIT`] or publish faster than
/// [`REAL_PUBLISH_RATE_LIMIT_PER_S`].
///
/// ```
/// use std::time::Duration;
/// use breakwater_real::{scale_spec, WorldSpec};
///
/// let spec = WorldSpec::default(); // a minute at 10 publishes/s
/// let fast = scale_spec(&spec, 0.1).unwrap();
/// assert_eq!(fast.duration, Duration::from_secs(6));
/// assert_eq!(fast.workload.publish_rate_per_s, 100.0);
/// assert_eq!(fast.breakers.publish.open_timeout(), Duration::from_secs(3));
/// ```
pub fn scale_spec(spec: &WorldSpec, time_scale: f64) -> Result<WorldSpec, RealError> {
    check_time_scale(time_scale)?;
    let s = time_scale;
    let mut scaled_spec = spec.clone();
    scaled_spec.duration = scaled_ms(spec.duration, s);
    scaled_spec.tick = scaled_ms(spec.tick, s);
    scaled_spec.sample_interval = scaled_ms(spec.sample_interval, s);
    scaled_spec.breakers = BreakerConfigs {
        connect: scaled_breaker(&spec.breakers.connect, s)?,
        publish: scaled_breaker(&spec.breakers.publish, s)?,
        subscribe: scaled_breaker(&spec.breakers.subscribe, s)?,
    };
    scaled_spec.client = scaled_client(&spec.client, s);
    scaled_spec.network.latency = scaled_latency(spec.network.latency, s);
    scaled_spec.workload.publish_rate_per_s = spec.workload.publish_rate_per_s / s;
    scaled_spec.workload.publish_start = scaled_ms(spec.workload.publish_start, s);
    scaled_spec.faults = spec.faults.iter().map(|f| scaled_fault(f, s)).collect();
    if scaled_spec.duration > WALL_DURATION_LIMIT {
        return Err(RealError::Options {
            field: "time_scale",
            rule: format!(
                "makes the run last {:?}, above the limit of {WALL_DURATION_LIMIT:?}",
                scaled_spec.duration
            ),
        });
    }
    if scaled_spec.workload.publish_rate_per_s > REAL_PUBLISH_RATE_LIMIT_PER_S {
        return Err(RealError::Options {
            field: "time_scale",
            rule: format!(
                "makes each publisher send {:.0} messages/s, above the limit of {REAL_PUBLISH_RATE_LIMIT_PER_S}",
                scaled_spec.workload.publish_rate_per_s
            ),
        });
    }
    Ok(scaled_spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_and_latencies_shrink_with_the_scale() {
        let mut spec = WorldSpec::default();
        spec.faults.push(ScheduledFault {
            at: Duration::from_secs(10),
            duration: Some(Duration::from_secs(20)),
            fault: Fault::Latency(Latency::Range {
                min: Duration::from_millis(100),
                max: Duration::from_millis(300),
            }),
            targets: Vec::new(),
        });
        let fast = scale_spec(&spec, 0.1).unwrap();
        let fault = &fast.faults[0];
        assert_eq!(fault.at, Duration::from_secs(1));
        assert_eq!(fault.duration, Some(Duration::from_secs(2)));
        assert_eq!(
            fault.fault,
            Fault::Latency(Latency::Range {
                min: Duration::from_millis(10),
                max: Duration::from_millis(30),
            })
        );
    }

    #[test]
    fn keep_alive_stays_whole_seconds_and_at_least_one() {
        let fast = scale_spec(&WorldSpec::default(), 0.01).unwrap();
        assert_eq!(fast.client.keep_alive, Duration::from_secs(1));
        assert_eq!(fast.client.request_timeout, Duration::from_millis(50));
    }

    #[test]
    fn a_scale_that_publishes_too_fast_is_refused_naming_time_scale() {
        let mut spec = WorldSpec::default();
        spec.workload.publish_rate_per_s = 100.0;
        let error = scale_spec(&spec, 0.01).unwrap_err();
        assert!(
            matches!(
                error,
                RealError::Options {
                    field: "time_scale",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn a_scale_out_of_range_is_refused() {
        for scale in [0.0, -1.0, f64::NAN, 100.0] {
            assert!(scale_spec(&WorldSpec::default(), scale).is_err(), "{scale}");
        }
    }
}
