//! Error classification: what kind of failure an attempt ended in, and which
//! kinds the breaker treats as transient (retried and counted toward a trip).

use std::fmt;

/// The kind of a failed attempt. It is the `error_type` label of
/// `circuit_breaker_errors_total`, so the set is closed and small: every
/// kind has its own lock-free counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ErrorKind {
    /// The transport failed: refused, reset, closed, unreachable.
    Connection = 0,
    /// No answer within a deadline.
    Timeout = 1,
    /// The peer answered and said no (e.g. CONNACK with a refusal code).
    Refused = 2,
    /// The peer broke the protocol (garbage bytes, unexpected packet).
    Protocol = 3,
    /// The caller's own input was invalid (bad topic, oversized payload).
    InvalidInput = 4,
    /// A local resource limit was hit (queue full, too many in flight).
    Overloaded = 5,
    /// Anything else.
    Other = 6,
}

impl ErrorKind {
    /// Number of kinds.
    pub const COUNT: usize = 7;

    /// All kinds, in counter order.
    pub const ALL: [ErrorKind; Self::COUNT] = [
        ErrorKind::Connection,
        ErrorKind::Timeout,
        ErrorKind::Refused,
        ErrorKind::Protocol,
        ErrorKind::InvalidInput,
        ErrorKind::Overloaded,
        ErrorKind::Other,
    ];

    /// The `error_type` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connection => "connection",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Refused => "refused",
            ErrorKind::Protocol => "protocol",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Other => "other",
        }
    }

    /// Parses an `error_type` label value (used by config files).
    pub fn parse(label: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == label)
    }

    /// Position in [`ErrorKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by the error type of a guarded operation so the breaker can
/// tell transient failures from ones that retrying cannot fix.
///
/// ```
/// use breakwater_core::{Classify, ErrorKind};
///
/// enum PublishError { Io(std::io::Error), BadTopic }
///
/// impl Classify for PublishError {
///     fn kind(&self) -> ErrorKind {
///         match self {
///             PublishError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
///             PublishError::Io(_) => ErrorKind::Connection,
///             PublishError::BadTopic => ErrorKind::InvalidInput,
///         }
///     }
/// }
/// ```
pub trait Classify {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl Classify for std::io::Error {
    fn kind(&self) -> ErrorKind {
        use std::io::ErrorKind as Io;
        match std::io::Error::kind(self) {
            Io::TimedOut | Io::WouldBlock => ErrorKind::Timeout,
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected
            | Io::BrokenPipe
            | Io::UnexpectedEof
            | Io::AddrNotAvailable
            | Io::NetworkUnreachable
            | Io::HostUnreachable
            | Io::NetworkDown => ErrorKind::Connection,
            // Kinds std leaves uncategorized: ENETRESET and EHOSTDOWN.
            _ if matches!(self.raw_os_error(), Some(102 | 112)) && cfg!(target_os = "linux") => {
                ErrorKind::Connection
            }
            Io::InvalidInput | Io::InvalidData => ErrorKind::InvalidInput,
            _ => ErrorKind::Other,
        }
    }
}

/// A set of [`ErrorKind`]s, as a bit set so classification is one AND.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KindSet(u8);

impl KindSet {
    /// No kind at all: nothing is retried, nothing trips the breaker.
    pub const EMPTY: KindSet = KindSet(0);

    /// The contract's default: connection and timeout errors are transient.
    pub const TRANSIENT: KindSet = KindSet::EMPTY
        .with(ErrorKind::Connection)
        .with(ErrorKind::Timeout);

    /// This set plus `kind`.
    pub const fn with(self, kind: ErrorKind) -> KindSet {
        KindSet(self.0 | (1 << kind as u8))
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: ErrorKind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set, in [`ErrorKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

impl<I: IntoIterator<Item = ErrorKind>> From<I> for KindSet {
    fn from(kinds: I) -> Self {
        kinds.into_iter().fold(KindSet::EMPTY, KindSet::with)
    }
}

impl fmt::Debug for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}
