//! The controller: starts the broker, the proxies, the witness and the
//! client hosts, applies the fault schedule at scaled wall times, waits for
//! every publish to resolve and the witness to catch up, and assembles the
//! [`RunOutput`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use breakwater_core::rng::mix;
use breakwater_mqtt::{ClientConfig, MqttClient};
use breakwater_proxy::Toxic;
use breakwater_sim::spec::{ScheduledFault, WorldSpec};
use breakwater_sim::RunOutput;
use tokio::sync::watch;

use crate::error::RealError;
use crate::faults::{fault_mapping, latency_toxics, FaultMapping};
use crate::host::{self, HostHandle, HostSetup, Role};
use crate::metrics::MetricsServer;
use crate::mosquitto::{Mosquitto, Stop};
use crate::options::{Broker, RealOptions};
use crate::proxies::{Layer, Proxies};
use crate::recorder::Recorder;
use crate::scale::scale_spec;

/// Host name of the witness subscriber in the events log.
pub const WITNESS_HOST: &str = "witness";
/// Host name of the controller (faults, start, end) in the events log, as
/// in a simulated run.
const DRIVER: &str = "driver";

/// How long a `close-connections` reset stays set: long enough for every
/// open connection's task to see it (the proxy applies it at the next
/// wake-up), short enough that reconnects right after are not reset too.
const RESET_HOLD: Duration = Duration::from_millis(50);
/// Bound on the witness's first subscription, on its return after a fresh
/// restart, and on noticing that the broker went away.
const WITNESS_DEADLINE: Duration = Duration::from_secs(5);
/// Time the witness gets, after the last publish resolved, to receive the
/// acknowledged messages still on their way (on loopback: milliseconds,
/// plus a reconnect if the broker restarted late in the run).
const WITNESS_GRACE: Duration = Duration::from_secs(2);
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// What a real run observed.
#[derive(Clone, Debug)]
pub struct RealRun {
    /// The run's records, in the simulation's shape, with times in wall
    /// milliseconds since the run started. `ledger` holds what the witness
    /// received (see the crate docs), so `acked_missing_at_broker` lists
    /// acknowledged QoS 1 publishes the witness never saw.
    pub output: RunOutput,
    /// One line per fault that could not be injected:
    /// `faults[<index>] <kind>: <why>`; the same text is in the events as
    /// `SKIPPED`.
    pub skipped: Vec<String>,
    /// The spec as run: the caller's, scaled by the time scale.
    pub spec: WorldSpec,
    /// The time scale applied.
    pub time_scale: f64,
    /// The broker the proxies forwarded to.
    pub broker_addr: SocketAddr,
    /// Where `/metrics` was served, if it was.
    pub metrics_addr: Option<SocketAddr>,
}

/// Runs `spec` against a real broker (see the crate docs) and returns what
/// it observed. Blocks for the scaled duration plus the time the last
/// publishes take to resolve; call it outside any tokio runtime.
///
/// Faults that cannot be injected are listed in [`RealRun::skipped`], not
/// returned as errors; an error means the run itself could not happen (bad
/// spec or options, no mosquitto, no port, a witness that could not
/// subscribe).
pub fn run(spec: &WorldSpec, options: RealOptions) -> Result<RealRun, RealError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(RealError::InsideRuntime);
    }
    spec.validate()?;
    options.validate()?;
    let scaled = scale_spec(spec, options.time_scale)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RealError::host("controller runtime", e))?;
    runtime.block_on(Controller::run(scaled, options))
}

/// The run's identity in MQTT client ids: against a shared broker two runs
/// (or a run and a stale persistent session of an earlier one) must never
/// share a client id, or one would take over the other's session.
fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{:08x}", mix(nanos ^ u64::from(std::process::id())) as u32)
}

/// One step of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    // Ends sort before begins at the same instant, as in the simulation's
    // schedule: a fault that ends as another starts never overlaps it.
    End,
    Begin,
}

struct Controller {
    spec: WorldSpec,
    options: RealOptions,
    recorder: Recorder,
    mosquitto: Option<Mosquitto>,
    proxies: Proxies,
    /// Every host started so far, the witness first.
    hosts: Vec<HostHandle>,
    witness: Option<MqttClient>,
    skipped: Vec<String>,
}

