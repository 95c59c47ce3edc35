//! What a guarded call returns when it does not succeed.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::state::State;

/// The breaker did not run the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Name of the breaker that rejected.
    pub breaker: Arc<str>,
    /// Its state: Open, or HalfOpen with every probe slot taken.
    pub state: State,
    /// Time until probes are allowed (known while Open).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker `{}` is {}", self.breaker, self.state)?;
        match self.retry_after {
            Some(left) => write!(f, "; next probe in {left:?}"),
            None => write!(f, "; all probe slots are taken"),
        }
    }
}

impl std::error::Error for Rejected {}

/// Why a guarded call failed. Callers match on the three cases; the inner
/// error is kept, not boxed.
#[derive(Debug)]
pub enum CallError<E> {
    /// The breaker was Open (or HalfOpen and full): the operation never ran.
    Rejected(Rejected),
    /// Every attempt the call was allowed failed with a retryable error.
    Failed {
        /// Attempts made (1 + retries).
        attempts: u32,
        /// The error of the last attempt.
        last_error: E,
    },
    /// A non-retryable error, passed through after one attempt.
    NotRetried(E),
}

impl<E> CallError<E> {
    /// The operation's own error, if it ran.
    pub fn inner(&self) -> Option<&E> {
        match self {
            CallError::Rejected(_) => None,
            CallError::Failed { last_error, .. } => Some(last_error),
            CallError::NotRetried(error) => Some(error),
        }
    }

    /// Whether the breaker rejected the call without running it.
    pub fn is_rejected(&self) -> bool {
        matches!(self, CallError::Rejected(_))
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(rejected) => rejected.fmt(f),
            CallError::Failed {
                attempts,
                last_error,
            } => {
                write!(f, "failed after {attempts} attempt(s): {last_error}")
            }
            CallError::NotRetried(error) => write!(f, "not retried: {error}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rejected(_) => None,
            CallError::Failed { last_error, .. } => Some(last_error),
            CallError::NotRetried(error) => Some(error),
        }
    }
}
