//! Test helpers: a seeded turmoil builder, a broker host, and a raw MQTT
//! client written directly with mqttbytes (the real client comes in phase
//! 2; these tests must not depend on it).

// Each test binary uses a different subset of the helpers.
#![allow(dead_code)]

use std::io;
use std::time::{Duration, UNIX_EPOCH};

use breakwater_sim::{Broker, MQTT_PORT};
use bytes::BytesMut;
use mqttbytes::v4::{
    ConnAck, Connect, Disconnect, Packet, PingReq, PubAck, Publish, SubAck, Subscribe, Unsubscribe,
};
use mqttbytes::QoS;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Fixed epoch so nothing in a run depends on the wall clock.
pub const EPOCH_SECS: u64 = 1_700_000_000;

/// How long helpers wait for a packet that must arrive.
pub const EXPECT_WITHIN: Duration = Duration::from_secs(5);

/// Largest packet the raw client decodes.
const CLIENT_MAX_PACKET_BYTES: usize = 1 << 20;

/// Seeded, epoch-pinned, bounded builder with a fixed 1 ms link latency so
/// timing assertions are exact.
pub fn builder(seed: u64) -> turmoil::Builder {
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .simulation_duration(Duration::from_secs(120))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1));
    builder
}

/// Registers host `broker` serving MQTT on [`MQTT_PORT`].
pub fn add_broker_host(sim: &mut turmoil::Sim<'_>, broker: &Broker) {
    let broker = broker.clone();
    sim.host("broker", move || {
        let broker = broker.clone();
        async move {
            broker.serve_turmoil(MQTT_PORT).await?;
            Ok(())
        }
    });
}

/// Encodes one packet into its own empty buffer (mqttbytes'
/// `Connect::write` patches an absolute offset, so a shared buffer with
/// bytes already in it would be corrupted).
pub fn encode(packet: &Packet) -> BytesMut {
    let mut buf = BytesMut::new();
    let result = match packet {
        Packet::Connect(connect) => connect.write(&mut buf),
        Packet::Publish(publish) => publish.write(&mut buf),
        Packet::PubAck(puback) => puback.write(&mut buf),
        Packet::Subscribe(subscribe) => subscribe.write(&mut buf),
        Packet::Unsubscribe(unsubscribe) => unsubscribe.write(&mut buf),
        Packet::PingReq => PingReq.write(&mut buf),
        Packet::Disconnect => Disconnect.write(&mut buf),
        other => panic!("the raw client never sends {other:?}"),
    };
    if let Err(error) = result {
        panic!("encoding {packet:?} failed: {error:?}");
    }
    buf
}

/// Why [`RawClient::recv`] returned no packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The broker closed the stream.
    Eof,
    /// The stream failed.
    Io(io::ErrorKind),
    /// The bytes did not decode.
    Decode(mqttbytes::Error),
}

/// A minimal MQTT client over any stream.
pub struct RawClient<S> {
    stream: S,
    buf: BytesMut,
}

