//! The toxic table every task watches, and the counters every task bumps.
//!
//! The table travels through a `tokio::sync::watch` channel: a change wakes
//! each task that cares, which then re-reads the whole table. That is how a
//! toxic change reaches connections that are already open.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::toxic::{Stream, Toxic, ToxicKind};

/// At most one toxic per kind and stream: 5 directional kinds x 2 streams
/// plus 2 connection-wide kinds. Asserted, so a bug cannot grow the table.
const MAX_ENTRIES: usize = 12;

/// One toxic, with when it was set (for timers that start "when the toxic
/// reached the connection") and a unique id (so LimitData can tell a new
/// limit from the one it is already counting).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) toxic: Toxic,
    pub(crate) set_at: Instant,
    pub(crate) id: u64,
}

/// The toxics in force, sorted by kind then stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct ToxicTable {
    entries: Vec<Entry>,
    /// Bumped on every change, so the accept loop can acknowledge a change.
    version: u64,
    next_id: u64,
}

/// What a connection does when a toxic's timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Orderly close (FIN) on both sides.
    Close,
    /// RST to the client, orderly close upstream.
    Reset,
}

fn key(toxic: &Toxic) -> (ToxicKind, Option<Stream>) {
    (toxic.kind(), toxic.stream())
}

impl ToxicTable {
    /// Sets `toxic`, replacing the one with the same kind and stream.
    pub(crate) fn set(&mut self, toxic: Toxic, now: Instant) {
        let toxic_key = key(&toxic);
        self.entries.retain(|entry| key(&entry.toxic) != toxic_key);
        self.next_id += 1;
        self.entries.push(Entry {
            toxic,
            set_at: now,
            id: self.next_id,
        });
        self.entries.sort_by_key(|entry| key(&entry.toxic));
        assert!(
            self.entries.len() <= MAX_ENTRIES,
            "one toxic per kind and stream bounds the table to {MAX_ENTRIES} entries"
        );
        self.version += 1;
    }

    /// Removes every toxic of `kind` (on both streams); true if any was set.
    pub(crate) fn remove(&mut self, kind: ToxicKind) -> bool {
        let before = self.entries.len();
        self.entries.retain(|entry| entry.toxic.kind() != kind);
        self.version += 1;
        self.entries.len() != before
    }

    /// Removes every toxic.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.version += 1;
    }

    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn toxics(&self) -> Vec<Toxic> {
        self.entries
            .iter()
            .map(|entry| entry.toxic.clone())
            .collect()
    }

    pub(crate) fn is_down(&self) -> bool {
        self.entries
            .iter()
            .any(|entry| matches!(entry.toxic, Toxic::Down))
    }

    /// The entry of `kind` on `stream`, if any.
    fn on(&self, kind: ToxicKind, stream: Stream) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|entry| entry.toxic.kind() == kind && entry.toxic.stream() == Some(stream))
    }

    /// `(latency, jitter)` on `stream`.
    pub(crate) fn latency(&self, stream: Stream) -> Option<(Duration, Duration)> {
        match self.on(ToxicKind::Latency, stream)?.toxic {
            Toxic::Latency {
                latency, jitter, ..
            } => Some((latency, jitter)),
            _ => None,
        }
    }

    /// True while a Timeout toxic holds `stream`.
    pub(crate) fn holds(&self, stream: Stream) -> bool {
        self.on(ToxicKind::Timeout, stream).is_some()
    }

    pub(crate) fn bandwidth_kb_per_s(&self, stream: Stream) -> Option<u64> {
        match self.on(ToxicKind::Bandwidth, stream)?.toxic {
            Toxic::Bandwidth { rate_kb_per_s, .. } => Some(rate_kb_per_s),
            _ => None,
        }
    }

    /// `(average_size, size_variation, delay)` on `stream`.
    pub(crate) fn slicer(&self, stream: Stream) -> Option<(usize, usize, Duration)> {
        match self.on(ToxicKind::Slicer, stream)?.toxic {
            Toxic::Slicer {
                average_size,
                size_variation,
                delay,
                ..
            } => Some((average_size, size_variation, delay)),
            _ => None,
        }
    }

    /// `(entry id, byte limit)` on `stream`.
    pub(crate) fn limit(&self, stream: Stream) -> Option<(u64, u64)> {
        let entry = self.on(ToxicKind::LimitData, stream)?;
        match entry.toxic {
            Toxic::LimitData { bytes, .. } => Some((entry.id, bytes)),
            _ => None,
        }
    }

    /// The earliest timer that ends a connection accepted at
    /// `accepted_at`: Timeout toxics with a non-zero timeout close it,
    /// ResetPeer resets it. Timers start when the toxic reached the
    /// connection, i.e. the later of set time and accept time.
    pub(crate) fn ending(&self, accepted_at: Instant) -> Option<(Instant, Ending)> {
        self.entries
            .iter()
            .filter_map(|entry| {
                let start = entry.set_at.max(accepted_at);
                match entry.toxic {
                    Toxic::Timeout { timeout, .. } if !timeout.is_zero() => {
                        Some((start + timeout, Ending::Close))
                    }
                    Toxic::ResetPeer { timeout } => Some((start + timeout, Ending::Reset)),
                    _ => None,
                }
            })
            .min_by_key(|(at, _)| *at)
    }
}

/// Live counters, shared by all tasks of one proxy.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) connections_cut: AtomicU64,
    pub(crate) connections_reset: AtomicU64,
    pub(crate) upstream_connect_failures: AtomicU64,
    pub(crate) listener_rebind_failures: AtomicU64,
    pub(crate) upstream: StreamCounters,
    pub(crate) downstream: StreamCounters,
}

