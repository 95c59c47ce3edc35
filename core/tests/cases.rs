//! The named cases of the breaker contract, each a behaviour sentence.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use breakwater_core::{
    BreakerConfig, CallError, CircuitBreaker, Clock, ErrorKind, FullJitter, ManualClock, State,
    Status, Transition,
};

fn io(kind: std::io::ErrorKind) -> std::io::Error {
    std::io::Error::from(kind)
}

fn config(max_retries: u32, probes: u32) -> BreakerConfig {
    BreakerConfig::builder("case")
        .max_retries(max_retries)
        .half_open_max_calls(probes)
        .success_threshold(2)
        .open_timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn manual(config: BreakerConfig) -> (CircuitBreaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (
        CircuitBreaker::builder(config).clock(clock.clone()).build(),
        clock,
    )
}

fn trip(breaker: &CircuitBreaker<ManualClock>) {
    for _ in 0..breaker.config().trip_threshold() {
        breaker
            .try_acquire()
            .expect("closed")
            .error(ErrorKind::Connection);
    }
    assert_eq!(breaker.state(), State::Open);
}

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    future.poll(&mut Context::from_waker(&waker))
}

#[test]
fn one_probe_slot_and_100_callers_at_the_deadline_admit_exactly_one() {
    let (breaker, clock) = manual(config(0, 1));
    trip(&breaker);
    let failures_before = breaker.metrics().operations(Status::Failure);
    clock.advance(Duration::from_secs(30));
    let barrier = Arc::new(Barrier::new(100));
    let admitted = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let breaker = &breaker;
                scope.spawn(move || {
                    barrier.wait();
                    // Keep the permit until every thread has tried.
                    let permit = breaker.try_acquire();
                    let admitted = permit.is_ok();
                    barrier.wait();
                    if let Ok(permit) = permit {
                        permit.success();
                    }
                    admitted
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<bool>>()
    });
    assert_eq!(
        admitted.iter().filter(|a| **a).count(),
        1,
        "exactly one probe admitted"
    );
    let m = breaker.metrics();
    assert_eq!(m.operations(Status::Rejected), 99);
    assert_eq!(
        m.operations(Status::Failure),
        failures_before,
        "rejections are not failures"
    );
    assert_eq!(
        m.transitions(Transition::OpenToHalfOpen),
        1,
        "one Open->HalfOpen however many race"
    );
}

#[tokio::test(start_paused = true)]
async fn one_probe_slot_and_100_async_callers_admit_exactly_one() {
    let breaker = CircuitBreaker::new(config(0, 1));
    let _ = breaker
        .call(|| async { Err::<(), _>(io(std::io::ErrorKind::ConnectionRefused)) })
        .await;
    assert_eq!(breaker.state(), State::Open);
    tokio::time::advance(Duration::from_secs(30)).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let breaker = breaker.clone();
            tokio::spawn(async move {
                breaker
                    .call(|| async {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        Ok::<_, std::io::Error>(())
                    })
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    let mut rejected = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(CallError::Rejected(r)) => {
                assert_eq!(r.state, State::HalfOpen);
                rejected += 1
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, rejected), (1, 99));
    assert_eq!(
        breaker.metrics().operations(Status::Failure),
        1,
        "only the tripping call failed"
    );
}

#[test]
fn probe_ending_in_non_retryable_error_lets_the_next_probe_in() {
    let (breaker, clock) = manual(config(0, 1));
    trip(&breaker);
    clock.advance(Duration::from_secs(30));
    let probe = breaker.try_acquire().expect("probe admitted");
    assert!(probe.is_probe());
    assert!(breaker.try_acquire().is_err(), "slot taken");
    probe.error(ErrorKind::InvalidInput);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "neither success nor failure"
    );
    let next = breaker.try_acquire().expect("slot freed");
    next.success();
    assert_eq!(breaker.metrics().operations(Status::Ignored), 1);
}

#[test]
fn dropping_a_probe_future_frees_its_slot() {
    let (breaker, clock) = manual(config(0, 1));
    trip(&breaker);
    clock.advance(Duration::from_secs(30));
    {
        let mut call = pin!(breaker.call(futures::future::pending::<Result<(), std::io::Error>>));
        assert!(poll_once(call.as_mut()).is_pending());
        assert_eq!(breaker.probes_in_flight(), 1);
    }
    assert_eq!(breaker.probes_in_flight(), 0);
    assert!(breaker.try_acquire().is_ok(), "next probe admitted");
    let m = breaker.metrics();
    assert_eq!(
        m.operations(Status::Cancelled),
        2,
        "the dropped call and the dropped permit"
    );
}