impl Controller {
    async fn run(spec: WorldSpec, options: RealOptions) -> Result<RealRun, RealError> {
        let (mosquitto, broker_addr) = match options.broker {
            Broker::Spawn => {
                let broker = Mosquitto::start().await?;
                let addr = broker.addr();
                (Some(broker), addr)
            }
            Broker::Address(addr) => (None, addr),
        };
        let hosts = spec.client_hosts();
        let mut proxies = Proxies::start(&hosts, broker_addr, spec.seed).await?;
        if let Some(toxics) = latency_toxics(spec.network.latency) {
            proxies.push(&hosts, Layer::Baseline, &toxics).await?;
        }
        let recorder = Recorder::new(Instant::now());
        let mut controller = Controller {
            spec,
            options,
            recorder,
            mosquitto,
            proxies,
            hosts: Vec::new(),
            witness: None,
            skipped: Vec::new(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let played = controller.play(broker_addr, stop_rx).await;
        // Whatever happened, every thread is told to stop and is waited
        // for, so no client outlives the run.
        let _ = stop_tx.send(true);
        let joined = join_all(std::mem::take(&mut controller.hosts)).await;
        let (metrics_addr, end_ms) = played?;
        joined?;
        let taken = controller.recorder.take();
        let output = RunOutput::from_external(
            &controller.spec,
            end_ms,
            taken.records,
            taken.ledger,
            taken.ledger_text,
        );
        Ok(RealRun {
            output,
            skipped: controller.skipped,
            spec: controller.spec,
            time_scale: controller.options.time_scale,
            broker_addr,
            metrics_addr,
        })
    }

    /// Everything between the broker being up and the stop signal: returns
    /// the metrics address and the run's end time.
    async fn play(
        &mut self,
        broker_addr: SocketAddr,
        stop: watch::Receiver<bool>,
    ) -> Result<(Option<SocketAddr>, u64), RealError> {
        let spec = self.spec.clone();
        let tag = run_tag();
        self.recorder.event(
            DRIVER,
            format_args!(
                "start seed={} duration_ms={} time_scale={} broker={broker_addr} tag={tag}",
                spec.seed,
                spec.duration.as_millis(),
                self.options.time_scale
            ),
        );
        // The witness first, and subscribed before any publish, so nothing
        // the broker accepts can pass it by.
        let mut witness = self.start_witness(broker_addr, &tag, stop.clone()).await?;
        self.witness = Some(witness.client.clone());
        let subscribed = tokio::time::timeout(WITNESS_DEADLINE, &mut witness.done).await;
        self.hosts.push(witness);
        if !matches!(subscribed, Ok(Ok(()))) {
            return Err(RealError::Witness {
                message: format!(
                    "could not subscribe at {broker_addr} within {WITNESS_DEADLINE:?}"
                ),
            });
        }
        for (index, host) in spec.client_hosts().into_iter().enumerate() {
            let handle = self.start_host(index, &host, &tag, stop.clone()).await?;
            self.hosts.push(handle);
        }
        // The three breakers of the first client host (after the witness):
        // a collector refuses duplicate names, and every host's breakers
        // share theirs.
        let metrics = match (self.options.metrics_addr, self.hosts.get(1)) {
            (Some(addr), Some(first)) => {
                Some(MetricsServer::start(addr, first.client.breakers()).await?)
            }
            _ => None,
        };
        let metrics_addr = metrics.as_ref().map(MetricsServer::addr);
        if let Some(addr) = metrics_addr {
            self.recorder
                .event(DRIVER, format_args!("metrics http://{addr}/metrics"));
        }
        self.apply_schedule().await?;
        for host in self.hosts.iter_mut().skip(1) {
            // A client host signals once its last sample is taken and, for
            // a publisher, its publishes resolved or its drain time passed;
            // a dead thread drops the sender, which also ends the wait.
            let _ = (&mut host.done).await;
        }
        self.wait_for_witness().await;
        let end_ms = self.recorder.now_ms();
        self.recorder.event(DRIVER, format_args!("end"));
        if let Some(server) = metrics {
            server.shutdown().await;
        }
        Ok((metrics_addr, end_ms))
    }

    async fn start_witness(
        &self,
        broker_addr: SocketAddr,
        tag: &str,
        stop: watch::Receiver<bool>,
    ) -> Result<HostHandle, RealError> {
        let client_id = format!("{WITNESS_HOST}-{tag}");
        let config =
            self.spec
                .client_config(WITNESS_HOST, broker_addr.to_string(), &client_id, false)?;
        let mut topics = self.spec.workload.topics.clone();
        topics.sort();
        topics.dedup();
        host::spawn(self.setup(WITNESS_HOST, Role::Witness { topics }, config, stop)).await
    }

    async fn start_host(
        &self,
        index: usize,
        host: &str,
        tag: &str,
        stop: watch::Receiver<bool>,
    ) -> Result<HostHandle, RealError> {
        let spec = &self.spec;
        let (role, clean_session) = match index.checked_sub(spec.workload.publishers) {
            None => (
                Role::Publisher(Arc::new(spec.workload.clone())),
                spec.client.clean_session,
            ),
            Some(subscriber) => {
                let subscriber = spec.workload.subscribers[subscriber].clone();
                let clean = subscriber.clean_session;
                (Role::Subscriber(subscriber), clean)
            }
        };
        let addr = self
            .proxies
            .addr(host)
            .expect("a proxy was started for every client host");
        // Seeded like the simulation's host of the same name.
        let config = spec.client_config(
            host,
            addr.to_string(),
            &format!("{host}-{tag}"),
            clean_session,
        )?;
        host::spawn(self.setup(host, role, config, stop)).await
    }

    fn setup(
        &self,
        host: &str,
        role: Role,
        config: ClientConfig,
        stop: watch::Receiver<bool>,
    ) -> HostSetup {
        HostSetup {
            host: host.to_owned(),
            role,
            config,
            recorder: self.recorder.clone(),
            sample_interval: self.spec.sample_interval,
            duration: self.spec.duration,
            // Every publish resolves within `request_timeout` by the
            // client's contract; a second on top only matters if that
            // contract breaks (the outcome then says `pending`).
            drain: self.spec.client.request_timeout + Duration::from_secs(1),
            stop,
        }
    }

    /// Applies every fault at its scaled time, in order.
    async fn apply_schedule(&mut self) -> Result<(), RealError> {
        let faults = self.spec.faults.clone();
        let mut steps = Vec::with_capacity(faults.len() * 2);
        for (index, fault) in faults.iter().enumerate() {
            steps.push((fault.at, Phase::Begin, index));
            if let Some(end) = fault.end() {
                steps.push((end, Phase::End, index));
            }
        }
        steps.sort();
        let start = tokio::time::Instant::from_std(self.recorder.start());
        for (at, phase, index) in steps {
            tokio::time::sleep_until(start + at).await;
            let fault = &faults[index];
            let mapping = fault_mapping(&fault.fault, &self.spec.workload, &self.options.broker);
            match phase {
                Phase::Begin => self.begin(index, fault, mapping).await?,
                Phase::End => self.end(index, fault, mapping).await?,
            }
        }
        Ok(())
    }

    async fn begin(
        &mut self,
        index: usize,
        fault: &ScheduledFault,
        mapping: FaultMapping,
    ) -> Result<(), RealError> {
        let all = self.proxies.resolve(&[]);
        match mapping {
            FaultMapping::Toxics(toxics) => {
                let hosts = self.proxies.resolve(&fault.targets);
                self.proxies
                    .push(&hosts, Layer::Fault(index), &toxics)
                    .await?;
                self.log_fault(
                    index,
                    fault,
                    "start",
                    &format!("hosts={hosts:?} toxics={toxics:?}"),
                );
            }
            FaultMapping::ResetConnections => {
                let reset = [Toxic::ResetPeer {
                    timeout: Duration::ZERO,
                }];
                self.log_fault(
                    index,
                    fault,
                    "applied",
                    &format!("hosts={all:?} reset_peer"),
                );
                self.proxies.push(&all, Layer::Fault(index), &reset).await?;
                tokio::time::sleep(RESET_HOLD).await;
                self.proxies.pop(Layer::Fault(index)).await?;
            }
            FaultMapping::BrokerStop { graceful, .. } => {
                let how = if graceful { Stop::Graceful } else { Stop::Kill };
                if let Some(broker) = self.mosquitto.as_mut() {
                    broker.stop(how).await?;
                }
                self.log_fault(
                    index,
                    fault,
                    "start",
                    &format!("mosquitto stopped ({how:?})"),
                );
                // Let the witness notice, so that its health after the
                // restart says something about the new broker.
                self.wait_witness(false).await;
            }
            FaultMapping::Skipped { reason } => {
                let line = format!("faults[{index}] {}: {reason}", fault.fault.kind_name());
                self.recorder.event(DRIVER, format_args!("SKIPPED {line}"));
                self.skipped.push(line);
            }
        }
        Ok(())
    }

    async fn end(
        &mut self,
        index: usize,
        fault: &ScheduledFault,
        mapping: FaultMapping,
    ) -> Result<(), RealError> {
        match mapping {
            FaultMapping::Toxics(_) => {
                self.proxies.pop(Layer::Fault(index)).await?;
                self.log_fault(index, fault, "end", "toxics removed");
            }
            FaultMapping::BrokerStop { keep_sessions, .. } => {
                let Some(broker) = self.mosquitto.as_mut() else {
                    return Ok(());
                };
                if broker.is_running() {
                    return Ok(()); // Restarted already by an overlapping crash.
                }
                if keep_sessions {
                    broker.restart(false).await?;
                    self.log_fault(index, fault, "end", "mosquitto restarted with its database");
                    return Ok(());
                }
                // An empty database forgets the witness's subscription:
                // keep clients out until it has subscribed again, or the
                // broker could accept (and ack) messages nobody records.
                let all = self.proxies.resolve(&[]);
                self.proxies.push(&all, Layer::Gate, &[Toxic::Down]).await?;
                let broker = self.mosquitto.as_mut().expect("checked above");
                broker.restart(true).await?;
                let back = self.wait_witness(true).await;
                self.proxies.pop(Layer::Gate).await?;
                self.log_fault(
                    index,
                    fault,
                    "end",
                    &format!("mosquitto restarted with an empty database; witness back={back}"),
                );
            }
            FaultMapping::ResetConnections | FaultMapping::Skipped { .. } => {}
        }
        Ok(())
    }

    fn log_fault(&self, index: usize, fault: &ScheduledFault, what: &str, detail: &str) {
        self.recorder.event(
            DRIVER,
            format_args!("fault[{index}] {} {what} {detail}", fault.fault),
        );
    }

    /// Waits until the witness's link health is `healthy`, at most
    /// [`WITNESS_DEADLINE`]; says whether it got there.
    async fn wait_witness(&self, healthy: bool) -> bool {
        let Some(witness) = &self.witness else {
            return false;
        };
        let deadline = tokio::time::Instant::now() + WITNESS_DEADLINE;
        while witness.is_connected() != healthy {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        true
    }

    /// Gives the witness [`WITNESS_GRACE`] (plus a reconnect) to receive
    /// every acknowledged message; whatever it still lacks then is what
    /// `acked_missing_at_broker` reports.
    async fn wait_for_witness(&self) {
        let grace = WITNESS_GRACE + self.spec.client.reconnect_delay_max;
        let deadline = tokio::time::Instant::now() + grace;
        while self.recorder.acked_unwitnessed() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        let unseen = self.recorder.acked_unwitnessed();
        let pending = self.recorder.pending_publishes();
        self.recorder.event(
            DRIVER,
            format_args!("drained pending_publishes={pending} acked_unwitnessed={unseen}"),
        );
    }
}

/// Joins every host thread without blocking the controller's runtime (the
/// proxies run there and carry the clients' last DISCONNECTs).
async fn join_all(handles: Vec<HostHandle>) -> Result<(), RealError> {
    let mut result = Ok(());
    for handle in handles {
        let joined = tokio::task::spawn_blocking(move || handle.join())
            .await
            .map_err(|e| RealError::host("join", e))
            .and_then(|joined| joined);
        if result.is_ok() {
            result = joined;
        }
    }
    result
}
