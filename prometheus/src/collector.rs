//! [`BreakerCollector`]: encodes live breaker snapshots at scrape time.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use breakwater_core::{
    CircuitBreaker, Clock, ErrorKind, HistogramSnapshot, MetricsSnapshot, Status, Transition,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::label::Escaped;
use crate::names;

/// Most breakers one collector exposes. Each adds about 30 series; the cap
/// keeps a runaway loop that creates breakers from turning into a
/// cardinality explosion on the Prometheus server.
pub const BREAKERS_LIMIT: usize = 1024;

/// Anything that can read one breaker's metrics right now.
///
/// Implemented for [`CircuitBreaker`] on any clock, and for `Arc`s of
/// sources; implement it for a wrapper that owns or looks up a breaker.
pub trait SnapshotSource: Send + Sync + 'static {
    /// Every metric of one breaker, read at this moment. `breaker` (the
    /// name) must stay the same across calls.
    fn snapshot(&self) -> MetricsSnapshot;
}

impl<C: Clock> SnapshotSource for CircuitBreaker<C> {
    fn snapshot(&self) -> MetricsSnapshot {
        self.metrics()
    }
}

impl<T: SnapshotSource + ?Sized> SnapshotSource for Arc<T> {
    fn snapshot(&self) -> MetricsSnapshot {
        T::snapshot(self)
    }
}

/// Why a breaker could not be added to a [`BreakerCollector`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CollectorError {
    /// Another breaker with this name is already exposed: its series would
    /// collide, which makes the whole scrape invalid.
    #[error("a breaker named {name:?} is already exposed by this collector")]
    DuplicateBreaker {
        /// The name both breakers have.
        name: String,
    },
    /// The collector already holds [`BREAKERS_LIMIT`] breakers.
    #[error("a collector exposes at most {limit} breakers")]
    TooManyBreakers {
        /// [`BREAKERS_LIMIT`].
        limit: usize,
    },
}

/// A [`Collector`] that, on every scrape, reads a [`MetricsSnapshot`] from
/// each breaker it holds and encodes the contract's metric families from
/// it. Nothing is counted twice: the breaker's own lock-free counters are
/// the only state.
///
/// Register it with
/// [`Registry::register_collector`](prometheus_client::registry::Registry::register_collector);
/// see the crate docs for a full example.
#[derive(Default)]
pub struct BreakerCollector {
    sources: Vec<Box<dyn SnapshotSource>>,
    names: BTreeSet<String>,
}

impl BreakerCollector {
    /// A collector exposing no breaker yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Exposes `source` as well. Its name is read once, now, to refuse
    /// duplicates.
    ///
    /// # Errors
    ///
    /// [`CollectorError::DuplicateBreaker`] if a breaker with the same name
    /// is already held; [`CollectorError::TooManyBreakers`] past
    /// [`BREAKERS_LIMIT`].
    pub fn add(&mut self, source: impl SnapshotSource) -> Result<&mut Self, CollectorError> {
        if self.sources.len() >= BREAKERS_LIMIT {
            return Err(CollectorError::TooManyBreakers {
                limit: BREAKERS_LIMIT,
            });
        }
        let name = source.snapshot().breaker;
        if self.names.contains(&name) {
            return Err(CollectorError::DuplicateBreaker { name });
        }
        self.names.insert(name);
        self.sources.push(Box::new(source));
        Ok(self)
    }

    /// Number of breakers exposed.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether no breaker is exposed.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The exposed breaker names, sorted.
    pub fn breaker_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

impl fmt::Debug for BreakerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerCollector")
            .field("breakers", &self.names)
            .finish()
    }
}

impl Collector for BreakerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        if self.sources.is_empty() {
            return Ok(());
        }
        // One snapshot per breaker per scrape, so every family of a breaker
        // is encoded from the same reading.
        let snapshots: Vec<MetricsSnapshot> = self.sources.iter().map(|s| s.snapshot()).collect();
        encode_state(&mut encoder, &snapshots)?;
        encode_errors(&mut encoder, &snapshots)?;
        encode_recovery_time(&mut encoder, &snapshots)?;
        encode_operations(&mut encoder, &snapshots)?;
        encode_transitions(&mut encoder, &snapshots)?;
        encode_retries(&mut encoder, &snapshots)
    }
}

fn encode_state(encoder: &mut DescriptorEncoder, snapshots: &[MetricsSnapshot]) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        names::STATE_FAMILY,
        "Breaker state: 0 closed, 1 open, 2 half-open.",
        None,
        MetricType::Gauge,
    )?;
    for snapshot in snapshots {
        let labels = [(names::LABEL_BREAKER, Escaped(&snapshot.breaker))];
        family
            .encode_family(&labels)?
            .encode_gauge(&i64::from(snapshot.state_gauge()))?;
    }
    Ok(())
}

