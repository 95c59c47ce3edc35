//! Breakwater's simulated world (phase 1): an MQTT 3.1.1 broker that speaks
//! real bytes over turmoil's simulated TCP or real loopback TCP, broker
//! fault modes switchable at run time, a ledger of what the broker accepted
//! and delivered for oracles, and network fault helpers over turmoil.
//!
//! Determinism: nothing here reads `std::time`, starts a thread or draws OS
//! randomness; every `select!` is `biased`; observable order comes from
//! `BTreeMap`s and append-only logs. Given a seed, a run's ledger is the
//! same byte for byte.

#![forbid(unsafe_code)]

pub mod broker;
pub mod net;

pub use broker::{
    Accept, Broker, BrokerConfig, BrokerFault, Clock, CloseReason, ConfigError, LedgerEntry,
    MessageRecord, Record, SimClock, TokioClock, Violation, MALFORMED_REPLY, MQTT_PORT,
};
