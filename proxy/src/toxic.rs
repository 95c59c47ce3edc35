//! The toxics: what a user asks the proxy to do to the traffic, in
//! Toxiproxy's vocabulary, and the checks that reject nonsense values.

use std::fmt;
use std::time::Duration;

/// Which way the bytes flow, named as Toxiproxy names its streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stream {
    /// Client to upstream server (requests, MQTT CONNECT/PUBLISH).
    Upstream,
    /// Upstream server to client (responses, MQTT CONNACK/PUBACK).
    Downstream,
}

impl Stream {
    /// Both streams, upstream first (the order the proxy reports them in).
    pub const BOTH: [Stream; 2] = [Stream::Upstream, Stream::Downstream];
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        })
    }
}

/// One fault. A proxy holds at most one toxic per kind and stream: setting a
/// toxic replaces the one of the same kind on the same stream.
///
/// How each one reaches connections that are already open is documented on
/// the variant; the short version is "at the next byte, or at once".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toxic {
    /// Delays every chunk by `latency` plus a uniform draw in
    /// `-jitter..=jitter` (from the proxy's seeded RNG), measured from the
    /// moment the proxy read the chunk. Chunks stay pipelined, so throughput
    /// is not divided by the latency. Existing connections: chunks already
    /// queued are re-timed against the new value as soon as it is set.
    Latency {
        /// Which stream is delayed.
        stream: Stream,
        /// The added delay.
        latency: Duration,
        /// Spread around `latency`; the delay never goes below zero.
        jitter: Duration,
    },
    /// The proxy is down: the listening socket is closed (new connects get
    /// ECONNREFUSED) and every open connection is closed, both before
    /// [`crate::Proxy::set_toxic`] returns. Removing it binds the same port
    /// again.
    Down,
    /// A black hole on one stream: the proxy stops reading from that side
    /// and holds what it already read, so nothing is forwarded (the sender's
    /// kernel buffers fill up and its writes eventually block). Unlike
    /// Toxiproxy, held bytes are not dropped: if the toxic is removed before
    /// the connection closes, they are delivered. With a non-zero `timeout`
    /// the whole connection is closed `timeout` after the toxic reached it
    /// (when it was set, or when the connection was accepted if later);
    /// zero holds forever. Existing connections stop forwarding at once.
    Timeout {
        /// Which stream is held.
        stream: Stream,
        /// Close the connection this long after the toxic reached it; zero
        /// never closes.
        timeout: Duration,
    },
    /// Resets connections: `timeout` after the toxic reached a connection
    /// (set time, or accept time if later) the proxy closes the client's
    /// socket with `SO_LINGER` zero, so the client gets a TCP RST
    /// (ECONNRESET) instead of an orderly FIN; the upstream side is closed
    /// normally. Data flows until then. It acts on the whole connection, so
    /// it has no stream (Toxiproxy's stream attribute would only choose
    /// which side's data triggers it).
    ResetPeer {
        /// Reset this long after the toxic reached the connection; zero
        /// resets at once.
        timeout: Duration,
    },
    /// Limits one stream to `rate_kb_per_s` kilobytes (1000 bytes) per
    /// second, written in pieces of at most 100 ms worth. Existing
    /// connections: the next piece is paced at the new rate.
    Bandwidth {
        /// Which stream is limited.
        stream: Stream,
        /// Kilobytes (1000 bytes) per second; must be at least 1.
        rate_kb_per_s: u64,
    },
    /// Splits each chunk into writes of `average_size` +/- `size_variation`
    /// bytes (seeded draw) with `delay` between them, so the receiver sees
    /// many small reads. Existing connections: from the next chunk.
    Slicer {
        /// Which stream is sliced.
        stream: Stream,
        /// Mean slice size in bytes; at least 1.
        average_size: usize,
        /// Largest deviation from `average_size`, in bytes; less than it.
        size_variation: usize,
        /// Pause between two slices of one chunk.
        delay: Duration,
    },
    /// Closes the connection once `bytes` bytes have been forwarded on this
    /// stream, counted from the moment the toxic reached the connection
    /// (setting it again restarts the count). A chunk that would cross the
    /// limit is cut at the limit. With `bytes` zero the connection closes
    /// when the next byte arrives on the stream.
    LimitData {
        /// Which stream is counted.
        stream: Stream,
        /// Bytes to forward before closing.
        bytes: u64,
    },
}

