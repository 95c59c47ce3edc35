//! Reconnect backoff: exponential with "equal jitter" from a seeded RNG.
//!
//! Equal jitter (half fixed, half random) rather than full jitter: the delay
//! before attempt n+1 is never shorter than the ceiling before attempt n, so
//! attempts against a dead broker really do spread out, while clients that
//! lost the same broker at the same instant still spread apart.

use std::time::Duration;

use breakwater_core::rng::{uniform_inclusive, SplitMix64};

/// Delays between reconnect attempts.
///
/// ```
/// use std::time::Duration;
/// use breakwater_mqtt::ReconnectBackoff;
///
/// let backoff = ReconnectBackoff::new(Duration::from_millis(100), Duration::from_secs(2), 7);
/// let first = backoff.delay(0);
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
/// assert!(backoff.delay(10) <= Duration::from_secs(2));
/// ```
#[derive(Debug)]
pub struct ReconnectBackoff {
    min: Duration,
    max: Duration,
    rng: SplitMix64,
}

impl ReconnectBackoff {
    /// A backoff whose ceiling starts at `min`, doubles per failed attempt
    /// and stops at `max`; jitter drawn from `seed`.
    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        assert!(
            min <= max,
            "backoff min {min:?} must not exceed max {max:?}"
        );
        ReconnectBackoff {
            min,
            max,
            rng: SplitMix64::new(seed),
        }
    }

    /// The ceiling after `failures` consecutive failed attempts.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The delay before the next attempt after `failures` consecutive failed
    /// attempts: uniform in `[ceiling / 2, ceiling]`.
    pub fn delay(&self, failures: u32) -> Duration {
        let ceiling = self.ceiling(failures);
        let half = ceiling / 2;
        let spread_nanos = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(uniform_inclusive(self.rng.next_u64(), spread_nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delay_grows_until_the_cap_and_never_shrinks_below_the_previous_ceiling() {
        let backoff = ReconnectBackoff::new(100 * MS, 1600 * MS, 1);
        let mut previous_ceiling = Duration::ZERO;
        for failures in 0..10 {
            let delay = backoff.delay(failures);
            let ceiling = backoff.ceiling(failures);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
            assert!(delay >= previous_ceiling / 2);
            previous_ceiling = ceiling;
        }
        assert_eq!(backoff.ceiling(40), 1600 * MS);
    }

    #[test]
    fn same_seed_gives_the_same_delays_and_another_seed_differs() {
        let draw = |seed| {
            let b = ReconnectBackoff::new(100 * MS, 10_000 * MS, seed);
            (0..8).map(|n| b.delay(n)).collect::<Vec<_>>()
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }
}
