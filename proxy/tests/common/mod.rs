//! Helpers shared by the integration tests: a loopback echo server and
//! bounded waits, so no test can hang.

#![allow(dead_code)] // each test file uses a different subset

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The upper bound on any single wait in these tests.
pub const STEP: Duration = Duration::from_secs(5);

/// A loopback address with a port the OS picks.
pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal address")
}

/// Starts an echo server on loopback; it lives as long as the test's
/// runtime. Each connection echoes until the client closes its side.
pub async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind(any_port()).await.expect("bind echo");
    let addr = listener.local_addr().expect("echo addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = socket.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    });
    addr
}

/// Connects to `addr`, failing the test after [`STEP`].
pub async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect within the step")
        .expect("connect")
}

/// Reads exactly `len` bytes, failing the test after [`STEP`].
pub async fn read_exact(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    tokio::time::timeout(STEP, stream.read_exact(&mut buf))
        .await
        .expect("read within the step")
        .expect("read");
    buf
}

/// Writes `payload`, reads the echo back and checks it.
pub async fn round_trip(stream: &mut TcpStream, payload: &[u8]) {
    stream.write_all(payload).await.expect("write");
    let echoed = read_exact(stream, payload.len()).await;
    assert_eq!(echoed, payload);
}

/// Reads until end of stream (or error) and returns what arrived and how
/// the stream ended.
pub async fn read_to_end(stream: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    let mut received = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let read = tokio::time::timeout(STEP, stream.read(&mut buf))
            .await
            .expect("stream ends within the step");
        match read {
            Ok(0) => return (received, Ok(())),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(error) => return (received, Err(error)),
        }
    }
}