/// Live counters of one stream.
#[derive(Debug, Default)]
pub(crate) struct StreamCounters {
    pub(crate) bytes_read: AtomicU64,
    pub(crate) bytes_forwarded: AtomicU64,
    pub(crate) eofs_forwarded: AtomicU64,
}

impl Counters {
    pub(crate) fn stream(&self, stream: Stream) -> &StreamCounters {
        match stream {
            Stream::Upstream => &self.upstream,
            Stream::Downstream => &self.downstream,
        }
    }

    pub(crate) fn snapshot(&self) -> ProxyStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ProxyStats {
            connections_accepted: load(&self.connections_accepted),
            connections_active: load(&self.connections_active),
            connections_refused: load(&self.connections_refused),
            connections_cut: load(&self.connections_cut),
            connections_reset: load(&self.connections_reset),
            upstream_connect_failures: load(&self.upstream_connect_failures),
            listener_rebind_failures: load(&self.listener_rebind_failures),
            upstream: self.upstream.snapshot(),
            downstream: self.downstream.snapshot(),
        }
    }
}

impl StreamCounters {
    fn snapshot(&self) -> StreamStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StreamStats {
            bytes_read: load(&self.bytes_read),
            bytes_forwarded: load(&self.bytes_forwarded),
            eofs_forwarded: load(&self.eofs_forwarded),
        }
    }
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

pub(crate) fn drop_one(counter: &AtomicU64) {
    counter.fetch_sub(1, Ordering::Relaxed);
}

/// A snapshot of a proxy's counters, for reports. Counters only grow,
/// except `connections_active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyStats {
    /// Client connections accepted (including ones closed at once).
    pub connections_accepted: u64,
    /// Connections open right now.
    pub connections_active: u64,
    /// Accepted connections closed at once: `max_connections` reached.
    pub connections_refused: u64,
    /// Connections the proxy closed because of a toxic (Down, Timeout,
    /// LimitData).
    pub connections_cut: u64,
    /// Connections the proxy reset (ResetPeer).
    pub connections_reset: u64,
    /// Accepted connections closed because the upstream could not be
    /// reached in time.
    pub upstream_connect_failures: u64,
    /// Failed attempts to bind the listening port again after Down.
    pub listener_rebind_failures: u64,
    /// Client to upstream.
    pub upstream: StreamStats,
    /// Upstream to client.
    pub downstream: StreamStats,
}

/// Byte counts of one stream, over all connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Bytes the proxy read from the sending side.
    pub bytes_read: u64,
    /// Bytes the proxy wrote to the receiving side. Less than `bytes_read`
    /// by what is in flight, held by Timeout, or lost to a closed connection.
    pub bytes_forwarded: u64,
    /// End-of-stream (FIN) passed on to the receiving side.
    pub eofs_forwarded: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(stream: Stream, ms: u64) -> Toxic {
        Toxic::Latency {
            stream,
            latency: Duration::from_millis(ms),
            jitter: Duration::ZERO,
        }
    }

    #[test]
    fn setting_a_toxic_replaces_the_same_kind_on_the_same_stream_only() {
        let now = Instant::now();
        let mut table = ToxicTable::default();
        table.set(latency(Stream::Upstream, 10), now);
        table.set(latency(Stream::Downstream, 20), now);
        table.set(latency(Stream::Upstream, 30), now);
        assert_eq!(
            table.toxics(),
            vec![
                latency(Stream::Upstream, 30),
                latency(Stream::Downstream, 20)
            ]
        );
    }

    #[test]
    fn removing_a_kind_removes_it_on_both_streams() {
        let now = Instant::now();
        let mut table = ToxicTable::default();
        table.set(latency(Stream::Upstream, 10), now);
        table.set(latency(Stream::Downstream, 20), now);
        table.set(Toxic::Down, now);
        assert!(table.remove(ToxicKind::Latency));
        assert!(!table.remove(ToxicKind::Latency));
        assert_eq!(table.toxics(), vec![Toxic::Down]);
    }

    #[test]
    fn timers_start_when_the_toxic_reached_the_connection() {
        let set_at = Instant::now();
        let mut table = ToxicTable::default();
        table.set(
            Toxic::ResetPeer {
                timeout: Duration::from_millis(100),
            },
            set_at,
        );
        table.set(
            Toxic::Timeout {
                stream: Stream::Upstream,
                timeout: Duration::from_millis(50),
            },
            set_at,
        );
        // Accepted before the toxics: timers run from set time.
        let earlier = set_at - Duration::from_secs(1);
        assert_eq!(
            table.ending(earlier),
            Some((set_at + Duration::from_millis(50), Ending::Close))
        );
        // Accepted after: timers run from accept time.
        let later = set_at + Duration::from_secs(1);
        assert_eq!(
            table.ending(later),
            Some((later + Duration::from_millis(50), Ending::Close))
        );
    }

    #[test]
    fn a_zero_timeout_holds_without_ever_closing() {
        let now = Instant::now();
        let mut table = ToxicTable::default();
        table.set(
            Toxic::Timeout {
                stream: Stream::Downstream,
                timeout: Duration::ZERO,
            },
            now,
        );
        assert!(table.holds(Stream::Downstream));
        assert!(!table.holds(Stream::Upstream));
        assert_eq!(table.ending(now), None);
    }
}