impl RawClient<turmoil::net::TcpStream> {
    /// Opens a TCP connection to host `broker` (inside a turmoil host).
    pub async fn dial() -> io::Result<Self> {
        let stream = turmoil::net::TcpStream::connect(("broker", MQTT_PORT)).await?;
        Ok(Self::new(stream))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawClient<S> {
    /// Wraps an open stream.
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Writes raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Encodes and writes one packet.
    pub async fn send(&mut self, packet: Packet) -> io::Result<()> {
        let bytes = encode(&packet);
        self.send_bytes(&bytes).await
    }

    /// Reads the next packet.
    pub async fn recv(&mut self) -> Result<Packet, RecvError> {
        loop {
            match mqttbytes::v4::read(&mut self.buf, CLIENT_MAX_PACKET_BYTES) {
                Ok(packet) => return Ok(packet),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(error) => return Err(RecvError::Decode(error)),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return Err(RecvError::Eof),
                Ok(_) => {}
                Err(error) => return Err(RecvError::Io(error.kind())),
            }
        }
    }

    /// Reads the next packet, or `None` if nothing arrives within `limit`.
    pub async fn recv_within(&mut self, limit: Duration) -> Option<Result<Packet, RecvError>> {
        tokio::time::timeout(limit, self.recv()).await.ok()
    }

    /// Next packet, which must arrive within [`EXPECT_WITHIN`].
    pub async fn expect_packet(&mut self) -> Packet {
        match self.recv_within(EXPECT_WITHIN).await {
            Some(Ok(packet)) => packet,
            Some(Err(error)) => panic!("expected a packet, got {error:?}"),
            None => panic!("expected a packet within {EXPECT_WITHIN:?}, got nothing"),
        }
    }

    /// Sends CONNECT and returns the CONNACK.
    pub async fn connect(&mut self, client_id: &str, clean_session: bool) -> ConnAck {
        let mut connect = Connect::new(client_id);
        connect.clean_session = clean_session;
        connect.keep_alive = 30;
        self.send(Packet::Connect(connect))
            .await
            .expect("send CONNECT");
        match self.expect_packet().await {
            Packet::ConnAck(connack) => connack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Subscribes to one filter and returns the SUBACK.
    pub async fn subscribe(&mut self, packet_id: u16, filter: &str, qos: QoS) -> SubAck {
        let mut subscribe = Subscribe::new(filter, qos);
        subscribe.pkid = packet_id;
        self.send(Packet::Subscribe(subscribe))
            .await
            .expect("send SUBSCRIBE");
        match self.expect_packet().await {
            Packet::SubAck(suback) => suback,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Unsubscribes one filter and waits for the UNSUBACK.
    pub async fn unsubscribe(&mut self, packet_id: u16, filter: &str) {
        let mut unsubscribe = Unsubscribe::new(filter);
        unsubscribe.pkid = packet_id;
        self.send(Packet::Unsubscribe(unsubscribe))
            .await
            .expect("send UNSUBSCRIBE");
        match self.expect_packet().await {
            Packet::UnsubAck(unsuback) => assert_eq!(unsuback.pkid, packet_id),
            other => panic!("expected UNSUBACK, got {other:?}"),
        }
    }

    /// Sends a PUBLISH without waiting for anything.
    pub async fn publish(&mut self, packet_id: u16, topic: &str, qos: QoS, payload: &[u8]) {
        let mut publish = Publish::new(topic, qos, payload.to_vec());
        publish.pkid = packet_id;
        self.send(Packet::Publish(publish))
            .await
            .expect("send PUBLISH");
    }

    /// Publishes at QoS 1 and waits for the matching PUBACK.
    pub async fn publish_acked(&mut self, packet_id: u16, topic: &str, payload: &[u8]) {
        self.publish(packet_id, topic, QoS::AtLeastOnce, payload)
            .await;
        match self.expect_packet().await {
            Packet::PubAck(puback) => assert_eq!(puback.pkid, packet_id),
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }

    /// Next packet, which must be a PUBLISH.
    pub async fn expect_publish(&mut self) -> Publish {
        match self.expect_packet().await {
            Packet::Publish(publish) => publish,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Acknowledges a QoS 1 delivery.
    pub async fn puback(&mut self, packet_id: u16) {
        self.send(Packet::PubAck(PubAck::new(packet_id)))
            .await
            .expect("send PUBACK");
    }

    /// Asserts nothing arrives within `limit`.
    pub async fn expect_silence(&mut self, limit: Duration) {
        if let Some(result) = self.recv_within(limit).await {
            panic!("expected silence for {limit:?}, got {result:?}");
        }
    }

    /// Sends DISCONNECT and waits for the broker to close the stream.
    pub async fn disconnect(mut self) {
        self.send(Packet::Disconnect)
            .await
            .expect("send DISCONNECT");
        assert_eq!(
            self.recv_within(EXPECT_WITHIN).await,
            Some(Err(RecvError::Eof))
        );
    }
}

/// Most steps [`run_until`] takes: at a 1 ms tick, ten simulated minutes.
pub const MAX_STEPS: u32 = 600_000;

/// Steps `sim` until its clock reaches `at` (to inject a fault at an exact
/// virtual time). Fails if turmoil fails or the step cap is hit.
pub fn run_until(sim: &mut turmoil::Sim<'_>, at: Duration) -> turmoil::Result {
    let mut steps = 0;
    while sim.elapsed() < at {
        assert!(steps < MAX_STEPS, "step cap {MAX_STEPS} hit before {at:?}");
        sim.step()?;
        steps += 1;
    }
    Ok(())
}
