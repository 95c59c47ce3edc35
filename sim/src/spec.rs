//! What one simulated run is made of, as plain data: the seed, virtual
//! time bounds, breaker and client settings, the workload and the fault
//! schedule. A scenario file (in `breakwater-scenarios`) is parsed into a
//! [`WorldSpec`]; [`crate::run`] turns one into a [`crate::RunOutput`].
//!
//! Hosts of a world have fixed names so fault targets can name them:
//! [`BROKER_HOST`], [`publisher_host`]`(i)` and [`subscriber_host`]`(i)`.
//! Network faults act on the link between the broker and each targeted
//! client host; broker faults act on the broker and take no targets.

use std::fmt;
use std::time::Duration;

use breakwater_core::rng::{mix, seed_from_name};
use breakwater_mqtt::{BreakerConfigs, ClientConfig, ConfigError as ClientConfigError};
use mqttbytes::QoS;
use thiserror::Error;

use crate::broker::{BrokerConfig, BrokerFault};
use crate::net::Latency;

/// Name of the broker's host.
pub const BROKER_HOST: &str = "broker";

/// Longest run accepted: a day of virtual time. A bound keeps a typo in a
/// scenario from turning into a run that never ends.
pub const DURATION_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);
/// Most client hosts (publishers plus subscribers) in one world.
pub const CLIENT_HOSTS_LIMIT: usize = 64;
/// Most scheduled faults in one world.
pub const FAULTS_LIMIT: usize = 1_024;
/// Highest publish rate of one publisher; above it one tick would have to
/// carry several publishes at the default 1 ms tick.
pub const PUBLISH_RATE_LIMIT_PER_S: f64 = 1_000.0;
/// Largest payload a workload may ask for.
pub const PAYLOAD_SIZE_LIMIT_BYTES: usize = 64 * 1024;

/// Host name of the `index`-th publisher (from 0).
pub fn publisher_host(index: usize) -> String {
    format!("publisher-{index}")
}

/// Host name of the `index`-th subscriber (from 0), in the order of
/// [`Workload::subscribers`].
pub fn subscriber_host(index: usize) -> String {
    format!("subscriber-{index}")
}

/// Everything that defines one run. Same spec + same commit = same run,
/// byte for byte.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldSpec {
    /// Seed of turmoil's RNG and, mixed with each host's name, of every
    /// client's RNG.
    pub seed: u64,
    /// Virtual time the run lasts; the fault schedule must end within it.
    pub duration: Duration,
    /// Virtual time one simulation step advances.
    pub tick: Duration,
    /// Virtual time between two samples of every breaker.
    pub sample_interval: Duration,
    /// The three breakers' configs, shared by every client of the world.
    pub breakers: BreakerConfigs,
    /// Client settings shared by every client of the world.
    pub client: ClientSpec,
    /// Broker limits.
    pub broker: BrokerConfig,
    /// The healthy network between every client host and the broker.
    pub network: NetworkSpec,
    /// Who publishes and subscribes what.
    pub workload: Workload,
    /// Faults applied at exact virtual times.
    pub faults: Vec<ScheduledFault>,
}

impl Default for WorldSpec {
    /// One publisher at 10 QoS 1 messages/s for a virtual minute, a 1 ms
    /// tick, a sample per second, default breakers and no faults.
    fn default() -> Self {
        WorldSpec {
            seed: 0,
            duration: Duration::from_secs(60),
            tick: Duration::from_millis(1),
            sample_interval: Duration::from_secs(1),
            breakers: BreakerConfigs::default(),
            client: ClientSpec::default(),
            broker: BrokerConfig::default(),
            network: NetworkSpec::default(),
            workload: Workload::default(),
            faults: Vec::new(),
        }
    }
}

/// Client settings, mirrored onto `breakwater_mqtt::ClientConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    /// Idle time before a PINGREQ (whole seconds).
    pub keep_alive: Duration,
    /// Time a PINGREQ may wait for its PINGRESP.
    pub ping_timeout: Duration,
    /// Deadline of one publish / subscribe call.
    pub request_timeout: Duration,
    /// Deadline of TCP connect plus CONNECT -> CONNACK.
    pub connect_timeout: Duration,
    /// First reconnect backoff ceiling.
    pub reconnect_delay_min: Duration,
    /// Largest reconnect backoff.
    pub reconnect_delay_max: Duration,
    /// Requests that may wait while disconnected.
    pub offline_queue_limit: usize,
    /// QoS 1 pipelining window.
    pub max_in_flight: u16,
    /// CONNECT clean-session flag of publishers (subscribers carry their
    /// own in [`SubscriberSpec`]).
    pub clean_session: bool,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            keep_alive: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            reconnect_delay_min: Duration::from_millis(100),
            reconnect_delay_max: Duration::from_secs(10),
            offline_queue_limit: 1024,
            max_in_flight: 64,
            clean_session: true,
        }
    }
}

