//! The client handle: validates input, runs each operation through its
//! breaker, and talks to the driver task over a channel.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use breakwater_core::rng::{mix, seed_from_name};
use breakwater_core::{BreakerConfig, CallError, CircuitBreaker, State};
use bytes::Bytes;
use mqttbytes::QoS;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::backoff::ReconnectBackoff;
use crate::config::ClientConfig;
use crate::connector::{Connector, TcpConnector};
use crate::driver::{Command, Driver, Handler, Shared};
use crate::error::{ConnectionError, MqttError, Operation};
use crate::request::{GrantedQos, Message, Reply, Request};
use crate::session::{Session, SessionConfig};
use crate::status::LinkStatus;
use crate::topic::{validate_filter, validate_topic};

/// What a guarded operation returns: the breaker's three-way error around
/// an [`MqttError`], so callers can match on `Rejected`, `Failed` and
/// `NotRetried`.
pub type MqttResult<T> = Result<T, CallError<MqttError>>;

/// The three breakers of a client, for metrics and recorders.
#[derive(Clone, Debug)]
pub struct Breakers {
    /// Guards every (re)connect attempt.
    pub connect: CircuitBreaker,
    /// Guards publishes.
    pub publish: CircuitBreaker,
    /// Guards subscribes and unsubscribes.
    pub subscribe: CircuitBreaker,
}

impl Breakers {
    /// The three, in the order connect, publish, subscribe.
    pub fn all(&self) -> [&CircuitBreaker; 3] {
        [&self.connect, &self.publish, &self.subscribe]
    }
}

/// An MQTT 3.1.1 client. Cheap to clone; clones share one connection. When
/// the last clone is dropped the connection is closed.
///
/// ```no_run
/// use breakwater_mqtt::{ClientConfig, MqttClient, QoS};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let config = ClientConfig::builder("127.0.0.1:1883", "doc-example").build().unwrap();
/// let client = MqttClient::tcp(config);
/// client
///     .subscribe("sensors/#", QoS::AtLeastOnce, |message| println!("{}", message.topic))
///     .await
///     .unwrap();
/// client.publish("sensors/1", "21.5", QoS::AtLeastOnce).await.unwrap();
/// client.disconnect().await;
/// # }
/// ```
#[derive(Clone)]
pub struct MqttClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    breakers: Breakers,
    next_token: AtomicU64,
}

impl std::fmt::Debug for MqttClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttClient")
            .field("client_id", &self.inner.config.client_id())
            .field("link", &*self.inner.shared.status.borrow())
            .finish()
    }
}

impl MqttClient {
    /// A client dialing `config.broker_addr()` over TCP.
    ///
    /// # Panics
    /// Outside a tokio runtime (the driver task is spawned on it).
    pub fn tcp(config: ClientConfig) -> Self {
        let connector = TcpConnector::new(config.broker_addr());
        Self::new(config, connector)
    }

