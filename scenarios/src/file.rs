//! The scenario file format (TOML) and its validation. The format is
//! documented, key by key, in `scenarios/catalog/README.md`.
//!
//! Every problem in a file is an error naming the file, the line and column
//! and the problem: syntax and type errors come with toml's own span, and
//! semantic ones (overlapping faults, a fault after the end, a bad breaker
//! value) keep spans through `toml::Spanned`. Nothing here panics on input.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use breakwater_core::{BreakerConfig, ErrorKind};
use breakwater_mqtt::{BreakerConfigs, QoS};
use breakwater_sim::net::Latency;
use breakwater_sim::spec::{
    ClientSpec, Direction, Fault, NetworkSpec, ScheduledFault, SubscriberSpec, WorldSpec,
};
use serde::Deserialize;
use toml::Spanned;

use crate::duration::{format_duration, HumanDuration};
use crate::scenario::{Expectations, Scenario, ScenarioKind};

/// Longest scenario file read: far above any real scenario, and a bound so
/// a wrong path (a log file, a binary) fails fast.
pub const FILE_SIZE_LIMIT_BYTES: usize = 1 << 20;

/// Longest scenario name; names become report folder names.
pub const NAME_LEN_LIMIT: usize = 64;

/// Most message records a scenario may make: each publish counts once, plus
/// once per subscriber (the broker's ledger and the run's records keep a
/// copy of every delivery). `publishers x publish_rate_per_s x (duration -
/// publish_start) x (1 + subscribers)`. A bound so a file within every
/// per-key limit (64 publishers at 1000/s for 2 min) cannot exhaust memory.
pub const MESSAGES_LIMIT: u64 = 200_000;

/// Most payload bytes those message records may hold: the records above
/// times `payload_size_bytes`.
pub const PAYLOAD_TOTAL_LIMIT_BYTES: u64 = 256 * 1024 * 1024;

/// Smallest `payload_size_bytes`: every payload starts with
/// `publisher-N#SEQUENCE` (`breakwater_sim::workload::payload`), at most
/// 21 bytes with 64 publishers, and payloads must stay unique for the
/// acked-at-broker oracle, so a smaller size would silently grow.
pub const PAYLOAD_SIZE_MIN_BYTES: usize = 21;

/// A scenario file that cannot be run: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file, as given (a path, or `catalog/NAME.toml`).
    pub file: String,
    /// Line of the problem, from 1.
    pub line: usize,
    /// Column of the problem, from 1 (in characters).
    pub column: usize,
    /// The problem, in words.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// Turns byte spans of one source text into file:line:column errors.
struct Locator<'a> {
    file: &'a str,
    source: &'a str,
}

