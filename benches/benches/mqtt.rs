//! Publish throughput against one local mosquitto: breakwater-mqtt next to
//! rumqttc 0.24, same broker, payload, batch, in-flight window and runtime.
//!
//! One iteration is a batch of `BATCH` publishes of `PAYLOAD_BYTES` bytes:
//! - QoS 1: every publish acknowledged (breakwater: all `publish` futures
//!   resolved, which happens at PUBACK; rumqttc: `BATCH` PubAck events);
//! - QoS 0: every publish written, then one QoS 1 publish as a fence whose
//!   PUBACK proves the broker has read the whole batch (TCP keeps order), so
//!   both clients are measured to the same point.
//!
//! Both clients run on one current-thread tokio runtime (the bench task
//! plus the client's own task: breakwater's driver, rumqttc's event loop),
//! with mosquitto on the other core; breakwater pipelines by polling all
//! publish futures of a batch at once, rumqttc by queueing requests.
//! Criterion reports elements per second: messages per second.
//!
//! Run: `cargo bench -p breakwater-benches --bench mqtt`. Needs
//! `/usr/sbin/mosquitto`; without it the bench prints why and skips.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use breakwater_benches::Mosquitto;
use breakwater_mqtt::{ClientConfig, MqttClient, QoS};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use futures::stream::{FuturesUnordered, StreamExt};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Messages per iteration.
const BATCH: usize = 1000;
/// Payload of every message.
const PAYLOAD_BYTES: usize = 64;
/// Unacknowledged QoS 1 publishes each client may have at once.
const IN_FLIGHT: u16 = 100;
/// Longest wait for one client to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one batch: far above a healthy batch (milliseconds),
/// so a stuck client fails the bench instead of hanging it.
const BATCH_TIMEOUT: Duration = Duration::from_secs(30);

const TOPIC_BREAKWATER: &str = "bench/breakwater";
const TOPIC_RUMQTTC: &str = "bench/rumqttc";

fn payload() -> Bytes {
    Bytes::from(vec![0xAB; PAYLOAD_BYTES])
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

struct Breakwater {
    client: MqttClient,
}

impl Breakwater {
    async fn connect(broker: &Mosquitto) -> Breakwater {
        let config = ClientConfig::builder(broker.addr().to_string(), "bench-breakwater")
            .max_in_flight(IN_FLIGHT)
            .offline_queue_limit(4 * BATCH)
            .request_timeout(BATCH_TIMEOUT)
            .build()
            .expect("a valid bench client config");
        let client = MqttClient::tcp(config);
        client
            .wait_connected(CONNECT_TIMEOUT)
            .await
            .expect("breakwater-mqtt connects to the local mosquitto");
        Breakwater { client }
    }

    /// Publishes one batch, all at once, and waits for every result.
    async fn batch(&self, qos: QoS, payload: &Bytes) {
        let mut publishes: FuturesUnordered<_> = (0..BATCH)
            .map(|_| self.client.publish(TOPIC_BREAKWATER, payload.clone(), qos))
            .collect();
        while let Some(result) = publishes.next().await {
            result.expect("a publish to a healthy local broker succeeds");
        }
        if qos == QoS::AtMostOnce {
            self.client
                .publish(TOPIC_BREAKWATER, payload.clone(), QoS::AtLeastOnce)
                .await
                .expect("the QoS 1 fence is acknowledged");
        }
    }
}

struct Rumqttc {
    client: AsyncClient,
    acks: mpsc::UnboundedReceiver<()>,
    event_loop: tokio::task::JoinHandle<()>,
}

impl Rumqttc {
    async fn connect(broker: &Mosquitto) -> Rumqttc {
        let addr = broker.addr();
        let mut options = MqttOptions::new("bench-rumqttc", addr.ip().to_string(), addr.port());
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_inflight(IN_FLIGHT);
        let (client, mut event_loop) = AsyncClient::new(options, BATCH);
        let (connected_tx, connected) = tokio::sync::oneshot::channel();
        let (acks_tx, acks) = mpsc::unbounded_channel();
        let event_loop = tokio::spawn(async move {
            let mut connected_tx = Some(connected_tx);
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        if acks_tx.send(()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // A disconnect (ours at the end, or a broken link) ends
                    // the loop; a batch waiting on acks then fails loudly.
                    Err(_) => return,
                }
            }
        });
        tokio::time::timeout(CONNECT_TIMEOUT, connected)
            .await
            .expect("rumqttc connects in time")
            .expect("rumqttc's event loop is running");
        Rumqttc {
            client,
            acks,
            event_loop,
        }
    }

    async fn wait_acks(&mut self, count: usize) {
        for _ in 0..count {
            self.acks
                .recv()
                .await
                .expect("rumqttc's event loop stays up during the bench");
        }
    }

    /// Queues one batch and waits until the broker has it: every PubAck
    /// (QoS 1), or the PubAck of a QoS 1 fence behind it (QoS 0).
    async fn batch(&mut self, qos: QoS, payload: &Bytes) {
        let rumqttc_qos = match qos {
            QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
            _ => rumqttc::QoS::AtLeastOnce,
        };
        for _ in 0..BATCH {
            self.client
                .publish_bytes(TOPIC_RUMQTTC, rumqttc_qos, false, payload.clone())
                .await
                .expect("rumqttc queues the publish");
        }
        if qos == QoS::AtMostOnce {
            self.client
                .publish_bytes(
                    TOPIC_RUMQTTC,
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    payload.clone(),
                )
                .await
                .expect("rumqttc queues the fence");
            self.wait_acks(1).await;
        } else {
            self.wait_acks(BATCH).await;
        }
    }

    async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(CONNECT_TIMEOUT, self.event_loop).await;
    }
}

fn qos_label(qos: QoS) -> &'static str {
    match qos {
        QoS::AtMostOnce => "qos0",
        QoS::AtLeastOnce => "qos1",
        QoS::ExactlyOnce => "qos2",
    }
}

fn bench_qos(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    breakwater: &Breakwater,
    rumqttc: &mut Rumqttc,
    qos: QoS,
) {
    let payload = payload();
    let label = qos_label(qos);
    group.bench_function(format!("breakwater_{label}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    tokio::time::timeout(BATCH_TIMEOUT, breakwater.batch(qos, &payload))
                        .await
                        .expect("a breakwater batch finishes in time");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function(format!("rumqttc_{label}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    tokio::time::timeout(BATCH_TIMEOUT, rumqttc.batch(qos, &payload))
                        .await
                        .expect("a rumqttc batch finishes in time");
                }
                start.elapsed()
            })
        })
    });
}

fn publish_throughput(c: &mut Criterion) {
    let broker = match Mosquitto::start() {
        Ok(broker) => broker,
        Err(error) => {
            eprintln!("skipping the mqtt benches: cannot start mosquitto: {error}");
            return;
        }
    };
    let rt = runtime();
    let breakwater = rt.block_on(Breakwater::connect(&broker));
    let mut rumqttc = rt.block_on(Rumqttc::connect(&broker));

    let mut group = c.benchmark_group("mqtt_publish");
    group
        .throughput(Throughput::Elements(BATCH as u64))
        .sample_size(10);
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        bench_qos(&mut group, &rt, &breakwater, &mut rumqttc, qos);
    }
    group.finish();

    rt.block_on(async {
        breakwater.client.disconnect().await;
        rumqttc.disconnect().await;
    });
    drop(broker);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = publish_throughput
}
criterion_main!(benches);
