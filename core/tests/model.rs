//! Model-based property test: random sequences of calls, outcomes, time
//! advances and concurrently held probes, checked step by step against a
//! small reference model of the breaker contract.

use std::time::Duration;

use breakwater_core::{
    BreakerConfig, CallError, CircuitBreaker, ErrorKind, ManualClock, MetricsSnapshot, Permit,
    State, Status, Transition,
};
use proptest::prelude::*;

/// How an admitted call ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Success,
    Transient(ErrorKind),
    NonRetryable(ErrorKind),
    Cancel,
}

#[derive(Clone, Debug)]
enum Op {
    /// A new call arrives; if admitted it stays in flight until `Finish`.
    Call,
    /// The in-flight call at this index (modulo) ends.
    Finish(usize, End),
    /// Time moves on.
    Advance(Duration),
    /// Somebody reads the state and metrics.
    Read,
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        3 => Just(End::Success),
        3 => prop_oneof![Just(ErrorKind::Connection), Just(ErrorKind::Timeout)].prop_map(End::Transient),
        1 => prop_oneof![Just(ErrorKind::InvalidInput), Just(ErrorKind::Protocol)].prop_map(End::NonRetryable),
        1 => Just(End::Cancel),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Call),
        4 => (any::<usize>(), end()).prop_map(|(i, e)| Op::Finish(i, e)),
        2 => (0u64..1500).prop_map(|ms| Op::Advance(Duration::from_millis(ms))),
        1 => Just(Op::Read),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ModelState {
    Closed { failures: u32 },
    Open { until: Duration },
    HalfOpen { successes: u32, probes: u32 },
}

#[derive(Clone, Copy, Debug)]
struct ModelTicket {
    epoch: u64,
    probe: bool,
}

/// The contract, written as plainly as possible.
struct Model {
    trip: u32,
    success_threshold: u32,
    max_probes: u32,
    open_timeout: Duration,
    state: ModelState,
    epoch: u64,
    outage_start: Duration,
    operations: [u64; Status::COUNT],
    errors: [u64; ErrorKind::COUNT],
    transitions: [u64; 4],
    recoveries: Vec<Duration>,
}

impl Model {
    fn new(config: &BreakerConfig) -> Model {
        Model {
            trip: config.trip_threshold(),
            success_threshold: config.success_threshold(),
            max_probes: config.half_open_max_calls(),
            open_timeout: config.open_timeout(),
            state: ModelState::Closed { failures: 0 },
            epoch: 0,
            outage_start: Duration::ZERO,
            operations: [0; Status::COUNT],
            errors: [0; ErrorKind::COUNT],
            transitions: [0; 4],
            recoveries: Vec::new(),
        }
    }

    fn enter(&mut self, transition: Transition, state: ModelState, now: Duration) {
        self.transitions[transition.index()] += 1;
        self.epoch += 1;
        self.state = state;
        match transition {
            Transition::ClosedToOpen => self.outage_start = now,
            Transition::HalfOpenToClosed => self.recoveries.push(now - self.outage_start),
            _ => {}
        }
    }

    fn state(&mut self, now: Duration) -> State {
        if let ModelState::Open { until } = self.state {
            if now >= until {
                let half = ModelState::HalfOpen {
                    successes: 0,
                    probes: 0,
                };
                self.enter(Transition::OpenToHalfOpen, half, now);
            }
        }
        match self.state {
            ModelState::Closed { .. } => State::Closed,
            ModelState::Open { .. } => State::Open,
            ModelState::HalfOpen { .. } => State::HalfOpen,
        }
    }

    fn admit(&mut self, now: Duration) -> Option<ModelTicket> {
        self.state(now);
        let ticket = match &mut self.state {
            ModelState::Closed { .. } => Some(ModelTicket {
                epoch: self.epoch,
                probe: false,
            }),
            ModelState::Open { .. } => None,
            ModelState::HalfOpen { probes, .. } if *probes < self.max_probes => {
                *probes += 1;
                Some(ModelTicket {
                    epoch: self.epoch,
                    probe: true,
                })
            }
            ModelState::HalfOpen { .. } => None,
        };
        if ticket.is_none() {
            self.operations[Status::Rejected as usize] += 1;
        }
        ticket
    }

