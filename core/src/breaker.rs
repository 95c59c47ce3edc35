//! The async driver around the sans-IO [`Machine`]: admission, retries with
//! backoff, metrics and events.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::backoff::{Backoff, FullJitter};
use crate::clock::{Clock, TokioClock};
use crate::config::BreakerConfig;
use crate::error::{CallError, Rejected};
use crate::kind::{Classify, ErrorKind};
use crate::machine::{Admit, Change, Machine, Outcome, Rejection, Role, Ticket};
use crate::metrics::{Metrics, MetricsSnapshot, Status};
use crate::rng::{seed_from_name, SplitMix64};
use crate::state::State;

/// A circuit breaker. Cloning is cheap and clones share one state.
pub struct CircuitBreaker<C: Clock = TokioClock> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    machine: Machine,
    metrics: Metrics,
    config: BreakerConfig,
    clock: C,
    rng: SplitMix64,
    backoff: Box<dyn Backoff>,
}

impl<C: Clock> Clone for CircuitBreaker<C> {
    fn clone(&self) -> Self {
        CircuitBreaker {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Clock> fmt::Debug for CircuitBreaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name())
            .field("state", &self.inner.machine.stored_state())
            .finish()
    }
}

/// Assembles a [`CircuitBreaker`] from a config plus the injected clock,
/// seed and backoff policy.
pub struct BreakerBuilder<C> {
    config: BreakerConfig,
    clock: C,
    seed: Option<u64>,
    backoff: Option<Box<dyn Backoff>>,
}

impl BreakerBuilder<TokioClock> {
    /// A builder with tokio's clock, a seed derived from the breaker name and
    /// full-jitter backoff from `base_delay`.
    pub fn new(config: BreakerConfig) -> Self {
        BreakerBuilder {
            config,
            clock: TokioClock::new(),
            seed: None,
            backoff: None,
        }
    }
}

impl<C: Clock> BreakerBuilder<C> {
    /// Uses `clock` for time and sleeping.
    pub fn clock<C2: Clock>(self, clock: C2) -> BreakerBuilder<C2> {
        BreakerBuilder {
            config: self.config,
            clock,
            seed: self.seed,
            backoff: self.backoff,
        }
    }

    /// Seeds the jitter RNG (by default: derived from the breaker name).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Replaces the default full-jitter backoff.
    pub fn backoff(mut self, backoff: impl Backoff) -> Self {
        self.backoff = Some(Box::new(backoff));
        self
    }

    /// The breaker, Closed.
    pub fn build(self) -> CircuitBreaker<C> {
        let seed = self
            .seed
            .unwrap_or_else(|| seed_from_name(self.config.name()));
        let backoff = self
            .backoff
            .unwrap_or_else(|| Box::new(FullJitter::new(self.config.base_delay())));
        CircuitBreaker {
            inner: Arc::new(Inner {
                machine: Machine::new(&self.config),
                metrics: Metrics::new(),
                config: self.config,
                clock: self.clock,
                rng: SplitMix64::new(seed),
                backoff,
            }),
        }
    }
}

impl CircuitBreaker<TokioClock> {
    /// A breaker on tokio's clock with default seed and backoff.
    pub fn new(config: BreakerConfig) -> Self {
        BreakerBuilder::new(config).build()
    }

    /// A builder to inject a clock, seed or backoff.
    pub fn builder(config: BreakerConfig) -> BreakerBuilder<TokioClock> {
        BreakerBuilder::new(config)
    }
}

impl<C: Clock> CircuitBreaker<C> {
    /// The breaker's name.
    pub fn name(&self) -> &str {
        self.inner.config.name()
    }

    /// The breaker's config.
    pub fn config(&self) -> &BreakerConfig {
        &self.inner.config
    }

    /// The current state. An Open breaker whose `open_timeout` has passed
    /// reads (and becomes) HalfOpen even if no call arrives.
    pub fn state(&self) -> State {
        let (state, change) = self.inner.machine.state(|| self.inner.clock.coarse_now());
        self.inner.emit(change);
        state
    }

    /// Every metric, read without locks; the state gauge is [`Self::state`].
    pub fn metrics(&self) -> MetricsSnapshot {
        let state = self.state();
        self.inner.metrics.snapshot(self.name(), state)
    }

    /// Probes in flight right now (zero unless HalfOpen).
    pub fn probes_in_flight(&self) -> u32 {
        self.inner.machine.probes_in_flight()
    }

