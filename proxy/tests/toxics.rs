//! Each toxic's observable effect on real loopback sockets, with a tokio
//! echo server upstream. Timing assertions are lower bounds (a toxic adds at
//! least this much); upper bounds are only used where the gap is large.

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use breakwater_proxy::{Proxy, ProxyConfig, ProxyError, Stream, Toxic, ToxicKind};
use common::{any_port, connect, echo_server, read_exact, read_to_end, round_trip, STEP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

async fn proxy_to_echo() -> Proxy {
    let echo = echo_server().await;
    Proxy::start(any_port(), echo).await.expect("start proxy")
}

fn latency(stream: Stream, latency_ms: u64) -> Toxic {
    Toxic::Latency {
        stream,
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::ZERO,
    }
}

#[tokio::test]
async fn proxy_forwards_both_ways_and_counts_bytes_per_stream() {
    let proxy = proxy_to_echo().await;
    let mut client = connect(proxy.local_addr()).await;
    round_trip(&mut client, &[7; 100]).await;

    let stats = proxy.stats();
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.connections_active, 1);
    assert_eq!(stats.upstream.bytes_read, 100);
    assert_eq!(stats.upstream.bytes_forwarded, 100);
    assert_eq!(stats.downstream.bytes_forwarded, 100);

    // A half-close travels through: the echo server sees EOF and closes.
    client.shutdown().await.expect("shutdown");
    let (rest, ended) = read_to_end(&mut client).await;
    assert!(rest.is_empty());
    ended.expect("orderly end of stream");
    assert_eq!(proxy.stats().upstream.eofs_forwarded, 1);
}

#[tokio::test]
async fn latency_delays_each_round_trip_by_at_least_the_latency() {
    let proxy = proxy_to_echo().await;
    proxy
        .set_toxic(latency(Stream::Upstream, 100))
        .await
        .expect("valid");
    proxy
        .set_toxic(latency(Stream::Downstream, 150))
        .await
        .expect("valid");
    let mut client = connect(proxy.local_addr()).await;
    for _ in 0..2 {
        let started = Instant::now();
        round_trip(&mut client, b"ping").await;
        assert!(started.elapsed() >= Duration::from_millis(250));
    }
}

#[tokio::test]
async fn latency_set_on_an_open_connection_applies_to_its_next_bytes_and_removal_releases_them() {
    let proxy = proxy_to_echo().await;
    let mut client = connect(proxy.local_addr()).await;
    round_trip(&mut client, b"warm").await;

    proxy
        .set_toxic(latency(Stream::Downstream, 300))
        .await
        .expect("valid");
    let started = Instant::now();
    round_trip(&mut client, b"slow").await;
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A chunk already waiting out a long latency is released by removal.
    proxy
        .set_toxic(latency(Stream::Downstream, 60_000))
        .await
        .expect("valid");
    client.write_all(b"held").await.expect("write");
    sleep(Duration::from_millis(50)).await;
    assert!(proxy.remove_toxic(ToxicKind::Latency).await);
    assert_eq!(read_exact(&mut client, 4).await, b"held");
}

#[tokio::test]
async fn down_refuses_new_connections() {
    let proxy = proxy_to_echo().await;
    proxy.set_toxic(Toxic::Down).await.expect("valid");
    let refused = TcpStream::connect(proxy.local_addr()).await;
    assert_eq!(
        refused.expect_err("connect must fail").kind(),
        ErrorKind::ConnectionRefused
    );
}

#[tokio::test]
async fn down_cuts_open_connections_and_clear_accepts_again_on_the_same_port() {
    let proxy = proxy_to_echo().await;
    let addr = proxy.local_addr();
    let mut client = connect(addr).await;
    round_trip(&mut client, b"before").await;

    proxy.set_toxic(Toxic::Down).await.expect("valid");
    let (received, _ended) = read_to_end(&mut client).await;
    assert!(received.is_empty());
    assert_eq!(proxy.stats().connections_cut, 1);
    assert_eq!(proxy.stats().connections_active, 0);

    proxy.clear().await;
    assert_eq!(proxy.local_addr(), addr);
    let mut again = connect(addr).await;
    round_trip(&mut again, b"after").await;
}

#[tokio::test]
async fn timeout_holds_data_and_closes_the_connection_after_the_timeout() {
    let proxy = proxy_to_echo().await;
    proxy
        .set_toxic(Toxic::Timeout {
            stream: Stream::Upstream,
            timeout: Duration::from_millis(300),
        })
        .await
        .expect("valid");
    let connected = Instant::now();
    let mut client = connect(proxy.local_addr()).await;
    client.write_all(b"into the void").await.expect("write");

    let mut buf = [0_u8; 16];
    let early = timeout(Duration::from_millis(150), client.read(&mut buf)).await;
    assert!(early.is_err(), "nothing may come back while held");

    let (received, _ended) = read_to_end(&mut client).await;
    assert!(received.is_empty());
    assert!(connected.elapsed() >= Duration::from_millis(300));
    assert_eq!(proxy.stats().upstream.bytes_forwarded, 0);
    assert_eq!(proxy.stats().connections_cut, 1);
}

