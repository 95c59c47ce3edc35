//! Catches every breaker transition, with its virtual time and host, from
//! the breaker's own `tracing` event.
//!
//! Why a tracing subscriber rather than polling: a breaker can change state
//! twice within one tick (Open -> HalfOpen on a state read, then HalfOpen
//! -> Open on the failed probe), and a poll would see neither. The core
//! emits one INFO event per transition, inside the host whose task caused
//! it; turmoil enters a `node` span named after the host around each host's
//! tick, so the innermost entered `node` span names the client.
//!
//! This is a minimal `Subscriber` rather than a `tracing_subscriber` layer
//! stack: it is interested in exactly two callsites, allocates nothing per
//! span, and is installed as the thread's default only for one run.
//!
//! Installing it hides whatever subscriber the thread had (e.g. a CLI's
//! log output), so the tap forwards every *event* that subscriber wants to
//! it (`downstream`), with a [`LogContext`] (virtual time, host) readable
//! by its formatter through [`with_log_context`] while the event is
//! handled. Spans are not forwarded: the only spans inside a run are
//! turmoil's `node` spans, one per host per step, and the context already
//! names the host; forwarding them would allocate per step.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakwater_core::{State, Transition};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::{Interest, NoSubscriber};
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};

use crate::recorder::{now_ms, Recorder, TransitionRecord};

/// Target of the core's transition event (its module path).
const BREAKER_TARGET: &str = "breakwater_core::breaker";
/// Name of the span turmoil enters around each host's tick.
const NODE_SPAN: &str = "node";
/// Span id of a `node` span naming a host outside the world (never, but
/// ids must be non-zero and total).
const UNKNOWN_HOST_ID: u64 = u64::MAX;

/// Where and when, in the simulation, a forwarded event happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogContext {
    /// Virtual time since the run started: turmoil's inside a host, the
    /// driver's last step boundary outside one.
    pub elapsed: Duration,
    /// The host whose task emitted the event; `None` for the driver.
    pub host: Option<String>,
}

thread_local! {
    /// Set by the tap only while a forwarded event is being handled.
    static LOG_CONTEXT: RefCell<Option<LogContext>> = const { RefCell::new(None) };
}

/// Calls `f` with the simulation context of the event being logged on
/// this thread: `Some` only inside a subscriber's handling of an event
/// the tap forwarded from a run, `None` anywhere else. Log formatters use
/// it to stamp lines with virtual time rather than wall time.
pub fn with_log_context<R>(f: impl FnOnce(Option<&LogContext>) -> R) -> R {
    LOG_CONTEXT.with(|context| f(context.borrow().as_ref()))
}

/// Clears the context when the forwarded event is handled, even if the
/// downstream subscriber panics.
struct ContextGuard;

impl Drop for ContextGuard {
    fn drop(&mut self) {
        LOG_CONTEXT.with(|context| context.borrow_mut().take());
    }
}

pub(crate) struct TransitionTap {
    hosts: Vec<String>,
    /// Ids of the entered `node` spans, innermost last.
    entered: Mutex<Vec<u64>>,
    recorder: Recorder,
    /// The thread's subscriber before the run, if it had a real one.
    downstream: Option<Dispatch>,
    /// The driver's last step boundary (virtual ms), for events emitted
    /// outside any host.
    driver_ms: Arc<AtomicU64>,
    /// INFO (the transition event), or the downstream's level if higher.
    max_level: LevelFilter,
}

impl TransitionTap {
    /// A tap that forwards events to `downstream` unless it is the no-op
    /// subscriber.
    pub(crate) fn new(
        hosts: Vec<String>,
        recorder: Recorder,
        downstream: Dispatch,
        driver_ms: Arc<AtomicU64>,
    ) -> Self {
        let downstream = (!downstream.is::<NoSubscriber>()).then_some(downstream);
        // The global maximum before the tap is installed is the
        // downstream's (Dispatch does not expose its own hint).
        let max_level = if downstream.is_some() {
            LevelFilter::current().max(LevelFilter::INFO)
        } else {
            LevelFilter::INFO
        };
        TransitionTap {
            hosts,
            entered: Mutex::new(Vec::with_capacity(4)),
            recorder,
            downstream,
            driver_ms,
            max_level,
        }
    }

    fn forwards(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event()
            && self
                .downstream
                .as_ref()
                .is_some_and(|downstream| downstream.enabled(metadata))
    }