    /// Admits one operation without retries, for callers that drive the
    /// operation themselves (sync code, or their own retry loop). Each permit
    /// is one call in `operations_total`. Dropping the permit unsettled
    /// counts as cancelled and frees a probe slot.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_, C>, Rejection> {
        match self.inner.machine.admit_closed() {
            Some(ticket) => Ok(Permit {
                inner: &self.inner,
                ticket: Some(ticket),
            }),
            None => self.try_acquire_not_closed(),
        }
    }

    /// The Open rejection, inlined: two atomic loads, a coarse clock read and
    /// the rejected count; anything else goes to the slow path.
    #[inline(always)]
    fn try_acquire_not_closed(&self) -> Result<Permit<'_, C>, Rejection> {
        match self
            .inner
            .machine
            .reject_while_open(|| self.inner.clock.coarse_now())
        {
            Some(rejection) => {
                self.inner.metrics.operation(Status::Rejected);
                self.inner.log_result(Status::Rejected, 0);
                Err(rejection)
            }
            None => self.try_acquire_slow(),
        }
    }

    /// Admission when the breaker was not Closed at the first look.
    #[inline(never)]
    fn try_acquire_slow(&self) -> Result<Permit<'_, C>, Rejection> {
        if let Some(rejection) = self
            .inner
            .machine
            .reject_while_open(|| self.inner.clock.coarse_now())
        {
            self.inner.metrics.operation(Status::Rejected);
            self.inner.log_result(Status::Rejected, 0);
            return Err(rejection);
        }
        let (admission, change) = self
            .inner
            .machine
            .admit(Admit::Any, || self.inner.clock.coarse_now());
        self.inner.emit(change);
        match admission {
            Ok(ticket) => Ok(Permit {
                inner: &self.inner,
                ticket: Some(ticket),
            }),
            Err(rejection) => {
                self.inner.metrics.operation(Status::Rejected);
                self.inner.log_result(Status::Rejected, 0);
                Err(rejection)
            }
        }
    }

    /// Runs a synchronous `op` once under the breaker, for callers that
    /// cannot await: rejected at once while Open, otherwise exactly one
    /// attempt whose outcome is recorded like [`Self::call`]'s (no retries,
    /// since retrying would mean sleeping on the caller's thread). The ticket
    /// never leaves this function, so the closed path stays in registers.
    #[inline(always)]
    pub fn guard<T, E, F>(&self, op: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Result<T, E>,
        E: Classify + fmt::Display,
    {
        // Only the Closed fast path is inlined, and its permit is built once,
        // in place: merging it with the slow path's permit (or moving it out
        // of a `Result`) makes the compiler copy the 16-byte permit through
        // the stack right after writing it field by field, which stalls
        // store forwarding and costs more than the breaker itself.
        let Some(ticket) = self.inner.machine.admit_closed() else {
            return self.guard_slow(op);
        };
        let mut permit = Permit {
            inner: &self.inner,
            ticket: Some(ticket),
        };
        // Settled through `&mut`, never moved: a by-value `success(self)`
        // would copy the permit through the stack as well.
        match op() {
            Ok(value) => {
                permit.settle(Outcome::Success, Status::Success);
                Ok(value)
            }
            Err(error) => Err(permit.fail(error)),
        }
    }

    /// [`Self::guard`] when the breaker was not Closed at the first look.
    #[inline(never)]
    fn guard_slow<T, E, F>(&self, op: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Result<T, E>,
        E: Classify + fmt::Display,
    {
        let mut permit = self
            .try_acquire_slow()
            .map_err(|rejection| CallError::Rejected(self.inner.rejected(rejection)))?;
        match op() {
            Ok(value) => {
                permit.success();
                Ok(value)
            }
            Err(error) => Err(permit.fail(error)),
        }
    }

    /// Runs `op` under the breaker: rejected at once while Open; while
    /// Closed, retryable failures are retried up to `max_retries` times with
    /// backoff inside the `max_delay` budget, each retry passing admission
    /// again; a HalfOpen probe is never retried.
    pub async fn call<T, E, F, Fut>(&self, mut op: F) -> Result<T, CallError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify + fmt::Display,
    {
        let inner = &*self.inner;
        let config = &inner.config;
        let mut call = CallGuard {
            inner,
            status: None,
            attempts: 0,
        };
        let mut slept = Duration::ZERO;
        let mut last_error: Option<E> = None;
        loop {
            let admit = if call.attempts == 0 {
                Admit::Any
            } else {
                Admit::ClosedOnly
            };
            let (admission, change) = match inner.machine.admit_closed() {
                Some(ticket) => (Ok(ticket), None),
                None => inner.machine.admit(admit, || inner.clock.coarse_now()),
            };
            inner.emit(change);
            let ticket = match (admission, last_error.take()) {
                (Ok(ticket), None) => ticket,
                (Ok(ticket), Some(_)) => {
                    // Counted only once the retry really runs.
                    inner.metrics.retry();
                    ticket
                }
                (Err(rejection), None) => {
                    call.finish(Status::Rejected);
                    return Err(CallError::Rejected(inner.rejected(rejection)));
                }
                (Err(_), Some(last_error)) => {
                    // A retry found the breaker no longer Closed: stop here.
                    call.finish(Status::Failure);
                    return Err(CallError::Failed {
                        attempts: call.attempts,
                        last_error,
                    });
                }
            };
            let role = ticket.role();
            let attempt = AttemptGuard {
                inner,
                ticket: Some(ticket),
            };
            let result = op().await;
            call.attempts += 1;
            let error = match result {
                Ok(value) => {
                    attempt.settle(Outcome::Success);
                    call.finish(Status::Success);
                    return Ok(value);
                }
                Err(error) => error,
            };
            let kind = error.kind();
            inner.metrics.error(kind);
            tracing::warn!(
                breaker = %config.name(),
                error_type = kind.as_str(),
                attempt = call.attempts,
                error = %error,
                "attempt failed"
            );
            if !config.is_retryable(kind) {
                attempt.settle(Outcome::Ignored);
                call.finish(Status::Ignored);
                return Err(CallError::NotRetried(error));
            }
            attempt.settle(Outcome::Failure);
            let remaining = config.max_delay().saturating_sub(slept);
            let retries_done = call.attempts - 1;
            // Stop at once if this failure (or anyone's) tripped the breaker:
            // sleeping first would only delay a retry that cannot be admitted.
            let tripped = inner.machine.stored_state() != State::Closed;
            if role == Role::Probe
                || tripped
                || retries_done >= config.max_retries()
                || remaining.is_zero()
            {
                call.finish(Status::Failure);
                return Err(CallError::Failed {
                    attempts: call.attempts,
                    last_error: error,
                });
            }
            // A timer may overshoot by its granularity (tokio rounds up to
            // the next millisecond): leave that much of the budget unused so
            // the time really slept stays within max_delay.
            let budget = remaining.saturating_sub(inner.clock.sleep_granularity());
            let delay = inner
                .backoff
                .delay(retries_done, budget, inner.rng.next_u64())
                .min(budget);
            last_error = Some(error);
            if !delay.is_zero() {
                let before = inner.clock.now();
                inner.clock.sleep(delay).await;
                slept += inner.clock.now().saturating_sub(before).max(delay);
            }
        }
    }

    /// Like [`Self::call`], but any error goes to `fallback`, whose value is
    /// returned instead.
    pub async fn call_with_fallback<T, E, F, Fut>(
        &self,
        op: F,
        fallback: impl FnOnce(CallError<E>) -> T,
    ) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify + fmt::Display,
    {
        match self.call(op).await {
            Ok(value) => value,
            Err(error) => fallback(error),
        }
    }
}

impl<C: Clock> Inner<C> {
    /// Inlined so the common "no change" costs one branch; the event
    /// itself is built out of line.
    #[inline]
    fn emit(&self, change: Option<Change>) {
        if let Some(change) = change {
            self.emit_change(change);
        }
    }

    #[cold]
    #[inline(never)]
    fn emit_change(&self, change: Change) {
        self.metrics.transition(change.transition, change.recovery);
        tracing::info!(
            breaker = %self.config.name(),
            from = change.transition.from().as_str(),
            to = change.transition.to().as_str(),
            at_ms = change.at.as_millis() as u64,
            recovery_ms = change.recovery.map(|r| r.as_millis() as u64),
            "circuit breaker state changed"
        );
    }

    /// The DEBUG event for a call's result.
    #[inline(always)]
    fn log_result(&self, status: Status, attempts: u32) {
        tracing::debug!(
            breaker = %self.config.name(),
            status = status.as_str(),
            attempts,
            "call finished"
        );
    }

    #[inline(always)]
    fn record(&self, ticket: Ticket, outcome: Outcome) {
        let change = self.machine.record(ticket, outcome, || self.clock.now());
        self.emit(change);
    }

    fn rejected(&self, rejection: Rejection) -> Rejected {
        Rejected {
            breaker: Arc::clone(self.config.name_arc()),
            state: rejection.state,
            retry_after: rejection.retry_after,
        }
    }
}

/// Records the call's status exactly once: as finished, or as cancelled if
/// the call future is dropped first.
struct CallGuard<'a, C: Clock> {
    inner: &'a Inner<C>,
    status: Option<Status>,
    attempts: u32,
}

