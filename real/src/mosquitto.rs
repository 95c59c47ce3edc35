//! A mosquitto process the run owns: started on a free loopback port from a
//! temporary config with persistence, stopped gracefully (SIGTERM, which
//! writes its database) or killed (SIGKILL), restarted on the same port
//! with its database kept or fresh, and killed when dropped.

use std::fs::{self, File, Permissions};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::error::RealError;

/// Time the broker gets to accept connections after a start, or to exit
/// after a signal. mosquitto needs a few milliseconds for either; a bound
/// turns a broken install into an error rather than a hang.
const PROCESS_DEADLINE: Duration = Duration::from_secs(5);
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Messages mosquitto queues for an offline persistent session (the
/// witness while the broker restarts): its default of 1000 is reachable by
/// a fast scaled workload.
const MAX_QUEUED_MESSAGES: usize = 100_000;

const INSTALL_HINT: &str = "is mosquitto installed? `apt-get install -y mosquitto`";

/// How to stop the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGTERM: mosquitto closes its connections and writes its database,
    /// so persistent sessions and their queued messages survive.
    Graceful,
    /// SIGKILL: nothing is written; the process is simply gone.
    Kill,
}

fn mosquitto_error(message: impl Into<String>) -> RealError {
    RealError::Mosquitto {
        message: message.into(),
    }
}

fn binary() -> Result<PathBuf, RealError> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .map(|dir| dir.join("mosquitto"))
        .chain([PathBuf::from("/usr/sbin/mosquitto")])
        .find(|path| path.is_file())
        .ok_or_else(|| mosquitto_error(format!("`mosquitto` not found: {INSTALL_HINT}")))
}

/// A free TCP port on 127.0.0.1 (bound, then released: another process
/// could take it in between, which on a test machine does not happen in
/// practice, and the start would then fail loudly).
fn free_port() -> Result<u16, RealError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| mosquitto_error(format!("no free loopback port: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| mosquitto_error(format!("no free loopback port: {e}")))?
        .port();
    Ok(port)
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> RealError {
    mosquitto_error(format!("{what} {}: {error}", path.display()))
}

/// A spawned mosquitto.
#[derive(Debug)]
pub(crate) struct Mosquitto {
    binary: PathBuf,
    port: u16,
    dir: TempDir,
    /// Which persistence directory is in use; a fresh start moves to the
    /// next one.
    generation: u32,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker on a free loopback port and waits until it accepts.
    pub(crate) async fn start() -> Result<Mosquitto, RealError> {
        let binary = binary()?;
        let dir = tempfile::Builder::new()
            .prefix("breakwater-real-")
            .tempdir()
            .map_err(|e| mosquitto_error(format!("temporary directory: {e}")))?;
        // Started as root, mosquitto drops to the `mosquitto` user, which
        // must be able to reach its config and write its database.
        fs::set_permissions(dir.path(), Permissions::from_mode(0o755))
            .map_err(|e| io_error("chmod", dir.path(), e))?;
        let mut broker = Mosquitto {
            binary,
            port: free_port()?,
            dir,
            generation: 0,
            child: None,
        };
        broker.write_config()?;
        broker.launch().await?;
        Ok(broker)
    }

    /// The broker's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub(crate) fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    fn write_config(&self) -> Result<(), RealError> {
        let db = self.dir.path().join(format!("db-{}", self.generation));
        fs::create_dir_all(&db).map_err(|e| io_error("create", &db, e))?;
        fs::set_permissions(&db, Permissions::from_mode(0o777))
            .map_err(|e| io_error("chmod", &db, e))?;
        let text = format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence true\n\
             persistence_location {db}/\n\
             max_queued_messages {MAX_QUEUED_MESSAGES}\n\
             log_dest stderr\n",
            port = self.port,
            db = db.display(),
        );
        let path = self.config_path();
        fs::write(&path, text).map_err(|e| io_error("write", &path, e))
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    async fn launch(&mut self) -> Result<(), RealError> {
        debug_assert!(self.child.is_none(), "launch of a running broker");
        let log_path = self.log_path();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io_error("open", &log_path, e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| io_error("open", &log_path, e))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                mosquitto_error(format!(
                    "cannot start {}: {e}; {INSTALL_HINT}",
                    self.binary.display()
                ))
            })?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + PROCESS_DEADLINE;
        while tokio::time::Instant::now() < deadline {
            if tokio::net::TcpStream::connect(self.addr()).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(mosquitto_error(format!(
                    "exited at start ({status}); log:\n{}",
                    self.log_tail()
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Err(mosquitto_error(format!(
            "did not accept on {} within {PROCESS_DEADLINE:?}; log:\n{}",
            self.addr(),
            self.log_tail()
        )))
    }

    /// Stops the broker and waits until the process has exited.
    pub(crate) async fn stop(&mut self, how: Stop) -> Result<(), RealError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        match how {
            Stop::Kill => child
                .kill()
                .map_err(|e| mosquitto_error(format!("SIGKILL: {e}")))?,
            Stop::Graceful => {
                // std has no SIGTERM and this crate forbids unsafe code, so
                // the signal goes through kill(1).
                let status = Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .status()
                    .map_err(|e| mosquitto_error(format!("kill -TERM: {e}")))?;
                if !status.success() {
                    return Err(mosquitto_error(format!("kill -TERM failed: {status}")));
                }
            }
        }
        let deadline = tokio::time::Instant::now() + PROCESS_DEADLINE;
        while tokio::time::Instant::now() < deadline {
            if child
                .try_wait()
                .map_err(|e| mosquitto_error(format!("wait: {e}")))?
                .is_some()
            {
                return Ok(());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        // It ignored SIGTERM for too long: do not leave it behind.
        let _ = child.kill();
        let _ = child.wait();
        Err(mosquitto_error(format!(
            "did not exit within {PROCESS_DEADLINE:?} of {how:?}; killed"
        )))
    }

    /// Starts the broker again on the same port, with the database it wrote
    /// (`fresh = false`) or an empty one (`fresh = true`).
    pub(crate) async fn restart(&mut self, fresh: bool) -> Result<(), RealError> {
        if fresh {
            self.generation += 1;
            self.write_config()?;
        }
        self.launch().await
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
