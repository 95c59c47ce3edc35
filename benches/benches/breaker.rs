//! The breaker hot path next to a bare call, failsafe and recloser, all in
//! one criterion group so the figures sit side by side in one run.
//!
//! Every guarded variant runs the same `#[inline(never)]` operation, so the
//! difference to `bare_call` is what the guard costs. Async `call` is polled
//! exactly once with a no-op waker (see `breakwater_benches::PollOnce`): the
//! operation never suspends, so no executor is involved.
//!
//! Only a `bool` (is the result Ok?) goes through `black_box` per call: a
//! 16-byte `io::Result` stored and reloaded in halves stalls store
//! forwarding and inflated the bare call from ~1 ns to ~6 ns here.
//!
//! No `tracing` subscriber is installed, as in a service whose log level
//! filters out DEBUG: every callsite on the path is checked and skipped.
//!
//! Run: `cargo bench -p breakwater-benches --bench breaker`
//! (add `-- --warm-up-time 1 --measurement-time 2` to match the defaults
//! below, or a filter such as `-- open_rejected`).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use breakwater_benches::{time_on_threads, PollOnce};
use breakwater_core::{
    BreakerConfig, CachedClock, CallError, CircuitBreaker, Classify, Clock, ErrorKind, ManualClock,
    State, TokioClock,
};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use failsafe::CircuitBreaker as _;

/// The guarded operation: an opaque call that returns a value.
#[inline(never)]
fn operation() -> io::Result<u64> {
    Ok(black_box(1))
}

/// Longest open timeout the config allows: the Open benches must never
/// see their deadline pass.
const OPEN_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// Half-open probes per freshly half-opened breaker: one less than the
/// success threshold, so the last measured success never closes it.
const HALF_OPEN_CHUNK: u64 = u16::MAX as u64 - 2;

fn config(name: &str) -> BreakerConfig {
    BreakerConfig::builder(name)
        .build()
        .expect("the default config is valid")
}

/// A config that trips on the first retryable failure and stays Open.
fn tripping_config(name: &str) -> BreakerConfig {
    BreakerConfig::builder(name)
        .max_retries(0)
        .open_timeout(OPEN_TIMEOUT)
        .build()
        .expect("a trip-at-once config is valid")
}

/// One guarded call through `try_acquire`, settled by the result.
#[inline]
fn guarded<C: Clock>(breaker: &CircuitBreaker<C>) -> io::Result<u64> {
    match breaker.try_acquire() {
        Ok(permit) => {
            let result = operation();
            match &result {
                Ok(_) => permit.success(),
                Err(error) => permit.error(Classify::kind(error)),
            }
            result
        }
        Err(_) => Err(io::ErrorKind::ConnectionRefused.into()),
    }
}

fn open_breaker<C: Clock>(breaker: CircuitBreaker<C>) -> CircuitBreaker<C> {
    breaker
        .try_acquire()
        .expect("a new breaker is Closed")
        .error(ErrorKind::Connection);
    assert_eq!(breaker.state(), State::Open, "one failure trips it");
    breaker
}

fn bench_closed(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.bench_function("bare_call", |b| b.iter(|| black_box(operation().is_ok())));

    // What one uncontended atomic read-modify-write costs on this machine.
    let counter = AtomicU64::new(0);
    group.bench_function("bare_call_plus_fetch_add", |b| {
        b.iter(|| {
            counter.fetch_add(1, Ordering::Relaxed);
            black_box(operation().is_ok())
        })
    });

    let breaker = CircuitBreaker::new(config("closed"));
    group.bench_function("breakwater_closed_try_acquire", |b| {
        b.iter(|| black_box(guarded(&breaker).is_ok()))
    });

    group.bench_function("breakwater_closed_guard", |b| {
        b.iter(|| black_box(breaker.guard(operation).is_ok()))
    });

    let poller = PollOnce::new();
    group.bench_function("breakwater_closed_call_poll_once", |b| {
        b.iter(|| {
            let result: Result<u64, CallError<io::Error>> =
                poller.run(breaker.call(|| async { operation() }));
            black_box(result.is_ok())
        })
    });
    assert_eq!(breaker.state(), State::Closed);

    let failsafe = failsafe::Config::new().build();
    group.bench_function("failsafe_closed_call", |b| {
        b.iter(|| black_box(failsafe.call(operation).is_ok()))
    });

    let recloser = recloser::Recloser::default();
    group.bench_function("recloser_closed_call", |b| {
        b.iter(|| black_box(recloser.call(operation).is_ok()))
    });
}

