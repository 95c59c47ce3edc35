//! The sans-IO breaker state machine: admission decisions and outcome
//! recording over two atomic words, with time passed in by the caller.
//!
//! Everything a transition must change at once (state, epoch, consecutive
//! count, probes in flight) lives in one 64-bit word so every transition is a
//! single compare-and-swap. Layout, low bits first:
//!
//! | bits   | field                                                       |
//! |--------|-------------------------------------------------------------|
//! | 0..2   | state (0 closed, 1 open, 2 half-open)                       |
//! | 2..16  | probes in flight (HalfOpen)                                 |
//! | 16..32 | consecutive failures (Closed) or probe successes (HalfOpen) |
//! | 32..64 | epoch, bumped by every transition                           |
//!
//! The epoch is how outcomes of calls admitted in an earlier state are told
//! apart: they carry the epoch they were admitted in, and a mismatch means
//! "count it in metrics, change nothing". A 32-bit epoch would only alias
//! after 2^32 transitions during a single call.
//!
//! The Open deadline sits in a second word: 56 bits of microseconds (over two
//! thousand years of clock value, so clocks counting from the UNIX epoch work
//! too), tagged with the low 8 bits of the epoch that set it. It is written right after the CAS into Open, so a
//! reader that sees Open but a stale tag knows the deadline is not written
//! yet, i.e. the breaker has only just opened: it rejects. (A stale deadline
//! could only carry a matching tag if 256 transitions happened between one
//! CAS and the store right after it.)

use std::time::Duration;

use crate::config::BreakerConfig;
use crate::state::{State, Transition};
use crate::sync::{AtomicU64, Ordering};

const STATE_MASK: u64 = 0b11;
const PROBES_SHIFT: u32 = 2;
const PROBES_MASK: u64 = (1 << 14) - 1;
const COUNT_SHIFT: u32 = 16;
const COUNT_MASK: u64 = (1 << 16) - 1;
const EPOCH_SHIFT: u32 = 32;

const DEADLINE_BITS: u32 = 56;
const DEADLINE_MASK: u64 = (1 << DEADLINE_BITS) - 1;

/// One snapshot of the packed state word.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Word(u64);

impl Word {
    fn new(state: State, epoch: u32, count: u32, probes: u32) -> Word {
        debug_assert!(u64::from(count) <= COUNT_MASK, "count overflows its field");
        debug_assert!(
            u64::from(probes) <= PROBES_MASK,
            "probes overflow their field"
        );
        Word(
            state as u64
                | (u64::from(probes) << PROBES_SHIFT)
                | (u64::from(count) << COUNT_SHIFT)
                | (u64::from(epoch) << EPOCH_SHIFT),
        )
    }
    #[inline]
    fn state(self) -> State {
        match self.0 & STATE_MASK {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            other => unreachable!("state word holds invalid state {other}"),
        }
    }
    /// Closed is state 0: one mask, no decoding.
    #[inline]
    fn is_closed(self) -> bool {
        self.0 & STATE_MASK == 0
    }
    #[inline]
    fn probes(self) -> u32 {
        ((self.0 >> PROBES_SHIFT) & PROBES_MASK) as u32
    }
    #[inline]
    fn count(self) -> u32 {
        ((self.0 >> COUNT_SHIFT) & COUNT_MASK) as u32
    }
    #[inline]
    fn epoch(self) -> u32 {
        (self.0 >> EPOCH_SHIFT) as u32
    }
    fn with_count(self, count: u32) -> Word {
        Word::new(self.state(), self.epoch(), count, self.probes())
    }
    fn with_probes(self, probes: u32) -> Word {
        Word::new(self.state(), self.epoch(), self.count(), probes)
    }
    /// The first word of the next epoch in `state`, counters cleared.
    fn next(self, state: State) -> Word {
        Word::new(state, self.epoch().wrapping_add(1), 0, 0)
    }
}

/// How a call was admitted: it decides what its outcome may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Admitted while Closed: counts toward (or resets) the failure streak.
    Normal,
    /// Admitted as a HalfOpen probe: holds one of the probe slots.
    Probe,
}

