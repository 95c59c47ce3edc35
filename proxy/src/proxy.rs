//! The proxy handle, its configuration, and the accept loop that owns the
//! listening socket and every connection task.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep, Instant};
use tracing::{debug, info, warn};

use crate::conn::{self, Context};
use crate::state::{bump, Counters, ProxyStats, ToxicTable};
use crate::toxic::{Toxic, ToxicError, ToxicKind};

/// How long the accept loop waits before binding the port again after a
/// failed attempt (Down removed while something else holds the port).
const REBIND_RETRY: Duration = Duration::from_millis(50);

/// How long the accept loop backs off after a failed `accept` (e.g. out of
/// file descriptors), so such an error cannot turn into a busy loop.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Settings of one proxy. Build with [`ProxyConfig::new`] and adjust the
/// public fields; [`Proxy::start_with`] validates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Where to listen; `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Where to forward to.
    pub upstream: SocketAddr,
    /// Seed of every random draw (latency jitter, slice sizes); each
    /// connection and stream derives its own generator from it.
    pub seed: u64,
    /// Connections served at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// Deadline for dialing the upstream for one accepted connection.
    pub upstream_connect_timeout: Duration,
    /// Largest single read, in bytes.
    pub chunk_bytes: usize,
    /// Chunks queued per stream between reader and writer; with
    /// `chunk_bytes` this bounds the memory of one stream.
    pub queue_chunks: usize,
}

impl ProxyConfig {
    /// Defaults: seed 0, 256 connections, 5 s upstream connect deadline,
    /// 16 KiB chunks, 16 queued chunks (256 KiB) per stream.
    pub fn new(listen: SocketAddr, upstream: SocketAddr) -> Self {
        ProxyConfig {
            listen,
            upstream,
            seed: 0,
            max_connections: 256,
            upstream_connect_timeout: Duration::from_secs(5),
            chunk_bytes: 16 * 1024,
            queue_chunks: 16,
        }
    }

    fn validate(&self) -> Result<(), ProxyError> {
        let invalid = |field, rule| Err(ProxyError::InvalidConfig { field, rule });
        if self.max_connections == 0 {
            return invalid("max_connections", "must be at least 1");
        }
        if self.upstream_connect_timeout.is_zero() {
            return invalid("upstream_connect_timeout", "must be greater than zero");
        }
        if !(1..=1024 * 1024).contains(&self.chunk_bytes) {
            return invalid("chunk_bytes", "must be between 1 and 1048576");
        }
        if !(1..=1024).contains(&self.queue_chunks) {
            return invalid("queue_chunks", "must be between 1 and 1024");
        }
        Ok(())
    }
}

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A config field broke a rule.
    #[error("invalid proxy config: `{field}` {rule}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// The rule it broke.
        rule: &'static str,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A running fault-injecting TCP proxy. Dropping it aborts its tasks: the
/// listening port and every connection close as soon as the runtime gets to
/// them (no task outlives the handle for longer than that).
///
/// The control methods take `&self` and resolve once the accept loop has
/// applied the change (so after `set_toxic(Toxic::Down)` returns, connects
/// are refused and open connections are closed). Connection-level toxics
/// reach open connections as described on each [`Toxic`] variant.
#[derive(Debug)]
pub struct Proxy {
    local_addr: SocketAddr,
    upstream: SocketAddr,
    toxics: watch::Sender<Arc<ToxicTable>>,
    applied: watch::Receiver<u64>,
    counters: Arc<Counters>,
    accept_task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy from `listen` to `upstream` with default settings.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> Result<Proxy, ProxyError> {
        Proxy::start_with(ProxyConfig::new(listen, upstream)).await
    }