fn bench_open(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    // TokioClock outside a runtime reads the OS monotonic clock per rejection.
    let tokio_clocked = open_breaker(CircuitBreaker::new(tripping_config("open_tokio")));
    group.bench_function("breakwater_open_rejected_tokio_clock", |b| {
        b.iter(|| black_box(tokio_clocked.try_acquire().is_err()))
    });
    assert_eq!(tokio_clocked.state(), State::Open);

    // CachedClock: one atomic load per rejection; the driver that would
    // refresh it is not needed while the deadline is a day away.
    let cached = CachedClock::new(TokioClock::new());
    let cached_clocked = open_breaker(
        CircuitBreaker::builder(tripping_config("open_cached"))
            .clock(cached)
            .build(),
    );
    group.bench_function("breakwater_open_rejected_cached_clock", |b| {
        b.iter(|| black_box(cached_clocked.try_acquire().is_err()))
    });

    let manual_clocked = open_breaker(
        CircuitBreaker::builder(tripping_config("open_manual"))
            .clock(ManualClock::new())
            .build(),
    );
    group.bench_function("breakwater_open_rejected_manual_clock", |b| {
        b.iter(|| black_box(manual_clocked.try_acquire().is_err()))
    });

    // The async form also builds a `Rejected` (an Arc clone of the name).
    let poller = PollOnce::new();
    group.bench_function("breakwater_open_rejected_call_cached_clock", |b| {
        b.iter(|| {
            let result: Result<u64, CallError<io::Error>> =
                poller.run(cached_clocked.call(|| async { operation() }));
            black_box(result.is_err())
        })
    });
    assert_eq!(cached_clocked.state(), State::Open);

    let failsafe = failsafe::Config::new().build();
    while failsafe
        .call(|| Err::<u64, _>(io::Error::other("down")))
        .is_ok()
        || failsafe.is_call_permitted()
    {}
    group.bench_function("failsafe_open_rejected", |b| {
        b.iter(|| black_box(failsafe.call(operation).is_err()))
    });

    let recloser = recloser::Recloser::custom().open_wait(OPEN_TIMEOUT).build();
    while !matches!(
        recloser.call(|| Err::<u64, _>(io::Error::other("down"))),
        Err(recloser::Error::Rejected)
    ) {}
    group.bench_function("recloser_open_rejected", |b| {
        b.iter(|| black_box(recloser.call(operation).is_err()))
    });
}

/// A breaker already HalfOpen with one probe success recorded.
fn half_open_breaker() -> CircuitBreaker<ManualClock> {
    let clock = ManualClock::new();
    let config = BreakerConfig::builder("half_open")
        .max_retries(0)
        .open_timeout(Duration::from_secs(1))
        .success_threshold(u32::from(u16::MAX))
        .half_open_max_calls(1)
        .build()
        .expect("a long half-open config is valid");
    let breaker = open_breaker(CircuitBreaker::builder(config).clock(clock.clone()).build());
    clock.advance(Duration::from_secs(2));
    // The first probe makes the Open -> HalfOpen transition (and its event).
    breaker
        .try_acquire()
        .expect("the deadline passed: a probe is admitted")
        .success();
    breaker
}

fn bench_half_open(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    // Each probe success moves the consecutive count up, and the count
    // closes the breaker at success_threshold (at most 65535), so the bench
    // times chunks on fresh HalfOpen breakers, excluding their set-up.
    group.bench_function("breakwater_half_open_probe_success", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(HALF_OPEN_CHUNK);
                let breaker = half_open_breaker();
                let start = Instant::now();
                for _ in 0..chunk {
                    let permit = breaker.try_acquire().expect("a probe slot is free");
                    black_box(operation().is_ok());
                    permit.success();
                }
                elapsed += start.elapsed();
                assert_eq!(
                    breaker.state(),
                    State::HalfOpen,
                    "the chunk stays below the threshold"
                );
                left -= chunk;
            }
            elapsed
        })
    });
}

fn bench_two_threads(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    const THREADS: usize = 2;
    group.bench_function("two_threads_bare_call", |b| {
        b.iter_custom(|iters| {
            time_on_threads(THREADS, iters, || {
                black_box(operation().is_ok());
            })
        })
    });

    // The design's reference point: a single counter every call bumps.
    let shared_counter = AtomicU64::new(0);
    group.bench_function("two_threads_shared_counter_fetch_add", |b| {
        b.iter_custom(|iters| {
            time_on_threads(THREADS, iters, || {
                black_box(operation().is_ok());
                shared_counter.fetch_add(1, Ordering::Relaxed);
            })
        })
    });

    let breaker = CircuitBreaker::new(config("two_threads"));
    group.bench_function("two_threads_breakwater_closed_try_acquire", |b| {
        b.iter_custom(|iters| {
            time_on_threads(THREADS, iters, || {
                black_box(guarded(&breaker).is_ok());
            })
        })
    });

    let failsafe = failsafe::Config::new().build();
    group.bench_function("two_threads_failsafe_closed_call", |b| {
        b.iter_custom(|iters| {
            time_on_threads(THREADS, iters, || {
                black_box(failsafe.call(operation).is_ok());
            })
        })
    });

    let recloser = recloser::Recloser::default();
    group.bench_function("two_threads_recloser_closed_call", |b| {
        b.iter_custom(|iters| {
            time_on_threads(THREADS, iters, || {
                black_box(recloser.call(operation).is_ok());
            })
        })
    });
}

fn breaker_hot_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker");
    bench_closed(&mut group);
    bench_open(&mut group);
    bench_half_open(&mut group);
    bench_two_threads(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = breaker_hot_path
}
criterion_main!(benches);
