//! Breakwater's simulated world: an MQTT 3.1.1 broker that speaks real
//! bytes over turmoil's simulated TCP or real loopback TCP, broker fault
//! modes switchable at run time, a ledger of what the broker accepted and
//! delivered for oracles, network fault helpers over turmoil, and the
//! world runner: a [`spec::WorldSpec`] (seed, workload, fault schedule) in,
//! a [`RunOutput`] (breaker samples and transitions, publish outcomes,
//! ledger, event log) out, via [`run`].
//!
//! Determinism: nothing here reads `std::time`, starts a thread or draws OS
//! randomness; every `select!` is `biased`; observable order comes from
//! `BTreeMap`s and append-only logs. Given a seed, a run's ledger is the
//! same byte for byte.

#![forbid(unsafe_code)]

pub mod broker;
pub mod connector;
pub mod net;
mod output;
mod recorder;
mod schedule;
pub mod spec;
mod tap;
pub mod workload;
mod world;

pub use broker::{
    Accept, Broker, BrokerConfig, BrokerFault, Clock, CloseReason, ConfigError, LedgerEntry,
    MessageRecord, Record, SimClock, TokioClock, Violation, MALFORMED_REPLY, MQTT_PORT,
};
pub use connector::TurmoilConnector;
pub use output::{ExternalRecords, Facts, RunOutput};
pub use recorder::{Delivery, PublishOutcome, PublishResult, Sample, TransitionRecord};
pub use tap::{is_transition_event, transition_of_event};
pub use tap::{with_log_context, LogContext};
pub use world::{run, SimError, EPOCH_SECS};
