//! Validated client configuration. A [`ClientConfig`] only comes out of
//! [`ClientConfigBuilder::build`], so the client runs on values that passed
//! every rule; a bad value is a [`ConfigError`] naming the field and rule.

use std::fmt;
use std::time::Duration;

use breakwater_core::BreakerConfig;

use crate::topic::TOPIC_LEN_LIMIT_BYTES;

/// Largest MQTT "remaining length" (four 7-bit digits).
const REMAINING_LENGTH_LIMIT_BYTES: usize = 268_435_455;
/// Largest payload accepted by the config: the remaining length minus a
/// maximal topic (2-byte prefix + 65535 bytes) and a packet id.
pub const PAYLOAD_LIMIT_BYTES: usize = REMAINING_LENGTH_LIMIT_BYTES - 2 - TOPIC_LEN_LIMIT_BYTES - 2;
/// Packet ids in flight at once: ids are 16-bit and never 0; a few are kept
/// free for re-subscribing after a reconnect.
pub const MAX_IN_FLIGHT_LIMIT: u16 = 65_000;
/// Longest bounded wait accepted for any timeout: an hour.
pub const DURATION_LIMIT: Duration = Duration::from_secs(60 * 60);

/// A configuration value broke a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// The rule it broke, in words.
    pub rule: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid client config: `{}` {}", self.field, self.rule)
    }
}

impl std::error::Error for ConfigError {}

/// The three breakers' configs, one per guarded operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerConfigs {
    /// Guards every (re)connect attempt; named `mqtt_connect` by default.
    pub connect: BreakerConfig,
    /// Guards publishes; named `mqtt_publish` by default.
    pub publish: BreakerConfig,
    /// Guards subscribes and unsubscribes; named `mqtt_subscribe` by default.
    pub subscribe: BreakerConfig,
}

impl Default for BreakerConfigs {
    fn default() -> Self {
        // A reconnect is the only probe the connect breaker ever gets, so one
        // successful connect must be enough to close it; otherwise it would
        // sit in HalfOpen until the next link loss.
        let connect = BreakerConfig::builder("mqtt_connect")
            .success_threshold(1)
            .build()
            .expect("the default connect breaker config is valid");
        let publish = BreakerConfig::builder("mqtt_publish")
            .build()
            .expect("the default publish breaker config is valid");
        let subscribe = BreakerConfig::builder("mqtt_subscribe")
            .build()
            .expect("the default subscribe breaker config is valid");
        BreakerConfigs {
            connect,
            publish,
            subscribe,
        }
    }
}

/// The client's configuration; see [`ClientConfig::builder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    broker_addr: String,
    client_id: String,
    keep_alive: Duration,
    ping_timeout: Duration,
    clean_session: bool,
    request_timeout: Duration,
    connect_timeout: Duration,
    reconnect_delay_min: Duration,
    reconnect_delay_max: Duration,
    offline_queue_limit: usize,
    max_in_flight: u16,
    max_payload_bytes: usize,
    seed: u64,
    breakers: BreakerConfigs,
}

impl ClientConfig {
    /// A builder with defaults for the broker at `broker_addr` (`host:port`)
    /// and the given client id.
    pub fn builder(
        broker_addr: impl Into<String>,
        client_id: impl Into<String>,
    ) -> ClientConfigBuilder {
        ClientConfigBuilder::new(broker_addr, client_id)
    }

    /// `host:port` of the broker (what [`crate::TcpConnector`] dials).
    pub fn broker_addr(&self) -> &str {
        &self.broker_addr
    }
    /// The MQTT client identifier.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// Idle time after which a PINGREQ is sent (also sent in CONNECT).
    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }
    /// Time a PINGREQ may wait for its PINGRESP before the link is dead.
    pub fn ping_timeout(&self) -> Duration {
        self.ping_timeout
    }
    /// The CONNECT clean-session flag.
    pub fn clean_session(&self) -> bool {
        self.clean_session
    }
    /// Deadline of one publish / subscribe / unsubscribe call, retries
    /// included; also bounds re-subscribing after a reconnect.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
    /// One deadline over TCP connect plus CONNECT -> CONNACK.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// First reconnect backoff ceiling.
    pub fn reconnect_delay_min(&self) -> Duration {
        self.reconnect_delay_min
    }
    /// Largest reconnect backoff.
    pub fn reconnect_delay_max(&self) -> Duration {
        self.reconnect_delay_max
    }
    /// Requests that may wait to be sent (while disconnected or while the
    /// in-flight window is full); one more is refused at once.
    pub fn offline_queue_limit(&self) -> usize {
        self.offline_queue_limit
    }
    /// Packets awaiting an ack at once (the QoS 1 pipelining window).
    pub fn max_in_flight(&self) -> u16 {
        self.max_in_flight
    }
    /// Largest payload accepted by `publish`.
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_bytes
    }
    /// Seed of every random draw (reconnect jitter, breaker jitter).
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The three breaker configs.
    pub fn breakers(&self) -> &BreakerConfigs {
        &self.breakers
    }
}

