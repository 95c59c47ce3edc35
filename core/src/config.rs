//! Validated breaker configuration. A `BreakerConfig` can only be obtained
//! from [`BreakerConfigBuilder::build`], so every breaker runs on values that
//! passed the rules below; a bad value is an error naming the field and rule.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::kind::{ErrorKind, KindSet};

/// Largest `max_retries`: the consecutive-failure count lives in 16 bits of
/// the state word and must reach `max_retries + 1`.
pub const MAX_RETRIES_LIMIT: u32 = u16::MAX as u32 - 1;
/// Largest `success_threshold` (16 bits of the state word).
pub const SUCCESS_THRESHOLD_LIMIT: u32 = u16::MAX as u32;
/// Largest `half_open_max_calls` (14 bits of the state word).
pub const HALF_OPEN_MAX_CALLS_LIMIT: u32 = (1 << 14) - 1;
/// Longest `open_timeout`, `max_delay` or `base_delay` accepted: a day. Far
/// beyond any sane setting, and it keeps deadlines inside the 48-bit
/// microsecond field of the deadline word for years of uptime.
pub const DURATION_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest breaker name, so names stay usable as metric label values.
pub const NAME_LEN_LIMIT: usize = 128;

/// A configuration value broke a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field, as named in the config table of the design.
    pub field: &'static str,
    /// The rule it broke, in words.
    pub rule: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid breaker config: `{}` {}", self.field, self.rule)
    }
}

impl std::error::Error for ConfigError {}

/// A breaker's configuration; see the breaker contract in `DESIGN.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    name: Arc<str>,
    max_retries: u32,
    max_delay: Duration,
    base_delay: Duration,
    retry_on: KindSet,
    open_timeout: Duration,
    success_threshold: u32,
    half_open_max_calls: u32,
}

impl BreakerConfig {
    /// Starts a builder with the contract's defaults.
    pub fn builder(name: impl Into<String>) -> BreakerConfigBuilder {
        BreakerConfigBuilder::new(name)
    }

    /// Label in metrics and logs.
    pub fn name(&self) -> &str {
        &self.name
    }
    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }
    /// Retries of one call while Closed; the breaker trips at
    /// `max_retries + 1` consecutive retryable failures.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }
    /// Consecutive retryable failures that trip the breaker.
    pub fn trip_threshold(&self) -> u32 {
        self.max_retries + 1
    }
    /// Total backoff sleep one call may spend on retries.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }
    /// First backoff ceiling; doubles per retry.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }
    /// Error kinds treated as transient.
    pub fn retry_on(&self) -> KindSet {
        self.retry_on
    }
    /// Whether errors of `kind` are retried and counted toward a trip.
    pub fn is_retryable(&self, kind: ErrorKind) -> bool {
        self.retry_on.contains(kind)
    }
    /// Time in Open before probes are allowed.
    pub fn open_timeout(&self) -> Duration {
        self.open_timeout
    }
    /// Consecutive successful probes that close the breaker.
    pub fn success_threshold(&self) -> u32 {
        self.success_threshold
    }
    /// Probes in flight at once while HalfOpen.
    pub fn half_open_max_calls(&self) -> u32 {
        self.half_open_max_calls
    }
}

/// Builder for [`BreakerConfig`]. Setters take `&mut self` and `build` can be
/// called again, so one builder can stamp out several similar configs.
///
/// ```
/// use std::time::Duration;
/// use breakwater_core::{BreakerConfig, ErrorKind};
///
/// let config = BreakerConfig::builder("mqtt_publish")
///     .max_delay(Duration::from_secs(2))
///     .max_retries(3)
///     .retry_on([ErrorKind::Connection, ErrorKind::Timeout])
///     .open_timeout(Duration::from_secs(30))
///     .success_threshold(3)
///     .build()
///     .unwrap();
/// assert_eq!(config.trip_threshold(), 4);
///
/// let err = BreakerConfig::builder("x").success_threshold(0).build().unwrap_err();
/// assert_eq!(err.field, "success_threshold");
/// ```
#[derive(Clone, Debug)]
pub struct BreakerConfigBuilder {
    name: String,
    max_retries: u32,
    max_delay: Duration,
    base_delay: Duration,
    retry_on: KindSet,
    open_timeout: Duration,
    success_threshold: u32,
    half_open_max_calls: u32,
}

