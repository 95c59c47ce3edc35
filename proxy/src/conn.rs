//! One proxied connection: dial the upstream, run both streams, and end the
//! connection the way a toxic asks (orderly close or reset).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};
use tracing::debug;

use crate::link::{self, Abort, Link};
use crate::rng::Rng;
use crate::state::{bump, drop_one, Counters, Ending, ToxicTable};
use crate::toxic::Stream;

/// What a connection task needs from its proxy.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) upstream: SocketAddr,
    pub(crate) upstream_connect_timeout: Duration,
    pub(crate) seed: u64,
    pub(crate) chunk_bytes: usize,
    pub(crate) queue_chunks: usize,
    pub(crate) toxics: watch::Receiver<Arc<ToxicTable>>,
    pub(crate) counters: Arc<Counters>,
}

/// Keeps `connections_active` right even when the task is aborted (Down,
/// proxy dropped): the guard is dropped with the task's future.
struct Active(Arc<Counters>);

impl Active {
    fn new(counters: &Arc<Counters>) -> Self {
        bump(&counters.connections_active, 1);
        Active(Arc::clone(counters))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        drop_one(&self.0.connections_active);
    }
}

/// Serves one accepted client connection until it ends. Never panics on I/O
/// errors: they end the connection and are logged at DEBUG.
pub(crate) async fn serve(mut client: TcpStream, index: u64, context: Context) {
    let accepted_at = Instant::now();
    let _active = Active::new(&context.counters);
    let dialed = timeout(
        context.upstream_connect_timeout,
        TcpStream::connect(context.upstream),
    )
    .await;
    let mut upstream = match dialed {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(error)) => {
            debug!(connection = index, %error, "upstream connect failed");
            bump(&context.counters.upstream_connect_failures, 1);
            return;
        }
        Err(_elapsed) => {
            debug!(connection = index, "upstream connect timed out");
            bump(&context.counters.upstream_connect_failures, 1);
            return;
        }
    };
    // Small MQTT packets must not wait for Nagle: the proxy should add only
    // the delays its toxics ask for. Failing to set it is harmless.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);

    let outcome = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let link_for = |stream| Link {
            stream,
            toxics: context.toxics.clone(),
            counters: Arc::clone(&context.counters),
            rng: Rng::for_link(context.seed, index, stream),
            chunk_bytes: context.chunk_bytes,
            queue_chunks: context.queue_chunks,
        };
        let up = link::run(link_for(Stream::Upstream), client_read, upstream_write);
        let down = link::run(link_for(Stream::Downstream), upstream_read, client_write);
        tokio::select! {
            biased;
            abort = supervise(context.toxics.clone(), accepted_at) => Err(abort),
            both = async { tokio::try_join!(up, down) } => both.map(|_| ()),
        }
    };
    finish(&client, index, &context.counters, outcome);
    // Both sockets close here; with zero linger the client's close is a RST.
}

/// Records how the connection ended and arms the reset if asked for.
fn finish(client: &TcpStream, index: u64, counters: &Counters, outcome: Result<(), Abort>) {
    match outcome {
        Ok(()) => debug!(connection = index, "both streams ended"),
        Err(Abort::Ended(Ending::Close)) => {
            debug!(connection = index, "closed by a toxic");
            bump(&counters.connections_cut, 1);
        }
        Err(Abort::Ended(Ending::Reset)) => {
            debug!(connection = index, "reset by a toxic");
            bump(&counters.connections_reset, 1);
            // Zero linger turns the close into a RST and never blocks (only
            // a non-zero linger does; that is why tokio deprecated the
            // general setter). `set_zero_linger` needs tokio 1.50, the
            // workspace floor is 1.40.
            #[allow(deprecated)]
            let armed = client.set_linger(Some(Duration::ZERO));
            if let Err(error) = armed {
                debug!(connection = index, %error, "could not arm the reset; closing normally");
            }
        }
        Err(Abort::Io(error)) => debug!(connection = index, %error, "socket error"),
        Err(Abort::Shutdown) => debug!(connection = index, "proxy shut down"),
    }
}

/// Watches the connection-wide timers (Timeout's close, ResetPeer) and
/// resolves when one fires. Re-reads the table on every change, so a toxic
/// set or removed later moves the deadline.
async fn supervise(mut toxics: watch::Receiver<Arc<ToxicTable>>, accepted_at: Instant) -> Abort {
    loop {
        let ending = toxics.borrow_and_update().ending(accepted_at);
        match ending {
            Some((at, ending)) => tokio::select! {
                biased;
                changed = toxics.changed() => {
                    if changed.is_err() {
                        return Abort::Shutdown;
                    }
                }
                () = sleep_until(at) => return Abort::Ended(ending),
            },
            None => {
                if toxics.changed().await.is_err() {
                    return Abort::Shutdown;
                }
            }
        }
    }
}