impl<C: Clock> CallGuard<'_, C> {
    fn finish(&mut self, status: Status) {
        debug_assert!(self.status.is_none(), "a call finishes once");
        self.status = Some(status);
    }
}

impl<C: Clock> Drop for CallGuard<'_, C> {
    fn drop(&mut self) {
        let status = self.status.unwrap_or(Status::Cancelled);
        self.inner.metrics.operation(status);
        self.inner.log_result(status, self.attempts);
    }
}

/// Hands the ticket back to the machine exactly once; a drop mid-operation
/// (the call future was cancelled) records `Cancelled`, freeing a probe slot.
struct AttemptGuard<'a, C: Clock> {
    inner: &'a Inner<C>,
    ticket: Option<Ticket>,
}

impl<C: Clock> AttemptGuard<'_, C> {
    fn settle(mut self, outcome: Outcome) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.record(ticket, outcome);
        }
    }
}

impl<C: Clock> Drop for AttemptGuard<'_, C> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.record(ticket, Outcome::Cancelled);
        }
    }
}

/// Admission for one operation run by the caller; see
/// [`CircuitBreaker::try_acquire`]. Settle it with [`Permit::success`] or
/// [`Permit::error`]; dropping it counts as cancelled. A permit that is
/// never settled nor dropped (e.g. `mem::forget`, or an operation that hangs)
/// keeps its probe slot: give operations their own deadline.
#[must_use = "dropping a permit records the call as cancelled"]
pub struct Permit<'a, C: Clock> {
    inner: &'a Inner<C>,
    /// `None` once settled.
    ticket: Option<Ticket>,
}

