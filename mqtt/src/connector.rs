//! The transport is injected: anything that can produce a byte stream to the
//! broker. Real TCP lives here; the simulated transport lives in the sim
//! crate, so the same client runs on virtual time.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Opens byte streams to the broker. Called once per (re)connect attempt;
/// the client bounds each call with `connect_timeout`, so an implementation
/// may hang (a black-holed peer) without hanging the client.
///
/// ```
/// use std::io;
/// use breakwater_mqtt::Connector;
///
/// /// Connects to an in-memory broker, e.g. in a test.
/// struct Duplex(tokio::sync::mpsc::UnboundedSender<tokio::io::DuplexStream>);
///
/// impl Connector for Duplex {
///     type Stream = tokio::io::DuplexStream;
///     async fn connect(&self) -> io::Result<Self::Stream> {
///         let (client, broker) = tokio::io::duplex(64 * 1024);
///         self.0.send(broker).map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
///         Ok(client)
///     }
/// }
/// ```
pub trait Connector: Send + Sync + 'static {
    /// The stream a successful connect yields.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Opens one stream to the broker.
    fn connect(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Dials the broker over TCP with `TCP_NODELAY` (MQTT packets are small
/// and latency-bound, so Nagle's delay would only hurt).
#[derive(Clone, Debug)]
pub struct TcpConnector {
    addr: String,
}

impl TcpConnector {
    /// A connector dialing `addr` (`host:port`), typically
    /// [`crate::ClientConfig::broker_addr`].
    pub fn new(addr: impl Into<String>) -> Self {
        TcpConnector { addr: addr.into() }
    }

    /// The address dialed.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Connector for TcpConnector {
    type Stream = TcpStream;

    async fn connect(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr.as_str()).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}
