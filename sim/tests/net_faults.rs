//! Each network fault helper, and the effect turmoil gives it on TCP.

mod support;

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use breakwater_sim::net::{self, Latency, NetError};
use support::{builder, run_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, timeout, Instant};
use turmoil::net::{TcpListener, TcpStream};

const ECHO_PORT: u16 = 7_000;

fn add_echo_server(sim: &mut turmoil::Sim<'_>) {
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", ECHO_PORT)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut buf = [0_u8; 1_024];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

async fn dial() -> io::Result<TcpStream> {
    TcpStream::connect(("server", ECHO_PORT)).await
}

async fn round_trip(stream: &mut TcpStream, payload: &[u8]) -> io::Result<Duration> {
    let started = Instant::now();
    stream.write_all(payload).await?;
    let mut echoed = vec![0_u8; payload.len()];
    stream.read_exact(&mut echoed).await?;
    assert_eq!(echoed, payload);
    Ok(started.elapsed())
}

#[test]
fn partition_makes_connect_fail_at_once_and_repair_lets_it_succeed() -> turmoil::Result {
    let mut sim = builder(31).build();
    add_echo_server(&mut sim);
    sim.client("client", async {
        sleep(Duration::from_millis(10)).await;
        let started = Instant::now();
        let refused = dial().await.expect_err("partitioned");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert!(
            started.elapsed() <= Duration::from_millis(2),
            "refused at once"
        );

        sleep(Duration::from_millis(300)).await; // repaired at 200 ms
        let mut stream = dial().await?;
        round_trip(&mut stream, b"ok").await?;
        Ok(())
    });
    net::partition(&mut sim, "client", "server")?;
    run_until(&mut sim, Duration::from_millis(200))?;
    net::repair(&mut sim, "client", "server")?;
    sim.run()
}

#[test]
fn hold_makes_connect_hang_until_release() -> turmoil::Result {
    let mut sim = builder(32).build();
    add_echo_server(&mut sim);
    let connected_after = Rc::new(Cell::new(None));
    let observed = Rc::clone(&connected_after);
    sim.client("client", async move {
        let started = Instant::now();
        let mut stream = dial().await?;
        observed.set(Some(started.elapsed()));
        round_trip(&mut stream, b"after release").await?;
        Ok(())
    });
    net::hold(&mut sim, "client", "server")?;
    run_until(&mut sim, Duration::from_millis(500))?;
    assert_eq!(
        connected_after.get(),
        None,
        "connect still hanging at 500 ms"
    );
    net::release(&mut sim, "client", "server")?;
    sim.run()?;
    let waited = connected_after.get().expect("connected after release");
    assert!(
        waited >= Duration::from_millis(500),
        "connected after {waited:?}"
    );
    Ok(())
}

#[test]
fn crashed_host_gives_its_peer_eof_and_new_connects_hang_until_restart() -> turmoil::Result {
    let mut sim = builder(33).build();
    add_echo_server(&mut sim);
    sim.client("client", async {
        let mut stream = dial().await?;
        round_trip(&mut stream, b"before").await?;
        let mut buf = [0_u8; 8];
        assert_eq!(
            stream.read(&mut buf).await?,
            0,
            "EOF once the server crashed"
        );

        let attempt = timeout(Duration::from_millis(500), dial()).await;
        assert!(attempt.is_err(), "connecting to a crashed host hangs");

        sleep(Duration::from_secs(1)).await; // restarted meanwhile
        let mut stream = dial().await?;
        round_trip(&mut stream, b"after").await?;
        Ok(())
    });
    run_until(&mut sim, Duration::from_millis(100))?;
    net::crash_host(&mut sim, "server");
    run_until(&mut sim, Duration::from_millis(1_000))?;
    net::restart_host(&mut sim, "server");
    sim.run()
}

#[test]
fn one_way_partition_passes_traffic_in_one_direction_only() -> turmoil::Result {
    let mut sim = builder(34).build();
    let received = Rc::new(RefCell::new(Vec::new()));
    let server_log = Rc::clone(&received);
    sim.host("server", move || {
        let log = Rc::clone(&server_log);
        async move {
            let listener = TcpListener::bind(("0.0.0.0", ECHO_PORT)).await?;
            let (mut stream, _) = listener.accept().await?;
            sleep(Duration::from_millis(200)).await;
            stream.write_all(b"down").await?;
            let mut buf = [0_u8; 64];
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                log.borrow_mut().extend_from_slice(&buf[..n]);
            }
            Ok(())
        }
    });
    sim.client("client", async {
        let mut stream = dial().await?;
        stream.write_all(b"before").await?;
        sleep(Duration::from_millis(150)).await; // partitioned at 100 ms
        stream.write_all(b"up").await?;
        let mut buf = [0_u8; 4];
        stream.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"down", "server -> client still flows");
        Ok(())
    });
    run_until(&mut sim, Duration::from_millis(100))?;
    net::partition_oneway(&mut sim, "client", "server")?;
    sim.run()?;
    let later = sim.elapsed() + Duration::from_millis(100);
    run_until(&mut sim, later)?;
    assert_eq!(&received.borrow()[..], b"before", "client -> server is cut");
    Ok(())
}