/// Proof of admission; hand it back to [`Machine::record`] exactly once.
/// Deliberately neither `Clone` nor `Copy`: recording one admission twice
/// would free somebody else's probe slot.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an admitted call must record its outcome, or a probe slot leaks"]
pub struct Ticket {
    epoch: u32,
    role: Role,
}

impl Ticket {
    /// How the call was admitted.
    pub fn role(&self) -> Role {
        self.role
    }
}

/// Why a call was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The state that rejected it (Open, or HalfOpen with every slot taken).
    pub state: State,
    /// Time until probes are allowed, when the breaker is Open.
    pub retry_after: Option<Duration>,
}

/// The end of an admitted call, as far as the state machine cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The operation succeeded.
    Success,
    /// A retryable failure.
    Failure,
    /// A non-retryable error: neither success nor failure.
    Ignored,
    /// The caller dropped the call before it finished.
    Cancelled,
}

/// A state change made by one `admit`, `record` or `state` call. Exactly one
/// caller observes each transition, so it is the one to emit events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Which transition.
    pub transition: Transition,
    /// When, on the caller's clock.
    pub at: Duration,
    /// For HalfOpen -> Closed: time since the Closed -> Open that began the
    /// outage (one sample per outage).
    pub recovery: Option<Duration>,
}

/// Which admissions a caller accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// A fresh call: Closed admission or a HalfOpen probe.
    Any,
    /// A retry: only while Closed, since retries never become probes.
    ClosedOnly,
}

/// The lock-free breaker state machine.
#[derive(Debug)]
pub struct Machine {
    word: AtomicU64,
    deadline: AtomicU64,
    outage_start_nanos: AtomicU64,
    trip_threshold: u32,
    success_threshold: u32,
    half_open_max_calls: u32,
    open_timeout_micros: u64,
}

impl Machine {
    /// A Closed machine for `config`.
    pub fn new(config: &BreakerConfig) -> Machine {
        Machine {
            word: AtomicU64::new(Word::new(State::Closed, 0, 0, 0).0),
            deadline: AtomicU64::new(u64::MAX),
            outage_start_nanos: AtomicU64::new(0),
            trip_threshold: config.trip_threshold(),
            success_threshold: config.success_threshold(),
            half_open_max_calls: config.half_open_max_calls(),
            open_timeout_micros: micros_ceil(config.open_timeout()),
        }
    }

    /// The Closed fast path of [`Machine::admit`]: one atomic load, inlined
    /// into the caller; `None` means "not Closed, ask `admit`".
    #[inline(always)]
    pub fn admit_closed(&self) -> Option<Ticket> {
        let word = Word(self.word.load(Ordering::Acquire));
        word.is_closed().then(|| Ticket {
            epoch: word.epoch(),
            role: Role::Normal,
        })
    }

    /// The Open fast path of [`Machine::admit`]: a rejection decided with two
    /// atomic loads and no CAS, or `None` for "not Open before its deadline,
    /// ask `admit`". Changes nothing, so it needs no retry loop.
    #[inline]
    pub fn reject_while_open(&self, now: impl FnOnce() -> Duration) -> Option<Rejection> {
        let word = Word(self.word.load(Ordering::Acquire));
        if word.0 & STATE_MASK != State::Open as u64 {
            return None;
        }
        let left = self.open_remaining(word, now())?;
        Some(Rejection {
            state: State::Open,
            retry_after: Some(left),
        })
    }