    fn forward(&self, downstream: &Dispatch, event: &Event<'_>) {
        let elapsed = turmoil::sim_elapsed()
            .unwrap_or_else(|| Duration::from_millis(self.driver_ms.load(Ordering::Relaxed)));
        let host = self.current_host().map(str::to_owned);
        LOG_CONTEXT.with(|context| *context.borrow_mut() = Some(LogContext { elapsed, host }));
        let _clear = ContextGuard;
        downstream.event(event);
    }

    fn wants(metadata: &Metadata<'_>) -> bool {
        if metadata.is_span() {
            return metadata.name() == NODE_SPAN && metadata.target().starts_with("turmoil");
        }
        is_transition_event(metadata)
    }

    fn current_host(&self) -> Option<&str> {
        let entered = self.entered.lock().unwrap_or_else(|e| e.into_inner());
        let id = *entered.last()?;
        let index = usize::try_from(id.checked_sub(1)?).ok()?;
        self.hosts.get(index).map(String::as_str)
    }
}

/// Reads the `name` field of a `node` span.
struct NodeName<'a> {
    hosts: &'a [String],
    index: Option<usize>,
}

impl Visit for NodeName<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" {
            self.index = self.hosts.iter().position(|host| host == value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            let text = format!("{value:?}");
            let name = text.trim_matches('"');
            self.index = self.hosts.iter().position(|host| host == name);
        }
    }
}

/// Whether `metadata` is the core's breaker transition event: the one INFO
/// event `breakwater_core::breaker` emits per state change, with the fields
/// `breaker`, `from` and `to`.
///
/// For a `tracing` subscriber that records transitions (as this crate's
/// tap and `breakwater-real`'s do): true means it should be enabled and
/// handed to [`transition_of_event`].
pub fn is_transition_event(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && *metadata.level() == Level::INFO && metadata.target() == BREAKER_TARGET
}

/// The breaker name and the transition carried by the core's transition
/// event (see [`is_transition_event`]); `None` if a field is missing or
/// `from` -> `to` is not a legal transition, so the event is not one.
pub fn transition_of_event(event: &Event<'_>) -> Option<(String, Transition)> {
    let mut fields = TransitionFields::default();
    event.record(&mut fields);
    let (Some(breaker), Some(from), Some(to)) = (fields.breaker, fields.from, fields.to) else {
        return None;
    };
    let transition = Transition::ALL
        .into_iter()
        .find(|transition| transition.from() == from && transition.to() == to)?;
    Some((breaker, transition))
}

/// Reads `breaker`, `from` and `to` of a transition event.
#[derive(Default)]
struct TransitionFields {
    breaker: Option<String>,
    from: Option<State>,
    to: Option<State>,
}

fn parse_state(label: &str) -> Option<State> {
    State::ALL.into_iter().find(|state| state.as_str() == label)
}

impl Visit for TransitionFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "breaker" => self.breaker = Some(value.to_owned()),
            "from" => self.from = parse_state(value),
            "to" => self.to = parse_state(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `breaker = %name` arrives as a Display wrapper whose Debug is the
        // Display text.
        let text = format!("{value:?}");
        self.record_str(field, text.trim_matches('"'));
    }
}

impl Subscriber for TransitionTap {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::wants(metadata) {
            return Interest::always();
        }
        match &self.downstream {
            // The downstream's own answer, so callsites it never wants
            // (e.g. the breaker's DEBUG call results) stay free.
            Some(downstream) if metadata.is_event() => downstream.register_callsite(metadata),
            _ => Interest::never(),
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        Self::wants(metadata) || self.forwards(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max_level)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut name = NodeName {
            hosts: &self.hosts,
            index: None,
        };
        span.record(&mut name);
        let id = name.index.map_or(UNKNOWN_HOST_ID, |index| index as u64 + 1);
        Id::from_u64(id)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if let Some(downstream) = &self.downstream {
            if downstream.enabled(event.metadata()) {
                self.forward(downstream, event);
            }
        }
        if !Self::wants(event.metadata()) {
            return;
        }
        let Some((breaker, transition)) = transition_of_event(event) else {
            // The core only emits legal transitions; anything else is not
            // the event this tap is for.
            return;
        };
        let host = self.current_host().unwrap_or("?").to_owned();
        self.recorder.transition(TransitionRecord {
            at_ms: now_ms(),
            host,
            breaker,
            transition,
        });
    }

    fn enter(&self, span: &Id) {
        let mut entered = self.entered.lock().unwrap_or_else(|e| e.into_inner());
        entered.push(span.into_u64());
    }

    fn exit(&self, _span: &Id) {
        let mut entered = self.entered.lock().unwrap_or_else(|e| e.into_inner());
        entered.pop();
    }
}
