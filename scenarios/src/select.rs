//! Which runs a command covers: seed ranges (`--seeds 1..4`) and shards
//! (`--shard 2/3`), parsed from the command line.

use std::fmt;
use std::str::FromStr;

/// Most seeds one range may name: a bound so a typo such as `1..1000000000`
/// is an input error rather than a days-long sweep.
pub const SEEDS_LIMIT: u64 = 100_000;

/// A range of seeds: `A..B` (half-open, as in Rust), `A..=B` (inclusive) or
/// a single `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// First seed.
    pub start: u64,
    /// One past the last seed.
    pub end_exclusive: u64,
}

impl SeedRange {
    /// The seed range of the default suite: seeds 1, 2 and 3.
    pub const DEFAULT: SeedRange = SeedRange {
        start: 1,
        end_exclusive: 4,
    };

    /// Exactly one seed.
    pub fn single(seed: u64) -> SeedRange {
        SeedRange {
            start: seed,
            end_exclusive: seed.saturating_add(1),
        }
    }

    /// The seeds, in order.
    pub fn seeds(self) -> impl Iterator<Item = u64> {
        self.start..self.end_exclusive
    }

    /// How many seeds.
    pub fn len(self) -> u64 {
        self.end_exclusive - self.start
    }

    /// Whether the range names no seed (never true for a parsed range).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end_exclusive)
    }
}

impl FromStr for SeedRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|_| format!("{part:?} is not a seed (a whole number)"))
        };
        let range = if let Some((a, b)) = text.split_once("..=") {
            let end = number(b)?;
            SeedRange {
                start: number(a)?,
                end_exclusive: end.checked_add(1).ok_or("seed range end is too large")?,
            }
        } else if let Some((a, b)) = text.split_once("..") {
            SeedRange {
                start: number(a)?,
                end_exclusive: number(b)?,
            }
        } else {
            SeedRange::single(number(text)?)
        };
        if range.end_exclusive <= range.start {
            return Err(format!(
                "seed range {text:?} is empty (write A..B with A < B, or A..=B)"
            ));
        }
        if range.len() > SEEDS_LIMIT {
            return Err(format!(
                "seed range {text:?} names {} seeds; at most {SEEDS_LIMIT} per command",
                range.len()
            ));
        }
        Ok(range)
    }
}

/// Shard `index` of `count` (1-based, `--shard 2/3`): run `i` of the sorted
/// run list belongs to shard `i % count + 1`, so shards are balanced across
/// scenarios and seeds and together cover every run exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 1.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl Shard {
    /// Whether run number `position` (in the sorted run list) is this shard's.
    pub fn owns(self, position: usize) -> bool {
        position % self.count as usize == (self.index - 1) as usize
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || format!("shard {text:?} must be K/N with 1 <= K <= N, e.g. 2/3");
        let (k, n) = text.split_once('/').ok_or_else(usage)?;
        let index: u32 = k.trim().parse().map_err(|_| usage())?;
        let count: u32 = n.trim().parse().map_err(|_| usage())?;
        if index == 0 || count == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_read_like_rust_ranges() {
        let seeds = |t: &str| t.parse::<SeedRange>().unwrap().seeds().collect::<Vec<_>>();
        assert_eq!(seeds("1..4"), [1, 2, 3]);
        assert_eq!(seeds("1..=4"), [1, 2, 3, 4]);
        assert_eq!(seeds("7"), [7]);
        assert!("4..4".parse::<SeedRange>().is_err());
        assert!("5..1".parse::<SeedRange>().is_err());
        assert!("a..b".parse::<SeedRange>().is_err());
        assert!("0..1000000".parse::<SeedRange>().is_err());
    }

    #[test]
    fn shards_cover_every_run_exactly_once() {
        let shards: Vec<Shard> = ["1/3", "2/3", "3/3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        for position in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.owns(position)).count(), 1);
        }
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("1-3".parse::<Shard>().is_err());
    }
}