    /// Decides whether a call may run. `now` is only called when the
    /// breaker is Open, so the Closed path is one atomic load.
    pub fn admit(
        &self,
        admit: Admit,
        now: impl FnOnce() -> Duration,
    ) -> (Result<Ticket, Rejection>, Option<Change>) {
        let mut word = Word(self.word.load(Ordering::Acquire));
        if word.state() == State::Closed {
            return (
                Ok(Ticket {
                    epoch: word.epoch(),
                    role: Role::Normal,
                }),
                None,
            );
        }
        let mut now = Lazy::new(now);
        loop {
            match word.state() {
                State::Closed => {
                    return (
                        Ok(Ticket {
                            epoch: word.epoch(),
                            role: Role::Normal,
                        }),
                        None,
                    );
                }
                _ if admit == Admit::ClosedOnly => {
                    let retry_after = self.open_remaining(word, now.get());
                    return (
                        Err(Rejection {
                            state: word.state(),
                            retry_after,
                        }),
                        None,
                    );
                }
                State::Open => {
                    let at = now.get();
                    if let Some(left) = self.open_remaining(word, at) {
                        return (
                            Err(Rejection {
                                state: State::Open,
                                retry_after: Some(left),
                            }),
                            None,
                        );
                    }
                    // Deadline passed: move to HalfOpen holding the first probe.
                    let next = word.next(State::HalfOpen).with_probes(1);
                    match self.cas(word, next) {
                        Ok(()) => {
                            let ticket = Ticket {
                                epoch: next.epoch(),
                                role: Role::Probe,
                            };
                            let change = Change {
                                transition: Transition::OpenToHalfOpen,
                                at,
                                recovery: None,
                            };
                            return (Ok(ticket), Some(change));
                        }
                        Err(seen) => word = seen,
                    }
                }
                State::HalfOpen => {
                    if word.probes() >= self.half_open_max_calls {
                        return (
                            Err(Rejection {
                                state: State::HalfOpen,
                                retry_after: None,
                            }),
                            None,
                        );
                    }
                    let next = word.with_probes(word.probes() + 1);
                    match self.cas(word, next) {
                        Ok(()) => {
                            return (
                                Ok(Ticket {
                                    epoch: word.epoch(),
                                    role: Role::Probe,
                                }),
                                None,
                            )
                        }
                        Err(seen) => word = seen,
                    }
                }
            }
        }
    }

    /// Records the outcome of an admitted call. Outcomes from an earlier
    /// epoch change nothing.
    #[inline(always)]
    pub fn record(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        now: impl FnOnce() -> Duration,
    ) -> Option<Change> {
        if ticket.role == Role::Normal && outcome == Outcome::Success {
            // The common case, read-only and inlined: a success while Closed
            // with no failure streak to reset changes nothing.
            let word = Word(self.word.load(Ordering::Acquire));
            // Epoch and count are adjacent fields: with the count zero the
            // word's top 48 bits are exactly `epoch << 16`.
            if word.epoch() != ticket.epoch
                || word.0 >> COUNT_SHIFT == u64::from(ticket.epoch) << 16
            {
                return None;
            }
        }
        self.record_slow(ticket, outcome, now)
    }

    fn record_slow(
        &self,
        ticket: Ticket,
        outcome: Outcome,
        now: impl FnOnce() -> Duration,
    ) -> Option<Change> {
        let mut now = Lazy::new(now);
        let mut word = Word(self.word.load(Ordering::Acquire));
        loop {
            if word.epoch() != ticket.epoch {
                return None;
            }
            let next = match (ticket.role, outcome) {
                (Role::Normal, Outcome::Success) => {
                    debug_assert_eq!(
                        word.state(),
                        State::Closed,
                        "a Normal ticket's epoch is a Closed epoch"
                    );
                    if word.count() == 0 {
                        // Nothing changed: no write, so the hot path stays read-only.
                        return None;
                    }
                    word.with_count(0)
                }
                (Role::Normal, Outcome::Failure) => {
                    debug_assert_eq!(word.state(), State::Closed);
                    let failures = word.count() + 1;
                    if failures >= self.trip_threshold {
                        word.next(State::Open)
                    } else {
                        word.with_count(failures)
                    }
                }
                (Role::Normal, Outcome::Ignored | Outcome::Cancelled) => return None,
                (Role::Probe, outcome) => {
                    debug_assert_eq!(
                        word.state(),
                        State::HalfOpen,
                        "a Probe ticket's epoch is a HalfOpen epoch"
                    );
                    assert!(
                        word.probes() > 0,
                        "probe outcome recorded with no probe in flight"
                    );
                    match outcome {
                        Outcome::Success if word.count() + 1 >= self.success_threshold => {
                            word.next(State::Closed)
                        }
                        Outcome::Success => word
                            .with_probes(word.probes() - 1)
                            .with_count(word.count() + 1),
                        Outcome::Failure => word.next(State::Open),
                        Outcome::Ignored | Outcome::Cancelled => {
                            word.with_probes(word.probes() - 1)
                        }
                    }
                }
            };
            match self.cas(word, next) {
                Ok(()) => return self.entered(word, next, &mut now),
                Err(seen) => word = seen,
            }
        }
    }