#[tokio::test]
async fn timeout_zero_holds_until_removed_and_then_delivers_the_held_bytes() {
    let proxy = proxy_to_echo().await;
    let mut client = connect(proxy.local_addr()).await;
    round_trip(&mut client, b"warm").await;
    proxy
        .set_toxic(Toxic::Timeout {
            stream: Stream::Downstream,
            timeout: Duration::ZERO,
        })
        .await
        .expect("valid");
    client.write_all(b"held").await.expect("write");

    let mut buf = [0_u8; 4];
    let early = timeout(Duration::from_millis(300), client.read(&mut buf)).await;
    assert!(early.is_err(), "a zero timeout holds without closing");

    assert!(proxy.remove_toxic(ToxicKind::Timeout).await);
    assert_eq!(read_exact(&mut client, 4).await, b"held");
}

#[tokio::test]
async fn reset_peer_gives_the_client_connection_reset() {
    let proxy = proxy_to_echo().await;
    proxy
        .set_toxic(Toxic::ResetPeer {
            timeout: Duration::ZERO,
        })
        .await
        .expect("valid");
    let mut client = connect(proxy.local_addr()).await;
    let (received, ended) = read_to_end(&mut client).await;
    assert!(received.is_empty());
    assert_eq!(
        ended.expect_err("a reset, not an orderly close").kind(),
        ErrorKind::ConnectionReset
    );
    assert_eq!(proxy.stats().connections_reset, 1);
}