#[test]
fn fixed_link_latency_delays_each_message_by_exactly_that_much() -> turmoil::Result {
    let mut sim = builder(35).build();
    add_echo_server(&mut sim);
    sim.client("client", async {
        let mut stream = dial().await?;
        for _ in 0..5 {
            let rtt = round_trip(&mut stream, b"x").await?;
            assert!(
                rtt >= Duration::from_millis(80) && rtt <= Duration::from_millis(82),
                "round trip {rtt:?} with 40 ms each way"
            );
        }
        Ok(())
    });
    net::set_latency(
        &mut sim,
        "client",
        "server",
        Latency::Fixed(Duration::from_millis(40)),
    )?;
    sim.run()
}

#[test]
fn latency_range_keeps_round_trips_between_twice_min_and_twice_max() -> turmoil::Result {
    let mut sim = builder(36).build();
    add_echo_server(&mut sim);
    let rtts = Rc::new(RefCell::new(Vec::new()));
    let measured = Rc::clone(&rtts);
    sim.client("client", async move {
        let mut stream = dial().await?;
        for _ in 0..30 {
            let rtt = round_trip(&mut stream, b"x").await?;
            measured.borrow_mut().push(rtt);
        }
        Ok(())
    });
    let range = Latency::Range {
        min: Duration::from_millis(10),
        max: Duration::from_millis(60),
    };
    net::set_latency(&mut sim, "client", "server", range)?;
    sim.run()?;
    let rtts = rtts.borrow();
    for rtt in rtts.iter() {
        assert!(
            *rtt >= Duration::from_millis(20) && *rtt <= Duration::from_millis(122),
            "{rtt:?}"
        );
    }
    let mut distinct = rtts.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() > 1,
        "latency varies within the range: {rtts:?}"
    );
    Ok(())
}

#[test]
fn fail_rate_one_breaks_the_link_and_zero_lets_it_heal() -> turmoil::Result {
    let mut sim = builder(37).build();
    add_echo_server(&mut sim);
    sim.client("client", async {
        sleep(Duration::from_millis(10)).await;
        let refused = dial().await.expect_err("every send breaks the link");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        sleep(Duration::from_millis(200)).await; // rate set to 0 at 100 ms
        let mut stream = dial().await?;
        round_trip(&mut stream, b"healed").await?;
        Ok(())
    });
    net::set_fail_rate(&mut sim, "client", "server", 1.0)?;
    run_until(&mut sim, Duration::from_millis(100))?;
    net::set_fail_rate(&mut sim, "client", "server", 0.0)?;
    sim.run()
}

#[test]
fn helpers_reject_arguments_that_describe_no_fault() {
    let mut sim = builder(38).build();
    assert_eq!(
        net::set_fail_rate(&mut sim, "a", "b", 1.5),
        Err(NetError::InvalidRate { rate: 1.5 })
    );
    assert_eq!(
        net::partition(&mut sim, "a", "a"),
        Err(NetError::SameHost("a".into()))
    );
    let inverted = Latency::Range {
        min: Duration::from_millis(9),
        max: Duration::from_millis(3),
    };
    assert_eq!(
        net::set_latency(&mut sim, "a", "b", inverted),
        Err(NetError::InvertedLatency {
            min_ms: 9,
            max_ms: 3
        })
    );
}
