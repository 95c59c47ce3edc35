//! Injected time. The breaker never reads `std::time`: it asks a [`Clock`],
//! which under turmoil or a paused tokio runtime is virtual time.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A monotonic time source plus the matching way to sleep.
///
/// `now` is the time since the clock's own origin; only differences matter.
/// The breaker reads it only off the closed path (rejections while Open,
/// transitions), so a clock read never taxes the common case.
///
/// Two readings: [`Clock::now`] stamps transitions (and so sets the Open
/// deadline); [`Clock::coarse_now`] decides admissions while Open. A coarse
/// reading may lag but must never run ahead of `now`, so a cached clock
/// notices the deadline late, never early.
pub trait Clock: Send + Sync + 'static {
    /// What [`Clock::sleep`] returns.
    type Sleep: Future<Output = ()> + Send;

    /// Time elapsed since this clock's origin.
    fn now(&self) -> Duration;

    /// A possibly stale, cheaper reading, never ahead of [`Clock::now`].
    fn coarse_now(&self) -> Duration {
        self.now()
    }

    /// How much later than asked a [`Clock::sleep`] may complete; the
    /// breaker keeps this much of its backoff budget unused.
    fn sleep_granularity(&self) -> Duration {
        Duration::ZERO
    }

    /// Waits for `duration` of this clock's time.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

/// The default clock: tokio's, so a breaker created inside a turmoil host or a
/// paused runtime runs on virtual time with no change.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose origin is tokio's "now".
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    /// tokio's timer wheel rounds deadlines up to the next millisecond.
    fn sleep_granularity(&self) -> Duration {
        Duration::from_millis(1)
    }
}

/// A clock moved only by hand, for sans-IO tests and model checks.
/// Sleeping advances it by the slept duration and completes at once, so
/// retry loops run to completion without a runtime.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves time forward by `by`.
    ///
    /// # Panics
    /// If the clock would pass `u64::MAX` nanoseconds (about 584 years).
    pub fn advance(&self, by: Duration) {
        let by = duration_nanos(by);
        self.nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                now.checked_add(by)
            })
            .expect("ManualClock overflowed u64 nanoseconds");
    }

    /// Sets the time.
    ///
    /// # Panics
    /// If `to` is earlier than the current time: a clock must be monotonic.
    pub fn set(&self, to: Duration) {
        let to = duration_nanos(to);
        self.nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                (now <= to).then_some(to)
            })
            .map(drop)
            .unwrap_or_else(|now| panic!("ManualClock must be monotonic: {now}ns -> {to}ns"));
    }
}

impl Clock for ManualClock {
    type Sleep = std::future::Ready<()>;

    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        self.advance(duration);
        std::future::ready(())
    }
}

/// A clock whose [`Clock::coarse_now`] is one atomic load of a value
/// refreshed by a driver task every `resolution`, for callers who reject at
/// very high rates while Open and do not want to pay a full clock read per
/// rejection. Transitions still read the inner clock, so deadlines are exact;
/// the price is that Open -> HalfOpen may be noticed up to one resolution
/// late. Without [`CachedClock::drive`] (or calls to
/// [`CachedClock::refresh`]) the cached value never moves and an open
/// breaker stays open. Refreshing runs on the inner clock's time, so under a
/// simulation the cached value is still virtual time.
#[derive(Clone, Debug)]
pub struct CachedClock<C> {
    inner: C,
    cached_nanos: Arc<AtomicU64>,
}

impl<C: Clock + Clone> CachedClock<C> {
    /// Wraps `inner`, reading it once now.
    pub fn new(inner: C) -> Self {
        let cached_nanos = Arc::new(AtomicU64::new(duration_nanos(inner.now())));
        CachedClock {
            inner,
            cached_nanos,
        }
    }

    /// Stores the inner clock's current time.
    pub fn refresh(&self) {
        self.cached_nanos
            .fetch_max(duration_nanos(self.inner.now()), Ordering::Release);
    }

    /// Refreshes every `resolution`, forever; spawn it next to the breaker.
    pub async fn drive(self, resolution: Duration) {
        assert!(!resolution.is_zero(), "a zero resolution would spin");
        loop {
            self.refresh();
            self.inner.sleep(resolution).await;
        }
    }
}

impl<C: Clock + Clone> Clock for CachedClock<C> {
    type Sleep = C::Sleep;

    fn now(&self) -> Duration {
        self.inner.now()
    }

    fn coarse_now(&self) -> Duration {
        Duration::from_nanos(self.cached_nanos.load(Ordering::Acquire))
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        self.inner.sleep(duration)
    }

    fn sleep_granularity(&self) -> Duration {
        self.inner.sleep_granularity()
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_sleep_advances_time() {
        let clock = ManualClock::new();
        drop(clock.sleep(Duration::from_millis(5)));
        assert_eq!(clock.now(), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_virtual_time() {
        let clock = TokioClock::new();
        clock.sleep(Duration::from_secs(30)).await;
        assert_eq!(clock.now(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn cached_clock_only_moves_on_refresh() {
        let cached = CachedClock::new(TokioClock::new());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cached.coarse_now(), Duration::ZERO);
        assert_eq!(
            cached.now(),
            Duration::from_secs(1),
            "precise reads pass through"
        );
        cached.refresh();
        assert_eq!(cached.coarse_now(), Duration::from_secs(1));
    }
}
