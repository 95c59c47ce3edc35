//! Topic and topic-filter rules of MQTT 3.1.1 (section 4.7), checked before
//! any byte is sent, and the matcher that routes inbound messages to
//! handlers.
//!
//! mqttbytes has its own `valid_filter` and `matches`, but the first accepts
//! `a+` and the second slices `topic[..1]`, which panics on a topic starting
//! with a multi-byte character sent by the broker; so both live here.

use thiserror::Error;

/// Longest topic or filter: its length is a 16-bit prefix on the wire.
pub const TOPIC_LEN_LIMIT_BYTES: usize = u16::MAX as usize;

/// Why a topic name or topic filter was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TopicError {
    /// Topics and filters must be at least one character long.
    #[error("must not be empty")]
    Empty,
    /// The UTF-8 encoding is longer than the 16-bit length prefix allows.
    #[error("is {len_bytes} bytes long, the limit is {TOPIC_LEN_LIMIT_BYTES}")]
    TooLong {
        /// Length of the UTF-8 encoding.
        len_bytes: usize,
    },
    /// U+0000 is forbidden in MQTT strings.
    #[error("must not contain the NUL character")]
    ContainsNul,
    /// `+` or `#` in a topic name (they are only allowed in filters).
    #[error("must not contain the wildcards `+` or `#` (only filters may)")]
    Wildcard,
    /// A wildcard that does not fill a whole level, or a `#` that is not the
    /// last level.
    #[error(
        "has a wildcard at level {level} that is not a whole level (`+`) or the last level (`#`)"
    )]
    MisplacedWildcard {
        /// Zero-based index of the offending level.
        level: usize,
    },
}

fn check_string(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > TOPIC_LEN_LIMIT_BYTES {
        return Err(TopicError::TooLong { len_bytes: s.len() });
    }
    if s.contains('\0') {
        return Err(TopicError::ContainsNul);
    }
    Ok(())
}

/// Checks a topic name for PUBLISH.
///
/// ```
/// use breakwater_mqtt::{validate_topic, TopicError};
/// assert!(validate_topic("sensors/1/temp").is_ok());
/// assert_eq!(validate_topic("sensors/+/temp"), Err(TopicError::Wildcard));
/// ```
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    check_string(topic)?;
    if topic.contains(['+', '#']) {
        return Err(TopicError::Wildcard);
    }
    Ok(())
}

/// Checks a topic filter for SUBSCRIBE / UNSUBSCRIBE.
///
/// ```
/// use breakwater_mqtt::{validate_filter, TopicError};
/// assert!(validate_filter("sensors/+/temp/#").is_ok());
/// assert_eq!(validate_filter("a/#/b"), Err(TopicError::MisplacedWildcard { level: 1 }));
/// ```
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    check_string(filter)?;
    let levels = filter.split('/').count();
    for (level, part) in filter.split('/').enumerate() {
        let whole_plus = part == "+";
        let last_hash = part == "#" && level + 1 == levels;
        if part.contains(['+', '#']) && !whole_plus && !last_hash {
            return Err(TopicError::MisplacedWildcard { level });
        }
    }
    Ok(())
}

/// Whether `topic` (a name, no wildcards) matches `filter`. Topics starting
/// with `$` are not matched by filters starting with a wildcard (4.7.2).
pub fn matches(topic: &str, filter: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for part in filter.split('/') {
        if part == "#" {
            return true;
        }
        match topic_levels.next() {
            Some(level) if part == "+" || part == level => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_topics_reject_wildcards_empty_nul_and_overlong() {
        assert_eq!(validate_topic("a/+"), Err(TopicError::Wildcard));
        assert_eq!(validate_topic("a/#"), Err(TopicError::Wildcard));
        assert_eq!(validate_topic(""), Err(TopicError::Empty));
        assert_eq!(validate_topic("a\0b"), Err(TopicError::ContainsNul));
        let long = "x".repeat(TOPIC_LEN_LIMIT_BYTES + 1);
        assert_eq!(
            validate_topic(&long),
            Err(TopicError::TooLong {
                len_bytes: TOPIC_LEN_LIMIT_BYTES + 1
            })
        );
        assert!(validate_topic(&long[1..]).is_ok());
        assert!(validate_topic("/").is_ok());
    }

    #[test]
    fn filters_allow_only_whole_level_wildcards_and_a_trailing_hash() {
        for ok in ["#", "+", "a/+/b", "a/#", "+/+", "/", "a//b", "$SYS/#"] {
            assert!(validate_filter(ok).is_ok(), "{ok}");
        }
        let bad = [
            ("a/#/b", 1),
            ("a+", 0),
            ("a/b#", 1),
            ("#/a", 0),
            ("a/+b", 1),
            ("##", 0),
        ];
        for (filter, level) in bad {
            assert_eq!(
                validate_filter(filter),
                Err(TopicError::MisplacedWildcard { level }),
                "{filter}"
            );
        }
        assert_eq!(validate_filter(""), Err(TopicError::Empty));
    }

    #[test]
    fn matcher_follows_the_spec_examples() {
        assert!(matches("sport/tennis/player1", "sport/tennis/player1/#"));
        assert!(matches(
            "sport/tennis/player1/ranking",
            "sport/tennis/+/ranking"
        ));
        assert!(matches("sport", "sport/#"));
        assert!(!matches("sport/tennis", "sport/+/+"));
        assert!(matches("/finance", "+/+"));
        assert!(!matches("$SYS/x", "#"));
        assert!(!matches("$SYS/x", "+/x"));
        assert!(matches("$SYS/x", "$SYS/#"));
        assert!(!matches("a/b/c", "a/b"));
    }

    #[test]
    fn matcher_does_not_panic_on_multibyte_first_character() {
        assert!(matches("é/x", "+/x"));
        assert!(matches("€", "#"));
    }
}