    fn finish(&mut self, ticket: ModelTicket, end: End, now: Duration) {
        let status = match end {
            End::Success => Status::Success,
            End::Transient(_) => Status::Failure,
            End::NonRetryable(_) => Status::Ignored,
            End::Cancel => Status::Cancelled,
        };
        self.operations[status as usize] += 1;
        if let End::Transient(kind) | End::NonRetryable(kind) = end {
            self.errors[kind.index()] += 1;
        }
        if ticket.epoch != self.epoch {
            return; // admitted in an earlier epoch: metrics only
        }
        let open = ModelState::Open {
            until: now + self.open_timeout,
        };
        match (self.state, end) {
            (ModelState::Closed { .. }, End::Success) => {
                self.state = ModelState::Closed { failures: 0 }
            }
            (ModelState::Closed { failures }, End::Transient(_)) if failures + 1 >= self.trip => {
                self.enter(Transition::ClosedToOpen, open, now)
            }
            (ModelState::Closed { failures }, End::Transient(_)) => {
                self.state = ModelState::Closed {
                    failures: failures + 1,
                }
            }
            (ModelState::Closed { .. }, _) => {}
            (ModelState::HalfOpen { successes, probes }, End::Success) => {
                assert!(ticket.probe);
                if successes + 1 >= self.success_threshold {
                    self.enter(
                        Transition::HalfOpenToClosed,
                        ModelState::Closed { failures: 0 },
                        now,
                    )
                } else {
                    self.state = ModelState::HalfOpen {
                        successes: successes + 1,
                        probes: probes - 1,
                    }
                }
            }
            (ModelState::HalfOpen { .. }, End::Transient(_)) => {
                self.enter(Transition::HalfOpenToOpen, open, now)
            }
            (ModelState::HalfOpen { successes, probes }, End::NonRetryable(_) | End::Cancel) => {
                self.state = ModelState::HalfOpen {
                    successes,
                    probes: probes - 1,
                }
            }
            (ModelState::Open { .. }, _) => {
                unreachable!("a ticket of the current epoch cannot be Open")
            }
        }
    }

    fn probes(&self) -> u32 {
        match self.state {
            ModelState::HalfOpen { probes, .. } => probes,
            _ => 0,
        }
    }
}

fn assert_matches_model(snapshot: &MetricsSnapshot, model: &mut Model, now: Duration) {
    let state = model.state(now);
    assert_eq!(snapshot.state, state, "state");
    assert_eq!(
        snapshot.state_gauge(),
        state.gauge(),
        "gauge equals the state"
    );
    assert_eq!(
        snapshot.operations, model.operations,
        "operations_total by status"
    );
    assert_eq!(snapshot.errors, model.errors, "errors_total by kind");
    assert_eq!(snapshot.transitions, model.transitions, "transitions_total");
    assert_eq!(
        snapshot.recovery.count,
        model.recoveries.len() as u64,
        "one recovery sample per outage"
    );
    let sum: f64 = model.recoveries.iter().map(Duration::as_secs_f64).sum();
    assert!(
        (snapshot.recovery.sum_seconds - sum).abs() < 1e-6,
        "recovery sum"
    );
}

/// Entries into a state minus exits from it is 1 for the current state and
/// 0 for the others: together with the closed `Transition` enum this shows
/// only the four legal transitions ever happened, in a legal order.
fn assert_transitions_balance(snapshot: &MetricsSnapshot) {
    for state in State::ALL {
        let entries: u64 = Transition::ALL
            .iter()
            .filter(|t| t.to() == state)
            .map(|t| snapshot.transitions(*t))
            .sum::<u64>()
            + u64::from(state == State::Closed);
        let exits: u64 = Transition::ALL
            .iter()
            .filter(|t| t.from() == state)
            .map(|t| snapshot.transitions(*t))
            .sum();
        assert_eq!(
            entries - exits,
            u64::from(snapshot.state == state),
            "flow balance for {state}"
        );
    }
}