/// The kind of a toxic, without its values: the key for
/// [`crate::Proxy::remove_toxic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ToxicKind {
    /// [`Toxic::Latency`].
    Latency,
    /// [`Toxic::Down`].
    Down,
    /// [`Toxic::Timeout`].
    Timeout,
    /// [`Toxic::ResetPeer`].
    ResetPeer,
    /// [`Toxic::Bandwidth`].
    Bandwidth,
    /// [`Toxic::Slicer`].
    Slicer,
    /// [`Toxic::LimitData`].
    LimitData,
}

impl fmt::Display for ToxicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Toxiproxy's type names, so logs read like its API.
        f.write_str(match self {
            ToxicKind::Latency => "latency",
            ToxicKind::Down => "down",
            ToxicKind::Timeout => "timeout",
            ToxicKind::ResetPeer => "reset_peer",
            ToxicKind::Bandwidth => "bandwidth",
            ToxicKind::Slicer => "slicer",
            ToxicKind::LimitData => "limit_data",
        })
    }
}

/// A toxic with a value the proxy cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} toxic: `{field}` {rule}")]
pub struct ToxicError {
    /// The toxic's kind.
    pub kind: ToxicKind,
    /// The offending field.
    pub field: &'static str,
    /// The rule it broke.
    pub rule: &'static str,
}

impl Toxic {
    /// The toxic's kind.
    pub fn kind(&self) -> ToxicKind {
        match self {
            Toxic::Latency { .. } => ToxicKind::Latency,
            Toxic::Down => ToxicKind::Down,
            Toxic::Timeout { .. } => ToxicKind::Timeout,
            Toxic::ResetPeer { .. } => ToxicKind::ResetPeer,
            Toxic::Bandwidth { .. } => ToxicKind::Bandwidth,
            Toxic::Slicer { .. } => ToxicKind::Slicer,
            Toxic::LimitData { .. } => ToxicKind::LimitData,
        }
    }

    /// The stream the toxic acts on; `None` for the connection-wide ones
    /// (`Down`, `ResetPeer`).
    pub fn stream(&self) -> Option<Stream> {
        match self {
            Toxic::Latency { stream, .. }
            | Toxic::Timeout { stream, .. }
            | Toxic::Bandwidth { stream, .. }
            | Toxic::Slicer { stream, .. }
            | Toxic::LimitData { stream, .. } => Some(*stream),
            Toxic::Down | Toxic::ResetPeer { .. } => None,
        }
    }

    /// Checks the values, so a bad toxic is an error at `set_toxic` time and
    /// never a stuck or spinning connection later.
    pub fn validate(&self) -> Result<(), ToxicError> {
        let invalid = |field, rule| {
            Err(ToxicError {
                kind: self.kind(),
                field,
                rule,
            })
        };
        match *self {
            // A zero rate would never forward a byte: that is Timeout's job.
            Toxic::Bandwidth {
                rate_kb_per_s: 0, ..
            } => invalid("rate_kb_per_s", "must be at least 1"),
            // Bounded so that bytes / rate computations stay far from overflow.
            Toxic::Bandwidth { rate_kb_per_s, .. } if rate_kb_per_s > 10_000_000 => {
                invalid("rate_kb_per_s", "must be at most 10000000 (10 GB/s)")
            }
            Toxic::Slicer {
                average_size: 0, ..
            } => invalid("average_size", "must be at least 1"),
            Toxic::Slicer {
                average_size,
                size_variation,
                ..
            } if size_variation >= average_size => {
                invalid("size_variation", "must be less than average_size")
            }
            _ => Ok(()),
        }
    }
}
