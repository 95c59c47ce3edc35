//! Catches every breaker transition of one client host from the breaker's
//! own `tracing` event.
//!
//! Why a tracing subscriber rather than polling: a breaker can change state
//! twice within a millisecond (Open -> HalfOpen on a state read, then
//! HalfOpen -> Open on the failed probe), and a poll would see neither.
//! Why per thread: every client host runs on its own thread with its own
//! current-thread runtime, and the tap is that thread's default
//! subscriber, so every transition event raised there belongs to that
//! host. The breakers of all hosts share names, so the name alone could
//! not tell them apart. The tap is the only subscriber of those threads,
//! so the clients' other `tracing` output is not forwarded anywhere.

use breakwater_core::{State, Transition};
use breakwater_sim::TransitionRecord;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::recorder::Recorder;

/// Target of the core's transition event (its module path).
const BREAKER_TARGET: &str = "breakwater_core::breaker";

pub(crate) struct TransitionTap {
    host: String,
    recorder: Recorder,
}

impl TransitionTap {
    pub(crate) fn new(host: String, recorder: Recorder) -> Self {
        TransitionTap { host, recorder }
    }

    fn wants(metadata: &Metadata<'_>) -> bool {
        metadata.is_event()
            && *metadata.level() == Level::INFO
            && metadata.target() == BREAKER_TARGET
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

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        // Never called for a span: `enabled` refuses them all. Ids must be
        // non-zero.
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = TransitionFields::default();
        event.record(&mut fields);
        let (Some(breaker), Some(from), Some(to)) = (fields.breaker, fields.from, fields.to) else {
            return;
        };
        let transition = Transition::ALL
            .into_iter()
            .find(|t| t.from() == from && t.to() == to);
        let Some(transition) = transition else {
            // The core only emits legal transitions; anything else is not
            // the event this tap is for.
            return;
        };
        self.recorder.transition(TransitionRecord {
            at_ms: self.recorder.now_ms(),
            host: self.host.clone(),
            breaker,
            transition,
        });
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
