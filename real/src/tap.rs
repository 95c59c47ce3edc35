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

use breakwater_sim::{is_transition_event, transition_of_event, TransitionRecord};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

use crate::recorder::Recorder;

pub(crate) struct TransitionTap {
    host: String,
    recorder: Recorder,
}

impl TransitionTap {
    pub(crate) fn new(host: String, recorder: Recorder) -> Self {
        TransitionTap { host, recorder }
    }
}

impl Subscriber for TransitionTap {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_transition_event(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_transition_event(metadata)
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
        let Some((breaker, transition)) = transition_of_event(event) else {
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
