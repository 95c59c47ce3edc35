//! A tiny seeded RNG (SplitMix64) that concurrent calls can share without a
//! lock: the state is a counter advanced by one atomic add, and each value
//! is a mix of the counter. Same seed and same call order give the same
//! values, which is all a deterministic simulation needs.

use std::sync::atomic::{AtomicU64, Ordering};

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Lock-free SplitMix64.
#[derive(Debug)]
pub struct SplitMix64 {
    state: AtomicU64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 {
            state: AtomicU64::new(seed),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let x = self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        mix(x)
    }
}

/// The SplitMix64 finaliser; also a good way to derive a seed from a seed.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from a name (FNV-1a, then mixed), so breakers built without
/// an explicit seed are still deterministic and differ from each other.
pub fn seed_from_name(name: &str) -> u64 {
    let hash = name.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    });
    mix(hash)
}

/// Maps 64 random bits uniformly onto `0..=max` (Lemire's multiply-shift,
/// bias below 2^-64 per value: irrelevant for jitter).
pub fn uniform_inclusive(random: u64, max: u64) -> u64 {
    if max == u64::MAX {
        return random;
    }
    ((u128::from(random) * (u128::from(max) + 1)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let a = SplitMix64::new(7);
        let b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SplitMix64::new(8).next_u64(), SplitMix64::new(7).next_u64());
    }

    #[test]
    fn uniform_stays_in_range() {
        let rng = SplitMix64::new(1);
        for max in [0, 1, 2, 10, 1_000_000] {
            for _ in 0..1000 {
                assert!(uniform_inclusive(rng.next_u64(), max) <= max);
            }
        }
        assert_eq!(uniform_inclusive(u64::MAX, 9), 9);
        assert_eq!(uniform_inclusive(0, 9), 0);
    }
}
