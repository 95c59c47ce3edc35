//! Model checks of the atomic state machine with loom: every interleaving
//! of the racing threads is explored.
//!
//! Run with:
//! `RUSTFLAGS="--cfg breakwater_loom" cargo test -p breakwater-core --test loom --release --target-dir target/loom`
#![cfg(breakwater_loom)]

use std::time::Duration;

use breakwater_core::machine::{Admit, Machine, Outcome};
use breakwater_core::{BreakerConfig, State, Transition};
use loom::sync::Arc;

fn machine(probes: u32) -> Machine {
    let config = BreakerConfig::builder("loom")
        .max_retries(0)
        .success_threshold(1)
        .half_open_max_calls(probes)
        .open_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Machine::new(&config)
}

/// Opens the machine at t=0 (deadline t=10s).
fn open(m: &Machine) {
    let ticket = m.admit(Admit::Any, || Duration::ZERO).0.unwrap();
    let change = m
        .record(ticket, Outcome::Failure, || Duration::ZERO)
        .unwrap();
    assert_eq!(change.transition, Transition::ClosedToOpen);
}

fn race_past_deadline(threads: usize, probes: u32) {
    loom::model(move || {
        let m = Arc::new(machine(probes));
        open(&m);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let m = Arc::clone(&m);
                loom::thread::spawn(move || m.admit(Admit::Any, || Duration::from_secs(10)))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let admitted = results.iter().filter(|(r, _)| r.is_ok()).count();
        let transitions = results.iter().filter(|(_, c)| c.is_some()).count();
        assert_eq!(transitions, 1, "exactly one Open->HalfOpen");
        assert_eq!(
            admitted,
            threads.min(probes as usize),
            "probe slots honoured"
        );
        for (result, _) in &results {
            if let Err(rejection) = result {
                // Losing the race is an ordinary HalfOpen rejection, never an error.
                assert_eq!(rejection.state, State::HalfOpen);
            }
        }
        assert_eq!(m.probes_in_flight(), admitted as u32);
    });
}

#[test]
fn racers_past_the_deadline_cause_one_transition_and_one_probe() {
    race_past_deadline(3, 1);
}

#[test]
fn racers_past_the_deadline_get_at_most_half_open_max_calls_probes() {
    race_past_deadline(3, 2);
}

#[test]
fn a_state_read_racing_an_admission_transitions_once() {
    loom::model(|| {
        let m = Arc::new(machine(1));
        open(&m);
        let reader = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || m.state(|| Duration::from_secs(10)))
        };
        let (admission, change_a) = m.admit(Admit::Any, || Duration::from_secs(10));
        let (state, change_b) = reader.join().unwrap();
        assert_eq!(state, State::HalfOpen);
        assert!(admission.is_ok(), "the reader takes no probe slot");
        assert_eq!(
            u8::from(change_a.is_some()) + u8::from(change_b.is_some()),
            1
        );
    });
}

#[test]
fn a_caller_racing_the_trip_never_runs_before_the_deadline() {
    loom::model(|| {
        let m = Arc::new(machine(1));
        let ticket = m.admit(Admit::Any, || Duration::ZERO).0.unwrap();
        let tripper = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || m.record(ticket, Outcome::Failure, || Duration::ZERO))
        };
        // Arrives at t=5s, before the t=10s deadline: admitted only if it
        // saw Closed (linearised before the trip), never as a probe.
        let (admission, change) = m.admit(Admit::Any, || Duration::from_secs(5));
        assert!(change.is_none());
        if let Ok(ticket) = admission {
            assert_eq!(ticket.role(), breakwater_core::machine::Role::Normal);
        }
        tripper.join().unwrap();
        assert_eq!(m.stored_state(), State::Open);
    });
}

#[test]
fn concurrent_probe_outcomes_close_or_reopen_exactly_once() {
    loom::model(|| {
        let m = Arc::new(machine(2));
        open(&m);
        let a = m.admit(Admit::Any, || Duration::from_secs(10)).0.unwrap();
        let b = m.admit(Admit::Any, || Duration::from_secs(10)).0.unwrap();
        let other = {
            let m = Arc::clone(&m);
            loom::thread::spawn(move || m.record(b, Outcome::Failure, || Duration::from_secs(11)))
        };
        let mine = m.record(a, Outcome::Success, || Duration::from_secs(11));
        let theirs = other.join().unwrap();
        // success_threshold is 1: whichever lands first decides; the other is stale.
        let changes: Vec<_> = [mine, theirs].into_iter().flatten().collect();
        assert_eq!(changes.len(), 1);
        let expected = match changes[0].transition {
            Transition::HalfOpenToClosed => State::Closed,
            Transition::HalfOpenToOpen => State::Open,
            other => panic!("illegal {other}"),
        };
        assert_eq!(m.stored_state(), expected);
        assert_eq!(m.probes_in_flight(), 0);
    });
}