/// The healthy network: per-message latency on every client <-> broker
/// link, applied when the world is built and restored when a
/// [`Fault::Latency`] ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Baseline latency. A [`Latency::Range`] draws from turmoil's seeded
    /// RNG, so different seeds give different timings.
    pub latency: Latency,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency: Latency::Fixed(Duration::from_millis(1)),
        }
    }
}

/// Who publishes and subscribes what.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Publisher hosts, each with its own client (`publisher-0`, ...).
    pub publishers: usize,
    /// Publishes per second of each publisher, started on a fixed virtual
    /// schedule whether or not earlier ones resolved (open loop).
    pub publish_rate_per_s: f64,
    /// QoS of every publish.
    pub qos: QoS,
    /// Size of every payload; the payload starts with the publisher and
    /// sequence number and is padded to this size.
    pub payload_size_bytes: usize,
    /// Topics published to, round robin per publisher.
    pub topics: Vec<String>,
    /// Subscriber hosts, one client each (`subscriber-0`, ...).
    pub subscribers: Vec<SubscriberSpec>,
    /// Virtual time before the first publish, so subscribers are in place.
    pub publish_start: Duration,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            publishers: 1,
            publish_rate_per_s: 10.0,
            qos: QoS::AtLeastOnce,
            payload_size_bytes: 64,
            topics: vec!["sensors/0".to_owned()],
            subscribers: Vec::new(),
            publish_start: Duration::from_secs(1),
        }
    }
}

/// One subscriber host: one client holding one subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberSpec {
    /// Topic filter (`+` and `#` allowed).
    pub filter: String,
    /// Requested QoS.
    pub qos: QoS,
    /// CONNECT clean-session flag; `false` keeps the session at the broker
    /// across reconnects.
    pub clean_session: bool,
}

/// A fault applied at `at` and, if `duration` is set, undone at
/// `at + duration`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledFault {
    /// Virtual time the fault starts.
    pub at: Duration,
    /// How long it lasts; `None` lasts to the end of the run. Must be
    /// `None` for the one-shot [`Fault::CloseConnections`].
    pub duration: Option<Duration>,
    /// What happens.
    pub fault: Fault,
    /// Client hosts whose link to the broker a network fault affects;
    /// empty means every client host. Must be empty for broker faults.
    pub targets: Vec<String>,
}

impl ScheduledFault {
    /// Virtual time the fault ends, if it ends.
    pub fn end(&self) -> Option<Duration> {
        self.duration.map(|duration| self.at + duration)
    }
}

/// Direction of a [`Fault::PartitionOneWay`], relative to the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client -> broker is dropped; the broker still reaches the client.
    ToBroker,
    /// Broker -> client is dropped; the client still reaches the broker.
    FromBroker,
}

/// Every fault a world can inject.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Network: every message between client and broker is dropped, both
    /// ways; healed at the end (cut streams stay dead).
    Partition,
    /// Network: messages in one direction are dropped.
    PartitionOneWay {
        /// Which way is cut.
        direction: Direction,
    },
    /// Network: messages are held (a black hole on the wire) and delivered
    /// when the fault ends.
    Hold,
    /// Network: per-message latency; the baseline comes back at the end.
    Latency(Latency),
    /// Network: probability that a message breaks the link (see
    /// [`crate::net::set_fail_rate`]); back to 0 at the end.
    FailRate {
        /// Probability in `0.0..=1.0`.
        rate: f64,
    },
    /// Broker: CONNECTs are refused with CONNACK `ServiceUnavailable`.
    Refuse,
    /// Broker: bytes are read and nothing is ever answered.
    BlackHole,
    /// Broker: PUBACK / SUBACK / UNSUBACK are sent late.
    DelayAcks {
        /// How late.
        delay: Duration,
    },
    /// Broker: PUBACK / SUBACK / UNSUBACK are never sent.
    DropAcks,
    /// Broker, one-shot: every live connection is closed at once.
    CloseConnections,
    /// Broker: the process dies (peers see EOF, new connections are
    /// closed) and restarts at the end.
    Crash {
        /// Whether sessions survive the crash.
        keep_sessions: bool,
    },
    /// Broker: every reply is replaced by bytes no decoder accepts.
    Malformed,
    /// Broker host: turmoil crashes the broker's host (peers see EOF, new
    /// connections hang) and restarts it at the end; sessions survive
    /// because the broker's state outlives its host's tasks.
    HostCrash,
}

