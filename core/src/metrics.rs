//! The contract's metrics, kept in atomics and readable as a snapshot
//! without locks.
//!
//! `operations_total` is touched by every call, so it is sharded: each
//! thread adds to its own cache-line-padded slot and a snapshot sums the
//! slots. Two threads bumping one shared counter would otherwise pay for
//! cache-line ping-pong on every call. The first [`OWNED_SHARDS`] live
//! threads each own a shard outright and bump it with a plain load and
//! store: even uncontended, a locked `fetch_add` costs about 5 ns here,
//! more than the whole closed-path budget. Further threads share a few
//! shards with `fetch_add`. The other counters only move on failures,
//! rejections and transitions and stay plain atomics.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::kind::ErrorKind;
use crate::state::{State, Transition};

/// How a call ended: the `status` label of `circuit_breaker_operations_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// The operation succeeded.
    Success,
    /// It failed with a retryable error (after its retries).
    Failure,
    /// The breaker did not run it.
    Rejected,
    /// It ended in a non-retryable error.
    Ignored,
    /// The caller dropped it.
    Cancelled,
}

impl Status {
    /// Number of statuses.
    pub const COUNT: usize = 5;
    /// All statuses, in counter order.
    pub const ALL: [Status; Self::COUNT] = [
        Status::Success,
        Status::Failure,
        Status::Rejected,
        Status::Ignored,
        Status::Cancelled,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Rejected => "rejected",
            Status::Ignored => "ignored",
            Status::Cancelled => "cancelled",
        }
    }
}

/// Upper bounds (seconds) of the `circuit_breaker_recovery_time_seconds`
/// buckets. Outages last from a fraction of `open_timeout` to many minutes.
pub const RECOVERY_BUCKETS_SECONDS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Shards owned by one live thread each: the owner bumps its counters with
/// a plain load and store, no locked read-modify-write, and nobody else
/// writes them. Threads beyond these share [`SHARED_SHARDS`].
const OWNED_SHARDS: usize = 16;
/// Shards for threads that found every owned shard taken (or whose slot is
/// already torn down): several threads may write one, so they `fetch_add`.
const SHARED_SHARDS: usize = 4;
const SHARDS: usize = OWNED_SHARDS + SHARED_SHARDS;
const _: () = assert!(
    OWNED_SHARDS <= 64,
    "ownership is one bit per shard in a u64"
);

/// Counters of one shard, alone on their cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    operations: [AtomicU64; Status::COUNT],
}

/// Bit `i` set: owned shard `i` belongs to a live thread.
static OWNED: AtomicU64 = AtomicU64::new(0);
/// Round-robin over the shared shards.
static NEXT_SHARED: AtomicUsize = AtomicUsize::new(0);

const UNCLAIMED: usize = usize::MAX;

/// Takes a shard for this thread: an owned one if any is free, else a
/// shared one. Runs once per thread.
#[cold]
#[inline(never)]
fn claim() -> usize {
    let mut owned = OWNED.load(Ordering::Relaxed);
    let index = loop {
        let free = (!owned).trailing_zeros() as usize;
        if free >= OWNED_SHARDS {
            break OWNED_SHARDS + NEXT_SHARED.fetch_add(1, Ordering::Relaxed) % SHARED_SHARDS;
        }
        // Acquire: the previous owner's last stores to this shard happen
        // before our first load of it.
        match OWNED.compare_exchange_weak(
            owned,
            owned | 1 << free,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => break free,
            Err(seen) => owned = seen,
        }
    };
    // Touching OWNER registers its destructor, which hands the shard back.
    // If the thread is already tearing down, it cannot: don't own anything.
    if index < OWNED_SHARDS && OWNER.try_with(|_| ()).is_err() {
        OWNED.fetch_and(!(1 << index), Ordering::Release);
        INDEX.with(|cell| cell.set(OWNED_SHARDS));
        return OWNED_SHARDS;
    }
    INDEX.with(|cell| cell.set(index));
    index
}

/// Hands this thread's owned shard back when the thread exits.
struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        // From now on this thread (e.g. another thread-local's destructor)
        // writes a shared shard: the owned one may go to a new thread.
        let index = INDEX.with(|cell| cell.replace(OWNED_SHARDS));
        if index < OWNED_SHARDS {
            // Release: our stores to the shard happen before the next
            // owner's loads.
            OWNED.fetch_and(!(1 << index), Ordering::Release);
        }
    }
}

thread_local! {
    /// This thread's shard. No destructor, so reading it is one TLS load
    /// with no registration check, and it stays readable during teardown.
    static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
    static OWNER: Owner = const { Owner };
}

/// This thread's shard index.
#[inline(always)]
fn shard_index() -> usize {
    match INDEX.with(Cell::get) {
        UNCLAIMED => claim(),
        index => index,
    }
}