#[tokio::test]
async fn reset_peer_resets_an_open_connection_after_its_timeout() {
    let proxy = proxy_to_echo().await;
    let mut client = connect(proxy.local_addr()).await;
    round_trip(&mut client, b"fine").await;

    let set_at = Instant::now();
    proxy
        .set_toxic(Toxic::ResetPeer {
            timeout: Duration::from_millis(200),
        })
        .await
        .expect("valid");
    // Data still flows until the timer fires.
    round_trip(&mut client, b"still fine").await;
    let (_received, ended) = read_to_end(&mut client).await;
    assert_eq!(ended.expect_err("reset").kind(), ErrorKind::ConnectionReset);
    assert!(set_at.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn bandwidth_of_64_kb_per_s_stretches_a_64_kib_transfer_past_half_a_second() {
    let proxy = proxy_to_echo().await;
    proxy
        .set_toxic(Toxic::Bandwidth {
            stream: Stream::Downstream,
            rate_kb_per_s: 64,
        })
        .await
        .expect("valid");
    let client = connect(proxy.local_addr()).await;
    let (mut read, mut write) = client.into_split();
    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let expected = payload.clone();

    let started = Instant::now();
    // Write concurrently: the echo comes back slowly and must not block us.
    let writer = tokio::spawn(async move { write.write_all(&payload).await.map(|()| write) });
    let mut received = vec![0; expected.len()];
    timeout(STEP, read.read_exact(&mut received))
        .await
        .expect("transfer within the step")
        .expect("read");
    let elapsed = started.elapsed();
    let _write_half = writer.await.expect("writer task").expect("write");

    assert_eq!(received, expected);
    assert!(elapsed >= Duration::from_millis(500), "took {elapsed:?}");
}

#[tokio::test]
async fn slicer_splits_one_write_into_many_small_reads() {
    let proxy = proxy_to_echo().await;
    proxy
        .set_toxic(Toxic::Slicer {
            stream: Stream::Downstream,
            average_size: 16,
            size_variation: 8,
            delay: Duration::from_millis(1),
        })
        .await
        .expect("valid");
    let mut client = connect(proxy.local_addr()).await;
    let payload: Vec<u8> = (0..1024).map(|i| (i % 256) as u8).collect();
    client.write_all(&payload).await.expect("write");

    let mut received = Vec::new();
    let mut reads = 0;
    let mut buf = [0_u8; 2048];
    while received.len() < payload.len() {
        let n = timeout(STEP, client.read(&mut buf))
            .await
            .expect("read within the step")
            .expect("read");
        assert!(n > 0, "unexpected end of stream");
        received.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    assert_eq!(received, payload);
    // About 43 slices of 8..=24 bytes; a busy machine may merge a few.
    assert!(reads >= 10, "only {reads} reads");
}

#[tokio::test]
async fn limit_data_closes_the_connection_after_n_bytes() {
    let proxy = proxy_to_echo().await;
    proxy
        .set_toxic(Toxic::LimitData {
            stream: Stream::Downstream,
            bytes: 10,
        })
        .await
        .expect("valid");
    let mut client = connect(proxy.local_addr()).await;
    let payload: Vec<u8> = (0..100).collect();
    client.write_all(&payload).await.expect("write");
    let (received, _ended) = read_to_end(&mut client).await;
    assert_eq!(received, &payload[..10]);
    assert_eq!(proxy.stats().downstream.bytes_forwarded, 10);
    assert_eq!(proxy.stats().connections_cut, 1);
}

#[tokio::test]
async fn clear_restores_normal_forwarding() {
    let proxy = proxy_to_echo().await;
    proxy
        .set_toxic(latency(Stream::Downstream, 500))
        .await
        .expect("valid");
    proxy
        .set_toxic(Toxic::Slicer {
            stream: Stream::Upstream,
            average_size: 2,
            size_variation: 1,
            delay: Duration::from_millis(50),
        })
        .await
        .expect("valid");
    proxy
        .set_toxic(Toxic::Bandwidth {
            stream: Stream::Downstream,
            rate_kb_per_s: 1,
        })
        .await
        .expect("valid");
    proxy.clear().await;
    assert!(proxy.toxics().is_empty());

    let mut client = connect(proxy.local_addr()).await;
    let started = Instant::now();
    round_trip(&mut client, &[1; 2000]).await;
    // With any of those toxics left this would take seconds.
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[tokio::test]
async fn setting_a_toxic_replaces_the_same_kind_and_stream_and_remove_takes_both_streams() {
    let proxy = proxy_to_echo().await;
    proxy
        .set_toxic(latency(Stream::Upstream, 10))
        .await
        .expect("valid");
    proxy
        .set_toxic(latency(Stream::Upstream, 20))
        .await
        .expect("valid");
    proxy
        .set_toxic(latency(Stream::Downstream, 30))
        .await
        .expect("valid");
    proxy.set_toxic(Toxic::Down).await.expect("valid");
    assert_eq!(
        proxy.toxics(),
        vec![
            latency(Stream::Upstream, 20),
            latency(Stream::Downstream, 30),
            Toxic::Down
        ]
    );
    assert!(proxy.remove_toxic(ToxicKind::Latency).await);
    assert!(!proxy.remove_toxic(ToxicKind::Latency).await);
    assert_eq!(proxy.toxics(), vec![Toxic::Down]);
}

#[tokio::test]
async fn invalid_toxics_are_rejected_naming_the_field_and_change_nothing() {
    let proxy = proxy_to_echo().await;
    let zero_rate = proxy
        .set_toxic(Toxic::Bandwidth {
            stream: Stream::Upstream,
            rate_kb_per_s: 0,
        })
        .await
        .expect_err("rate 0 is invalid");
    assert_eq!(zero_rate.field, "rate_kb_per_s");
    let wide = proxy
        .set_toxic(Toxic::Slicer {
            stream: Stream::Upstream,
            average_size: 8,
            size_variation: 8,
            delay: Duration::ZERO,
        })
        .await
        .expect_err("variation must be below the average");
    assert_eq!(wide.field, "size_variation");
    assert!(proxy.toxics().is_empty());
}

#[tokio::test]
async fn invalid_config_is_rejected_naming_the_field() {
    let echo = echo_server().await;
    let mut config = ProxyConfig::new(any_port(), echo);
    config.queue_chunks = 0;
    match Proxy::start_with(config).await {
        Err(ProxyError::InvalidConfig { field, .. }) => assert_eq!(field, "queue_chunks"),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[tokio::test]
async fn connections_beyond_max_connections_are_closed_at_once() {
    let echo = echo_server().await;
    let mut config = ProxyConfig::new(any_port(), echo);
    config.max_connections = 1;
    let proxy = Proxy::start_with(config).await.expect("start");
    let mut first = connect(proxy.local_addr()).await;
    round_trip(&mut first, b"first").await;

    let mut second = connect(proxy.local_addr()).await;
    let (received, _ended) = read_to_end(&mut second).await;
    assert!(received.is_empty());
    assert_eq!(proxy.stats().connections_refused, 1);
    round_trip(&mut first, b"still served").await;
}

#[tokio::test]
async fn an_unreachable_upstream_closes_the_client_and_is_counted() {
    // Bind and drop to get a loopback port that nobody listens on.
    let dead = {
        let listener = tokio::net::TcpListener::bind(any_port())
            .await
            .expect("bind");
        listener.local_addr().expect("addr")
    };
    let proxy = Proxy::start(any_port(), dead).await.expect("start");
    let mut client = connect(proxy.local_addr()).await;
    let (received, _ended) = read_to_end(&mut client).await;
    assert!(received.is_empty());
    assert_eq!(proxy.stats().upstream_connect_failures, 1);
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_port_and_its_connections() {
    let proxy = proxy_to_echo().await;
    let addr = proxy.local_addr();
    let mut client = connect(addr).await;
    round_trip(&mut client, b"alive").await;

    drop(proxy);
    let (received, _ended) = read_to_end(&mut client).await;
    assert!(received.is_empty());
    let refused = TcpStream::connect(addr).await;
    assert_eq!(
        refused.expect_err("nobody listens").kind(),
        ErrorKind::ConnectionRefused
    );
}
