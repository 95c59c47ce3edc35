//! An MQTT 3.1.1 client whose connect, publish and subscribe each run
//! through their own circuit breaker, generic over its transport so the
//! same client runs over real TCP and inside a deterministic simulation.
//!
//! Layout, from the wire up:
//! - the codec module frames packets with mqttbytes 0.6 (its traps
//!   fenced off there);
//! - [`Session`] is the sans-IO protocol state: packet ids, the in-flight
//!   table, subscriptions, the offline queue and keep-alive, all driven by
//!   inputs that carry `now`;
//! - the driver (a tokio task) moves bytes and time between a
//!   [`Connector`]'s stream and the session, and reconnects with seeded,
//!   jittered backoff under the connect breaker;
//! - [`MqttClient`] validates input, applies the request deadline and the
//!   publish / subscribe breakers, and talks to the driver.
//!
//! Nothing here reads `std::time` or OS randomness: time is tokio's (virtual
//! under turmoil or a paused runtime) and every random draw comes from
//! [`ClientConfig::seed`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod client;
mod codec;
mod config;
mod connector;
mod driver;
mod error;
mod ids;
mod keepalive;
mod request;
mod session;
mod status;
mod topic;

pub use backoff::ReconnectBackoff;
pub use client::{Breakers, MqttClient, MqttResult};
pub use codec::packet_name;
pub use config::{
    BreakerConfigs, ClientConfig, ClientConfigBuilder, ConfigError, MAX_IN_FLIGHT_LIMIT,
    PAYLOAD_LIMIT_BYTES,
};
pub use connector::{Connector, TcpConnector};
pub use error::{ConnectReturnCode, ConnectionError, MqttError, Operation, ProtocolError};
pub use mqttbytes::QoS;
pub use request::{GrantedQos, Message, Outcome, Reply, Request, Token};
pub use session::{Event, Session, SessionConfig, Transmit, SUBSCRIPTION_LIMIT};
pub use status::LinkStatus;
pub use topic::{matches, validate_filter, validate_topic, TopicError, TOPIC_LEN_LIMIT_BYTES};