/// Builder for [`ClientConfig`]; setters take `&mut self` and `build` can be
/// called again.
///
/// ```
/// use std::time::Duration;
/// use breakwater_mqtt::ClientConfig;
///
/// let config = ClientConfig::builder("127.0.0.1:1883", "sensor-7")
///     .keep_alive(Duration::from_secs(10))
///     .seed(42)
///     .build()
///     .unwrap();
/// assert_eq!(config.breakers().publish.name(), "mqtt_publish");
///
/// let err = ClientConfig::builder("127.0.0.1:1883", "x")
///     .offline_queue_limit(0)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field, "offline_queue_limit");
/// ```
#[derive(Clone, Debug)]
pub struct ClientConfigBuilder {
    config: ClientConfig,
}

impl ClientConfigBuilder {
    /// A builder holding the defaults.
    pub fn new(broker_addr: impl Into<String>, client_id: impl Into<String>) -> Self {
        ClientConfigBuilder {
            config: ClientConfig {
                broker_addr: broker_addr.into(),
                client_id: client_id.into(),
                keep_alive: Duration::from_secs(30),
                ping_timeout: Duration::from_secs(5),
                clean_session: true,
                request_timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(5),
                reconnect_delay_min: Duration::from_millis(100),
                reconnect_delay_max: Duration::from_secs(10),
                offline_queue_limit: 1024,
                max_in_flight: 64,
                max_payload_bytes: 1 << 20,
                seed: 0,
                breakers: BreakerConfigs::default(),
            },
        }
    }

    /// Sets `broker_addr`.
    pub fn broker_addr(&mut self, broker_addr: impl Into<String>) -> &mut Self {
        self.config.broker_addr = broker_addr.into();
        self
    }
    /// Sets `client_id`.
    pub fn client_id(&mut self, client_id: impl Into<String>) -> &mut Self {
        self.config.client_id = client_id.into();
        self
    }
    /// Sets `keep_alive` (whole seconds: that is what CONNECT carries).
    pub fn keep_alive(&mut self, keep_alive: Duration) -> &mut Self {
        self.config.keep_alive = keep_alive;
        self
    }
    /// Sets `ping_timeout`.
    pub fn ping_timeout(&mut self, ping_timeout: Duration) -> &mut Self {
        self.config.ping_timeout = ping_timeout;
        self
    }
    /// Sets `clean_session`.
    pub fn clean_session(&mut self, clean_session: bool) -> &mut Self {
        self.config.clean_session = clean_session;
        self
    }
    /// Sets `request_timeout`.
    pub fn request_timeout(&mut self, request_timeout: Duration) -> &mut Self {
        self.config.request_timeout = request_timeout;
        self
    }
    /// Sets `connect_timeout`.
    pub fn connect_timeout(&mut self, connect_timeout: Duration) -> &mut Self {
        self.config.connect_timeout = connect_timeout;
        self
    }
    /// Sets the reconnect backoff range.
    pub fn reconnect_delay(&mut self, min: Duration, max: Duration) -> &mut Self {
        self.config.reconnect_delay_min = min;
        self.config.reconnect_delay_max = max;
        self
    }
    /// Sets `offline_queue_limit`.
    pub fn offline_queue_limit(&mut self, limit: usize) -> &mut Self {
        self.config.offline_queue_limit = limit;
        self
    }
    /// Sets `max_in_flight`.
    pub fn max_in_flight(&mut self, max_in_flight: u16) -> &mut Self {
        self.config.max_in_flight = max_in_flight;
        self
    }
    /// Sets `max_payload_bytes`.
    pub fn max_payload_bytes(&mut self, max_payload_bytes: usize) -> &mut Self {
        self.config.max_payload_bytes = max_payload_bytes;
        self
    }
    /// Sets `seed`.
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.config.seed = seed;
        self
    }
    /// Sets the connect breaker's config.
    pub fn connect_breaker(&mut self, config: BreakerConfig) -> &mut Self {
        self.config.breakers.connect = config;
        self
    }
    /// Sets the publish breaker's config.
    pub fn publish_breaker(&mut self, config: BreakerConfig) -> &mut Self {
        self.config.breakers.publish = config;
        self
    }
    /// Sets the subscribe breaker's config.
    pub fn subscribe_breaker(&mut self, config: BreakerConfig) -> &mut Self {
        self.config.breakers.subscribe = config;
        self
    }

    /// Checks every rule and returns the config, or the first broken rule.
    pub fn build(&self) -> Result<ClientConfig, ConfigError> {
        let c = &self.config;
        check_broker_addr(&c.broker_addr)?;
        check_client_id(&c.client_id, c.clean_session)?;
        check_keep_alive(c.keep_alive)?;
        for (field, value) in [
            ("ping_timeout", c.ping_timeout),
            ("request_timeout", c.request_timeout),
            ("connect_timeout", c.connect_timeout),
            ("reconnect_delay_min", c.reconnect_delay_min),
            ("reconnect_delay_max", c.reconnect_delay_max),
        ] {
            check_duration(field, value)?;
        }
        if c.reconnect_delay_max < c.reconnect_delay_min {
            return fail(
                "reconnect_delay_max",
                format!(
                    "must be at least reconnect_delay_min ({:?}), got {:?}",
                    c.reconnect_delay_min, c.reconnect_delay_max
                ),
            );
        }
        if c.offline_queue_limit == 0 || c.offline_queue_limit > 1 << 20 {
            return fail(
                "offline_queue_limit",
                format!(
                    "must be between 1 and {}, got {}",
                    1 << 20,
                    c.offline_queue_limit
                ),
            );
        }
        if c.max_in_flight == 0 || c.max_in_flight > MAX_IN_FLIGHT_LIMIT {
            return fail(
                "max_in_flight",
                format!(
                    "must be between 1 and {MAX_IN_FLIGHT_LIMIT}, got {}",
                    c.max_in_flight
                ),
            );
        }
        if c.max_payload_bytes > PAYLOAD_LIMIT_BYTES {
            return fail(
                "max_payload_bytes",
                format!(
                    "must be at most {PAYLOAD_LIMIT_BYTES} (MQTT's remaining-length limit), got {}",
                    c.max_payload_bytes
                ),
            );
        }
        Ok(c.clone())
    }
}