fn encode_errors(encoder: &mut DescriptorEncoder, snapshots: &[MetricsSnapshot]) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        names::ERRORS_FAMILY,
        "Failed attempts (retries included), by error kind.",
        None,
        MetricType::Counter,
    )?;
    for snapshot in snapshots {
        for kind in ErrorKind::ALL {
            let labels = [
                (names::LABEL_BREAKER, Escaped(&snapshot.breaker)),
                (names::LABEL_ERROR_TYPE, Escaped(kind.as_str())),
            ];
            encode_counter(&mut family, &labels, snapshot.errors(kind))?;
        }
    }
    Ok(())
}

fn encode_recovery_time(
    encoder: &mut DescriptorEncoder,
    snapshots: &[MetricsSnapshot],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        names::RECOVERY_TIME_FAMILY,
        "Time from Closed->Open until the breaker is Closed again, one sample per outage.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for snapshot in snapshots {
        let labels = [(names::LABEL_BREAKER, Escaped(&snapshot.breaker))];
        let (buckets, count) = per_bucket_counts(&snapshot.recovery);
        family.encode_family(&labels)?.encode_histogram::<()>(
            snapshot.recovery.sum_seconds,
            count,
            &buckets,
            None,
        )?;
    }
    Ok(())
}

fn encode_operations(
    encoder: &mut DescriptorEncoder,
    snapshots: &[MetricsSnapshot],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        names::OPERATIONS_FAMILY,
        "Calls, by how they ended: success, failure, rejected, ignored or cancelled.",
        None,
        MetricType::Counter,
    )?;
    for snapshot in snapshots {
        for status in Status::ALL {
            let labels = [
                (names::LABEL_BREAKER, Escaped(&snapshot.breaker)),
                (names::LABEL_STATUS, Escaped(status.as_str())),
            ];
            encode_counter(&mut family, &labels, snapshot.operations(status))?;
        }
    }
    Ok(())
}

fn encode_transitions(
    encoder: &mut DescriptorEncoder,
    snapshots: &[MetricsSnapshot],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        names::TRANSITIONS_FAMILY,
        "State transitions, by the state left and the state entered.",
        None,
        MetricType::Counter,
    )?;
    for snapshot in snapshots {
        for transition in Transition::ALL {
            let labels = [
                (names::LABEL_BREAKER, Escaped(&snapshot.breaker)),
                (names::LABEL_FROM, Escaped(transition.from().as_str())),
                (names::LABEL_TO, Escaped(transition.to().as_str())),
            ];
            encode_counter(&mut family, &labels, snapshot.transitions(transition))?;
        }
    }
    Ok(())
}

fn encode_retries(encoder: &mut DescriptorEncoder, snapshots: &[MetricsSnapshot]) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        names::RETRIES_FAMILY,
        "Retries of calls while Closed (attempts after the first).",
        None,
        MetricType::Counter,
    )?;
    for snapshot in snapshots {
        let labels = [(names::LABEL_BREAKER, Escaped(&snapshot.breaker))];
        encode_counter(&mut family, &labels, snapshot.retries)?;
    }
    Ok(())
}

fn encode_counter(
    family: &mut MetricEncoder,
    labels: &impl EncodeLabelSet,
    value: u64,
) -> fmt::Result {
    family
        .encode_family(labels)?
        .encode_counter::<(), u64, u64>(&value, None)
}

/// The core reports cumulative `(le, count)` buckets; prometheus-client
/// wants per-bucket counts (it accumulates them itself) ending in a `+Inf`
/// bucket whose bound is `f64::MAX`. Returns those buckets and the
/// `_count` to expose.
///
/// The core bumps a bucket before the total count, so a snapshot taken in
/// between may read a count below the last bucket; the count exposed is
/// never below it, which keeps `+Inf == _count` and every bucket monotone.
fn per_bucket_counts(recovery: &HistogramSnapshot) -> (Vec<(f64, u64)>, u64) {
    let mut buckets = Vec::with_capacity(recovery.buckets.len() + 1);
    let mut below = 0u64;
    for &(le, cumulative) in &recovery.buckets {
        // `max` keeps the series monotone even if two reads raced.
        let cumulative = cumulative.max(below);
        buckets.push((le, cumulative - below));
        below = cumulative;
    }
    let count = recovery.count.max(below);
    buckets.push((f64::MAX, count - below));
    (buckets, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets_become_per_bucket_counts_with_an_inf_bucket() {
        let recovery = HistogramSnapshot {
            buckets: vec![(1.0, 1), (10.0, 3), (60.0, 3)],
            count: 5,
            sum_seconds: 4000.0,
        };
        let (buckets, count) = per_bucket_counts(&recovery);
        assert_eq!(buckets, vec![(1.0, 1), (10.0, 2), (60.0, 0), (f64::MAX, 2)]);
        assert_eq!(count, 5);
    }

    #[test]
    fn a_count_read_before_its_bucket_is_raised_to_the_last_bucket() {
        let recovery = HistogramSnapshot {
            buckets: vec![(1.0, 2)],
            count: 1,
            sum_seconds: 1.0,
        };
        let (buckets, count) = per_bucket_counts(&recovery);
        assert_eq!(buckets, vec![(1.0, 2), (f64::MAX, 0)]);
        assert_eq!(count, 2);
    }
}