impl Locator<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let start = span.start.min(self.source.len());
        // Spans are byte offsets; back off to a char boundary so slicing
        // can never panic on a multi-byte character.
        let start = (0..=start)
            .rev()
            .find(|i| self.source.is_char_boundary(*i))
            .unwrap_or(0);
        let before = &self.source[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        ScenarioError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    duration: Spanned<HumanDuration>,
    tick: Option<Spanned<HumanDuration>>,
    sample_interval: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    client: RawClient,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    breakers: RawBreakers,
    #[serde(default)]
    workload: RawWorkload,
    #[serde(default)]
    faults: Vec<RawFault>,
    #[serde(default)]
    expect: RawExpect,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    keep_alive: Option<Spanned<HumanDuration>>,
    ping_timeout: Option<Spanned<HumanDuration>>,
    request_timeout: Option<Spanned<HumanDuration>>,
    connect_timeout: Option<Spanned<HumanDuration>>,
    reconnect_delay_min: Option<Spanned<HumanDuration>>,
    reconnect_delay_max: Option<Spanned<HumanDuration>>,
    offline_queue_limit: Option<Spanned<usize>>,
    max_in_flight: Option<Spanned<u16>>,
    clean_session: Option<Spanned<bool>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    latency: Option<Spanned<HumanDuration>>,
    latency_min: Option<Spanned<HumanDuration>>,
    latency_max: Option<Spanned<HumanDuration>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreakers {
    connect: Option<Spanned<RawBreaker>>,
    publish: Option<Spanned<RawBreaker>>,
    subscribe: Option<Spanned<RawBreaker>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    name: Option<Spanned<String>>,
    max_retries: Option<Spanned<u32>>,
    max_delay: Option<Spanned<HumanDuration>>,
    base_delay: Option<Spanned<HumanDuration>>,
    retry_on: Option<Spanned<Vec<Spanned<String>>>>,
    open_timeout: Option<Spanned<HumanDuration>>,
    success_threshold: Option<Spanned<u32>>,
    half_open_max_calls: Option<Spanned<u32>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    publishers: Option<Spanned<usize>>,
    publish_rate_per_s: Option<Spanned<f64>>,
    qos: Option<Spanned<u8>>,
    payload_size_bytes: Option<Spanned<usize>>,
    topics: Option<Spanned<Vec<String>>>,
    publish_start: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    subscribers: Vec<RawSubscriber>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscriber {
    filter: Spanned<String>,
    qos: Option<Spanned<u8>>,
    #[serde(default = "default_true")]
    clean_session: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at: Spanned<HumanDuration>,
    kind: Spanned<String>,
    duration: Option<Spanned<HumanDuration>>,
    targets: Option<Spanned<Vec<String>>>,
    direction: Option<Spanned<String>>,
    latency: Option<Spanned<HumanDuration>>,
    latency_min: Option<Spanned<HumanDuration>>,
    latency_max: Option<Spanned<HumanDuration>>,
    rate: Option<Spanned<f64>>,
    delay: Option<Spanned<HumanDuration>>,
    keep_session: Option<Spanned<bool>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    max_recovery: Option<HumanDuration>,
    min_success_rate: Option<Spanned<f64>>,
    min_opens: Option<u64>,
    max_opens: Option<u64>,
    min_opens_by_breaker: Option<Spanned<RawOpensByBreaker>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOpensByBreaker {
    connect: Option<u64>,
    publish: Option<u64>,
    subscribe: Option<u64>,
}

/// Every fault kind a file may name, with the kind-specific keys each one
/// takes. The names are the sim's own `Fault::kind_name`s.
pub const FAULT_KINDS: [(&str, &[&str]); 13] = [
    ("partition", &[]),
    ("partition-oneway", &["direction"]),
    ("hold", &[]),
    ("latency", &["latency", "latency_min", "latency_max"]),
    ("fail-rate", &["rate"]),
    ("refuse", &[]),
    ("black-hole", &[]),
    ("delay-acks", &["delay"]),
    ("drop-acks", &[]),
    ("close-connections", &[]),
    ("crash", &["keep_session"]),
    ("malformed", &[]),
    ("host-crash", &[]),
];

/// Parses and validates a scenario file. `file` names it in errors.
pub fn parse_scenario(file: &str, source: &str) -> Result<Scenario, ScenarioError> {
    let locator = Locator { file, source };
    if source.len() > FILE_SIZE_LIMIT_BYTES {
        return Err(locator.error(
            0..0,
            format!("file is larger than the {FILE_SIZE_LIMIT_BYTES}-byte limit"),
        ));
    }
    let raw: RawScenario = toml::from_str(source).map_err(|error| {
        let span = error.span().unwrap_or(0..0);
        locator.error(span, error.message().trim_end().to_owned())
    })?;
    Builder { locator: &locator }.scenario(raw)
}

struct Builder<'a> {
    locator: &'a Locator<'a>,
}

type Checked<T> = Result<T, ScenarioError>;

impl Builder<'_> {
    fn fail<T>(&self, span: Range<usize>, message: impl Into<String>) -> Checked<T> {
        Err(self.locator.error(span, message))
    }

    fn scenario(&self, raw: RawScenario) -> Checked<Scenario> {
        let name = self.name(&raw.name)?;
        let mut spec = WorldSpec {
            duration: raw.duration.get_ref().get(),
            ..WorldSpec::default()
        };
        if spec.duration.is_zero() {
            return self.fail(raw.duration.span(), "`duration` must be positive");
        }
        if let Some(tick) = &raw.tick {
            spec.tick = tick.get_ref().get();
            if spec.tick.is_zero() || spec.tick > spec.duration {
                return self.fail(
                    tick.span(),
                    "`tick` must be positive and at most `duration`",
                );
            }
        }
        if let Some(sample) = &raw.sample_interval {
            spec.sample_interval = sample.get_ref().get();
            if spec.sample_interval < spec.tick || spec.sample_interval > spec.duration {
                return self.fail(
                    sample.span(),
                    "`sample_interval` must be between `tick` and `duration`",
                );
            }
        }
        spec.client = self.client(&raw.client)?;
        spec.network = self.network(&raw.network)?;
        spec.breakers = self.breakers(&raw.breakers)?;
        self.check_breaker_names(&raw.breakers, &spec.breakers)?;
        self.workload(&raw.workload, &mut spec)?;
        self.check_budget(&raw.workload, &spec)?;
        let hosts = spec.client_hosts();
        let mut faults = Vec::with_capacity(raw.faults.len());
        for raw_fault in &raw.faults {
            faults.push(self.fault(raw_fault, &spec, &hosts)?);
        }
        self.check_overlaps(&raw.faults, &faults, &hosts)?;
        // The sim applies faults in schedule order; a stable sort keeps the
        // file's order for faults that start together.
        let mut ordered = faults;
        ordered.sort_by_key(|fault| fault.at);
        spec.faults = ordered;
        let expect = self.expectations(&raw.expect)?;
        // The sim's own rules are the last word; our checks above already
        // cover them with precise lines, so this only fires if the two
        // drift apart, and then still names the file.
        if let Err(error) = spec.validate() {
            return self.fail(0..0, error.to_string());
        }
        Ok(Scenario {
            name,
            description: raw.description.trim().to_owned(),
            kind: ScenarioKind::Fixed(Box::new(spec)),
            expect,
        })
    }

    fn name(&self, name: &Spanned<String>) -> Checked<String> {
        let text = name.get_ref();
        let valid = !text.is_empty()
            && text.len() <= NAME_LEN_LIMIT
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && !text.starts_with('-');
        if !valid {
            return self.fail(
                name.span(),
                format!(
                    "`name` {text:?} must be 1 to {NAME_LEN_LIMIT} characters of a-z, 0-9, `-` or `_` (it names the report folder)"
                ),
            );
        }
        if text == crate::swarm::SWARM_NAME {
            return self.fail(
                name.span(),
                "`name` \"swarm\" is reserved for swarm mode (`breakwater run swarm`)",
            );
        }
        Ok(text.clone())
    }

    /// Client settings, checked by the MQTT client's own config builder so
    /// a bad value is reported here, at its line, not when the world starts.
    fn client(&self, raw: &RawClient) -> Checked<ClientSpec> {
        let d = ClientSpec::default();
        let pick = |value: &Option<Spanned<HumanDuration>>, default: Duration| {
            value.as_ref().map_or(default, |v| v.get_ref().get())
        };
        let spec = ClientSpec {
            keep_alive: pick(&raw.keep_alive, d.keep_alive),
            ping_timeout: pick(&raw.ping_timeout, d.ping_timeout),
            request_timeout: pick(&raw.request_timeout, d.request_timeout),
            connect_timeout: pick(&raw.connect_timeout, d.connect_timeout),
            reconnect_delay_min: pick(&raw.reconnect_delay_min, d.reconnect_delay_min),
            reconnect_delay_max: pick(&raw.reconnect_delay_max, d.reconnect_delay_max),
            offline_queue_limit: raw
                .offline_queue_limit
                .as_ref()
                .map_or(d.offline_queue_limit, |v| *v.get_ref()),
            max_in_flight: raw
                .max_in_flight
                .as_ref()
                .map_or(d.max_in_flight, |v| *v.get_ref()),
            clean_session: raw
                .clean_session
                .as_ref()
                .map_or(d.clean_session, |v| *v.get_ref()),
        };
        let checked = breakwater_mqtt::ClientConfig::builder("broker:1883", "publisher-0")
            .keep_alive(spec.keep_alive)
            .ping_timeout(spec.ping_timeout)
            .request_timeout(spec.request_timeout)
            .connect_timeout(spec.connect_timeout)
            .reconnect_delay(spec.reconnect_delay_min, spec.reconnect_delay_max)
            .offline_queue_limit(spec.offline_queue_limit)
            .max_in_flight(spec.max_in_flight)
            .clean_session(spec.clean_session)
            .build();
        match checked {
            Ok(_) => Ok(spec),
            Err(error) => {
                let span = match error.field {
                    "keep_alive" => raw.keep_alive.as_ref().map(Spanned::span),
                    "ping_timeout" => raw.ping_timeout.as_ref().map(Spanned::span),
                    "request_timeout" => raw.request_timeout.as_ref().map(Spanned::span),
                    "connect_timeout" => raw.connect_timeout.as_ref().map(Spanned::span),
                    "reconnect_delay_min" => raw.reconnect_delay_min.as_ref().map(Spanned::span),
                    "reconnect_delay_max" => raw.reconnect_delay_max.as_ref().map(Spanned::span),
                    "offline_queue_limit" => raw.offline_queue_limit.as_ref().map(Spanned::span),
                    "max_in_flight" => raw.max_in_flight.as_ref().map(Spanned::span),
                    _ => None,
                };
                self.fail(span.unwrap_or(0..0), error.to_string())
            }
        }
    }

    fn network(&self, raw: &RawNetwork) -> Checked<NetworkSpec> {
        let latency = self.latency(
            raw.latency.as_ref(),
            raw.latency_min.as_ref(),
            raw.latency_max.as_ref(),
        )?;
        Ok(NetworkSpec {
            latency: latency.unwrap_or(NetworkSpec::default().latency),
        })
    }

    /// A fixed latency (`latency`) or a range (`latency_min` and
    /// `latency_max`), never both; `None` when none is given.
    fn latency(
        &self,
        fixed: Option<&Spanned<HumanDuration>>,
        min: Option<&Spanned<HumanDuration>>,
        max: Option<&Spanned<HumanDuration>>,
    ) -> Checked<Option<Latency>> {
        match (fixed, min, max) {
            (None, None, None) => Ok(None),
            (Some(fixed), None, None) => Ok(Some(Latency::Fixed(fixed.get_ref().get()))),
            (None, Some(min), Some(max)) => {
                if min.get_ref() > max.get_ref() {
                    return self.fail(
                        min.span(),
                        format!(
                            "`latency_min` ({}) must not be above `latency_max` ({})",
                            min.get_ref(),
                            max.get_ref()
                        ),
                    );
                }
                Ok(Some(Latency::Range {
                    min: min.get_ref().get(),
                    max: max.get_ref().get(),
                }))
            }
            (Some(fixed), _, _) => self.fail(
                fixed.span(),
                "give either `latency` or `latency_min` with `latency_max`, not both",
            ),
            (None, Some(one), None) | (None, None, Some(one)) => self.fail(
                one.span(),
                "`latency_min` and `latency_max` must be given together",
            ),
        }
    }

    fn breakers(&self, raw: &RawBreakers) -> Checked<BreakerConfigs> {
        let defaults = BreakerConfigs::default();
        Ok(BreakerConfigs {
            connect: self.breaker("connect", raw.connect.as_ref(), &defaults.connect)?,
            publish: self.breaker("publish", raw.publish.as_ref(), &defaults.publish)?,
            subscribe: self.breaker("subscribe", raw.subscribe.as_ref(), &defaults.subscribe)?,
        })
    }

    fn breaker(
        &self,
        table: &str,
        raw: Option<&Spanned<RawBreaker>>,
        default: &BreakerConfig,
    ) -> Checked<BreakerConfig> {
        let Some(spanned) = raw else {
            return Ok(default.clone());
        };
        let raw = spanned.get_ref();
        let mut builder = BreakerConfig::builder(default.name());
        builder
            .max_retries(default.max_retries())
            .max_delay(default.max_delay())
            .base_delay(default.base_delay())
            .retry_on(default.retry_on())
            .open_timeout(default.open_timeout())
            .success_threshold(default.success_threshold())
            .half_open_max_calls(default.half_open_max_calls());
        if let Some(name) = &raw.name {
            builder.name(name.get_ref().as_str());
        }
        if let Some(value) = &raw.max_retries {
            builder.max_retries(*value.get_ref());
        }
        if let Some(value) = &raw.max_delay {
            builder.max_delay(value.get_ref().get());
        }
        if let Some(value) = &raw.base_delay {
            builder.base_delay(value.get_ref().get());
        }
        if let Some(kinds) = &raw.retry_on {
            let mut parsed = Vec::new();
            for kind in kinds.get_ref() {
                let Some(parsed_kind) = ErrorKind::parse(kind.get_ref()) else {
                    let known: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
                    return self.fail(
                        kind.span(),
                        format!(
                            "unknown error kind {:?} in `retry_on` (known: {})",
                            kind.get_ref(),
                            known.join(", ")
                        ),
                    );
                };
                parsed.push(parsed_kind);
            }
            builder.retry_on(parsed);
        }
        if let Some(value) = &raw.open_timeout {
            builder.open_timeout(value.get_ref().get());
        }
        if let Some(value) = &raw.success_threshold {
            builder.success_threshold(*value.get_ref());
        }
        if let Some(value) = &raw.half_open_max_calls {
            builder.half_open_max_calls(*value.get_ref());
        }
        builder.build().or_else(|error| {
            // Point at the offending key when the file set it, else at the
            // breaker's table (the default it kept broke a rule together
            // with a value set elsewhere in the table).
            let span = match error.field {
                "name" => raw.name.as_ref().map(Spanned::span),
                "max_retries" => raw.max_retries.as_ref().map(Spanned::span),
                "max_delay" => raw.max_delay.as_ref().map(Spanned::span),
                "base_delay" => raw.base_delay.as_ref().map(Spanned::span),
                "retry_on" => raw.retry_on.as_ref().map(Spanned::span),
                "open_timeout" => raw.open_timeout.as_ref().map(Spanned::span),
                "success_threshold" => raw.success_threshold.as_ref().map(Spanned::span),
                "half_open_max_calls" => raw.half_open_max_calls.as_ref().map(Spanned::span),
                _ => None,
            };
            self.fail(
                span.unwrap_or_else(|| spanned.span()),
                format!("[breakers.{table}]: {error}"),
            )
        })
    }

    fn workload(&self, raw: &RawWorkload, spec: &mut WorldSpec) -> Checked<()> {
        let w = &mut spec.workload;
        if let Some(publishers) = &raw.publishers {
            w.publishers = *publishers.get_ref();
        }
        if let Some(rate) = &raw.publish_rate_per_s {
            let value = *rate.get_ref();
            let limit = breakwater_sim::spec::PUBLISH_RATE_LIMIT_PER_S;
            if !(value.is_finite() && value > 0.0 && value <= limit) {
                return self.fail(
                    rate.span(),
                    format!("`publish_rate_per_s` must be above 0 and at most {limit}"),
                );
            }
            w.publish_rate_per_s = value;
        }
        if let Some(qos) = &raw.qos {
            w.qos = self.qos(qos)?;
        }
        if let Some(size) = &raw.payload_size_bytes {
            let limit = breakwater_sim::spec::PAYLOAD_SIZE_LIMIT_BYTES;
            if !(PAYLOAD_SIZE_MIN_BYTES..=limit).contains(size.get_ref()) {
                return self.fail(
                    size.span(),
                    format!(
                        "`payload_size_bytes` must be between {PAYLOAD_SIZE_MIN_BYTES} (the `publisher-N#SEQUENCE` header every payload starts with) and {limit}, got {}",
                        size.get_ref()
                    ),
                );
            }
            w.payload_size_bytes = *size.get_ref();
        }
        if let Some(topics) = &raw.topics {
            for topic in topics.get_ref() {
                if let Err(error) = breakwater_mqtt::validate_topic(topic) {
                    return self.fail(
                        topics.span(),
                        format!("topic {topic:?} is not a valid topic name: {error}"),
                    );
                }
            }
            w.topics = topics.get_ref().clone();
        }
        if w.publishers > 0 && w.topics.is_empty() {
            let span = raw.topics.as_ref().map_or(0..0, Spanned::span);
            return self.fail(span, "`topics` must not be empty when there are publishers");
        }
        if let Some(start) = &raw.publish_start {
            w.publish_start = start.get_ref().get();
            if w.publish_start >= spec.duration {
                return self.fail(start.span(), "`publish_start` must be before `duration`");
            }
        }
        w.subscribers.clear();
        for subscriber in &raw.subscribers {
            let filter = subscriber.filter.get_ref();
            if let Err(error) = breakwater_mqtt::validate_filter(filter) {
                return self.fail(
                    subscriber.filter.span(),
                    format!("filter {filter:?} is not a valid topic filter: {error}"),
                );
            }
            let qos = match &subscriber.qos {
                Some(qos) => self.qos(qos)?,
                None => QoS::AtLeastOnce,
            };
            w.subscribers.push(SubscriberSpec {
                filter: filter.clone(),
                qos,
                clean_session: subscriber.clean_session,
            });
        }
        let hosts = w.publishers + w.subscribers.len();
        let limit = breakwater_sim::spec::CLIENT_HOSTS_LIMIT;
        if hosts == 0 || hosts > limit {
            let span = raw.publishers.as_ref().map_or(0..0, Spanned::span);
            return self.fail(
                span,
                format!("a workload needs 1 to {limit} publishers plus subscribers, got {hosts}"),
            );
        }
        Ok(())
    }

    /// Breaker names key every report and oracle (samples are grouped per
    /// host and name), so two breakers sharing one would be merged into one
    /// and fail the oracles falsely.
    fn check_breaker_names(&self, raw: &RawBreakers, configs: &BreakerConfigs) -> Checked<()> {
        let named = [
            ("connect", raw.connect.as_ref(), configs.connect.name()),
            ("publish", raw.publish.as_ref(), configs.publish.name()),
            (
                "subscribe",
                raw.subscribe.as_ref(),
                configs.subscribe.name(),
            ),
        ];
        for (index, (table, raw_table, name)) in named.iter().enumerate() {
            let Some((other, _, _)) = named[..index].iter().find(|(_, _, n)| n == name) else {
                continue;
            };
            let span = raw_table
                .and_then(|t| t.get_ref().name.as_ref().map(Spanned::span))
                .or_else(|| raw_table.map(Spanned::span))
                .unwrap_or(0..0);
            return self.fail(
                span,
                format!(
                    "[breakers.{table}]: name {name:?} is already the name of [breakers.{other}]; breaker names must differ"
                ),
            );
        }
        Ok(())
    }

    /// Bounds what a run records ([`MESSAGES_LIMIT`],
    /// [`PAYLOAD_TOTAL_LIMIT_BYTES`]), so a valid file cannot run out of
    /// memory.
    fn check_budget(&self, raw: &RawWorkload, spec: &WorldSpec) -> Checked<()> {
        let w = &spec.workload;
        let publishing_s = spec.duration.saturating_sub(w.publish_start).as_secs_f64();
        let published = (w.publishers as f64 * w.publish_rate_per_s * publishing_s).ceil();
        let records = published * (1 + w.subscribers.len()) as f64;
        let bytes = records * w.payload_size_bytes as f64;
        let span = raw
            .publish_rate_per_s
            .as_ref()
            .map(Spanned::span)
            .or_else(|| raw.publishers.as_ref().map(Spanned::span))
            .unwrap_or(0..0);
        let how = format!(
            "{} publishers x {}/s x {} of publishing x (1 + {} subscribers)",
            w.publishers,
            w.publish_rate_per_s,
            format_duration(spec.duration.saturating_sub(w.publish_start)),
            w.subscribers.len()
        );
        if records > MESSAGES_LIMIT as f64 {
            return self.fail(
                span,
                format!(
                    "the workload makes about {records:.0} message records ({how}), above the limit of {MESSAGES_LIMIT}: lower the rate, publishers, subscribers or duration"
                ),
            );
        }
        if bytes > PAYLOAD_TOTAL_LIMIT_BYTES as f64 {
            return self.fail(
                span,
                format!(
                    "the workload holds about {} MiB of payload ({how} x {} bytes), above the limit of {} MiB: lower `payload_size_bytes` or the message count",
                    (bytes / (1024.0 * 1024.0)).ceil(),
                    w.payload_size_bytes,
                    PAYLOAD_TOTAL_LIMIT_BYTES / (1024 * 1024)
                ),
            );
        }
        Ok(())
    }

    fn qos(&self, qos: &Spanned<u8>) -> Checked<QoS> {
        match qos.get_ref() {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            other => self.fail(
                qos.span(),
                format!("`qos` must be 0 or 1 (the client has no QoS 2), got {other}"),
            ),
        }
    }

    fn fault(&self, raw: &RawFault, spec: &WorldSpec, hosts: &[String]) -> Checked<ScheduledFault> {
        let kind = raw.kind.get_ref().as_str();
        let Some((_, allowed)) = FAULT_KINDS.iter().find(|(name, _)| *name == kind) else {
            let known: Vec<&str> = FAULT_KINDS.iter().map(|(name, _)| *name).collect();
            return self.fail(
                raw.kind.span(),
                format!("unknown fault kind {kind:?} (known: {})", known.join(", ")),
            );
        };
        let given = [
            ("direction", raw.direction.as_ref().map(Spanned::span)),
            ("latency", raw.latency.as_ref().map(Spanned::span)),
            ("latency_min", raw.latency_min.as_ref().map(Spanned::span)),
            ("latency_max", raw.latency_max.as_ref().map(Spanned::span)),
            ("rate", raw.rate.as_ref().map(Spanned::span)),
            ("delay", raw.delay.as_ref().map(Spanned::span)),
            ("keep_session", raw.keep_session.as_ref().map(Spanned::span)),
        ];
        for (key, span) in given {
            if let Some(span) = span {
                if !allowed.contains(&key) {
                    let takes = if allowed.is_empty() {
                        "no parameters".to_owned()
                    } else {
                        allowed.join(", ")
                    };
                    return self.fail(
                        span,
                        format!("fault kind `{kind}` does not take `{key}` (it takes: {takes})"),
                    );
                }
            }
        }
        let fault = self.fault_kind(raw, kind)?;
        let at = raw.at.get_ref().get();
        if at >= spec.duration {
            return self.fail(
                raw.at.span(),
                format!(
                    "fault `{kind}` starts at {} but the run ends at {}",
                    format_duration(at),
                    format_duration(spec.duration)
                ),
            );
        }
        let duration = match (&raw.duration, fault.is_action()) {
            (Some(duration), true) => {
                return self.fail(
                    duration.span(),
                    format!("fault kind `{kind}` is a one-shot action and takes no `duration`"),
                )
            }
            (None, true) => None,
            (None, false) => {
                return self.fail(
                    raw.kind.span(),
                    format!("fault `{kind}` needs a `duration` (how long it lasts)"),
                )
            }
            (Some(duration), false) => {
                let value = duration.get_ref().get();
                if value.is_zero() {
                    return self.fail(duration.span(), "fault `duration` must be positive");
                }
                if at + value > spec.duration {
                    return self.fail(
                        duration.span(),
                        format!(
                            "fault `{kind}` ends at {} but the run ends at {}",
                            format_duration(at + value),
                            format_duration(spec.duration)
                        ),
                    );
                }
                // The recovery oracle needs every breaker Closed after the
                // last fault; ending with the run would fail it on every seed.
                if at + value == spec.duration {
                    return self.fail(
                        duration.span(),
                        format!(
                            "fault `{kind}` ends at {}, the end of the run: no time left to recover",
                            format_duration(at + value)
                        ),
                    );
                }
                Some(value)
            }
        };
        let targets = match &raw.targets {
            None => Vec::new(),
            Some(targets) => {
                if !fault.is_network() {
                    return self.fail(
                        targets.span(),
                        format!("fault kind `{kind}` acts on the broker and takes no `targets`"),
                    );
                }
                for target in targets.get_ref() {
                    if !hosts.contains(target) {
                        return self.fail(
                            targets.span(),
                            format!(
                                "target {target:?} is not a client host of this scenario (hosts: {})",
                                hosts.join(", ")
                            ),
                        );
                    }
                }
                if targets.get_ref().is_empty() {
                    return self.fail(
                        targets.span(),
                        "`targets` is empty: leave it out to target every client host",
                    );
                }
                targets.get_ref().clone()
            }
        };
        Ok(ScheduledFault {
            at,
            duration,
            fault,
            targets,
        })
    }

    fn fault_kind(&self, raw: &RawFault, kind: &str) -> Checked<Fault> {
        let missing = |key: &str| {
            self.fail(
                raw.kind.span(),
                format!("fault kind `{kind}` needs `{key}`"),
            )
        };
        Ok(match kind {
            "partition" => Fault::Partition,
            "partition-oneway" => {
                let Some(direction) = &raw.direction else {
                    return missing("direction");
                };
                let direction = match direction.get_ref().as_str() {
                    "to-broker" => Direction::ToBroker,
                    "from-broker" => Direction::FromBroker,
                    other => {
                        return self.fail(
                            direction.span(),
                            format!(
                            "`direction` must be \"to-broker\" or \"from-broker\", got {other:?}"
                        ),
                        )
                    }
                };
                Fault::PartitionOneWay { direction }
            }
            "hold" => Fault::Hold,
            "latency" => match self.latency(
                raw.latency.as_ref(),
                raw.latency_min.as_ref(),
                raw.latency_max.as_ref(),
            )? {
                Some(latency) => Fault::Latency(latency),
                None => return missing("latency` or `latency_min` with `latency_max"),
            },
            "fail-rate" => {
                let Some(rate) = &raw.rate else {
                    return missing("rate");
                };
                if !(0.0..=1.0).contains(rate.get_ref()) {
                    return self.fail(
                        rate.span(),
                        format!("`rate` must be in 0.0..=1.0, got {}", rate.get_ref()),
                    );
                }
                Fault::FailRate {
                    rate: *rate.get_ref(),
                }
            }
            "refuse" => Fault::Refuse,
            "black-hole" => Fault::BlackHole,
            "delay-acks" => {
                let Some(delay) = &raw.delay else {
                    return missing("delay");
                };
                if delay.get_ref().get().is_zero() {
                    return self.fail(delay.span(), "`delay` must be positive");
                }
                Fault::DelayAcks {
                    delay: delay.get_ref().get(),
                }
            }
            "drop-acks" => Fault::DropAcks,
            "close-connections" => Fault::CloseConnections,
            "crash" => {
                let Some(keep) = &raw.keep_session else {
                    return missing("keep_session");
                };
                Fault::Crash {
                    keep_sessions: *keep.get_ref(),
                }
            }
            "malformed" => Fault::Malformed,
            "host-crash" => Fault::HostCrash,
            _ => {
                // FAULT_KINDS was checked first; reaching here means the
                // table and this match drifted apart.
                return self.fail(raw.kind.span(), format!("fault kind `{kind}` is not wired"));
            }
        })
    }

    /// Two lasting faults may not overlap in time on the same target: the
    /// broker has one fault mode at a time, and a link has one partition or
    /// latency setting at a time, so the second would silently replace or
    /// be undone by the first.
    fn check_overlaps(
        &self,
        raw: &[RawFault],
        faults: &[ScheduledFault],
        hosts: &[String],
    ) -> Checked<()> {
        let targets_of = |fault: &ScheduledFault| -> Vec<String> {
            if !fault.fault.is_network() {
                vec!["the broker".to_owned()]
            } else if fault.targets.is_empty() {
                hosts.to_vec()
            } else {
                fault.targets.clone()
            }
        };
        for (later_index, later) in faults.iter().enumerate() {
            let Some(later_end) = later.end() else {
                continue;
            };
            for (earlier_index, earlier) in faults.iter().enumerate().take(later_index) {
                let Some(earlier_end) = earlier.end() else {
                    continue;
                };
                let overlap_in_time = earlier.at < later_end && later.at < earlier_end;
                if !overlap_in_time {
                    continue;
                }
                let earlier_targets = targets_of(earlier);
                let shared = targets_of(later)
                    .into_iter()
                    .find(|target| earlier_targets.contains(target));
                if let Some(target) = shared {
                    let earlier_line = self.locator.error(raw[earlier_index].at.span(), "").line;
                    return self.fail(
                        raw[later_index].at.span(),
                        format!(
                            "fault `{}` ({}..{}) overlaps fault `{}` ({}..{}, line {earlier_line}) on {target}",
                            later.fault.kind_name(),
                            format_duration(later.at),
                            format_duration(later_end),
                            earlier.fault.kind_name(),
                            format_duration(earlier.at),
                            format_duration(earlier_end),
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    fn expectations(&self, raw: &RawExpect) -> Checked<Expectations> {
        if let Some(rate) = &raw.min_success_rate {
            if !(0.0..=1.0).contains(rate.get_ref()) {
                return self.fail(
                    rate.span(),
                    format!(
                        "`min_success_rate` must be in 0.0..=1.0, got {}",
                        rate.get_ref()
                    ),
                );
            }
        }
        if let (Some(min), Some(max)) = (raw.min_opens, raw.max_opens) {
            if min > max {
                return self.fail(0..0, "`min_opens` must not be above `max_opens`");
            }
        }
        let mut min_opens_by_breaker = std::collections::BTreeMap::new();
        if let Some(by) = &raw.min_opens_by_breaker {
            let by = by.get_ref();
            for (table, min) in [
                ("connect", by.connect),
                ("publish", by.publish),
                ("subscribe", by.subscribe),
            ] {
                if let Some(min) = min {
                    min_opens_by_breaker.insert(table.to_owned(), min);
                }
            }
        }
        Ok(Expectations {
            min_opens_by_breaker,
            max_recovery: raw.max_recovery.map(HumanDuration::get),
            min_success_rate: raw.min_success_rate.as_ref().map(|r| *r.get_ref()),
            min_opens: raw.min_opens,
            max_opens: raw.max_opens,
        })
    }
}