impl BreakerConfigBuilder {
    /// A builder holding the contract's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        BreakerConfigBuilder {
            name: name.into(),
            max_retries: 3,
            max_delay: Duration::from_secs(2),
            base_delay: Duration::from_millis(100),
            retry_on: KindSet::TRANSIENT,
            open_timeout: Duration::from_secs(30),
            success_threshold: 3,
            half_open_max_calls: 1,
        }
    }

    /// Sets `name`.
    pub fn name(&mut self, name: impl Into<String>) -> &mut Self {
        self.name = name.into();
        self
    }
    /// Sets `max_retries`.
    pub fn max_retries(&mut self, max_retries: u32) -> &mut Self {
        self.max_retries = max_retries;
        self
    }
    /// Sets `max_delay`.
    pub fn max_delay(&mut self, max_delay: Duration) -> &mut Self {
        self.max_delay = max_delay;
        self
    }
    /// Sets `base_delay`.
    pub fn base_delay(&mut self, base_delay: Duration) -> &mut Self {
        self.base_delay = base_delay;
        self
    }
    /// Sets the error kinds that are retried and counted toward a trip.
    pub fn retry_on(&mut self, kinds: impl Into<KindSet>) -> &mut Self {
        self.retry_on = kinds.into();
        self
    }
    /// Sets `open_timeout`.
    pub fn open_timeout(&mut self, open_timeout: Duration) -> &mut Self {
        self.open_timeout = open_timeout;
        self
    }
    /// Sets `success_threshold`.
    pub fn success_threshold(&mut self, success_threshold: u32) -> &mut Self {
        self.success_threshold = success_threshold;
        self
    }
    /// Sets `half_open_max_calls`.
    pub fn half_open_max_calls(&mut self, half_open_max_calls: u32) -> &mut Self {
        self.half_open_max_calls = half_open_max_calls;
        self
    }

    /// Checks every rule and returns the config, or the first broken rule.
    pub fn build(&self) -> Result<BreakerConfig, ConfigError> {
        let fail = |field: &'static str, rule: String| Err(ConfigError { field, rule });
        if self.name.is_empty() {
            return fail("name", "must not be empty".into());
        }
        if self.name.chars().count() > NAME_LEN_LIMIT {
            return fail(
                "name",
                format!("must be at most {NAME_LEN_LIMIT} characters"),
            );
        }
        if self.name.chars().any(char::is_control) {
            return fail("name", "must not contain control characters".into());
        }
        if self.max_retries > MAX_RETRIES_LIMIT {
            return fail(
                "max_retries",
                format!(
                    "must be at most {MAX_RETRIES_LIMIT}, got {}",
                    self.max_retries
                ),
            );
        }
        for (field, value) in [
            ("max_delay", self.max_delay),
            ("base_delay", self.base_delay),
            ("open_timeout", self.open_timeout),
        ] {
            if value > DURATION_LIMIT {
                return fail(field, format!("must be at most 24h, got {value:?}"));
            }
        }
        if self.max_retries > 0 && self.base_delay.is_zero() && !self.max_delay.is_zero() {
            return fail(
                "base_delay",
                "must be greater than zero when retries are enabled (a zero backoff is a tight retry loop)"
                    .into(),
            );
        }
        if self.open_timeout < Duration::from_millis(1) {
            return fail(
                "open_timeout",
                format!("must be at least 1ms, got {:?}", self.open_timeout),
            );
        }
        if self.success_threshold == 0 || self.success_threshold > SUCCESS_THRESHOLD_LIMIT {
            return fail(
                "success_threshold",
                format!(
                    "must be between 1 and {SUCCESS_THRESHOLD_LIMIT}, got {}",
                    self.success_threshold
                ),
            );
        }
        if self.half_open_max_calls == 0 || self.half_open_max_calls > HALF_OPEN_MAX_CALLS_LIMIT {
            return fail(
                "half_open_max_calls",
                format!(
                    "must be between 1 and {HALF_OPEN_MAX_CALLS_LIMIT}, got {}",
                    self.half_open_max_calls
                ),
            );
        }
        if self.retry_on.is_empty() {
            return fail(
                "retry_on",
                "must name at least one error kind, or the breaker can never open".into(),
            );
        }
        Ok(BreakerConfig {
            name: self.name.as_str().into(),
            max_retries: self.max_retries,
            max_delay: self.max_delay,
            base_delay: self.base_delay,
            retry_on: self.retry_on,
            open_timeout: self.open_timeout,
            success_threshold: self.success_threshold,
            half_open_max_calls: self.half_open_max_calls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(b: &mut BreakerConfigBuilder) -> &'static str {
        b.build().unwrap_err().field
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = BreakerConfig::builder("b").build().unwrap();
        assert_eq!(c.max_retries(), 3);
        assert_eq!(c.max_delay(), Duration::from_secs(2));
        assert_eq!(c.base_delay(), Duration::from_millis(100));
        assert_eq!(c.open_timeout(), Duration::from_secs(30));
        assert_eq!(c.success_threshold(), 3);
        assert_eq!(c.half_open_max_calls(), 1);
        assert!(c.is_retryable(ErrorKind::Connection));
        assert!(c.is_retryable(ErrorKind::Timeout));
        assert!(!c.is_retryable(ErrorKind::InvalidInput));
    }

    #[test]
    fn each_invalid_value_names_its_field() {
        let b = || BreakerConfig::builder("b");
        assert_eq!(field_of(&mut BreakerConfig::builder("")), "name");
        assert_eq!(field_of(&mut BreakerConfig::builder("a\nb")), "name");
        assert_eq!(
            field_of(&mut BreakerConfig::builder("x".repeat(200))),
            "name"
        );
        assert_eq!(field_of(b().max_retries(1 << 20)), "max_retries");
        assert_eq!(
            field_of(b().max_delay(Duration::from_secs(90_000))),
            "max_delay"
        );
        assert_eq!(field_of(b().base_delay(Duration::ZERO)), "base_delay");
        assert_eq!(field_of(b().open_timeout(Duration::ZERO)), "open_timeout");
        assert_eq!(field_of(b().success_threshold(0)), "success_threshold");
        assert_eq!(field_of(b().half_open_max_calls(0)), "half_open_max_calls");
        assert_eq!(
            field_of(b().half_open_max_calls(1 << 15)),
            "half_open_max_calls"
        );
        assert_eq!(field_of(b().retry_on(KindSet::EMPTY)), "retry_on");
    }

    #[test]
    fn error_message_names_field_and_rule() {
        let err = BreakerConfig::builder("b")
            .success_threshold(0)
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid breaker config: `success_threshold` must be between 1 and 65535, got 0"
        );
    }

    #[test]
    fn builder_can_build_again_with_changes() {
        let mut b = BreakerConfig::builder("a");
        let first = b.build().unwrap();
        let second = b.name("b").max_retries(0).build().unwrap();
        assert_eq!(first.name(), "a");
        assert_eq!(second.name(), "b");
        assert_eq!(second.trip_threshold(), 1);
    }
}
