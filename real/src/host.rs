//! Client hosts: each runs on its own OS thread with its own current-thread
//! tokio runtime, so the thread's transition tap knows which host a
//! breaker event belongs to (see `tap.rs`). A host is a publisher on an
//! open-loop wall-clock schedule, a subscriber of the workload, or the
//! witness; beside the client run a sampler of its breakers and a watcher
//! of its link.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use breakwater_mqtt::{ClientConfig, MqttClient, QoS, TcpConnector};
use breakwater_sim::spec::{SubscriberSpec, Workload};
use breakwater_sim::workload::{link_event, payload};
use breakwater_sim::{PublishOutcome, PublishResult, Sample};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::RealError;
use crate::recorder::Recorder;
use crate::tap::TransitionTap;

/// Pause between two failed subscribe attempts, and their bound: a
/// subscriber keeps trying for the run, the way a real one would, but a
/// limit keeps a broken run from spinning.
const SUBSCRIBE_RETRY_PAUSE: Duration = Duration::from_millis(100);
const SUBSCRIBE_ATTEMPTS_LIMIT: u32 = 10_000;
/// Time the client gets to send DISCONNECT when the run ends.
const DISCONNECT_DEADLINE: Duration = Duration::from_secs(1);

/// What a host does.
#[derive(Clone, Debug)]
pub(crate) enum Role {
    /// Publishes the workload.
    Publisher(Arc<Workload>),
    /// Holds one subscription of the workload and records deliveries.
    Subscriber(SubscriberSpec),
    /// Subscribes at QoS 1 to every topic and records what it receives as
    /// the ledger; its breakers are not part of the run's records.
    Witness {
        /// Topics to subscribe to.
        topics: Vec<String>,
    },
}

/// Everything a host thread needs.
#[derive(Debug)]
pub(crate) struct HostSetup {
    pub(crate) host: String,
    pub(crate) role: Role,
    pub(crate) config: ClientConfig,
    pub(crate) recorder: Recorder,
    pub(crate) sample_interval: Duration,
    pub(crate) duration: Duration,
    /// Time after `duration` publishes still in flight may take.
    pub(crate) drain: Duration,
    /// Turns true when the run ends.
    pub(crate) stop: watch::Receiver<bool>,
}

/// A running host.
#[derive(Debug)]
pub(crate) struct HostHandle {
    pub(crate) host: String,
    /// A clone of the host's client (its breakers, its link health).
    pub(crate) client: MqttClient,
    /// Resolves when the host's part is done: a publisher's publishes have
    /// all resolved (or the drain time passed) and its last sample is
    /// taken, a subscriber's last sample is taken, the witness has
    /// subscribed.
    pub(crate) done: oneshot::Receiver<()>,
    thread: JoinHandle<()>,
}

impl HostHandle {
    /// Waits for the thread to end (after the stop signal it disconnects
    /// within [`DISCONNECT_DEADLINE`]).
    pub(crate) fn join(self) -> Result<(), RealError> {
        let host = self.host;
        drop(self.client);
        self.thread
            .join()
            .map_err(|_| RealError::host(format!("client thread {host}"), "panicked"))
    }
}

/// Starts `setup`'s host on its own thread and returns once its client
/// exists.
pub(crate) async fn spawn(setup: HostSetup) -> Result<HostHandle, RealError> {
    let host = setup.host.clone();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(format!("bw-{host}"))
        .spawn(move || run_thread(setup, ready_tx, done_tx))
        .map_err(|e| RealError::host(format!("client thread {host}"), e))?;
    let client = match ready_rx.await {
        Ok(Ok(client)) => client,
        Ok(Err(message)) => return Err(RealError::host(format!("client thread {host}"), message)),
        Err(_) => {
            return Err(RealError::host(
                format!("client thread {host}"),
                "ended at start",
            ))
        }
    };
    Ok(HostHandle {
        host,
        client,
        done: done_rx,
        thread,
    })
}

type Ready = oneshot::Sender<Result<MqttClient, String>>;

fn run_thread(setup: HostSetup, ready: Ready, done: oneshot::Sender<()>) {
    // The witness's breakers are not the run's subject, so its thread gets
    // no tap and its transitions stay out of the records.
    let _tap = match setup.role {
        Role::Witness { .. } => None,
        _ => Some(tracing::subscriber::set_default(TransitionTap::new(
            setup.host.clone(),
            setup.recorder.clone(),
        ))),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(host_main(setup, ready, done)),
        Err(error) => {
            let _ = ready.send(Err(format!("tokio runtime: {error}")));
        }
    }
}