impl<C: Clock> fmt::Debug for Permit<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.inner.config.name())
            .field("probe", &self.is_probe())
            .finish()
    }
}

impl<C: Clock> Permit<'_, C> {
    /// Whether this permit is a HalfOpen probe.
    pub fn is_probe(&self) -> bool {
        self.ticket
            .as_ref()
            .is_some_and(|ticket| ticket.role() == Role::Probe)
    }

    /// Hands the ticket back with `outcome` and counts the call as `status`.
    #[inline(always)]
    fn settle(&mut self, outcome: Outcome, status: Status) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.record(ticket, outcome);
            self.inner.metrics.operation(status);
            self.inner.log_result(status, 1);
        }
    }

    /// The operation succeeded.
    #[inline(always)]
    pub fn success(mut self) {
        self.settle(Outcome::Success, Status::Success);
    }

    /// The operation failed with an error of `kind`: a failure if the config
    /// retries that kind, otherwise ignored.
    pub fn error(mut self, kind: ErrorKind) {
        self.inner.metrics.error(kind);
        tracing::warn!(
            breaker = %self.inner.config.name(),
            error_type = kind.as_str(),
            attempt = 1u32,
            "attempt failed"
        );
        if self.inner.config.is_retryable(kind) {
            self.settle(Outcome::Failure, Status::Failure);
        } else {
            self.settle(Outcome::Ignored, Status::Ignored);
        }
    }

    /// Settles with `error` (classified, logged with its text) and wraps it
    /// as the caller sees it: `Failed` after one attempt, or `NotRetried`.
    #[cold]
    fn fail<E: Classify + fmt::Display>(&mut self, error: E) -> CallError<E> {
        let kind = error.kind();
        self.inner.metrics.error(kind);
        tracing::warn!(
            breaker = %self.inner.config.name(),
            error_type = kind.as_str(),
            attempt = 1u32,
            error = %error,
            "attempt failed"
        );
        if self.inner.config.is_retryable(kind) {
            self.settle(Outcome::Failure, Status::Failure);
            CallError::Failed {
                attempts: 1,
                last_error: error,
            }
        } else {
            self.settle(Outcome::Ignored, Status::Ignored);
            CallError::NotRetried(error)
        }
    }

    /// The unsettled drop, out of line: settled permits only pay the check.
    #[cold]
    #[inline(never)]
    fn cancel(&mut self) {
        self.settle(Outcome::Cancelled, Status::Cancelled);
    }
}

impl<C: Clock> Drop for Permit<'_, C> {
    #[inline]
    fn drop(&mut self) {
        if self.ticket.is_some() {
            self.cancel();
        }
    }
}