fn fail<T>(field: &'static str, rule: String) -> Result<T, ConfigError> {
    Err(ConfigError { field, rule })
}

fn check_broker_addr(addr: &str) -> Result<(), ConfigError> {
    let port_ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok {
        return fail(
            "broker_addr",
            format!("must be `host:port` with a numeric port, got `{addr}`"),
        );
    }
    Ok(())
}

fn check_client_id(id: &str, clean_session: bool) -> Result<(), ConfigError> {
    if id.is_empty() && !clean_session {
        return fail(
            "client_id",
            "must not be empty when clean_session is false (the broker needs it to find the session)"
                .into(),
        );
    }
    if id.len() > TOPIC_LEN_LIMIT_BYTES || id.contains('\0') {
        return fail(
            "client_id",
            format!("must be at most {TOPIC_LEN_LIMIT_BYTES} bytes and contain no NUL"),
        );
    }
    Ok(())
}

fn check_keep_alive(keep_alive: Duration) -> Result<(), ConfigError> {
    // Zero would switch keep-alive off and with it dead-link detection.
    let whole = keep_alive.subsec_nanos() == 0;
    if !whole || keep_alive.is_zero() || keep_alive.as_secs() > u64::from(u16::MAX) {
        return fail(
            "keep_alive",
            format!("must be a whole number of seconds between 1 and 65535, got {keep_alive:?}"),
        );
    }
    Ok(())
}

fn check_duration(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value < Duration::from_millis(1) || value > DURATION_LIMIT {
        return fail(field, format!("must be between 1ms and 1h, got {value:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(b: &mut ClientConfigBuilder) -> &'static str {
        b.build().unwrap_err().field
    }

    #[test]
    fn defaults_are_valid_and_name_the_three_breakers() {
        let c = ClientConfig::builder("localhost:1883", "id")
            .build()
            .unwrap();
        assert_eq!(c.breakers().connect.name(), "mqtt_connect");
        assert_eq!(c.breakers().publish.name(), "mqtt_publish");
        assert_eq!(c.breakers().subscribe.name(), "mqtt_subscribe");
        assert_eq!(c.breakers().connect.success_threshold(), 1);
    }

    #[test]
    fn each_invalid_value_names_its_field() {
        let b = || ClientConfig::builder("localhost:1883", "id");
        assert_eq!(
            field(&mut ClientConfig::builder("nohost", "id")),
            "broker_addr"
        );
        assert_eq!(
            field(&mut ClientConfig::builder(":1883", "id")),
            "broker_addr"
        );
        assert_eq!(
            field(&mut ClientConfig::builder("h:99999", "id")),
            "broker_addr"
        );
        assert_eq!(field(b().client_id("").clean_session(false)), "client_id");
        assert_eq!(field(b().client_id("a\0b")), "client_id");
        assert_eq!(field(b().keep_alive(Duration::ZERO)), "keep_alive");
        assert_eq!(
            field(b().keep_alive(Duration::from_millis(1500))),
            "keep_alive"
        );
        assert_eq!(
            field(b().keep_alive(Duration::from_secs(70_000))),
            "keep_alive"
        );
        assert_eq!(field(b().ping_timeout(Duration::ZERO)), "ping_timeout");
        assert_eq!(
            field(b().request_timeout(Duration::ZERO)),
            "request_timeout"
        );
        assert_eq!(
            field(b().connect_timeout(Duration::from_secs(7200))),
            "connect_timeout"
        );
        assert_eq!(
            field(b().reconnect_delay(Duration::from_secs(2), Duration::from_secs(1))),
            "reconnect_delay_max"
        );
        assert_eq!(field(b().offline_queue_limit(0)), "offline_queue_limit");
        assert_eq!(field(b().max_in_flight(0)), "max_in_flight");
        assert_eq!(
            field(b().max_payload_bytes(usize::MAX)),
            "max_payload_bytes"
        );
    }

    #[test]
    fn empty_client_id_is_allowed_with_a_clean_session() {
        assert!(ClientConfig::builder("h:1", "").build().is_ok());
    }
}
