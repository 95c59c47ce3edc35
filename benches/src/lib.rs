//! Helpers shared by the Breakwater benches: a one-shot future poller that
//! keeps executor overhead out of nanosecond measurements, a scoped
//! multi-thread timing loop, and a throwaway local mosquitto broker.
//!
//! The benches themselves live in `benches/`; see the README there.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

/// A waker that does nothing: the futures polled here complete on their
/// first poll, so nobody ever needs waking.
struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
    fn wake_by_ref(self: &Arc<Self>) {}
}

/// Polls futures exactly once with a no-op waker, so a bench of an async
/// call that never suspends measures the call and not an executor (no
/// task allocation, no run queue, no thread-local runtime context).
pub struct PollOnce {
    waker: Waker,
}

impl Default for PollOnce {
    fn default() -> Self {
        Self::new()
    }
}

impl PollOnce {
    /// A poller with its waker built once, up front.
    pub fn new() -> Self {
        PollOnce {
            waker: Waker::from(Arc::new(NoopWake)),
        }
    }

    /// Pins `future` on the stack and polls it once.
    ///
    /// # Panics
    /// If the future is still pending: a bench that suspends would be
    /// measuring something else.
    #[inline]
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        let mut cx = Context::from_waker(&self.waker);
        match pin!(future).poll(&mut cx) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("a polled-once bench future must complete on its first poll"),
        }
    }
}

/// Runs `op` `iters` times on each of `threads` threads released together
/// by a barrier, and returns the longest per-thread elapsed time: the wall
/// time per call as each thread sees it while the others contend.
pub fn time_on_threads<F>(threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn() + Sync,
{
    assert!(threads > 0, "at least one thread must run the op");
    let barrier = Barrier::new(threads);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        op();
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

/// Where mosquitto lives on these machines.
pub const MOSQUITTO_PATH: &str = "/usr/sbin/mosquitto";

/// Longest wait for a freshly started mosquitto to accept connections.
const MOSQUITTO_START_TIMEOUT: Duration = Duration::from_secs(10);

/// A local mosquitto on a free `127.0.0.1` port with anonymous access,
/// killed (and its temp config removed) on drop.
pub struct Mosquitto {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts mosquitto from [`MOSQUITTO_PATH`] and waits until it accepts
    /// TCP connections.
    pub fn start() -> io::Result<Mosquitto> {
        Self::start_at(Path::new(MOSQUITTO_PATH))
    }

    /// Starts the mosquitto binary at `binary`.
    pub fn start_at(binary: &Path) -> io::Result<Mosquitto> {
        // Ask the OS for a free port, then hand it to mosquitto; the tiny
        // window in which another process could grab it is acceptable here.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = tempfile::tempdir()?;
        let config_path = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config_path,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
            ),
        )?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut broker = Mosquitto {
            child,
            addr,
            _dir: dir,
        };
        broker.wait_ready()?;
        Ok(broker)
    }

    /// The broker's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + MOSQUITTO_START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "mosquitto exited at start-up with {status}"
                )));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("mosquitto did not listen on {} in time", self.addr),
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_once_returns_a_ready_value() {
        assert_eq!(PollOnce::new().run(async { 7 }), 7);
    }

    #[test]
    #[should_panic(expected = "first poll")]
    fn poll_once_refuses_a_pending_future() {
        PollOnce::new().run(std::future::pending::<()>());
    }

    #[test]
    fn every_thread_runs_every_iteration() {
        let count = std::sync::atomic::AtomicU64::new(0);
        time_on_threads(2, 10, || {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(count.into_inner(), 20);
    }
}