async fn host_main(setup: HostSetup, ready: Ready, done: oneshot::Sender<()>) {
    let connector = TcpConnector::new(setup.config.broker_addr());
    let client = MqttClient::new(setup.config.clone(), connector);
    if ready.send(Ok(client.clone())).is_err() {
        return; // The run gave up on this host.
    }
    let start = Instant::from_std(setup.recorder.start());
    tokio::spawn(watch_link(
        setup.host.clone(),
        setup.recorder.clone(),
        client.clone(),
    ));
    let mut stop = setup.stop.clone();
    // Every host but the witness samples its breakers up to the run's
    // duration; its part is done only once the last sample is taken, so
    // the run never ends before its duration.
    let sampler = match setup.role {
        Role::Witness { .. } => None,
        _ => Some(tokio::spawn(sample_breakers(
            setup.host.clone(),
            setup.recorder.clone(),
            client.clone(),
            start,
            setup.sample_interval,
            setup.duration,
        ))),
    };
    match &setup.role {
        Role::Publisher(workload) => {
            let work = async {
                publish(&setup, &client, workload, start).await;
                if let Some(sampler) = sampler {
                    let _ = sampler.await;
                }
            };
            tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => {}
                () = work => { let _ = done.send(()); }
            }
        }
        Role::Subscriber(spec) => {
            let recorder = setup.recorder.clone();
            let host = setup.host.clone();
            let handler = move |message| recorder.delivery(&host, message);
            let subscribing = subscribe(&setup, &client, &spec.filter, spec.qos, handler);
            let sampled = async {
                if let Some(sampler) = sampler {
                    let _ = sampler.await;
                }
            };
            tokio::pin!(subscribing, sampled);
            let mut subscribed = false;
            loop {
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|stop| *stop) => break,
                    () = &mut sampled => { let _ = done.send(()); break; }
                    _ = &mut subscribing, if !subscribed => subscribed = true,
                }
            }
            // Keep subscribing (if still at it) until the run stops.
            if !subscribed {
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|stop| *stop) => {}
                    _ = subscribing => {}
                }
            }
        }
        Role::Witness { topics } => {
            let subscribing = async {
                for topic in topics {
                    let recorder = setup.recorder.clone();
                    let handler = move |message| recorder.witnessed(message);
                    if !subscribe(&setup, &client, topic, QoS::AtLeastOnce, handler).await {
                        return false;
                    }
                }
                true
            };
            tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => {}
                subscribed = subscribing => {
                    if subscribed {
                        let _ = done.send(());
                    }
                }
            }
        }
    }
    let _ = stop.wait_for(|stop| *stop).await;
    let _ = tokio::time::timeout(DISCONNECT_DEADLINE, client.disconnect()).await;
}

/// Publishes on a fixed wall-clock schedule, each publish in its own task
/// so a slow one never delays the next (open loop, as sensors do), then
/// waits for the last ones to resolve, at most the drain time.
async fn publish(setup: &HostSetup, client: &MqttClient, workload: &Workload, start: Instant) {
    let interval_ns = (1e9 / workload.publish_rate_per_s).round() as u64;
    let start_ns = workload.publish_start.as_nanos() as u64;
    let end_ns = setup.duration.as_nanos() as u64;
    let qos = workload.qos;
    let mut tasks = JoinSet::new();
    for seq in 0u64.. {
        // Whole-nanosecond schedule from the start, so rounding never
        // accumulates into drift.
        let at_ns = start_ns + seq * interval_ns;
        if at_ns >= end_ns {
            break;
        }
        tokio::time::sleep_until(start + Duration::from_nanos(at_ns)).await;
        let topic = workload.topics[(seq % workload.topics.len() as u64) as usize].clone();
        let body = payload(&setup.host, seq, workload.payload_size_bytes);
        let id = setup.recorder.publish_started(PublishOutcome {
            id: 0,
            host: setup.host.clone(),
            seq,
            topic: topic.clone(),
            payload: body.clone(),
            qos,
            started_at_ms: setup.recorder.now_ms(),
            resolved_at_ms: None,
            result: PublishResult::Pending,
        });
        let client = client.clone();
        let recorder = setup.recorder.clone();
        tasks.spawn(async move {
            let result = client.publish(&topic, body, qos).await;
            recorder.publish_resolved(id, PublishResult::from_call(&result));
        });
        // Reap finished publishes as we go, so the set stays as small as
        // the number in flight.
        while tasks.try_join_next().is_some() {}
    }
    let drain_end = start + setup.duration + setup.drain;
    let _ = tokio::time::timeout_at(drain_end, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    // Publishes still running are cancelled with the set and stay
    // `pending`: the client broke its every-publish-resolves contract.
}

/// Subscribes `filter` until it succeeds (the client re-subscribes by
/// itself after reconnects); false if every attempt failed.
async fn subscribe<F>(
    setup: &HostSetup,
    client: &MqttClient,
    filter: &str,
    qos: QoS,
    handler: F,
) -> bool
where
    F: Fn(breakwater_mqtt::Message) + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    for attempt in 1..=SUBSCRIBE_ATTEMPTS_LIMIT {
        let handler = Arc::clone(&handler);
        match client
            .subscribe(filter, qos, move |message| handler(message))
            .await
        {
            Ok(granted) => {
                setup.recorder.event(
                    &setup.host,
                    format_args!("subscribed filter={filter} granted={granted:?}"),
                );
                return true;
            }
            Err(error) => {
                setup.recorder.event(
                    &setup.host,
                    format_args!(
                        "subscribe-failed filter={filter} attempt={attempt} error={error}"
                    ),
                );
                tokio::time::sleep(SUBSCRIBE_RETRY_PAUSE).await;
            }
        }
    }
    false
}

/// Samples every breaker of `client` at each multiple of the sample
/// interval up to the run's duration. A sample is stamped with the instant
/// it was due (it is read within a timer tick of it), so samples of all
/// hosts line up in the timeline as in a simulated run.
async fn sample_breakers(
    host: String,
    recorder: Recorder,
    client: MqttClient,
    start: Instant,
    interval: Duration,
    duration: Duration,
) {
    let breakers = client.breakers().clone();
    drop(client);
    let mut previous = breakers.all().map(|breaker| breaker.metrics());
    let mut at = interval;
    while at <= duration {
        tokio::time::sleep_until(start + at).await;
        let at_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        for (breaker, previous) in breakers.all().into_iter().zip(previous.iter_mut()) {
            recorder.sample(Sample::read(at_ms, &host, breaker, previous));
        }
        at += interval;
    }
}

/// Logs every change of the client's link status.
async fn watch_link(host: String, recorder: Recorder, client: MqttClient) {
    let mut link = client.watch_link();
    drop(client);
    while link.changed().await.is_ok() {
        let text = link_event(&link.borrow_and_update());
        recorder.event(&host, format_args!("{text}"));
    }
}
