//! A fault-injecting TCP proxy for loopback tests, speaking Toxiproxy's
//! vocabulary: latency (with seeded jitter), down, timeout (black hole),
//! reset_peer, bandwidth, slicer and limit_data, each set, replaced and
//! removed at run time, on new and open connections alike.
//!
//! Breakwater's simulation injects faults on virtual time; this crate does
//! the same on real sockets, so the breaker and the MQTT client can be
//! checked against a real broker (mosquitto) with real kernels in the way.
//!
//! ```no_run
//! use std::time::Duration;
//! use breakwater_proxy::{Proxy, Stream, Toxic};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let broker = "127.0.0.1:1883".parse().unwrap();
//! let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), broker)
//!     .await
//!     .expect("loopback port");
//! // Point the client at proxy.local_addr(), then:
//! proxy
//!     .set_toxic(Toxic::Latency {
//!         stream: Stream::Downstream,
//!         latency: Duration::from_millis(200),
//!         jitter: Duration::from_millis(20),
//!     })
//!     .await
//!     .expect("valid toxic");
//! proxy.set_toxic(Toxic::Down).await.expect("valid toxic");
//! proxy.clear().await;
//! println!("{:?}", proxy.stats());
//! # }
//! ```
//!
//! Every buffer is bounded (`chunk_bytes * queue_chunks` per stream, at
//! most `max_connections` connections), I/O errors end a connection and are
//! logged, never panic, and dropping the [`Proxy`] ends all of its tasks.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod conn;
mod link;
mod proxy;
mod rng;
mod state;
mod toxic;

pub use proxy::{Proxy, ProxyConfig, ProxyError};
pub use state::{ProxyStats, StreamStats};
pub use toxic::{Stream, Toxic, ToxicError, ToxicKind};
