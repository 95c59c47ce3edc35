//! Breakwater's scenarios against a real MQTT broker over real TCP.
//!
//! [`run`] takes the same [`WorldSpec`] the simulation takes and plays it in
//! wall-clock time: every client host of the spec (publishers, subscribers)
//! runs the real `breakwater_mqtt` client over its real `TcpConnector`,
//! each through its own fault-injecting [`breakwater_proxy::Proxy`] in front
//! of mosquitto, and the fault schedule is applied at (scaled) wall times
//! by setting proxy toxics or by stopping and restarting the broker
//! process. What it observed comes back as the simulation's own
//! [`breakwater_sim::RunOutput`], so the scenario runner's reports and
//! oracles read a real run exactly like a simulated one.
//!
//! # Time scale
//!
//! [`RealOptions::time_scale`] multiplies every virtual duration of the
//! spec, so a one-minute scenario can run in six seconds at `0.1`: the run's
//! duration, publish start, sample interval, fault times and durations,
//! latencies, the client's timeouts and reconnect delays, and the breakers'
//! `open_timeout`, `base_delay` and `max_delay`. The publish rate is divided
//! by it, so a run makes as many publishes as the scenario says. MQTT's
//! keep-alive is whole seconds, so it is rounded up to at least 1 s, and
//! every non-zero duration is at least 1 ms. [`RealRun::spec`] is the
//! scaled spec that actually ran; every time in [`RealRun::output`] is wall
//! milliseconds since the run started, on that scale.
//!
//! # The witness and the ledger
//!
//! A real broker keeps no ledger. Instead a witness client, connected to
//! the broker directly (no proxy, so no network fault reaches it) with
//! `clean_session = false`, subscribes at QoS 1 to every topic of the
//! workload before the first publish. Each payload it receives is recorded
//! as an `Accepted` ledger entry of the publisher named in the payload:
//! the broker must have accepted a message it routed. So
//! [`breakwater_sim::RunOutput::acked_missing_at_broker`] works unchanged
//! on a real run: it lists acknowledged QoS 1 publishes the witness never
//! saw. Its limits are those of mosquitto's own guarantees: a message
//! acknowledged an instant before a `crash` without `keep_sessions` (a
//! SIGKILL and a fresh database) can be lost for real, and that is then
//! reported, as it should be.
//!
//! # Faults
//!
//! See [`FaultMapping`] (and [`fault_mapping`]) for how each scenario fault
//! maps onto proxy toxics or broker process actions. Faults the real mode
//! cannot inject are never silently ignored: they are listed by name in
//! [`RealRun::skipped`] and logged as `SKIPPED` in the events.
//!
//! # Metrics
//!
//! With [`RealOptions::metrics_addr`] set, `GET /metrics` is served over
//! HTTP/1.1 (axum) for the duration of the run, with the three breakers of
//! the first client host (`publisher-0` when there is one) rendered by
//! `breakwater-prometheus` in OpenMetrics text.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod faults;
mod host;
mod metrics;
mod mosquitto;
mod options;
mod proxies;
mod recorder;
mod run;
mod scale;
mod tap;

pub use breakwater_sim::spec::WorldSpec;
pub use error::RealError;
pub use faults::{fault_mapping, FaultMapping};
pub use options::{
    Broker, RealOptions, REAL_PUBLISH_RATE_LIMIT_PER_S, TIME_SCALE_MAX, TIME_SCALE_MIN,
    WALL_DURATION_LIMIT,
};
pub use run::{run, RealRun, WITNESS_HOST};
pub use scale::scale_spec;