impl Fault {
    /// Whether the fault acts on client <-> broker links (and so takes
    /// targets).
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Fault::Partition
                | Fault::PartitionOneWay { .. }
                | Fault::Hold
                | Fault::Latency(_)
                | Fault::FailRate { .. }
        )
    }

    /// Whether the fault is a one-shot action with no duration.
    pub fn is_action(&self) -> bool {
        matches!(self, Fault::CloseConnections)
    }

    /// Stable kebab-case name, for logs and reports.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::PartitionOneWay { .. } => "partition-oneway",
            Fault::Hold => "hold",
            Fault::Latency(_) => "latency",
            Fault::FailRate { .. } => "fail-rate",
            Fault::Refuse => "refuse",
            Fault::BlackHole => "black-hole",
            Fault::DelayAcks { .. } => "delay-acks",
            Fault::DropAcks => "drop-acks",
            Fault::CloseConnections => "close-connections",
            Fault::Crash { .. } => "crash",
            Fault::Malformed => "malformed",
            Fault::HostCrash => "host-crash",
        }
    }

    /// The broker fault mode this maps to, for broker faults handled by
    /// [`crate::Broker::set_fault`].
    pub fn broker_fault(&self) -> Option<BrokerFault> {
        match self {
            Fault::Refuse => Some(BrokerFault::RefuseConnections),
            Fault::BlackHole => Some(BrokerFault::BlackHole),
            Fault::DelayAcks { delay } => Some(BrokerFault::DelayAcks { delay: *delay }),
            Fault::DropAcks => Some(BrokerFault::DropAcks),
            Fault::CloseConnections => Some(BrokerFault::CloseAllConnections),
            Fault::Crash { keep_sessions } => Some(BrokerFault::Crash {
                keep_sessions: *keep_sessions,
            }),
            Fault::Malformed => Some(BrokerFault::MalformedReplies),
            _ => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind_name())?;
        match self {
            Fault::PartitionOneWay { direction } => match direction {
                Direction::ToBroker => f.write_str("(to-broker)"),
                Direction::FromBroker => f.write_str("(from-broker)"),
            },
            Fault::Latency(Latency::Fixed(value)) => write!(f, "({}ms)", value.as_millis()),
            Fault::Latency(Latency::Range { min, max }) => {
                write!(f, "({}..{}ms)", min.as_millis(), max.as_millis())
            }
            Fault::FailRate { rate } => write!(f, "({rate})"),
            Fault::DelayAcks { delay } => write!(f, "({}ms)", delay.as_millis()),
            Fault::Crash { keep_sessions } => write!(f, "(keep_session={keep_sessions})"),
            _ => Ok(()),
        }
    }
}

/// A [`WorldSpec`] that cannot describe a run; names the field and rule.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("invalid world spec: `{field}` {rule}")]
pub struct SpecError {
    /// The offending field (`faults[2].targets` style for list items).
    pub field: String,
    /// The rule it broke.
    pub rule: String,
}

fn spec_error<T>(field: impl Into<String>, rule: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError {
        field: field.into(),
        rule: rule.into(),
    })
}

impl WorldSpec {
    /// The MQTT client config of host `host`: the spec's shared client
    /// settings and breakers, and a seed mixed from the run's seed and the
    /// host's name, so a host draws the same jitter in the simulation and in
    /// real mode. `broker_addr` and `client_id` differ between the two.
    pub fn client_config(
        &self,
        host: &str,
        broker_addr: String,
        client_id: &str,
        clean_session: bool,
    ) -> Result<ClientConfig, ClientConfigError> {
        let c = &self.client;
        ClientConfig::builder(broker_addr, client_id)
            .keep_alive(c.keep_alive)
            .ping_timeout(c.ping_timeout)
            .request_timeout(c.request_timeout)
            .connect_timeout(c.connect_timeout)
            .reconnect_delay(c.reconnect_delay_min, c.reconnect_delay_max)
            .offline_queue_limit(c.offline_queue_limit)
            .max_in_flight(c.max_in_flight)
            .clean_session(clean_session)
            .seed(mix(self.seed ^ seed_from_name(host)))
            .connect_breaker(self.breakers.connect.clone())
            .publish_breaker(self.breakers.publish.clone())
            .subscribe_breaker(self.breakers.subscribe.clone())
            .build()
    }

    /// Host names of every client, publishers first, in index order.
    pub fn client_hosts(&self) -> Vec<String> {
        let publishers = (0..self.workload.publishers).map(publisher_host);
        let subscribers = (0..self.workload.subscribers.len()).map(subscriber_host);
        publishers.chain(subscribers).collect()
    }

