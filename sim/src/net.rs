//! Network faults over a turmoil simulation, as plain functions over
//! `&mut turmoil::Sim`, called between `Sim::step`s by tests and (in phase
//! 2) by the fault-schedule driver.
//!
//! What each one does to TCP in turmoil 0.7 (read from its source, and
//! pinned by `tests/net_faults.rs`):
//!
//! | helper | new `connect` | established stream |
//! |---|---|---|
//! | [`partition`] | fails at once, `ConnectionRefused` | segments dropped both ways; never recovers after [`repair`] (no retransmit) |
//! | [`partition_oneway`] | fails at once from `from` (the SYN is dropped) | `from -> to` dropped, `to -> from` delivered |
//! | [`hold`] | hangs until [`release`] | segments held, delivered on [`release`] |
//! | [`set_latency`] | each segment delayed | each segment delayed |
//! | [`set_fail_rate`] | a failed link drops the SYN: refused | a random failure drops everything in flight |
//! | [`crash_host`] | hangs (nothing runs there to answer) | the peer reads EOF (sockets are dropped) |
//!
//! Host names that turmoil does not know make turmoil panic: naming hosts
//! is the caller's job (a programmer error, not an operating one).

use std::time::Duration;

use thiserror::Error;
use turmoil::Sim;

/// A network helper was given arguments that cannot describe a fault.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum NetError {
    /// Both ends name the same host: turmoil has no link from a host to
    /// itself.
    #[error("host {0:?} cannot be linked to itself")]
    SameHost(String),
    /// A probability outside `0.0..=1.0`.
    #[error("rate {rate} is not a probability in 0.0..=1.0")]
    InvalidRate {
        /// The rejected value.
        rate: f64,
    },
    /// `min` above `max`.
    #[error("latency range {min_ms}..={max_ms} ms has min above max")]
    InvertedLatency {
        /// Lower bound in milliseconds.
        min_ms: u128,
        /// Upper bound in milliseconds.
        max_ms: u128,
    },
}

/// Per-message latency on one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Every message takes exactly this long.
    Fixed(Duration),
    /// Each message takes `min` plus a random part of `max - min` drawn
    /// from turmoil's seeded RNG (exponential curve, capped at `max`).
    Range {
        /// Lowest latency.
        min: Duration,
        /// Highest latency.
        max: Duration,
    },
}

fn distinct(a: &str, b: &str) -> Result<(), NetError> {
    if a == b {
        return Err(NetError::SameHost(a.to_owned()));
    }
    Ok(())
}

/// Drops every message between `a` and `b`, both ways, including those in
/// flight.
pub fn partition(sim: &mut Sim<'_>, a: &str, b: &str) -> Result<(), NetError> {
    distinct(a, b)?;
    tracing::info!(a, b, "net: partition");
    sim.partition(a, b);
    Ok(())
}

/// Drops messages from `from` to `to` only (and those already in flight
/// that way); `to` can still reach `from`.
pub fn partition_oneway(sim: &mut Sim<'_>, from: &str, to: &str) -> Result<(), NetError> {
    distinct(from, to)?;
    tracing::info!(from, to, "net: one-way partition");
    sim.partition_oneway(from, to);
    Ok(())
}

/// Heals a partition (both-way or one-way, either direction) between `a`
/// and `b`. Messages dropped meanwhile stay lost.
pub fn repair(sim: &mut Sim<'_>, a: &str, b: &str) -> Result<(), NetError> {
    distinct(a, b)?;
    tracing::info!(a, b, "net: repair");
    sim.repair(a, b);
    Ok(())
}

/// Holds every message between `a` and `b` (a black hole on the wire):
/// nothing is lost, nothing arrives until [`release`].
pub fn hold(sim: &mut Sim<'_>, a: &str, b: &str) -> Result<(), NetError> {
    distinct(a, b)?;
    tracing::info!(a, b, "net: hold");
    sim.hold(a, b);
    Ok(())
}

/// Ends a [`hold`]: held messages are delivered on the next step and the
/// link is healthy again (this also heals a partition).
pub fn release(sim: &mut Sim<'_>, a: &str, b: &str) -> Result<(), NetError> {
    distinct(a, b)?;
    tracing::info!(a, b, "net: release");
    sim.release(a, b);
    Ok(())
}

/// Sets the latency of the link between `a` and `b`, for messages sent
/// from now on.
pub fn set_latency(sim: &mut Sim<'_>, a: &str, b: &str, latency: Latency) -> Result<(), NetError> {
    distinct(a, b)?;
    match latency {
        Latency::Fixed(value) => {
            tracing::info!(a, b, latency_ms = value.as_millis(), "net: fixed latency");
            sim.set_link_latency(a, b, value);
        }
        Latency::Range { min, max } => {
            if min > max {
                return Err(NetError::InvertedLatency {
                    min_ms: min.as_millis(),
                    max_ms: max.as_millis(),
                });
            }
            tracing::info!(
                a,
                b,
                latency_ms_min = min.as_millis(),
                latency_ms_max = max.as_millis(),
                "net: latency range"
            );
            // turmoil sets min and max together, then max alone.
            sim.set_link_latency(a, b, min);
            sim.set_link_max_message_latency(a, b, max);
        }
    }
    Ok(())
}

/// Probability that sending a message breaks the link between `a` and `b`
/// (dropping everything in flight, both ways) until a random repair.
/// `0.0` turns random failure off again.
pub fn set_fail_rate(sim: &mut Sim<'_>, a: &str, b: &str, rate: f64) -> Result<(), NetError> {
    distinct(a, b)?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(NetError::InvalidRate { rate });
    }
    tracing::info!(a, b, rate, "net: fail rate");
    sim.set_link_fail_rate(a, b, rate);
    Ok(())
}

/// Stops everything running on `host` (a host registered with
/// `Sim::host`): its sockets are dropped, so peers read EOF, and new
/// connections to it hang until [`restart_host`].
pub fn crash_host(sim: &mut Sim<'_>, host: &str) {
    tracing::info!(host, "net: crash host");
    sim.crash(host);
}

/// Starts `host`'s software again from its factory closure (after
/// [`crash_host`], or as a bounce of a running host).
pub fn restart_host(sim: &mut Sim<'_>, host: &str) {
    tracing::info!(host, "net: restart host");
    sim.bounce(host);
}
