//! Test support: a real mosquitto on a free loopback port, and scripted
//! fake brokers speaking MQTT bytes over TCP or in-memory streams.
#![allow(dead_code)] // each test binary uses a different subset

pub mod fake;
pub mod mosquitto;

use std::time::Duration;

use breakwater_core::{BreakerConfig, ErrorKind};
use breakwater_mqtt::{ClientConfig, ClientConfigBuilder};

/// A breaker config with short timings so outages play out in about a second.
pub fn quick_breaker(name: &str, max_retries: u32) -> BreakerConfig {
    BreakerConfig::builder(name)
        .max_retries(max_retries)
        .base_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
        .retry_on([ErrorKind::Connection, ErrorKind::Timeout])
        .open_timeout(Duration::from_millis(800))
        .success_threshold(2)
        .half_open_max_calls(1)
        .build()
        .expect("valid test breaker config")
}

/// A connect breaker with short timings; one successful reconnect closes it
/// (a reconnect is the only probe it ever gets).
pub fn quick_connect_breaker(max_retries: u32) -> BreakerConfig {
    BreakerConfig::builder("mqtt_connect")
        .max_retries(max_retries)
        .base_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
        .open_timeout(Duration::from_millis(800))
        .success_threshold(1)
        .build()
        .expect("valid test breaker config")
}

/// A client config with test-sized timings.
pub fn quick_config(addr: &str, client_id: &str) -> ClientConfigBuilder {
    let mut builder = ClientConfig::builder(addr, client_id);
    builder
        .keep_alive(Duration::from_secs(1))
        .ping_timeout(Duration::from_millis(500))
        .request_timeout(Duration::from_millis(800))
        .connect_timeout(Duration::from_millis(500))
        .reconnect_delay(Duration::from_millis(50), Duration::from_millis(400))
        .seed(7);
    builder
}
