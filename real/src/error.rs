//! Why a real run could not be carried out.

use std::io;
use std::net::SocketAddr;

use breakwater_sim::spec::SpecError;
use thiserror::Error;

/// Why [`crate::run`] failed. Faults the real mode cannot inject are not
/// errors: they are reported in [`crate::RealRun::skipped`].
#[derive(Debug, Error)]
pub enum RealError {
    /// The spec breaks one of the simulation's rules.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// An option, or the spec once scaled, is out of range.
    #[error("invalid real-run option: `{field}` {rule}")]
    Options {
        /// The offending field.
        field: &'static str,
        /// The rule it broke.
        rule: String,
    },
    /// `run` was called from inside a tokio runtime; it builds its own
    /// runtimes and blocks, which tokio forbids there.
    #[error(
        "breakwater_real::run blocks: call it outside any tokio runtime (e.g. from spawn_blocking)"
    )]
    InsideRuntime,
    /// A scaled breaker config was refused.
    #[error("scaled breaker config: {0}")]
    Breaker(#[from] breakwater_core::ConfigError),
    /// A client config was refused.
    #[error("client config: {0}")]
    Client(#[from] breakwater_mqtt::ConfigError),
    /// A proxy could not start.
    #[error("proxy: {0}")]
    Proxy(#[from] breakwater_proxy::ProxyError),
    /// A toxic was refused (a mapping bug: every mapped toxic is valid).
    #[error("toxic: {0}")]
    Toxic(#[from] breakwater_proxy::ToxicError),
    /// The spawned mosquitto could not be started, stopped or restarted.
    #[error("mosquitto: {message}")]
    Mosquitto {
        /// What went wrong, with the broker's log when there is one.
        message: String,
    },
    /// The metrics endpoint could not listen.
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The witness subscriber could not subscribe before the run; without
    /// it the run could not tell lost messages from delivered ones.
    #[error("witness: {message}")]
    Witness {
        /// What went wrong.
        message: String,
    },
    /// A runtime or client thread could not be started, or ended abnormally.
    #[error("{what}: {message}")]
    Host {
        /// The thread or runtime.
        what: String,
        /// What went wrong.
        message: String,
    },
}

impl RealError {
    pub(crate) fn host(what: impl Into<String>, message: impl ToString) -> Self {
        RealError::Host {
            what: what.into(),
            message: message.to_string(),
        }
    }
}
