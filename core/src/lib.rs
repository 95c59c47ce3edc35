//! A transport-agnostic circuit breaker: closed / open / half-open, with
//! bounded retries, error classification, a fallback form, lock-free metrics
//! and `tracing` events.
//!
//! The crate does no I/O and never reads `std::time`: time comes from an
//! injected [`Clock`] (tokio's by default, so the same breaker runs on
//! virtual time under turmoil) and jitter from a seeded RNG. The state
//! machine ([`machine::Machine`]) is sans-IO; [`CircuitBreaker`] is the thin
//! async driver around it.
//!
//! ```
//! use std::time::Duration;
//! use breakwater_core::{BreakerConfig, CallError, CircuitBreaker, ErrorKind};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let config = BreakerConfig::builder("mqtt_publish")
//!     .max_delay(Duration::from_secs(2))
//!     .max_retries(3)
//!     .retry_on([ErrorKind::Connection, ErrorKind::Timeout])
//!     .open_timeout(Duration::from_secs(30))
//!     .success_threshold(3)
//!     .build()
//!     .expect("valid config");
//! let breaker = CircuitBreaker::new(config);
//!
//! let sent: Result<u32, CallError<std::io::Error>> =
//!     breaker.call(|| async { Ok(42) }).await;
//! assert_eq!(sent.unwrap(), 42);
//!
//! let value = breaker
//!     .call_with_fallback(
//!         || async { Err::<u32, _>(std::io::Error::other("broker gone")) },
//!         |_error| 0,
//!     )
//!     .await;
//! assert_eq!(value, 0);
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod breaker;
mod clock;
mod config;
mod error;
mod kind;
pub mod machine;
mod metrics;
pub mod rng;
mod state;
mod sync;

pub use backoff::{Backoff, FullJitter};
pub use breaker::{BreakerBuilder, CircuitBreaker, Permit};
pub use clock::{CachedClock, Clock, ManualClock, TokioClock};
pub use config::{BreakerConfig, BreakerConfigBuilder, ConfigError};
pub use error::{CallError, Rejected};
pub use kind::{Classify, ErrorKind, KindSet};
pub use machine::Rejection;
pub use metrics::{HistogramSnapshot, MetricsSnapshot, Status, RECOVERY_BUCKETS_SECONDS};
pub use state::{State, Transition};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