#[test]
fn late_failures_from_before_the_trip_neither_move_the_deadline_nor_reopen() {
    let (breaker, clock) = manual(config(1, 1));
    let stragglers: Vec<_> = (0..5).map(|_| breaker.try_acquire().unwrap()).collect();
    trip(&breaker);
    let deadline_left = breaker.try_acquire().unwrap_err().retry_after.unwrap();
    assert_eq!(deadline_left, Duration::from_secs(30));
    clock.advance(Duration::from_secs(10));
    for permit in stragglers {
        permit.error(ErrorKind::Timeout);
    }
    let m = breaker.metrics();
    assert_eq!(
        m.transitions(Transition::ClosedToOpen),
        1,
        "no second open event"
    );
    assert_eq!(m.operations(Status::Failure), 2 + 5, "counted in metrics");
    let left = breaker.try_acquire().unwrap_err().retry_after.unwrap();
    assert_eq!(left, Duration::from_secs(20), "deadline not moved");
}

#[test]
fn after_open_timeout_without_traffic_the_state_reads_half_open_with_gauge_2() {
    let (breaker, clock) = manual(config(0, 1));
    trip(&breaker);
    clock.advance(Duration::from_millis(29_999));
    assert_eq!(breaker.metrics().state_gauge(), 1);
    clock.advance(Duration::from_millis(1));
    assert_eq!(breaker.state(), State::HalfOpen);
    let m = breaker.metrics();
    assert_eq!(m.state_gauge(), 2);
    assert_eq!(
        m.transitions(Transition::OpenToHalfOpen),
        1,
        "read twice, transitioned once"
    );
}

/// A clock that records every sleep, to see the backoff the breaker chose.
#[derive(Clone, Default)]
struct RecordingClock {
    inner: ManualClock,
    sleeps: Arc<Mutex<Vec<Duration>>>,
}

impl Clock for RecordingClock {
    type Sleep = std::future::Ready<()>;
    fn now(&self) -> Duration {
        self.inner.now()
    }
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        self.sleeps.lock().unwrap().push(duration);
        self.inner.sleep(duration)
    }
}

fn backoffs(seed: u64, max_delay: Duration) -> Vec<Duration> {
    let config = BreakerConfig::builder("backoff")
        .max_retries(6)
        .base_delay(Duration::from_millis(100))
        .max_delay(max_delay)
        .build()
        .unwrap();
    let clock = RecordingClock::default();
    let breaker = CircuitBreaker::builder(config)
        .clock(clock.clone())
        .seed(seed)
        .build();
    let result = futures::executor::block_on(
        breaker.call(|| async { Err::<(), _>(io(std::io::ErrorKind::TimedOut)) }),
    );
    assert!(matches!(result, Err(CallError::Failed { .. })));
    let sleeps = clock.sleeps.lock().unwrap().clone();
    sleeps
}

#[test]
fn with_a_fixed_seed_the_nth_backoff_lies_within_its_jitter_window() {
    let jitter = FullJitter::new(Duration::from_millis(100));
    for seed in 0..200 {
        let max_delay = Duration::from_millis(500 + seed * 17);
        let sleeps = backoffs(seed, max_delay);
        let mut remaining = max_delay;
        for (n, sleep) in sleeps.iter().enumerate() {
            let ceiling = jitter.ceiling(n as u32).min(remaining);
            assert!(
                *sleep <= ceiling,
                "seed {seed}: backoff {n} = {sleep:?} > {ceiling:?}"
            );
            remaining -= *sleep;
        }
        assert_eq!(
            sleeps,
            backoffs(seed, max_delay),
            "same seed, same backoffs"
        );
    }
    assert_ne!(
        backoffs(1, Duration::from_secs(60)),
        backoffs(2, Duration::from_secs(60))
    );
}

