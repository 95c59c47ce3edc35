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

use std::sync::Mutex;

use breakwater_core::{State, Transition};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::recorder::{now_ms, Recorder, TransitionRecord};

/// Target of the core's transition event (its module path).
const BREAKER_TARGET: &str = "breakwater_core::breaker";
/// Name of the span turmoil enters around each host's tick.
const NODE_SPAN: &str = "node";
/// Span id of a `node` span naming a host outside the world (never, but
/// ids must be non-zero and total).
const UNKNOWN_HOST_ID: u64 = u64::MAX;

pub(crate) struct TransitionTap {
    hosts: Vec<String>,
    /// Ids of the entered `node` spans, innermost last.
    entered: Mutex<Vec<u64>>,
    recorder: Recorder,
}

impl TransitionTap {
    pub(crate) fn new(hosts: Vec<String>, recorder: Recorder) -> Self {
        TransitionTap {
            hosts,
            entered: Mutex::new(Vec::with_capacity(4)),
            recorder,
        }
    }

    fn wants(metadata: &Metadata<'_>) -> bool {
        if metadata.is_span() {
            return metadata.name() == NODE_SPAN && metadata.target().starts_with("turmoil");
        }
        metadata.is_event()
            && *metadata.level() == Level::INFO
            && metadata.target() == BREAKER_TARGET
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

fn transition_between(from: State, to: State) -> Option<Transition> {
    Transition::ALL
        .into_iter()
        .find(|transition| transition.from() == from && transition.to() == to)
}

impl Subscriber for TransitionTap {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::wants(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        Self::wants(metadata)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::INFO)
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
        let mut fields = TransitionFields::default();
        event.record(&mut fields);
        let (Some(breaker), Some(from), Some(to)) = (fields.breaker, fields.from, fields.to) else {
            return;
        };
        let Some(transition) = transition_between(from, to) else {
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
