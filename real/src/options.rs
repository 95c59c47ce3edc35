//! What a real run needs besides the spec: which broker, how fast, and
//! where to serve metrics.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::RealError;

/// Smallest accepted [`RealOptions::time_scale`]: below it a 1 ms tick of
/// the scenario would be a microsecond, far under what real sockets and
/// timers resolve.
pub const TIME_SCALE_MIN: f64 = 0.001;
/// Largest accepted [`RealOptions::time_scale`] (ten times slower than the
/// scenario says).
pub const TIME_SCALE_MAX: f64 = 10.0;
/// Longest real run accepted, after scaling: a bound so that a typo in a
/// scenario or scale cannot tie up a machine for a day.
pub const WALL_DURATION_LIMIT: Duration = Duration::from_secs(60 * 60);
/// Highest publish rate of one publisher after scaling (the scenario's rate
/// divided by the time scale): loopback handles more, but one publisher
/// thread at this rate already dominates a small machine.
pub const REAL_PUBLISH_RATE_LIMIT_PER_S: f64 = 2_000.0;

/// Which broker a real run talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broker {
    /// A broker that is already running. Crash faults cannot be injected
    /// into it (the process is not ours) and are skipped.
    Address(SocketAddr),
    /// Start `mosquitto` (from `PATH` or `/usr/sbin`) on a free
    /// 127.0.0.1 port from a temporary config, with persistence in a
    /// temporary directory so persistent sessions survive a restart; it is
    /// stopped when the run ends.
    Spawn,
}

/// Options of a real run.
#[derive(Clone, Debug, PartialEq)]
pub struct RealOptions {
    /// The broker.
    pub broker: Broker,
    /// Factor applied to every virtual duration of the spec (see the crate
    /// docs); `0.1` runs a one-minute scenario in six seconds.
    pub time_scale: f64,
    /// Where to serve `GET /metrics` during the run; port 0 picks one.
    pub metrics_addr: Option<SocketAddr>,
}

impl RealOptions {
    /// A spawned mosquitto at `time_scale`, without a metrics endpoint.
    pub fn spawn(time_scale: f64) -> Self {
        RealOptions {
            broker: Broker::Spawn,
            time_scale,
            metrics_addr: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), RealError> {
        check_time_scale(self.time_scale)
    }
}

/// The one rule on a time scale, shared by [`RealOptions`] and
/// [`crate::scale_spec`].
pub(crate) fn check_time_scale(scale: f64) -> Result<(), RealError> {
    if scale.is_finite() && (TIME_SCALE_MIN..=TIME_SCALE_MAX).contains(&scale) {
        return Ok(());
    }
    Err(RealError::Options {
        field: "time_scale",
        rule: format!("must be between {TIME_SCALE_MIN} and {TIME_SCALE_MAX}, got {scale}"),
    })
}