    /// The current state, completing Open -> HalfOpen if its deadline has
    /// passed, so a reader sees HalfOpen even when no traffic arrives.
    pub fn state(&self, now: impl FnOnce() -> Duration) -> (State, Option<Change>) {
        let mut word = Word(self.word.load(Ordering::Acquire));
        if word.state() != State::Open {
            return (word.state(), None);
        }
        let at = now();
        loop {
            if word.state() != State::Open || self.open_remaining(word, at).is_some() {
                return (word.state(), None);
            }
            let next = word.next(State::HalfOpen);
            match self.cas(word, next) {
                Ok(()) => {
                    let change = Change {
                        transition: Transition::OpenToHalfOpen,
                        at,
                        recovery: None,
                    };
                    return (State::HalfOpen, Some(change));
                }
                Err(seen) => word = seen,
            }
        }
    }

    /// The state as stored, without completing a due Open -> HalfOpen.
    pub fn stored_state(&self) -> State {
        Word(self.word.load(Ordering::Acquire)).state()
    }

    /// Probes in flight (zero unless HalfOpen).
    pub fn probes_in_flight(&self) -> u32 {
        Word(self.word.load(Ordering::Acquire)).probes()
    }

    /// Consecutive failures while Closed, or probe successes while HalfOpen.
    pub fn consecutive(&self) -> u32 {
        Word(self.word.load(Ordering::Acquire)).count()
    }

