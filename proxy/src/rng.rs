//! Seeded randomness for jitter and slice sizes. The proxy never asks the OS
//! for entropy: every draw comes from the configured seed, mixed with the
//! connection number and the stream, so a run can be repeated.
//!
//! This is a dozen lines of SplitMix64 rather than a dependency on
//! `breakwater-core`'s generator: the proxy must not move when the breaker's
//! internals do, and each link owns its generator (no atomics needed).

use std::time::Duration;

use crate::toxic::Stream;

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64: tiny, fast, and good enough for test-traffic jitter.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// The generator for one stream of one connection.
    pub(crate) fn for_link(seed: u64, connection_index: u64, stream: Stream) -> Self {
        let stream_salt = match stream {
            Stream::Upstream => 1,
            Stream::Downstream => 2,
        };
        let state = mix(mix(seed ^ mix(connection_index.wrapping_add(GAMMA))) ^ stream_salt);
        Rng { state }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// Uniform in `0..=max` (Lemire's multiply-shift; the bias is below
    /// 2^-64 per value, irrelevant here).
    fn uniform_inclusive(&mut self, max: u64) -> u64 {
        let random = self.next_u64();
        if max == u64::MAX {
            return random;
        }
        ((u128::from(random) * (u128::from(max) + 1)) >> 64) as u64
    }

    /// `latency` plus a uniform draw in `-jitter..=jitter`, never below zero.
    pub(crate) fn jittered(&mut self, latency: Duration, jitter: Duration) -> Duration {
        // Nanoseconds in u64 cover 584 years: saturating is only a guard.
        let jitter_ns = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX / 2);
        if jitter_ns == 0 {
            return latency;
        }
        let span_ns = jitter_ns.saturating_mul(2);
        let offset_ns = self.uniform_inclusive(span_ns);
        let latency_ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX / 2);
        Duration::from_nanos(
            latency_ns
                .saturating_add(offset_ns)
                .saturating_sub(jitter_ns),
        )
    }

    /// A slice size in `average - variation ..= average + variation`, at
    /// least 1. The caller validated `variation < average`.
    pub(crate) fn slice_size(&mut self, average: usize, variation: usize) -> usize {
        let span = (variation as u64).saturating_mul(2);
        let offset = usize::try_from(self.uniform_inclusive(span)).unwrap_or(usize::MAX);
        average
            .saturating_sub(variation)
            .saturating_add(offset)
            .max(1)
    }
}

/// The SplitMix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_connection_and_stream_give_the_same_draws() {
        let mut a = Rng::for_link(7, 3, Stream::Upstream);
        let mut b = Rng::for_link(7, 3, Stream::Upstream);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn streams_and_connections_draw_differently() {
        let up = Rng::for_link(7, 3, Stream::Upstream).next_u64();
        let down = Rng::for_link(7, 3, Stream::Downstream).next_u64();
        let other = Rng::for_link(7, 4, Stream::Upstream).next_u64();
        assert_ne!(up, down);
        assert_ne!(up, other);
    }

    #[test]
    fn jittered_latency_stays_within_latency_plus_minus_jitter() {
        let mut rng = Rng::for_link(1, 0, Stream::Downstream);
        let latency = Duration::from_millis(100);
        let jitter = Duration::from_millis(30);
        let draws: Vec<Duration> = (0..1000).map(|_| rng.jittered(latency, jitter)).collect();
        assert!(draws.iter().all(|d| *d >= latency - jitter));
        assert!(draws.iter().all(|d| *d <= latency + jitter));
        // Both halves of the range get used: the jitter is not one-sided.
        assert!(draws.iter().any(|d| *d < latency - jitter / 2));
        assert!(draws.iter().any(|d| *d > latency + jitter / 2));
    }

    #[test]
    fn jitter_larger_than_latency_never_goes_below_zero() {
        let mut rng = Rng::for_link(2, 0, Stream::Upstream);
        for _ in 0..1000 {
            let d = rng.jittered(Duration::from_millis(1), Duration::from_millis(50));
            assert!(d <= Duration::from_millis(51));
        }
    }

    #[test]
    fn slice_sizes_stay_within_average_plus_minus_variation() {
        let mut rng = Rng::for_link(3, 0, Stream::Upstream);
        for _ in 0..1000 {
            let size = rng.slice_size(16, 8);
            assert!((8..=24).contains(&size), "slice of {size} bytes");
        }
        assert_eq!(rng.slice_size(1, 0), 1);
    }
}
