//! Builds a turmoil world from a [`WorldSpec`] and drives it: a broker
//! host, publisher and subscriber hosts running the workload, the fault
//! schedule applied between steps at exact virtual times, and a recorder
//! of everything observable.
//!
//! ```
//! use std::time::Duration;
//! use breakwater_sim::spec::WorldSpec;
//!
//! let mut spec = WorldSpec::default();
//! spec.duration = Duration::from_secs(3);
//! let output = breakwater_sim::run(&spec).unwrap();
//! assert!(output.publishes.iter().all(|p| p.result.label() == "acked"));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use breakwater_mqtt::ClientConfig;
use thiserror::Error;
use tracing::Dispatch;

use crate::broker::{Broker, Clock, ConfigError as BrokerConfigError, MQTT_PORT};
use crate::net::{Latency, NetError};
use crate::output::RunOutput;
use crate::recorder::Recorder;
use crate::schedule::Schedule;
use crate::spec::{publisher_host, subscriber_host, SpecError, WorldSpec, BROKER_HOST};
use crate::tap::TransitionTap;
use crate::workload::{self, HostContext};

/// Epoch of every world: fixed, so nothing depends on the wall clock.
pub const EPOCH_SECS: u64 = 1_700_000_000;

/// Why a run could not be carried out.
#[derive(Debug, Error)]
pub enum SimError {
    /// The spec breaks a rule.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The client settings were refused by the MQTT client's builder.
    #[error("client config: {0}")]
    Client(#[from] breakwater_mqtt::ConfigError),
    /// The broker limits were refused.
    #[error("broker config: {0}")]
    Broker(#[from] BrokerConfigError),
    /// A network fault could not be applied.
    #[error("network fault: {0}")]
    Net(#[from] NetError),
    /// A host's software failed or turmoil stopped the run.
    #[error("simulation failed at {at_ms} ms: {message}")]
    Turmoil {
        /// Virtual time of the failure.
        at_ms: u64,
        /// turmoil's error, as text.
        message: String,
    },
}

/// The ledger's clock: turmoil's time inside a host, and the driver's
/// last step boundary outside one, so a fault the driver sets between
/// steps is stamped with the exact time it was applied (turmoil's own
/// `sim_elapsed` is unavailable there).
#[derive(Clone, Debug, Default)]
struct WorldClock {
    driver_ms: Arc<AtomicU64>,
}

impl Clock for WorldClock {
    fn elapsed_ms(&self) -> u64 {
        match turmoil::sim_elapsed() {
            Some(elapsed) => u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            None => self.driver_ms.load(Ordering::Relaxed),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Extra virtual time after `duration` for publishes still in flight to
/// resolve: each resolves within `request_timeout` by the client's
/// contract, so this bound is only hit if that contract breaks (and the
/// outcome then says `pending`).
fn drain_limit(spec: &WorldSpec) -> Duration {
    spec.client.request_timeout + Duration::from_secs(1)
}

/// Where clients find the simulated broker.
fn broker_addr() -> String {
    format!("{BROKER_HOST}:{MQTT_PORT}")
}

fn turmoil_builder(spec: &WorldSpec) -> turmoil::Builder {
    let (min, max) = match spec.network.latency {
        Latency::Fixed(value) => (value, value),
        Latency::Range { min, max } => (min, max),
    };
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(spec.seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .tick_duration(spec.tick)
        // A backstop only: the driver stops stepping at its own bound.
        .simulation_duration(spec.duration + drain_limit(spec) + spec.tick * 2)
        .min_message_latency(min)
        .max_message_latency(max);
    builder
}

/// Runs the world `spec` describes and returns what it observed.
///
/// Deterministic: the same spec (and commit) gives the same
/// [`RunOutput::render`], byte for byte. Runs on the calling thread, with
/// a `tracing` subscriber of its own installed for the run: it captures
/// breaker transitions and forwards every event the thread's previous
/// subscriber wants to it, with the run's virtual time and host readable
/// through [`crate::with_log_context`] while it is handled.
pub fn run(spec: &WorldSpec) -> Result<RunOutput, SimError> {
    spec.validate()?;
    let recorder = Recorder::default();
    let mut hosts = spec.client_hosts();
    hosts.push(BROKER_HOST.to_owned());
    let clock = WorldClock::default();
    // The thread's subscriber until now (e.g. the CLI's logs): the tap
    // forwards events to it, stamped with this run's virtual time.
    let downstream = tracing::dispatcher::get_default(Dispatch::clone);
    let tap = TransitionTap::new(
        hosts,
        recorder.clone(),
        downstream,
        Arc::clone(&clock.driver_ms),
    );
    let _tap = tracing::subscriber::set_default(tap);

    let broker = Broker::new(spec.broker.clone(), clock.clone())?;
    let mut sim = turmoil_builder(spec).build();
    add_hosts(spec, &mut sim, &broker, &recorder)?;

    let mut schedule = Schedule::new(&spec.faults, spec.client_hosts(), spec.network.latency);
    let end = spec.duration;
    let drain_end = end + drain_limit(spec);
    recorder.event(
        0,
        "driver",
        format_args!(
            "start seed={} duration_ms={} tick_ms={}",
            spec.seed,
            millis(spec.duration),
            millis(spec.tick)
        ),
    );
    loop {
        let now = sim.elapsed();
        clock.driver_ms.store(millis(now), Ordering::Relaxed);
        for applied in schedule.apply_due(now, &mut sim, &broker)? {
            recorder.event(
                millis(applied.at),
                "driver",
                format_args!("{}", applied.text),
            );
        }
        // `>` rather than `>=`: timers due at `end` (the last sample) fire
        // in the step that starts there.
        if now > end && (recorder.pending_publishes() == 0 || now >= drain_end) {
            break;
        }
        if let Err(error) = sim.step() {
            return Err(SimError::Turmoil {
                at_ms: millis(sim.elapsed()),
                message: error.to_string(),
            });
        }
    }
    let end_ms = millis(sim.elapsed());
    recorder.event(end_ms, "driver", format_args!("end"));
    let records = recorder.take();
    let ledger = broker.ledger();
    let ledger_text = broker.ledger_text();
    // Host tasks hold clones of the recorder and broker; dropping the sim
    // ends them before the tap goes away.
    drop(sim);
    Ok(RunOutput::new(spec, end_ms, records, ledger, ledger_text))
}

fn add_hosts(
    spec: &WorldSpec,
    sim: &mut turmoil::Sim<'_>,
    broker: &Broker,
    recorder: &Recorder,
) -> Result<(), SimError> {
    let serving = broker.clone();
    sim.host(BROKER_HOST, move || {
        let broker = serving.clone();
        async move {
            broker.serve_turmoil(MQTT_PORT).await?;
            Ok(())
        }
    });
    let context = |host: String, config: ClientConfig| HostContext {
        host,
        config,
        recorder: recorder.clone(),
        sample_interval: spec.sample_interval,
        duration: spec.duration,
    };
    let workload = Arc::new(spec.workload.clone());
    for index in 0..spec.workload.publishers {
        let host = publisher_host(index);
        let config = spec.client_config(&host, broker_addr(), &host, spec.client.clean_session)?;
        let context = context(host.clone(), config);
        let workload = Arc::clone(&workload);
        sim.host(host.as_str(), move || {
            workload::publisher(context.clone(), Arc::clone(&workload))
        });
    }
    for (index, subscriber) in spec.workload.subscribers.iter().enumerate() {
        let host = subscriber_host(index);
        let config = spec.client_config(&host, broker_addr(), &host, subscriber.clean_session)?;
        let context = context(host.clone(), config);
        let subscriber = subscriber.clone();
        sim.host(host.as_str(), move || {
            workload::subscriber(context.clone(), subscriber.clone())
        });
    }
    Ok(())
}
