//! The simulated transport: `breakwater_mqtt::Connector` over turmoil's
//! TCP, so the real client runs unchanged on virtual time and a faulty
//! simulated network.

use std::io;

use breakwater_mqtt::Connector;

/// Dials `host:port` inside the current turmoil simulation. Must be used
/// from a task running on a turmoil host (the client's driver task is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurmoilConnector {
    addr: String,
}

impl TurmoilConnector {
    /// A connector dialing `addr` (`host:port`, the host a turmoil host
    /// name), typically `ClientConfig::broker_addr`.
    pub fn new(addr: impl Into<String>) -> Self {
        TurmoilConnector { addr: addr.into() }
    }

    /// The address dialed.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Connector for TurmoilConnector {
    type Stream = turmoil::net::TcpStream;

    /// Under a partition this fails at once (`ConnectionRefused`); under a
    /// hold or towards a crashed host it hangs, which the client bounds
    /// with its `connect_timeout`.
    async fn connect(&self) -> io::Result<turmoil::net::TcpStream> {
        turmoil::net::TcpStream::connect(self.addr.as_str()).await
    }
}
