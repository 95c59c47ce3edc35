//! The three breaker states and the four legal transitions between them.

use std::fmt;

/// Where the breaker stands. The discriminant is the value of the
/// `circuit_breaker_state` gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum State {
    /// Every call is admitted; consecutive retryable failures are counted.
    Closed = 0,
    /// Calls are rejected at once until `open_timeout` has passed.
    Open = 1,
    /// A bounded number of probes test whether the dependency has recovered.
    HalfOpen = 2,
}

impl State {
    /// All states, in gauge order.
    pub const ALL: [State; 3] = [State::Closed, State::Open, State::HalfOpen];

    /// Value of the `circuit_breaker_state` gauge: 0 closed, 1 open, 2 half-open.
    pub const fn gauge(self) -> u8 {
        self as u8
    }

    /// Lower-case name used in metric labels, logs and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of the only four state changes the contract allows. Making the
/// transition a closed enum (rather than a `(from, to)` pair) means an
/// illegal change such as Closed -> HalfOpen cannot even be expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transition {
    /// `max_retries + 1` consecutive retryable failures while Closed.
    ClosedToOpen,
    /// `open_timeout` elapsed while Open.
    OpenToHalfOpen,
    /// A probe failed with a retryable error.
    HalfOpenToOpen,
    /// `success_threshold` consecutive probes succeeded.
    HalfOpenToClosed,
}

impl Transition {
    /// All transitions, in the order their counters are stored and reported.
    pub const ALL: [Transition; 4] = [
        Transition::ClosedToOpen,
        Transition::OpenToHalfOpen,
        Transition::HalfOpenToOpen,
        Transition::HalfOpenToClosed,
    ];

    /// The state left.
    pub const fn from(self) -> State {
        match self {
            Transition::ClosedToOpen => State::Closed,
            Transition::OpenToHalfOpen => State::Open,
            Transition::HalfOpenToOpen | Transition::HalfOpenToClosed => State::HalfOpen,
        }
    }

    /// The state entered.
    pub const fn to(self) -> State {
        match self {
            Transition::ClosedToOpen | Transition::HalfOpenToOpen => State::Open,
            Transition::OpenToHalfOpen => State::HalfOpen,
            Transition::HalfOpenToClosed => State::Closed,
        }
    }

    /// Position in [`Transition::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.from(), self.to())
    }
}