    fn cas(&self, current: Word, next: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(current.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(Word)
    }

    /// Time left in Open for `word`'s epoch at `now`, or `None` once due.
    #[inline]
    fn open_remaining(&self, word: Word, now: Duration) -> Option<Duration> {
        if word.state() != State::Open {
            return None;
        }
        let deadline = self.deadline.load(Ordering::Acquire);
        if deadline >> DEADLINE_BITS != u64::from(word.epoch() as u8) {
            // The CAS into Open happened but the deadline store has not: the
            // breaker opened a moment ago, a whole open_timeout remains.
            return Some(Duration::from_micros(self.open_timeout_micros));
        }
        let deadline_micros = deadline & DEADLINE_MASK;
        // `now` rounds down and the deadline up: HalfOpen is never early.
        let now_micros = micros_floor(now);
        (now_micros < deadline_micros).then(|| Duration::from_micros(deadline_micros - now_micros))
    }

    /// Bookkeeping after a successful CAS from `from` to `to`.
    fn entered(
        &self,
        from: Word,
        to: Word,
        now: &mut Lazy<impl FnOnce() -> Duration>,
    ) -> Option<Change> {
        let transition = match (from.state(), to.state()) {
            (State::Closed, State::Open) => Transition::ClosedToOpen,
            (State::HalfOpen, State::Open) => Transition::HalfOpenToOpen,
            (State::HalfOpen, State::Closed) => Transition::HalfOpenToClosed,
            (a, b) if a == b => return None,
            (a, b) => unreachable!("illegal transition {a} -> {b}"),
        };
        let at = now.get();
        let at_nanos = nanos(at);
        let mut recovery = None;
        match transition {
            Transition::ClosedToOpen => {
                self.outage_start_nanos.store(at_nanos, Ordering::Relaxed);
                self.store_deadline(to, at);
            }
            Transition::HalfOpenToOpen => self.store_deadline(to, at),
            Transition::HalfOpenToClosed => {
                let start = self.outage_start_nanos.load(Ordering::Relaxed);
                recovery = Some(Duration::from_nanos(at_nanos.saturating_sub(start)));
            }
            Transition::OpenToHalfOpen => unreachable!("handled by admit/state"),
        }
        Some(Change {
            transition,
            at,
            recovery,
        })
    }

    fn store_deadline(&self, open: Word, at: Duration) {
        let deadline =
            micros_ceil(at.saturating_add(Duration::from_micros(self.open_timeout_micros)));
        let tag = u64::from(open.epoch() as u8) << DEADLINE_BITS;
        self.deadline.store(tag | deadline, Ordering::Release);
    }
}

/// Whole microseconds, rounded up (for deadlines: never early), saturating
/// at the deadline field's range.
fn micros_ceil(d: Duration) -> u64 {
    // Seconds and sub-second parts apart: no 128-bit division.
    let sub = u64::from(d.subsec_nanos().div_ceil(1000));
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(sub)
        .min(DEADLINE_MASK)
}

/// Whole microseconds, rounded down (for `now`), saturating.
fn micros_floor(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .min(DEADLINE_MASK)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Reads the clock at most once, and only if asked.
struct Lazy<F> {
    read: Option<F>,
    value: Duration,
}

impl<F: FnOnce() -> Duration> Lazy<F> {
    fn new(read: F) -> Self {
        Lazy {
            read: Some(read),
            value: Duration::ZERO,
        }
    }
    fn get(&mut self) -> Duration {
        if let Some(read) = self.read.take() {
            self.value = read();
        }
        self.value
    }
}

#[cfg(all(test, not(breakwater_loom)))]
mod tests {
    use super::*;

    fn machine(max_retries: u32, success_threshold: u32, probes: u32) -> Machine {
        let config = BreakerConfig::builder("m")
            .max_retries(max_retries)
            .success_threshold(success_threshold)
            .half_open_max_calls(probes)
            .open_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Machine::new(&config)
    }

    fn at(s: u64) -> impl FnOnce() -> Duration {
        move || Duration::from_secs(s)
    }

    #[test]
    fn closed_admission_never_reads_the_clock() {
        let m = machine(1, 1, 1);
        let (t, change) = m.admit(Admit::Any, || panic!("clock read on the closed path"));
        assert_eq!(t.unwrap().role(), Role::Normal);
        assert!(change.is_none());
    }

    #[test]
    fn full_cycle_closed_open_half_open_closed() {
        let m = machine(1, 2, 1);
        for _ in 0..2 {
            let t = m.admit(Admit::Any, at(0)).0.unwrap();
            m.record(t, Outcome::Failure, at(1));
        }
        assert_eq!(m.stored_state(), State::Open);
        let rej = m.admit(Admit::Any, at(5)).0.unwrap_err();
        assert_eq!(rej.retry_after, Some(Duration::from_secs(6)));
        let (t, change) = m.admit(Admit::Any, at(11));
        assert_eq!(change.unwrap().transition, Transition::OpenToHalfOpen);
        let t = t.unwrap();
        assert_eq!(m.record(t, Outcome::Success, at(12)), None);
        let t = m.admit(Admit::Any, at(12)).0.unwrap();
        let change = m.record(t, Outcome::Success, at(13)).unwrap();
        assert_eq!(change.transition, Transition::HalfOpenToClosed);
        assert_eq!(change.recovery, Some(Duration::from_secs(12)));
    }

    #[test]
    fn retries_are_not_admitted_as_probes() {
        let m = machine(0, 1, 1);
        let t = m.admit(Admit::Any, at(0)).0.unwrap();
        m.record(t, Outcome::Failure, at(0));
        let rej = m.admit(Admit::ClosedOnly, at(100)).0.unwrap_err();
        assert_eq!(rej.state, State::Open);
        assert_eq!(m.stored_state(), State::Open);
    }
}
