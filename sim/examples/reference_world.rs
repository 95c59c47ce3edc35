//! The reference world for speed and memory: one broker, one client
//! publishing 10 QoS 1 messages/s for 10 virtual minutes at a 1 ms tick.
//! Prints virtual seconds per wall second and peak RSS.
//!
//! This is a measuring tool outside the simulation, so it reads the wall
//! clock and `/proc`; nothing it measures goes into the run's output.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-sim cargo run --release -p breakwater-sim --example reference_world [tick_ms]
//! ```

use std::time::{Duration, Instant};

use breakwater_sim::spec::WorldSpec;
use breakwater_sim::PublishResult;

/// Peak resident set (VmHWM) in kB, from `/proc/self/status`.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let tick_ms: u64 = std::env::args().nth(1).map_or(1, |arg| {
        arg.parse().expect("tick_ms must be a whole number")
    });
    let spec = WorldSpec {
        seed: 1,
        duration: Duration::from_secs(600),
        tick: Duration::from_millis(tick_ms),
        ..WorldSpec::default()
    };
    let started = Instant::now();
    let output = breakwater_sim::run(&spec).expect("the reference world runs");
    let wall = started.elapsed();
    let virtual_s = output.end_ms as f64 / 1000.0;
    println!("tick_ms={tick_ms}");
    println!("virtual_s={virtual_s:.1}");
    println!("wall_s={:.3}", wall.as_secs_f64());
    println!("speedup={:.0}x", virtual_s / wall.as_secs_f64());
    println!(
        "publishes={} acked={}",
        output.publishes.len(),
        output.count(PublishResult::Acked)
    );
    println!(
        "events={} ledger_entries={}",
        output.events.len(),
        output.ledger.len()
    );
    match peak_rss_kb() {
        Some(kb) => println!("peak_rss_mb={:.1}", kb as f64 / 1024.0),
        None => println!("peak_rss_mb=unknown"),
    }
}
