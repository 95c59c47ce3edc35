//! Human-readable durations for scenario files: `"250ms"`, `"30s"`, `"2m"`,
//! `"1m30s"`, `"1h"`. Whole numbers only, so a duration written in a file
//! is exactly the one simulated (no float rounding), and the same text is
//! printed back in reports.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer};

/// Longest duration a scenario may name anywhere: a day. Virtual runs are
/// meant to be a few minutes; the bound keeps arithmetic far from overflow.
pub const DURATION_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);

/// A duration parsed from a human string; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Going through `String` (not `&str`) keeps this working for every
        // deserializer, and the error raised here carries toml's span of the
        // value, so a bad duration is reported at its own line.
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(HumanDuration)
            .map_err(de::Error::custom)
    }
}

/// Parses `"250ms"`, `"30s"`, `"2m"`, `"1h"` and sums of them such as
/// `"1m30s"`. Units: `ms`, `s`, `m`, `h`. The error says what was wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        Err(format!(
            "invalid duration {text:?}: {why} (write e.g. \"250ms\", \"30s\", \"2m\" or \"1m30s\")"
        ))
    };
    if text.is_empty() {
        return bad("it is empty");
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits_len == 0 {
            return bad("expected a whole number before each unit");
        }
        let (digits, tail) = rest.split_at(digits_len);
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let unit_ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" => match tail.chars().next() {
                None => return bad("a unit is missing"),
                Some(c) => return bad(&format!("unexpected {c:?}: whole numbers and units only")),
            },
            _ => return bad(&format!("unknown unit {unit:?}")),
        };
        let Ok(value) = digits.parse::<u64>() else {
            return bad("number too large");
        };
        let Some(part_ms) = value.checked_mul(unit_ms) else {
            return bad("number too large");
        };
        total_ms = match total_ms.checked_add(part_ms) {
            Some(sum) => sum,
            None => return bad("number too large"),
        };
        rest = tail;
    }
    let duration = Duration::from_millis(total_ms);
    if duration > DURATION_LIMIT {
        return bad("longer than the 24h limit");
    }
    Ok(duration)
}

/// The shortest text [`parse_duration`] reads back as `duration` (at
/// millisecond precision), e.g. `1m30s`, `250ms`, `0ms`.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0ms".to_owned();
    }
    let mut out = String::new();
    for (unit, unit_ms) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= unit_ms {
            out.push_str(&format!("{}{unit}", ms / unit_ms));
            ms %= unit_ms;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_sums_parse_to_milliseconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
    }

    #[test]
    fn malformed_durations_are_errors_that_say_why() {
        for (text, why) in [
            ("", "empty"),
            ("30", "unit is missing"),
            ("s", "whole number"),
            ("1.5s", "whole numbers"),
            ("3 s", "unexpected ' '"),
            ("10d", "unknown unit"),
            ("-1s", "whole number"),
            ("25h", "24h limit"),
            ("99999999999999999999s", "too large"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn formatting_reads_back_as_the_same_duration() {
        for ms in [0_u64, 1, 999, 1_000, 1_500, 60_000, 90_000, 3_723_004] {
            let duration = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
        assert_eq!(format_duration(Duration::from_millis(90_250)), "1m30s250ms");
    }
}
