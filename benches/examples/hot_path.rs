//! Runs one hot-path variant N times, for instruction counting under
//! callgrind, which is exact where wall-clock timing on a shared 2-core
//! machine is not:
//!
//! ```text
//! cargo build --release -p breakwater-benches --example hot_path
//! valgrind --tool=callgrind --toggle-collect='hot_path::measure*' \
//!     target/release/examples/hot_path closed_try_acquire 1000000
//! ```
//!
//! Total `Ir` divided by N is instructions per call. Variants mirror the
//! criterion bench `breaker`: `bare`, `closed_try_acquire`, `closed_guard`, `closed_call`,
//! `open_tokio`, `open_cached`, `failsafe`, `recloser`.

use std::hint::black_box;
use std::io;
use std::time::Duration;

use breakwater_benches::PollOnce;
use breakwater_core::{
    BreakerConfig, CachedClock, CallError, CircuitBreaker, ErrorKind, State, TokioClock,
};
use failsafe::CircuitBreaker as _;

#[inline(never)]
fn operation() -> io::Result<u64> {
    Ok(black_box(1))
}

/// The loop callgrind counts (`--toggle-collect='hot_path::measure*'`).
#[inline(never)]
fn measure(iterations: u64, call: impl Fn() -> bool) -> u64 {
    let mut ok = 0;
    for _ in 0..iterations {
        ok += u64::from(black_box(call()));
    }
    ok
}

fn open_config(name: &str) -> BreakerConfig {
    BreakerConfig::builder(name)
        .max_retries(0)
        .open_timeout(Duration::from_secs(24 * 60 * 60))
        .build()
        .expect("a trip-at-once config is valid")
}

fn trip<C: breakwater_core::Clock>(breaker: &CircuitBreaker<C>) {
    breaker
        .try_acquire()
        .expect("a new breaker is Closed")
        .error(ErrorKind::Connection);
    assert_eq!(breaker.state(), State::Open);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "closed_try_acquire".into());
    let iterations: u64 = args
        .next()
        .map(|n| n.parse().expect("iterations is a number"))
        .unwrap_or(1_000_000);
    let poller = PollOnce::new();
    let closed = CircuitBreaker::new(BreakerConfig::builder("closed").build().expect("valid"));
    let ok = match variant.as_str() {
        "bare" => measure(iterations, || operation().is_ok()),
        "closed_try_acquire" => measure(iterations, || match closed.try_acquire() {
            Ok(permit) => {
                let ok = operation().is_ok();
                permit.success();
                ok
            }
            Err(_) => false,
        }),
        "closed_guard" => measure(iterations, || closed.guard(operation).is_ok()),
        "closed_call" => measure(iterations, || {
            let result: Result<u64, CallError<io::Error>> =
                poller.run(closed.call(|| async { operation() }));
            result.is_ok()
        }),
        "open_tokio" => {
            let open = CircuitBreaker::new(open_config("open_tokio"));
            trip(&open);
            measure(iterations, || open.try_acquire().is_ok())
        }
        "open_cached" => {
            let open = CircuitBreaker::builder(open_config("open_cached"))
                .clock(CachedClock::new(TokioClock::new()))
                .build();
            trip(&open);
            measure(iterations, || open.try_acquire().is_ok())
        }
        "failsafe" => {
            let failsafe = failsafe::Config::new().build();
            measure(iterations, || failsafe.call(operation).is_ok())
        }
        "recloser" => {
            let recloser = recloser::Recloser::default();
            measure(iterations, || recloser.call(operation).is_ok())
        }
        other => panic!("unknown variant {other}"),
    };
    println!("{variant}: {iterations} calls, {ok} ok");
}
