//! Topic names and topic filters (MQTT 3.1.1 section 4.7).
//!
//! Written here rather than taken from `mqttbytes::matches` because that one
//! slices `topic[..1]` (a panic on a multi-byte first character sent by a
//! hostile client) and refuses every `$`-topic, even for a filter such as
//! `$SYS/#` that names the `$` level explicitly.

use thiserror::Error;

/// Longest topic name or filter MQTT can encode: a two-byte length prefix.
pub const MAX_TOPIC_LEN_BYTES: usize = 65_535;

/// Why a topic name or a topic filter was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TopicError {
    /// Topic names and filters must be at least one character long (4.7.3).
    #[error("topic is empty")]
    Empty,
    /// Longer than the two-byte length prefix can describe.
    #[error("topic is {len_bytes} bytes, the limit is {MAX_TOPIC_LEN_BYTES}")]
    TooLong {
        /// Length of the rejected topic.
        len_bytes: usize,
    },
    /// U+0000 is forbidden in topic names and filters (4.7.3).
    #[error("topic contains U+0000")]
    ContainsNul,
    /// A PUBLISH topic name must not contain `+` or `#` (4.7.1).
    #[error("topic name contains a wildcard")]
    WildcardInTopicName,
    /// `#` must occupy a whole level and be the last level (4.7.1.2).
    #[error("'#' is not alone in the last level")]
    MisplacedMultiLevelWildcard,
    /// `+` must occupy a whole level (4.7.1.3).
    #[error("'+' does not occupy a whole level")]
    MisplacedSingleLevelWildcard,
}

fn validate_common(text: &str) -> Result<(), TopicError> {
    if text.is_empty() {
        return Err(TopicError::Empty);
    }
    if text.len() > MAX_TOPIC_LEN_BYTES {
        return Err(TopicError::TooLong {
            len_bytes: text.len(),
        });
    }
    if text.contains('\0') {
        return Err(TopicError::ContainsNul);
    }
    Ok(())
}

/// Checks a topic name as carried by PUBLISH: non-empty, no NUL, no wildcard.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    validate_common(topic)?;
    if topic.contains(['+', '#']) {
        return Err(TopicError::WildcardInTopicName);
    }
    Ok(())
}

/// Checks a topic filter as carried by SUBSCRIBE and UNSUBSCRIBE.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    validate_common(filter)?;
    let level_count = filter.split('/').count();
    for (index, level) in filter.split('/').enumerate() {
        if level.contains('#') && (level != "#" || index + 1 != level_count) {
            return Err(TopicError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

/// Whether a valid `filter` matches a valid topic name (4.7.1, 4.7.2).
///
/// `+` matches exactly one level (possibly empty), `#` matches the parent
/// level and any number of child levels, and a topic starting with `$` is
/// never matched by a filter whose first level is a wildcard.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for filter_level in filter.split('/') {
        if filter_level == "#" {
            return true;
        }
        match topic_levels.next() {
            Some(topic_level) if filter_level == "+" || filter_level == topic_level => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_filter_matches_only_the_same_topic() {
        assert!(filter_matches("a/b/c", "a/b/c"));
        assert!(!filter_matches("a/b/c", "a/b"));
        assert!(!filter_matches("a/b", "a/b/c"));
        assert!(!filter_matches("a/b/c", "a/b/d"));
    }

    #[test]
    fn plus_matches_exactly_one_level_including_an_empty_one() {
        assert!(filter_matches("sport/+/player1", "sport/tennis/player1"));
        assert!(filter_matches("sport/+", "sport/"));
        assert!(!filter_matches("sport/+", "sport"));
        assert!(!filter_matches("sport/+", "sport/tennis/player1"));
        assert!(filter_matches("+/+", "/finance"));
        assert!(filter_matches("/+", "/finance"));
        assert!(!filter_matches("+", "/finance"));
    }

    #[test]
    fn hash_matches_the_parent_and_every_descendant() {
        assert!(filter_matches("sport/#", "sport"));
        assert!(filter_matches("sport/#", "sport/tennis/player1"));
        assert!(filter_matches("#", "anything/at/all"));
        assert!(!filter_matches("sport/#", "sports"));
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        assert!(!filter_matches("#", "$SYS/broker"));
        assert!(!filter_matches("+/broker", "$SYS/broker"));
        assert!(filter_matches("$SYS/#", "$SYS/broker"));
        assert!(filter_matches("$SYS/+", "$SYS/broker"));
    }

    #[test]
    fn filters_with_misplaced_wildcards_are_rejected() {
        assert_eq!(
            validate_filter("sport/tennis#"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            validate_filter("sport/#/ranking"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            validate_filter("sport+"),
            Err(TopicError::MisplacedSingleLevelWildcard)
        );
        assert_eq!(validate_filter(""), Err(TopicError::Empty));
        assert_eq!(validate_filter("a\0b"), Err(TopicError::ContainsNul));
        assert_eq!(validate_filter("+/tennis/#"), Ok(()));
        assert_eq!(validate_filter("#"), Ok(()));
    }

    #[test]
    fn topic_names_with_wildcards_are_rejected() {
        assert_eq!(
            validate_topic_name("a/+"),
            Err(TopicError::WildcardInTopicName)
        );
        assert_eq!(
            validate_topic_name("a/#"),
            Err(TopicError::WildcardInTopicName)
        );
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_name("é/ok"), Ok(()));
    }

    #[test]
    fn multibyte_first_character_does_not_panic() {
        assert!(!filter_matches("#", "$é"));
        assert!(filter_matches("#", "é"));
    }
}
