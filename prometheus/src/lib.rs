//! Prometheus / OpenMetrics exposition of Breakwater's circuit breaker
//! metrics.
//!
//! The breaker already keeps every metric of the contract in lock-free
//! counters ([`breakwater_core::MetricsSnapshot`]). This crate does no
//! bookkeeping of its own: a [`BreakerCollector`] holds the breakers and, on
//! each scrape, reads one snapshot per breaker and encodes it through
//! [`prometheus_client`]'s encoder. Register it into the application's
//! [`Registry`] next to any other metrics, then serve [`render`]'s text
//! with [`CONTENT_TYPE`].
//!
//! Exposed families, each with the label `breaker` (the config name):
//!
//! | name | type | extra labels |
//! |---|---|---|
//! | [`names::STATE`] | gauge: 0 closed, 1 open, 2 half-open | |
//! | [`names::ERRORS`] | counter | `error_type` |
//! | [`names::RECOVERY_TIME`] | histogram, unit seconds | `le` on `_bucket` |
//! | [`names::OPERATIONS`] | counter | `status` |
//! | [`names::TRANSITIONS`] | counter | `from`, `to` |
//! | [`names::RETRIES`] | counter | |
//!
//! Register the collector into the root registry: a
//! [`Registry::sub_registry_with_prefix`] would prefix every name.
//!
//! ```
//! use breakwater_core::{BreakerConfig, CircuitBreaker, ErrorKind, ManualClock};
//! use breakwater_prometheus::{render, BreakerCollector, CONTENT_TYPE};
//! use breakwater_prometheus::prometheus_client::registry::Registry;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new();
//! let publish = CircuitBreaker::builder(BreakerConfig::builder("mqtt_publish").build()?)
//!     .clock(clock.clone())
//!     .build();
//! let connect = CircuitBreaker::builder(BreakerConfig::builder("mqtt_connect").build()?)
//!     .clock(clock)
//!     .build();
//!
//! // The application owns the registry; breakers are cheap clones of shared state.
//! let mut collector = BreakerCollector::new();
//! collector.add(publish.clone())?.add(connect.clone())?;
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(collector));
//!
//! publish.try_acquire().expect("closed breaker admits").success();
//! connect.try_acquire().expect("closed breaker admits").error(ErrorKind::Timeout);
//!
//! // What a `/metrics` handler returns, with `Content-Type: CONTENT_TYPE`.
//! let body = render(&registry);
//! assert!(body.contains(
//!     "circuit_breaker_operations_total{breaker=\"mqtt_publish\",status=\"success\"} 1\n"
//! ));
//! assert!(body.contains(
//!     "circuit_breaker_errors_total{breaker=\"mqtt_connect\",error_type=\"timeout\"} 1\n"
//! ));
//! assert!(body.contains("circuit_breaker_state{breaker=\"mqtt_connect\"} 0\n"));
//! assert!(body.ends_with("# EOF\n"));
//! assert!(CONTENT_TYPE.starts_with("application/openmetrics-text"));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod collector;
mod label;
pub mod names;
mod promtool;

pub use collector::{BreakerCollector, CollectorError, SnapshotSource, BREAKERS_LIMIT};
pub use prometheus_client;
pub use promtool::promtool_text;

use prometheus_client::registry::Registry;

/// The HTTP `Content-Type` of [`render`]'s text: OpenMetrics 1.0. Prometheus
/// needs it to parse counters right, since OpenMetrics names a counter family
/// without its `_total` suffix (the samples carry it).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Encodes everything in `registry` as OpenMetrics text, ending in `# EOF`.
///
/// # Errors
///
/// Writing to a `String` cannot fail, so an error can only come from a
/// collector registered by someone else that gave up; a [`BreakerCollector`]
/// never does.
pub fn try_render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(text)
}

/// Encodes everything in `registry` as OpenMetrics text, ending in `# EOF`.
///
/// # Panics
///
/// If another collector in `registry` fails to encode (see [`try_render`]
/// for the non-panicking form). Breakwater's own collector never fails.
pub fn render(registry: &Registry) -> String {
    try_render(registry).expect("encoding into a String fails only if a registered collector fails")
}