#[test]
fn trips_at_exactly_max_retries_plus_one_consecutive_failures_across_calls() {
    let (breaker, _clock) = manual(config(3, 1));
    for _ in 0..3 {
        breaker.try_acquire().unwrap().error(ErrorKind::Timeout);
    }
    assert_eq!(breaker.state(), State::Closed);
    breaker.try_acquire().unwrap().success();
    for _ in 0..3 {
        breaker.try_acquire().unwrap().error(ErrorKind::Timeout);
    }
    assert_eq!(breaker.state(), State::Closed, "a success reset the streak");
    breaker.try_acquire().unwrap().error(ErrorKind::Connection);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn closes_after_exactly_success_threshold_probe_successes_and_records_recovery() {
    let (breaker, clock) = manual(config(0, 1));
    trip(&breaker);
    clock.advance(Duration::from_secs(30));
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.state(), State::HalfOpen);
    clock.advance(Duration::from_secs(2));
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.state(), State::Closed);
    let m = breaker.metrics();
    assert_eq!(m.recovery.count, 1);
    assert!((m.recovery.sum_seconds - 32.0).abs() < 1e-9);
}

#[test]
fn a_retry_that_meets_an_open_breaker_fails_the_call_without_running() {
    let (breaker, _clock) = manual(config(1, 1));
    // Another caller's failure leaves the streak at 1; ours trips it on the
    // first attempt, so the retry must be refused.
    breaker.try_acquire().unwrap().error(ErrorKind::Timeout);
    let mut runs = 0;
    let result = futures::executor::block_on(breaker.call(|| {
        runs += 1;
        async { Err::<(), _>(io(std::io::ErrorKind::TimedOut)) }
    }));
    assert_eq!(runs, 1);
    match result {
        Err(CallError::Failed {
            attempts,
            last_error,
        }) => {
            assert_eq!(attempts, 1);
            assert_eq!(last_error.kind(), std::io::ErrorKind::TimedOut);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn rejection_error_names_the_breaker_state_and_time_to_next_probe() {
    let (breaker, clock) = manual(config(0, 1));
    trip(&breaker);
    clock.advance(Duration::from_secs(12));
    let err = futures::executor::block_on(breaker.call(|| async { Ok::<(), std::io::Error>(()) }))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "circuit breaker `case` is open; next probe in 18s"
    );
    assert!(err.is_rejected());
    let value = futures::executor::block_on(breaker.call_with_fallback(
        || async { Ok::<u8, std::io::Error>(1) },
        |e| if e.is_rejected() { 7 } else { 0 },
    ));
    assert_eq!(value, 7);
}

#[test]
fn non_retryable_errors_pass_through_unretried_and_are_counted() {
    let (breaker, _clock) = manual(config(3, 1));
    let mut runs = 0;
    let err = futures::executor::block_on(breaker.call(|| {
        runs += 1;
        async { Err::<(), _>(io(std::io::ErrorKind::InvalidInput)) }
    }))
    .unwrap_err();
    assert_eq!(runs, 1);
    assert!(matches!(err, CallError::NotRetried(_)));
    let m = breaker.metrics();
    assert_eq!(m.errors(ErrorKind::InvalidInput), 1);
    assert_eq!(m.operations(Status::Ignored), 1);
    assert_eq!(m.state, State::Closed);
}

#[test]
fn a_clock_counting_from_the_unix_epoch_still_waits_the_full_open_timeout() {
    let clock = ManualClock::new();
    clock.set(Duration::from_secs(1_700_000_000));
    let breaker = CircuitBreaker::builder(config(0, 1))
        .clock(clock.clone())
        .build();
    trip(&breaker);
    clock.advance(Duration::from_secs(29));
    assert_eq!(breaker.state(), State::Open);
    clock.advance(Duration::from_secs(1));
    assert_eq!(breaker.state(), State::HalfOpen);
    breaker.try_acquire().unwrap().success();
    breaker.try_acquire().unwrap().success();
    assert!((breaker.metrics().recovery.sum_seconds - 30.0).abs() < 1e-9);
}

#[test]
fn half_open_is_never_reached_even_a_nanosecond_early() {
    let (breaker, clock) = manual(config(0, 1));
    clock.set(Duration::from_nanos(1_500));
    trip(&breaker);
    clock.set(Duration::from_nanos(30_000_001_499));
    assert_eq!(breaker.state(), State::Open);
    // Deadlines are kept in whole microseconds, rounded so they are at most
    // one microsecond late.
    clock.advance(Duration::from_micros(1));
    assert_eq!(breaker.state(), State::HalfOpen);
}

#[test]
fn unreachable_network_errors_are_connection_errors() {
    use breakwater_core::Classify;
    for kind in [
        std::io::ErrorKind::NetworkUnreachable,
        std::io::ErrorKind::HostUnreachable,
        std::io::ErrorKind::NetworkDown,
        std::io::ErrorKind::ConnectionRefused,
    ] {
        assert_eq!(Classify::kind(&io(kind)), ErrorKind::Connection, "{kind:?}");
    }
    assert_eq!(
        Classify::kind(&io(std::io::ErrorKind::TimedOut)),
        ErrorKind::Timeout
    );
}

#[tokio::test(start_paused = true)]
async fn a_cached_clock_notices_the_deadline_late_but_never_early() {
    let cached = breakwater_core::CachedClock::new(breakwater_core::TokioClock::new());
    tokio::spawn(cached.clone().drive(Duration::from_millis(100)));
    let config = BreakerConfig::builder("cached")
        .max_retries(0)
        .open_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder(config).clock(cached).build();
    tokio::time::sleep(Duration::from_millis(5_099)).await;
    let tripped_at = tokio::time::Instant::now();
    breaker.try_acquire().unwrap().error(ErrorKind::Connection);
    loop {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if breaker.state() == State::HalfOpen {
            break;
        }
    }
    let waited = tripped_at.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "HalfOpen after {waited:?}"
    );
    assert!(
        waited <= Duration::from_millis(1_101),
        "at most one resolution late: {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_really_slept_stays_within_max_delay_on_tokio_timers() {
    let config = BreakerConfig::builder("budget")
        .max_retries(50)
        .base_delay(Duration::from_micros(300))
        .max_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    for seed in 0..20 {
        let breaker = CircuitBreaker::builder(config.clone()).seed(seed).build();
        let started = tokio::time::Instant::now();
        let _ = breaker
            .call(|| async { Err::<(), _>(io(std::io::ErrorKind::TimedOut)) })
            .await;
        let slept = started.elapsed();
        assert!(
            slept <= Duration::from_millis(20),
            "seed {seed}: slept {slept:?}"
        );
    }
}

#[test]
fn a_call_whose_failure_trips_the_breaker_stops_without_sleeping_or_counting_a_retry() {
    let (breaker, clock) = manual(config(1, 1));
    let result = futures::executor::block_on(breaker.call(|| {
        // Someone else's failure lands while this attempt runs.
        breaker.try_acquire().unwrap().error(ErrorKind::Connection);
        async { Err::<(), _>(io(std::io::ErrorKind::ConnectionReset)) }
    }));
    assert!(matches!(result, Err(CallError::Failed { attempts: 1, .. })));
    assert_eq!(
        clock.now(),
        Duration::ZERO,
        "no backoff sleep after the trip"
    );
    assert_eq!(breaker.metrics().retries, 0);
}

#[test]
fn manual_clock_refuses_to_go_backwards_and_keeps_its_time() {
    let clock = ManualClock::new();
    clock.set(Duration::from_secs(10));
    let result = std::panic::catch_unwind(|| clock.set(Duration::from_secs(1)));
    assert!(result.is_err());
    assert_eq!(clock.now(), Duration::from_secs(10));
}

#[test]
fn guard_runs_a_sync_operation_once_and_records_its_outcome() {
    let (breaker, clock) = manual(config(1, 1));
    assert_eq!(breaker.guard(|| Ok::<_, std::io::Error>(5)).unwrap(), 5);
    let mut runs = 0;
    let failed = breaker.guard(|| {
        runs += 1;
        Err::<(), _>(io(std::io::ErrorKind::TimedOut))
    });
    assert!(
        matches!(failed, Err(CallError::Failed { attempts: 1, .. })),
        "no retries in the sync form"
    );
    assert_eq!(runs, 1);
    let ignored = breaker.guard(|| Err::<(), _>(io(std::io::ErrorKind::InvalidInput)));
    assert!(matches!(ignored, Err(CallError::NotRetried(_))));
    let _ = breaker.guard(|| Err::<(), _>(io(std::io::ErrorKind::ConnectionReset)));
    assert_eq!(
        breaker.state(),
        State::Open,
        "two consecutive transient failures trip it"
    );
    let rejected =
        breaker.guard(|| -> Result<(), std::io::Error> { panic!("must not run while Open") });
    assert!(rejected.unwrap_err().is_rejected());
    clock.advance(Duration::from_secs(30));
    breaker.guard(|| Ok::<_, std::io::Error>(())).unwrap();
    assert_eq!(breaker.state(), State::HalfOpen, "success_threshold 2");
    let m = breaker.metrics();
    assert_eq!(m.operations, [2, 2, 1, 1, 0]);
    assert_eq!(
        m.errors(ErrorKind::Timeout) + m.errors(ErrorKind::Connection),
        2
    );
}