    /// Starts a proxy with explicit settings. Must run inside a tokio
    /// runtime with the time and net drivers enabled.
    pub async fn start_with(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        config.validate()?;
        let bind_error = |source| ProxyError::Bind {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let (toxics_tx, toxics_rx) = watch::channel(Arc::new(ToxicTable::default()));
        let (applied_tx, applied_rx) = watch::channel(0);
        let counters = Arc::new(Counters::default());
        let acceptor = Acceptor {
            listener: Some(listener),
            local_addr,
            max_connections: config.max_connections,
            context: Context {
                upstream: config.upstream,
                upstream_connect_timeout: config.upstream_connect_timeout,
                seed: config.seed,
                chunk_bytes: config.chunk_bytes,
                queue_chunks: config.queue_chunks,
                toxics: toxics_rx,
                counters: Arc::clone(&counters),
            },
            applied: applied_tx,
            connections: JoinSet::new(),
            next_index: 0,
        };
        info!(listen = %local_addr, upstream = %config.upstream, seed = config.seed, "proxy started");
        Ok(Proxy {
            local_addr,
            upstream: config.upstream,
            toxics: toxics_tx,
            applied: applied_rx,
            counters,
            accept_task: tokio::spawn(acceptor.run()),
        })
    }

    /// The address clients connect to (with the port the OS picked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address the proxy forwards to.
    pub fn upstream_addr(&self) -> SocketAddr {
        self.upstream
    }

    /// Sets `toxic`, replacing the toxic of the same kind on the same
    /// stream. Rejects invalid values without changing anything.
    pub async fn set_toxic(&self, toxic: Toxic) -> Result<(), ToxicError> {
        toxic.validate()?;
        info!(proxy = %self.local_addr, ?toxic, "toxic set");
        self.change(|table| table.set(toxic, Instant::now())).await;
        Ok(())
    }

    /// Removes every toxic of `kind`, on both streams. Returns whether any
    /// was set.
    pub async fn remove_toxic(&self, kind: ToxicKind) -> bool {
        info!(proxy = %self.local_addr, %kind, "toxic removed");
        self.change(|table| table.remove(kind)).await
    }

    /// Removes every toxic: the proxy forwards normally again (after Down it
    /// listens on the same port again).
    pub async fn clear(&self) {
        info!(proxy = %self.local_addr, "toxics cleared");
        self.change(ToxicTable::clear).await;
    }

    /// The toxics in force, sorted by kind then stream.
    pub fn toxics(&self) -> Vec<Toxic> {
        self.toxics.borrow().toxics()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ProxyStats {
        self.counters.snapshot()
    }

    /// Applies `edit` to the table, then waits until the accept loop has
    /// acted on it.
    async fn change<T>(&self, edit: impl FnOnce(&mut ToxicTable) -> T) -> T {
        let mut result = None;
        let mut version = 0;
        self.toxics.send_modify(|table| {
            let table = Arc::make_mut(table);
            result = Some(edit(table));
            version = table.version();
        });
        let mut applied = self.applied.clone();
        // An error means the accept loop is gone (runtime shutting down):
        // nothing is left to wait for.
        let _ = applied.wait_for(|seen| *seen >= version).await;
        result.expect("send_modify runs the edit exactly once")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its listener and its JoinSet, and
        // dropping a JoinSet aborts every connection task: no task outlives
        // the handle, and no port stays bound.
        self.accept_task.abort();
    }
}

/// The accept loop's state: the only owner of the listener and of the
/// connection tasks.
struct Acceptor {
    /// `None` while Down (or while binding again failed).
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    max_connections: usize,
    context: Context,
    applied: watch::Sender<u64>,
    connections: JoinSet<()>,
    next_index: u64,
}

impl Acceptor {
    async fn run(mut self) {
        loop {
            let down = self.apply().await;
            let rebind_due = !down && self.listener.is_none();
            tokio::select! {
                biased;
                changed = self.context.toxics.changed() => {
                    if changed.is_err() {
                        // The handle is gone: returning drops the listener
                        // and aborts the connections.
                        return;
                    }
                }
                Some(_) = self.connections.join_next(), if !self.connections.is_empty() => {}
                accepted = accept(self.listener.as_ref()) => self.admit(accepted).await,
                () = sleep(REBIND_RETRY), if rebind_due => {}
            }
        }
    }

    /// Brings listener and connections in line with the table, then
    /// acknowledges its version. Returns whether the proxy is down.
    async fn apply(&mut self) -> bool {
        let table = Arc::clone(&self.context.toxics.borrow_and_update());
        let down = table.is_down();
        if down {
            self.go_down().await;
        } else if self.listener.is_none() {
            self.rebind().await;
        }
        self.applied.send_replace(table.version());
        down
    }

    /// Closes the listener (connects are refused) and every connection.
    async fn go_down(&mut self) {
        if self.listener.take().is_some() {
            info!(listen = %self.local_addr, "down: listener closed");
        }
        let open = self.connections.len() as u64;
        if open == 0 {
            return;
        }
        // Aborting drops each task's sockets; waiting for the tasks makes
        // "closed" true by the time set_toxic returns.
        self.connections.abort_all();
        while self.connections.join_next().await.is_some() {}
        bump(&self.context.counters.connections_cut, open);
        info!(listen = %self.local_addr, connections = open, "down: connections closed");
    }

    async fn rebind(&mut self) {
        match TcpListener::bind(self.local_addr).await {
            Ok(listener) => {
                info!(listen = %self.local_addr, "up: listening again");
                self.listener = Some(listener);
            }
            Err(error) => {
                bump(&self.context.counters.listener_rebind_failures, 1);
                warn!(listen = %self.local_addr, %error, "cannot listen again; retrying");
            }
        }
    }

    async fn admit(&mut self, accepted: io::Result<(TcpStream, SocketAddr)>) {
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(listen = %self.local_addr, %error, "accept failed");
                sleep(ACCEPT_ERROR_BACKOFF).await;
                return;
            }
        };
        let counters = &self.context.counters;
        bump(&counters.connections_accepted, 1);
        if self.connections.len() >= self.max_connections {
            bump(&counters.connections_refused, 1);
            debug!(%peer, max = self.max_connections, "too many connections; closing");
            return;
        }
        let index = self.next_index;
        self.next_index += 1;
        debug!(%peer, connection = index, "accepted");
        self.connections
            .spawn(conn::serve(stream, index, self.context.clone()));
    }
}

/// Accepts on `listener`, or never resolves when there is none.
async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}
