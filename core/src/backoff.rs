//! Backoff between retries of one call.

use std::time::Duration;

use crate::rng::uniform_inclusive;

/// Chooses how long to sleep before a retry. The breaker clips the answer to
/// the call's remaining `max_delay` budget, so an implementation cannot make
/// a call sleep longer than configured.
///
/// ```
/// use std::time::Duration;
/// use breakwater_core::{Backoff, FullJitter};
///
/// let backoff = FullJitter::new(Duration::from_millis(100));
/// // Retry 2 (0-based) may sleep anywhere in 0..=400ms, but never past the budget.
/// let d = backoff.delay(2, Duration::from_millis(250), u64::MAX);
/// assert_eq!(d, Duration::from_millis(250));
/// ```
pub trait Backoff: Send + Sync + 'static {
    /// Delay before retry number `retry` (0 for the first retry), given the
    /// remaining budget and 64 uniformly random bits from the breaker's
    /// seeded RNG.
    fn delay(&self, retry: u32, remaining: Duration, random: u64) -> Duration;
}

/// Exponential backoff with full jitter (AWS architecture blog, "Exponential
/// Backoff And Jitter"): uniform in `[0, min(remaining, base * 2^retry)]`.
/// Full jitter spreads reconnect storms better than equal or no jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FullJitter {
    base: Duration,
}

impl FullJitter {
    /// Backoff whose first ceiling is `base`.
    pub fn new(base: Duration) -> Self {
        FullJitter { base }
    }

    /// The ceiling for retry `retry` before the budget clip: `base * 2^retry`,
    /// saturating.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor)
    }
}

impl Backoff for FullJitter {
    fn delay(&self, retry: u32, remaining: Duration, random: u64) -> Duration {
        let ceiling = self.ceiling(retry).min(remaining);
        let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(uniform_inclusive(random, ceiling_nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_saturates() {
        let b = FullJitter::new(Duration::from_millis(100));
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert!(b.ceiling(200) >= b.ceiling(31));
    }

    #[test]
    fn delay_is_clipped_to_budget() {
        let b = FullJitter::new(Duration::from_secs(1));
        assert_eq!(
            b.delay(5, Duration::from_millis(3), u64::MAX),
            Duration::from_millis(3)
        );
        assert_eq!(b.delay(5, Duration::ZERO, u64::MAX), Duration::ZERO);
    }
}