fn config(
    max_retries: u32,
    success_threshold: u32,
    probes: u32,
    open_timeout_ms: u64,
) -> BreakerConfig {
    BreakerConfig::builder("model")
        .max_retries(max_retries)
        .success_threshold(success_threshold)
        .half_open_max_calls(probes)
        .open_timeout(Duration::from_millis(open_timeout_ms))
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn breaker_agrees_with_the_model_step_by_step(
        max_retries in 0u32..4,
        success_threshold in 1u32..4,
        probes in 1u32..4,
        open_timeout_ms in 1u64..3000,
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let config = config(max_retries, success_threshold, probes, open_timeout_ms);
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::builder(config.clone()).clock(clock.clone()).build();
        let mut model = Model::new(&config);
        let mut in_flight: Vec<(Permit<'_, ManualClock>, ModelTicket)> = Vec::new();
        let mut calls = 0u64;
        let mut consecutive_failures = 0u32;

        for op in ops {
            let now = clock.now_for_test();
            match op {
                Op::Call => {
                    calls += 1;
                    let expected = model.admit(now);
                    let was_open_before_deadline = matches!(model.state, ModelState::Open { until } if now < until);
                    match (breaker.try_acquire(), expected) {
                        (Ok(permit), Some(ticket)) => {
                            prop_assert!(!was_open_before_deadline, "no operation runs while Open before the deadline");
                            prop_assert_eq!(permit.is_probe(), ticket.probe);
                            in_flight.push((permit, ticket));
                        }
                        (Err(rejection), None) => prop_assert_ne!(rejection.state, State::Closed),
                        (got, want) => prop_assert!(false, "admission differs: breaker {:?}, model {:?}", got.is_ok(), want),
                    }
                }
                Op::Finish(_, _) if in_flight.is_empty() => {}
                Op::Finish(index, end) => {
                    let (permit, ticket) = in_flight.remove(index % in_flight.len());
                    let closed_before = matches!(model.state, ModelState::Closed { .. }) && ticket.epoch == model.epoch;
                    let opens_before = model.transitions[Transition::ClosedToOpen.index()];
                    model.finish(ticket, end, now);
                    match end {
                        End::Success => permit.success(),
                        End::Transient(kind) | End::NonRetryable(kind) => permit.error(kind),
                        End::Cancel => drop(permit),
                    }
                    if closed_before {
                        match end {
                            End::Transient(_) => consecutive_failures += 1,
                            End::Success => consecutive_failures = 0,
                            _ => {}
                        }
                        let tripped = model.transitions[Transition::ClosedToOpen.index()] > opens_before;
                        prop_assert_eq!(tripped, consecutive_failures == config.trip_threshold(),
                            "trips exactly at max_retries + 1 consecutive transient failures");
                        if tripped { consecutive_failures = 0; }
                    }
                }
                Op::Advance(by) => clock.advance(by),
                Op::Read => {
                    let snapshot = breaker.metrics();
                    assert_matches_model(&snapshot, &mut model, clock.now_for_test());
                    assert_transitions_balance(&snapshot);
                }
            }
            prop_assert!(breaker.probes_in_flight() <= config.half_open_max_calls(), "probe bound");
            prop_assert_eq!(breaker.probes_in_flight(), model.probes(), "probes in flight");
        }
        drop(in_flight.drain(..).map(|(p, t)| { model.finish(t, End::Cancel, clock.now_for_test()); p }).collect::<Vec<_>>());
        let snapshot = breaker.metrics();
        assert_matches_model(&snapshot, &mut model, clock.now_for_test());
        assert_transitions_balance(&snapshot);
        prop_assert_eq!(snapshot.operations_total(), calls, "operations_total by status sums to the number of calls");
    }

    /// The async `call` form: attempts, backoff budget and accounting.
    #[test]
    fn call_bounds_attempts_and_backoff_and_counts_every_call(
        max_retries in 0u32..5,
        max_delay_ms in 0u64..3000,
        base_delay_ms in 1u64..500,
        seed in any::<u64>(),
        scripts in prop::collection::vec(prop::collection::vec(0u8..4, 1..8), 1..40),
    ) {
        let config = BreakerConfig::builder("call")
            .max_retries(max_retries)
            .max_delay(Duration::from_millis(max_delay_ms))
            .base_delay(Duration::from_millis(base_delay_ms))
            .open_timeout(Duration::from_secs(1))
            .success_threshold(1)
            .build()
            .unwrap();
        let clock = ManualClock::new();
        let breaker = CircuitBreaker::builder(config.clone()).clock(clock.clone()).seed(seed).build();
        let mut total_attempts = 0u64;
        for script in &scripts {
            let mut attempts = 0usize;
            let started = clock.now_for_test();
            let result = futures::executor::block_on(breaker.call(|| {
                let step = script.get(attempts).copied().unwrap_or(0);
                attempts += 1;
                async move {
                    match step {
                        0 => Ok(()),
                        1 => Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
                        2 => Err(std::io::Error::from(std::io::ErrorKind::TimedOut)),
                        _ => Err(std::io::Error::from(std::io::ErrorKind::InvalidInput)),
                    }
                }
            }));
            let slept = clock.now_for_test() - started;
            total_attempts += attempts as u64;
            prop_assert!(attempts as u32 <= 1 + max_retries, "at most 1 + max_retries attempts");
            prop_assert!(slept <= config.max_delay(), "total backoff sleep {:?} <= max_delay", slept);
            match result {
                Ok(()) => prop_assert_eq!(script.get(attempts - 1).copied().unwrap_or(0), 0),
                Err(CallError::Failed { attempts: n, .. }) => prop_assert_eq!(n as usize, attempts),
                Err(CallError::NotRetried(_)) => prop_assert_eq!(script[attempts - 1], 3),
                Err(CallError::Rejected(_)) => prop_assert_eq!(attempts, 0),
            }
            // Let an open breaker reach HalfOpen now and then.
            clock.advance(Duration::from_millis(300));
        }
        let snapshot = breaker.metrics();
        prop_assert_eq!(snapshot.operations_total(), scripts.len() as u64);
        // Every call that ran made 1 + retries attempts; rejected calls made none.
        prop_assert_eq!(snapshot.retries + scripts.len() as u64, total_attempts + snapshot.operations(Status::Rejected),
            "retries_total counts retries that ran");
        let failed_attempts: u64 = snapshot.errors.iter().sum();
        prop_assert_eq!(failed_attempts, total_attempts - snapshot.operations(Status::Success), "every failed attempt counted");
        assert_transitions_balance(&snapshot);
    }
}

/// `ManualClock::now` through the `Clock` trait, without importing it into
/// every expression above.
trait NowForTest {
    fn now_for_test(&self) -> Duration;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> Duration {
        breakwater_core::Clock::now(self)
    }
}