    /// Checks every rule a run depends on, naming the first field that
    /// breaks one. Client and broker settings are checked again, in full,
    /// by their own builders when the world is built.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.validate_time()?;
        self.validate_workload()?;
        self.broker
            .validate()
            .or_else(|error| spec_error(format!("broker.{}", error.field), error.rule))?;
        if let Latency::Range { min, max } = self.network.latency {
            if min > max {
                return spec_error("network.latency", "min must not be above max");
            }
        }
        if self.faults.len() > FAULTS_LIMIT {
            return spec_error("faults", format!("must hold at most {FAULTS_LIMIT} faults"));
        }
        let hosts = self.client_hosts();
        for (index, fault) in self.faults.iter().enumerate() {
            self.validate_fault(index, fault, &hosts)?;
        }
        Ok(())
    }

    fn validate_time(&self) -> Result<(), SpecError> {
        if self.duration.is_zero() || self.duration > DURATION_LIMIT {
            return spec_error("duration", "must be positive and at most 24h");
        }
        if self.tick.is_zero() || self.tick > self.duration {
            return spec_error("tick", "must be positive and at most `duration`");
        }
        if self.tick.subsec_nanos() % 1_000_000 != 0 {
            // Virtual times are logged in whole milliseconds; a sub-ms tick
            // would make two distinct instants print alike.
            return spec_error("tick", "must be a whole number of milliseconds");
        }
        if self.sample_interval < self.tick || self.sample_interval > self.duration {
            return spec_error("sample_interval", "must be between `tick` and `duration`");
        }
        Ok(())
    }

    fn validate_workload(&self) -> Result<(), SpecError> {
        let w = &self.workload;
        if w.publishers + w.subscribers.len() > CLIENT_HOSTS_LIMIT {
            return spec_error(
                "workload",
                format!("must have at most {CLIENT_HOSTS_LIMIT} publishers plus subscribers"),
            );
        }
        let rate_ok = w.publish_rate_per_s.is_finite()
            && w.publish_rate_per_s > 0.0
            && w.publish_rate_per_s <= PUBLISH_RATE_LIMIT_PER_S;
        if !rate_ok {
            return spec_error(
                "workload.publish_rate_per_s",
                format!("must be above 0 and at most {PUBLISH_RATE_LIMIT_PER_S}"),
            );
        }
        if w.qos == QoS::ExactlyOnce {
            return spec_error("workload.qos", "must be 0 or 1 (the client has no QoS 2)");
        }
        if w.payload_size_bytes > PAYLOAD_SIZE_LIMIT_BYTES {
            return spec_error(
                "workload.payload_size_bytes",
                format!("must be at most {PAYLOAD_SIZE_LIMIT_BYTES}"),
            );
        }
        if w.publishers > 0 && w.topics.is_empty() {
            return spec_error(
                "workload.topics",
                "must not be empty when there are publishers",
            );
        }
        for (index, topic) in w.topics.iter().enumerate() {
            if breakwater_mqtt::validate_topic(topic).is_err() {
                return spec_error(
                    format!("workload.topics[{index}]"),
                    "must be a valid topic name",
                );
            }
        }
        for (index, subscriber) in w.subscribers.iter().enumerate() {
            if breakwater_mqtt::validate_filter(&subscriber.filter).is_err() {
                return spec_error(
                    format!("workload.subscribers[{index}].filter"),
                    "must be a valid topic filter",
                );
            }
            if subscriber.qos == QoS::ExactlyOnce {
                return spec_error(
                    format!("workload.subscribers[{index}].qos"),
                    "must be 0 or 1",
                );
            }
        }
        if w.publish_start >= self.duration {
            return spec_error("workload.publish_start", "must be before `duration`");
        }
        Ok(())
    }

    fn validate_fault(
        &self,
        index: usize,
        scheduled: &ScheduledFault,
        hosts: &[String],
    ) -> Result<(), SpecError> {
        let field = |name: &str| format!("faults[{index}].{name}");
        if scheduled.at > self.duration {
            return spec_error(field("at"), "must be within `duration`");
        }
        match (scheduled.fault.is_action(), scheduled.duration) {
            (true, Some(_)) => {
                return spec_error(field("duration"), "must be absent for a one-shot fault")
            }
            (false, Some(duration)) if duration.is_zero() => {
                return spec_error(field("duration"), "must be positive")
            }
            (false, Some(duration)) if scheduled.at + duration > self.duration => {
                return spec_error(field("duration"), "must end within `duration`")
            }
            _ => {}
        }
        if !scheduled.fault.is_network() && !scheduled.targets.is_empty() {
            return spec_error(field("targets"), "must be empty for a broker fault");
        }
        for target in &scheduled.targets {
            if !hosts.contains(target) {
                return spec_error(
                    field("targets"),
                    format!("names unknown client host {target:?}"),
                );
            }
        }
        match &scheduled.fault {
            Fault::FailRate { rate } if !(0.0..=1.0).contains(rate) => {
                spec_error(field("fault"), "fail rate must be in 0.0..=1.0")
            }
            Fault::Latency(Latency::Range { min, max }) if min > max => {
                spec_error(field("fault"), "latency min must not be above max")
            }
            _ => Ok(()),
        }
    }
}
