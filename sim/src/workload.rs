//! The software of client hosts: publishers on an open-loop schedule,
//! subscribers, and beside each client a sampler of its breakers and a
//! watcher of its link. Everything waits on tokio time, which turmoil makes
//! virtual, and stamps records with turmoil's simulation time.

use std::sync::Arc;
use std::time::Duration;

use breakwater_core::Classify;
use breakwater_mqtt::{ClientConfig, LinkStatus, MqttClient};
use bytes::Bytes;

use crate::connector::TurmoilConnector;
use crate::recorder::{now_ms, Delivery, PublishOutcome, PublishResult, Recorder, Sample};
use crate::spec::{SubscriberSpec, Workload};

/// The payload of publish `seq` from `host`: `<host>#<seq, 8 digits>`,
/// padded with `.` to `size_bytes`. Never shorter than that header, so
/// every payload of a run is unique and can be found in the ledger.
pub fn payload(host: &str, seq: u64, size_bytes: usize) -> Bytes {
    let mut text = format!("{host}#{seq:08}");
    if text.len() < size_bytes {
        text.push_str(&".".repeat(size_bytes - text.len()));
    }
    Bytes::from(text)
}

/// Sleeps until virtual time `at` (no-op if it has passed).
async fn sleep_until_ms(at_ms: u64) {
    let now = now_ms();
    if at_ms > now {
        tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What every client host shares: who it is, when the run ends, and where
/// records go.
#[derive(Clone, Debug)]
pub(crate) struct HostContext {
    pub(crate) host: String,
    pub(crate) config: ClientConfig,
    pub(crate) recorder: Recorder,
    pub(crate) sample_interval: Duration,
    pub(crate) duration: Duration,
}

impl HostContext {
    /// Starts the client and its sampler and link watcher.
    fn start_client(&self) -> MqttClient {
        let connector = TurmoilConnector::new(self.config.broker_addr());
        let client = MqttClient::new(self.config.clone(), connector);
        tokio::spawn(sample_breakers(self.clone(), client.clone()));
        tokio::spawn(watch_link(self.clone(), client.clone()));
        client
    }
}

/// A publisher host: publishes on a fixed virtual schedule, each publish in
/// its own task so a slow one never delays the next (open loop, as sensors
/// do), until the run's duration.
pub(crate) async fn publisher(context: HostContext, workload: Arc<Workload>) -> turmoil::Result {
    let client = context.start_client();
    let interval_ns = (1e9 / workload.publish_rate_per_s).round() as u64;
    let start_ms = millis(workload.publish_start);
    let end_ms = millis(context.duration);
    let qos = workload.qos;
    for seq in 0u64.. {
        // Whole-nanosecond schedule from the start, so rounding never
        // accumulates into drift.
        let at_ms = start_ms + seq * interval_ns / 1_000_000;
        if at_ms >= end_ms {
            break;
        }
        sleep_until_ms(at_ms).await;
        let topic = workload.topics[(seq % workload.topics.len() as u64) as usize].clone();
        let body = payload(&context.host, seq, workload.payload_size_bytes);
        let id = context.recorder.publish_started(PublishOutcome {
            id: 0,
            host: context.host.clone(),
            seq,
            topic: topic.clone(),
            payload: body.clone(),
            qos,
            started_at_ms: now_ms(),
            resolved_at_ms: None,
            result: PublishResult::Pending,
        });
        let client = client.clone();
        let recorder = context.recorder.clone();
        tokio::spawn(async move {
            let result = client.publish(&topic, body, qos).await;
            recorder.publish_resolved(id, now_ms(), PublishResult::from_call(&result));
        });
    }
    // The client must outlive its last publishes; the driver ends the run.
    std::future::pending::<()>().await;
    Ok(())
}

/// Bound on subscribe attempts, with the pause between failed ones: a
/// subscriber keeps trying for the run, the way a real one would, but a
/// limit keeps a broken world from spinning.
const SUBSCRIBE_ATTEMPTS_LIMIT: u32 = 10_000;
const SUBSCRIBE_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A subscriber host: subscribes once (retrying until it succeeds; the
/// client re-subscribes by itself after reconnects) and records every
/// delivery.
pub(crate) async fn subscriber(context: HostContext, spec: SubscriberSpec) -> turmoil::Result {
    let client = context.start_client();
    let recorder = context.recorder.clone();
    let host = context.host.clone();
    let handler = move |message: breakwater_mqtt::Message| {
        recorder.delivery(Delivery {
            at_ms: now_ms(),
            host: host.clone(),
            topic: message.topic,
            payload: message.payload,
            qos: message.qos,
            dup: message.dup,
        });
    };
    let handler = Arc::new(handler);
    for attempt in 1..=SUBSCRIBE_ATTEMPTS_LIMIT {
        let handler = Arc::clone(&handler);
        let result = client
            .subscribe(&spec.filter, spec.qos, move |message| handler(message))
            .await;
        match result {
            Ok(granted) => {
                context.recorder.event(
                    now_ms(),
                    &context.host,
                    format_args!("subscribed filter={} granted={granted:?}", spec.filter),
                );
                break;
            }
            Err(error) => {
                context.recorder.event(
                    now_ms(),
                    &context.host,
                    format_args!(
                        "subscribe-failed filter={} attempt={attempt} error={error}",
                        spec.filter
                    ),
                );
                tokio::time::sleep(SUBSCRIBE_RETRY_PAUSE).await;
            }
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// Samples every breaker of `client` at each multiple of the sample
/// interval, up to the run's duration.
async fn sample_breakers(context: HostContext, client: MqttClient) {
    let interval_ms = millis(context.sample_interval);
    let end_ms = millis(context.duration);
    let breakers = client.breakers().clone();
    // The baseline is zero, not the breakers' metrics when this task first
    // runs: by then a call may already have failed (a fault at 0s), and the
    // first interval must count everything since t=0 so that the intervals
    // sum to the counters.
    let mut previous = breakers.all().map(|breaker| {
        let mut zero = breaker.metrics();
        zero.operations = Default::default();
        zero.errors = Default::default();
        zero
    });
    let mut at_ms = interval_ms;
    while at_ms <= end_ms {
        sleep_until_ms(at_ms).await;
        for (breaker, previous) in breakers.all().into_iter().zip(previous.iter_mut()) {
            let sample = Sample::read(now_ms(), &context.host, breaker, previous);
            context.recorder.sample(sample);
        }
        at_ms += interval_ms;
    }
}

/// Logs every change of the client's link status.
async fn watch_link(context: HostContext, client: MqttClient) {
    let mut link = client.watch_link();
    drop(client);
    while link.changed().await.is_ok() {
        let text = link_event(&link.borrow_and_update());
        context
            .recorder
            .event(now_ms(), &context.host, format_args!("{text}"));
    }
}

/// The event-log text of a change of a client's link status:
/// `link connecting`, `link connected session_present=<0|1>`,
/// `link down kind=<error kind> error=<error>` or `link closed`.
pub fn link_event(status: &LinkStatus) -> String {
    match status {
        LinkStatus::Connecting => "link connecting".to_owned(),
        LinkStatus::Connected { session_present } => {
            format!(
                "link connected session_present={}",
                u8::from(*session_present)
            )
        }
        LinkStatus::Down { error } => {
            format!("link down kind={} error={error}", error.kind().as_str())
        }
        LinkStatus::Closed => "link closed".to_owned(),
    }
}
