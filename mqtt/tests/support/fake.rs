//! Scripted fake brokers: the test plays the broker's side packet by packet,
//! over an in-memory stream (deterministic under paused time) or raw TCP.

use std::io;

use breakwater_mqtt::Connector;
use bytes::BytesMut;
use mqttbytes::v4::{self, ConnAck, ConnectReturnCode, Packet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// Hands each connect's broker end to the test.
pub struct DuplexConnector {
    brokers: mpsc::UnboundedSender<DuplexStream>,
}

/// A connector plus the receiver of the broker ends of its connections.
pub fn duplex_connector() -> (DuplexConnector, mpsc::UnboundedReceiver<DuplexStream>) {
    let (brokers, accepted) = mpsc::unbounded_channel();
    (DuplexConnector { brokers }, accepted)
}

impl Connector for DuplexConnector {
    type Stream = DuplexStream;

    async fn connect(&self) -> io::Result<DuplexStream> {
        let (client, broker) = tokio::io::duplex(256 * 1024);
        self.brokers
            .send(broker)
            .map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
        Ok(client)
    }
}

/// The broker's end of one connection.
pub struct Peer<S> {
    stream: S,
    inbound: BytesMut,
}

impl<S: AsyncRead + Unpin> Peer<S> {
    pub fn new(stream: S) -> Self {
        Peer {
            stream,
            inbound: BytesMut::new(),
        }
    }

    /// The next packet from the client; `None` on EOF.
    pub async fn read(&mut self) -> Option<Packet> {
        loop {
            match v4::read(&mut self.inbound, 1 << 20) {
                Ok(packet) => return Some(packet),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("client sent a malformed packet: {e:?}"),
            }
            self.inbound.reserve(4096);
            match self.stream.read_buf(&mut self.inbound).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}

impl<S> Peer<S> {
    /// The stream, e.g. to split it, and any bytes read but not parsed.
    pub fn into_inner(self) -> (S, BytesMut) {
        (self.stream, self.inbound)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    /// The next packet that is not a PINGREQ (pings are answered).
    pub async fn read_skipping_pings(&mut self) -> Option<Packet> {
        loop {
            match self.read().await? {
                Packet::PingReq => self.write(Packet::PingResp).await,
                other => return Some(other),
            }
        }
    }

    /// Writes one packet.
    pub async fn write(&mut self, packet: Packet) {
        let mut bytes = BytesMut::new();
        match &packet {
            Packet::ConnAck(p) => p.write(&mut bytes),
            Packet::Publish(p) => p.write(&mut bytes),
            Packet::PubAck(p) => p.write(&mut bytes),
            Packet::SubAck(p) => p.write(&mut bytes),
            Packet::UnsubAck(p) => p.write(&mut bytes),
            Packet::PingResp => v4::PingResp.write(&mut bytes),
            other => panic!("a broker does not send {other:?}"),
        }
        .expect("encode broker packet");
        self.write_raw(&bytes).await;
    }

    /// Writes raw bytes (garbage, for instance). Errors are ignored: the
    /// client may already have hung up.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
        let _ = self.stream.flush().await;
    }

    /// Reads the CONNECT and answers with a successful CONNACK.
    pub async fn accept_session(&mut self, session_present: bool) -> v4::Connect {
        let connect = match self.read().await {
            Some(Packet::Connect(connect)) => connect,
            other => panic!("expected CONNECT, got {other:?}"),
        };
        self.write(Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::Success,
            session_present,
        )))
        .await;
        connect
    }
}