    /// A client over `connector`. Returns at once; the driver task connects
    /// in the background (see [`Self::wait_connected`]) and requests made
    /// meanwhile wait in the offline queue.
    ///
    /// # Panics
    /// Outside a tokio runtime (the driver task is spawned on it).
    pub fn new<C: Connector>(config: ClientConfig, connector: C) -> Self {
        let breakers = Breakers {
            connect: breaker(&config, &config.breakers().connect),
            publish: breaker(&config, &config.breakers().publish),
            subscribe: breaker(&config, &config.breakers().subscribe),
        };
        let (status, _) = watch::channel(LinkStatus::Connecting);
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            healthy: AtomicBool::new(false),
            status,
        });
        let (commands, receiver) = mpsc::unbounded_channel();
        let session = Session::new(SessionConfig {
            client_id: config.client_id().to_owned(),
            keep_alive: config.keep_alive(),
            ping_timeout: config.ping_timeout(),
            clean_session: config.clean_session(),
            max_in_flight: config.max_in_flight(),
            offline_queue_limit: config.offline_queue_limit(),
            resubscribe_timeout: config.request_timeout(),
        });
        let backoff = ReconnectBackoff::new(
            config.reconnect_delay_min(),
            config.reconnect_delay_max(),
            mix(config.seed() ^ seed_from_name("reconnect")),
        );
        let driver = Driver::new(
            config.clone(),
            connector,
            session,
            receiver,
            Arc::clone(&shared),
            breakers.connect.clone(),
            backoff,
        );
        tokio::spawn(driver.run());
        MqttClient {
            inner: Arc::new(Inner {
                config,
                commands,
                shared,
                breakers,
                next_token: AtomicU64::new(1),
            }),
        }
    }

    /// The client's config.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The connect, publish and subscribe breakers.
    pub fn breakers(&self) -> &Breakers {
        &self.inner.breakers
    }

    /// The link's current status.
    pub fn link_status(&self) -> LinkStatus {
        self.inner.shared.status.borrow().clone()
    }

    /// A receiver that sees every link status change.
    pub fn watch_link(&self) -> watch::Receiver<LinkStatus> {
        self.inner.shared.status.subscribe()
    }

    /// Whether the link is up and every filter re-subscribed.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.healthy.load(Ordering::Acquire)
    }

    /// Waits until the link is healthy, at most `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), MqttError> {
        let mut link = self.watch_link();
        let wait = async {
            let status = link
                .wait_for(|s| matches!(s, LinkStatus::Connected { .. } | LinkStatus::Closed))
                .await;
            status.map(|s| s.is_connected()).unwrap_or(false)
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(MqttError::Closed),
            Err(_) => Err(MqttError::Timeout {
                operation: Operation::Connect,
                after: timeout,
            }),
        }
    }

    /// Publishes `payload` to `topic`. Resolves Ok after the write (QoS 0)
    /// or the PUBACK (QoS 1), otherwise with an error within
    /// `request_timeout`, retries included. Invalid input is refused as
    /// `NotRetried` before the breaker sees it: a caller's bug says nothing
    /// about the broker's health.
    pub async fn publish(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
    ) -> MqttResult<()> {
        self.publish_with(topic, payload.into(), qos, false).await
    }

    /// Like [`Self::publish`] with the retain flag set.
    pub async fn publish_retained(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
    ) -> MqttResult<()> {
        self.publish_with(topic, payload.into(), qos, true).await
    }

    /// Publishes `value` serialized as JSON.
    pub async fn publish_json<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        value: &T,
        qos: QoS,
    ) -> MqttResult<()> {
        let payload = serde_json::to_vec(value)
            .map_err(|e| CallError::NotRetried(MqttError::Serialize(Arc::new(e))))?;
        self.publish_with(topic, payload.into(), qos, false).await
    }

    async fn publish_with(
        &self,
        topic: &str,
        payload: Bytes,
        qos: QoS,
        retain: bool,
    ) -> MqttResult<()> {
        self.check_publish(topic, payload.len(), qos)
            .map_err(CallError::NotRetried)?;
        let make = || Request::Publish {
            topic: topic.to_owned(),
            payload: payload.clone(),
            qos,
            retain,
        };
        self.guarded(&self.inner.breakers.publish, Operation::Publish, make)
            .await
            .map(|_| ())
    }

    /// Subscribes to `filter`; `handler` receives every matching message
    /// from the SUBACK on, and again after reconnects (the client
    /// re-subscribes). Handlers run on the driver task: they must be quick
    /// and must not block. Returns the QoS the broker granted.
    pub async fn subscribe<F>(&self, filter: &str, qos: QoS, handler: F) -> MqttResult<GrantedQos>
    where
        F: Fn(Message) + Send + Sync + 'static,
    {
        validate_filter(filter).map_err(|e| CallError::NotRetried(MqttError::InvalidFilter(e)))?;
        check_qos(qos).map_err(CallError::NotRetried)?;
        let handler: Handler = Arc::new(handler);
        let make = || Request::Subscribe {
            filter: filter.to_owned(),
            qos,
            handler: Arc::clone(&handler),
        };
        match self
            .guarded(&self.inner.breakers.subscribe, Operation::Subscribe, make)
            .await?
        {
            Reply::Subscribed(granted) => Ok(granted),
            other => unreachable!("a SUBSCRIBE is answered with a SUBACK, got {other:?}"),
        }
    }

    /// Unsubscribes from `filter` (guarded by the subscribe breaker).
    pub async fn unsubscribe(&self, filter: &str) -> MqttResult<()> {
        validate_filter(filter).map_err(|e| CallError::NotRetried(MqttError::InvalidFilter(e)))?;
        let make = || Request::Unsubscribe {
            filter: filter.to_owned(),
        };
        self.guarded(&self.inner.breakers.subscribe, Operation::Unsubscribe, make)
            .await
            .map(|_| ())
    }

    /// Sends DISCONNECT (if connected), fails every waiting request with
    /// [`MqttError::Closed`] and stops the driver. Later calls fail with
    /// `Closed`.
    pub async fn disconnect(&self) {
        let (reply, done) = oneshot::channel();
        if self.inner.commands.send(Command::Disconnect(reply)).is_ok() {
            // The driver bounds its goodbye by request_timeout; the extra
            // bound here only guards against a driver that died.
            let limit = self.inner.config.request_timeout() * 2;
            let _ = tokio::time::timeout(limit, done).await;
        }
    }

    fn check_publish(&self, topic: &str, payload_bytes: usize, qos: QoS) -> Result<(), MqttError> {
        validate_topic(topic).map_err(MqttError::InvalidTopic)?;
        let limit_bytes = self.inner.config.max_payload_bytes();
        if payload_bytes > limit_bytes {
            return Err(MqttError::PayloadTooLarge {
                size_bytes: payload_bytes,
                limit_bytes,
            });
        }
        check_qos(qos)
    }

    /// Runs one request through `breaker` under a single deadline of
    /// `request_timeout` that covers every attempt and backoff.
    async fn guarded(
        &self,
        breaker: &CircuitBreaker,
        operation: Operation,
        make: impl Fn() -> Request<Handler>,
    ) -> MqttResult<Reply> {
        let timeout = self.inner.config.request_timeout();
        let deadline = Instant::now() + timeout;
        let attempts = AtomicU32::new(0);
        let call = breaker.call(|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(make(), operation, deadline)
        });
        match tokio::time::timeout_at(deadline, call).await {
            Ok(result) => result,
            // The deadline passed while the breaker slept between retries:
            // the last attempt's own error was this same timeout.
            Err(_) => Err(CallError::Failed {
                attempts: attempts.load(Ordering::Relaxed).max(1),
                last_error: MqttError::Timeout {
                    operation,
                    after: timeout,
                },
            }),
        }
    }

    /// One attempt: queue the request with the driver and wait for its
    /// reply until `deadline`.
    async fn attempt(
        &self,
        request: Request<Handler>,
        operation: Operation,
        deadline: Instant,
    ) -> Result<Reply, MqttError> {
        let inner = &*self.inner;
        if !self.is_connected() && inner.breakers.connect.state() == State::Open {
            return Err(ConnectionError::Unavailable.into());
        }
        let limit = inner.config.offline_queue_limit();
        if inner.shared.queued.fetch_add(1, Ordering::AcqRel) >= limit {
            inner.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(MqttError::QueueFull { limit });
        }
        let token = inner.next_token.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let command = Command::Request {
            token,
            request,
            reply,
        };
        if inner.commands.send(command).is_err() {
            inner.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(MqttError::Closed);
        }
        let mut guard = CancelOnDrop {
            commands: &inner.commands,
            token,
            armed: true,
        };
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(outcome)) => {
                guard.armed = false;
                outcome
            }
            Ok(Err(_)) => {
                guard.armed = false;
                Err(MqttError::Closed)
            }
            Err(_) => Err(MqttError::Timeout {
                operation,
                after: inner.config.request_timeout(),
            }),
        }
    }
}

/// Tells the driver a caller stopped waiting (deadline passed, or the
/// future was dropped), so a queued request is not sent late and an
/// in-flight one is not redelivered after a reconnect.
struct CancelOnDrop<'a> {
    commands: &'a mpsc::UnboundedSender<Command>,
    token: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.commands.send(Command::Cancel(self.token));
        }
    }
}

fn check_qos(qos: QoS) -> Result<(), MqttError> {
    match qos {
        QoS::AtMostOnce | QoS::AtLeastOnce => Ok(()),
        QoS::ExactlyOnce => Err(MqttError::UnsupportedQos(qos)),
    }
}

/// A breaker seeded from the client seed and its own name, so the three
/// breakers draw different jitter and every run with the same seed repeats.
fn breaker(config: &ClientConfig, breaker: &BreakerConfig) -> CircuitBreaker {
    let seed = mix(config.seed() ^ seed_from_name(breaker.name()));
    CircuitBreaker::builder(breaker.clone()).seed(seed).build()
}