/// Live metrics of one breaker.
pub(crate) struct Metrics {
    shards: [Shard; SHARDS],
    errors: [AtomicU64; ErrorKind::COUNT],
    transitions: [AtomicU64; Transition::ALL.len()],
    retries: AtomicU64,
    recovery_buckets: [AtomicU64; RECOVERY_BUCKETS_SECONDS.len()],
    recovery_count: AtomicU64,
    recovery_sum_micros: AtomicU64,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            shards: Default::default(),
            errors: Default::default(),
            transitions: Default::default(),
            retries: AtomicU64::new(0),
            recovery_buckets: Default::default(),
            recovery_count: AtomicU64::new(0),
            recovery_sum_micros: AtomicU64::new(0),
        }
    }

    #[inline(always)]
    pub(crate) fn operation(&self, status: Status) {
        let index = shard_index();
        // `shard_index` is always below SHARDS; `min` lets the compiler drop
        // the bounds check.
        let counter = &self.shards[index.min(SHARDS - 1)].operations[status as usize];
        if index < OWNED_SHARDS {
            // Only this thread writes an owned shard: no locked RMW needed,
            // and a snapshot's Relaxed load still sees a whole value.
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        } else {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn transition(&self, transition: Transition, recovery: Option<Duration>) {
        self.transitions[transition.index()].fetch_add(1, Ordering::Relaxed);
        if let Some(recovery) = recovery {
            let seconds = recovery.as_secs_f64();
            // Cumulative buckets are computed at snapshot time; store per-bucket counts.
            if let Some(i) = RECOVERY_BUCKETS_SECONDS
                .iter()
                .position(|le| seconds <= *le)
            {
                self.recovery_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
            let micros = u64::try_from(recovery.as_micros()).unwrap_or(u64::MAX);
            self.recovery_sum_micros
                .fetch_add(micros, Ordering::Relaxed);
            self.recovery_count.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self, breaker: &str, state: State) -> MetricsSnapshot {
        let mut operations = [0u64; Status::COUNT];
        for shard in &self.shards {
            for (total, counter) in operations.iter_mut().zip(&shard.operations) {
                *total += counter.load(Ordering::Relaxed);
            }
        }
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut cumulative = 0;
        let buckets = RECOVERY_BUCKETS_SECONDS
            .iter()
            .zip(&self.recovery_buckets)
            .map(|(le, count)| {
                cumulative += load(count);
                (*le, cumulative)
            })
            .collect();
        MetricsSnapshot {
            breaker: breaker.to_owned(),
            state,
            operations,
            errors: self.errors.each_ref().map(load),
            transitions: self.transitions.each_ref().map(load),
            retries: load(&self.retries),
            recovery: HistogramSnapshot {
                buckets,
                count: load(&self.recovery_count),
                sum_seconds: Duration::from_micros(load(&self.recovery_sum_micros)).as_secs_f64(),
            },
        }
    }
}

/// A histogram read at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSnapshot {
    /// `(le, cumulative count)` per finite bucket, ascending.
    pub buckets: Vec<(f64, u64)>,
    /// Number of samples (the `+Inf` bucket).
    pub count: u64,
    /// Sum of all samples, in seconds.
    pub sum_seconds: f64,
}

/// Every metric of one breaker, read without locks. Counters are read one
/// by one, so under concurrent traffic two counters may be a few calls
/// apart; each counter on its own is exact.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    /// The `breaker` label.
    pub breaker: String,
    /// `circuit_breaker_state`.
    pub state: State,
    /// `circuit_breaker_operations_total`, indexed like [`Status::ALL`].
    pub operations: [u64; Status::COUNT],
    /// `circuit_breaker_errors_total`, indexed like [`ErrorKind::ALL`].
    pub errors: [u64; ErrorKind::COUNT],
    /// `circuit_breaker_transitions_total`, indexed like [`Transition::ALL`].
    pub transitions: [u64; 4],
    /// `circuit_breaker_retries_total`.
    pub retries: u64,
    /// `circuit_breaker_recovery_time_seconds`.
    pub recovery: HistogramSnapshot,
}

impl MetricsSnapshot {
    /// The `circuit_breaker_state` gauge value.
    pub fn state_gauge(&self) -> u8 {
        self.state.gauge()
    }
    /// Calls that ended with `status`.
    pub fn operations(&self, status: Status) -> u64 {
        self.operations[status as usize]
    }
    /// All calls.
    pub fn operations_total(&self) -> u64 {
        self.operations.iter().sum()
    }
    /// Failed attempts of `kind`.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }
    /// Times `transition` happened.
    pub fn transitions(&self, transition: Transition) -> u64 {
        self.transitions[transition.index()]
    }
}
