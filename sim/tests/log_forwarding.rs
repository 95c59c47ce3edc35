//! A run forwards the events the thread's own subscriber wants to it, with
//! the run's virtual time and host readable while each is handled, and
//! still records every transition.

mod support_world;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakwater_sim::spec::Fault;
use breakwater_sim::{with_log_context, LogContext};
use support_world::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One forwarded event: its message, a `from`/`to` pair if it has one,
/// and the context the tap set.
#[derive(Clone, Debug)]
struct Seen {
    message: String,
    transition: Option<(String, String)>,
    context: Option<LogContext>,
}

/// Collects INFO-and-above events, as a CLI's log subscriber would.
#[derive(Clone, Default)]
struct Collector {
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[derive(Default)]
struct Fields {
    message: String,
    from: Option<String>,
    to: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "from" => self.from = Some(value.to_owned()),
            "to" => self.to = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl Subscriber for Collector {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::INFO
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let seen = Seen {
            message: fields.message,
            transition: fields.from.zip(fields.to),
            context: with_log_context(|c| c.cloned()),
        };
        self.seen.lock().unwrap().push(seen);
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[test]
fn events_of_a_run_reach_the_threads_subscriber_stamped_with_virtual_time() {
    let collector = Collector::default();
    let spec = with_fault(1, secs(12), Fault::Partition, secs(3), Some(secs(4)));
    let output = tracing::subscriber::with_default(collector.clone(), || run(&spec));
    let seen = collector.seen.lock().unwrap().clone();

    // Every forwarded event carries the simulation's context.
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|s| s.context.is_some()), "{seen:?}");
    // Each transition was both recorded and logged, at the same virtual
    // millisecond and on the same host.
    let logged: Vec<(u64, String, String, String)> = seen
        .iter()
        .filter(|s| s.message == "circuit breaker state changed")
        .map(|s| {
            let context = s.context.as_ref().unwrap();
            let (from, to) = s.transition.clone().unwrap();
            (
                u64::try_from(context.elapsed.as_millis()).unwrap(),
                context.host.clone().unwrap(),
                from,
                to,
            )
        })
        .collect();
    let recorded: Vec<(u64, String, String, String)> = output
        .transitions
        .iter()
        .map(|t| {
            (
                t.at_ms,
                t.host.clone(),
                t.transition.from().as_str().to_owned(),
                t.transition.to().as_str().to_owned(),
            )
        })
        .collect();
    assert!(!recorded.is_empty());
    assert_eq!(logged, recorded);
    // Nothing is in context once the run is over.
    assert_eq!(with_log_context(|c| c.cloned()), None);
    // Virtual time, not wall time: the run ends within its virtual span.
    assert!(seen
        .iter()
        .all(|s| s.context.as_ref().unwrap().elapsed <= Duration::from_secs(20)));
}
