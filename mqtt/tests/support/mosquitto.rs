//! A real mosquitto process, started by the test on a free loopback port
//! from a temporary config file, killed on drop.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

const INSTALL_HINT: &str =
    "mosquitto is not installed: run `apt-get install -y mosquitto mosquitto-clients`";

fn binary(name: &str, fallbacks: &[&str]) -> PathBuf {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .collect::<Vec<_>>()
    });
    on_path
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{INSTALL_HINT} (`{name}` not found)"))
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A running (or stopped) mosquitto broker.
pub struct Mosquitto {
    port: u16,
    dir: TempDir,
    config: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker without persistence.
    pub async fn start() -> Mosquitto {
        Self::start_with(false).await
    }

    /// Starts a broker whose sessions survive a SIGTERM restart (the
    /// database is written on shutdown into the temporary directory).
    pub async fn start_persistent() -> Mosquitto {
        Self::start_with(true).await
    }

    async fn start_with(persistent: bool) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("mosquitto.conf");
        let persistence = if persistent {
            // Started as root, mosquitto drops to the `mosquitto` user, which
            // must be able to reach and write the database directory.
            let db = dir.path().join("db");
            std::fs::create_dir(&db).expect("create db dir");
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod temp dir");
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o777))
                .expect("chmod db dir");
            format!("persistence true\npersistence_location {}/\n", db.display())
        } else {
            "persistence false\n".to_owned()
        };
        let text = format!("listener {port} 127.0.0.1\nallow_anonymous true\n{persistence}");
        std::fs::write(&config, text).expect("write mosquitto.conf");
        let mut broker = Mosquitto {
            port,
            dir,
            config,
            child: None,
        };
        broker.restart().await;
        broker
    }

    /// The broker's `host:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// (Re)starts the broker on the same port and waits until it accepts.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let child = Command::new(binary("mosquitto", &["/usr/sbin/mosquitto"]))
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{INSTALL_HINT}: {e}"));
        self.child = Some(child);
        for _ in 0..250 {
            if tokio::net::TcpStream::connect(self.addr()).await.is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("mosquitto exited at start: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("mosquitto did not accept on {} within 5s", self.addr());
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("broker running").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// SIGTERM, then waits for the process to exit.
    pub async fn stop(&mut self) {
        self.signal("TERM");
        let mut child = self.child.take().expect("broker running");
        for _ in 0..250 {
            if child.try_wait().expect("wait for mosquitto").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("mosquitto did not exit within 5s of SIGTERM");
    }

    /// SIGSTOP: the process keeps its sockets but answers nothing.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// SIGCONT.
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    /// The temporary directory (config, persistence).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL also ends a stopped process.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `mosquitto_sub` process whose output lines arrive on a channel.
pub struct Sub {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Sub {
    /// Spawns `mosquitto_sub -h 127.0.0.1 -p PORT -v <args>`.
    pub fn spawn(port: u16, args: &[&str]) -> Sub {
        let mut child = Command::new(binary("mosquitto_sub", &["/usr/bin/mosquitto_sub"]))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-v"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{INSTALL_HINT}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Sub { child, lines }
    }

    /// Lines received until `until` returns true for one (included) or
    /// `limit` passes.
    pub async fn collect_until(
        &self,
        limit: Duration,
        until: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            match self.lines.try_recv() {
                Ok(line) => {
                    let done = until(&line);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(mpsc::TryRecvError::Empty) => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
            }
        }
        seen
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `mosquitto_sub` once to completion (e.g. with `-E` to create a
/// persistent session and exit).
pub fn sub_once(port: u16, args: &[&str]) {
    let status = Command::new(binary("mosquitto_sub", &["/usr/bin/mosquitto_sub"]))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{INSTALL_HINT}: {e}"));
    assert!(status.success(), "mosquitto_sub {args:?} failed: {status}");
}
