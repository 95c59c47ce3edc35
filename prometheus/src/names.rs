//! The exposed metric names and label names of the contract (DESIGN.md,
//! "Metrics"), exactly as a scrape shows them.
//!
//! `prometheus-client` builds a sample name from a family name plus the
//! unit and, for counters, `_total`; the private `*_FAMILY` names below are
//! what the collector hands it so that the exposed names come out as these.

/// `circuit_breaker_state` gauge: 0 closed, 1 open, 2 half-open.
pub const STATE: &str = "circuit_breaker_state";
/// `circuit_breaker_errors_total` counter: every failed attempt, by `error_type`.
pub const ERRORS: &str = "circuit_breaker_errors_total";
/// `circuit_breaker_recovery_time_seconds` histogram: Closed->Open until the
/// next Closed, one sample per outage. Its series are `_bucket`, `_sum`, `_count`.
pub const RECOVERY_TIME: &str = "circuit_breaker_recovery_time_seconds";
/// `circuit_breaker_operations_total` counter: one per call, by `status`.
pub const OPERATIONS: &str = "circuit_breaker_operations_total";
/// `circuit_breaker_transitions_total` counter, by `from` and `to`.
pub const TRANSITIONS: &str = "circuit_breaker_transitions_total";
/// `circuit_breaker_retries_total` counter.
pub const RETRIES: &str = "circuit_breaker_retries_total";

/// Every exposed family name, in encoding order.
pub const ALL: [&str; 6] = [
    STATE,
    ERRORS,
    RECOVERY_TIME,
    OPERATIONS,
    TRANSITIONS,
    RETRIES,
];

/// Label on every series: the breaker's config name.
pub const LABEL_BREAKER: &str = "breaker";
/// Label of [`ERRORS`]: [`breakwater_core::ErrorKind::as_str`].
pub const LABEL_ERROR_TYPE: &str = "error_type";
/// Label of [`OPERATIONS`]: [`breakwater_core::Status::as_str`].
pub const LABEL_STATUS: &str = "status";
/// Label of [`TRANSITIONS`]: the state left, [`breakwater_core::State::as_str`].
pub const LABEL_FROM: &str = "from";
/// Label of [`TRANSITIONS`]: the state entered.
pub const LABEL_TO: &str = "to";

// Family names handed to prometheus-client, which appends `_total` to
// counter samples and `_<unit>` to everything of a family with a unit.
pub(crate) const STATE_FAMILY: &str = "circuit_breaker_state";
pub(crate) const ERRORS_FAMILY: &str = "circuit_breaker_errors";
pub(crate) const RECOVERY_TIME_FAMILY: &str = "circuit_breaker_recovery_time";
pub(crate) const OPERATIONS_FAMILY: &str = "circuit_breaker_operations";
pub(crate) const TRANSITIONS_FAMILY: &str = "circuit_breaker_transitions";
pub(crate) const RETRIES_FAMILY: &str = "circuit_breaker_retries";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_plus_the_suffixes_prometheus_client_adds_are_the_contract_names() {
        assert_eq!(STATE_FAMILY, STATE);
        assert_eq!(format!("{ERRORS_FAMILY}_total"), ERRORS);
        assert_eq!(format!("{RECOVERY_TIME_FAMILY}_seconds"), RECOVERY_TIME);
        assert_eq!(format!("{OPERATIONS_FAMILY}_total"), OPERATIONS);
        assert_eq!(format!("{TRANSITIONS_FAMILY}_total"), TRANSITIONS);
        assert_eq!(format!("{RETRIES_FAMILY}_total"), RETRIES);
    }
}
