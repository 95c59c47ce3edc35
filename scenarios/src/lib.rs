//! Seeded chaos scenarios for Breakwater: the scenario file format and its
//! validation ([`mod@file`]), the built-in catalog ([`catalog`]), swarm mode
//! ([`swarm`]), the oracles every run is checked against ([`oracle`]), the
//! runner that spreads scenario x seed runs over threads ([`runner`]), the
//! CSV reports ([`report`]), the `breakwater` command line ([`cli`]) and its
//! real-broker mode ([`mod@real`]: no longer a pure function of the seed),
//! SVG charts of report folders ([`plot`]) and the CLI's logs ([`logging`]).
//!
//! One seed + one scenario file + one commit = one exact run: everything
//! written under `reports/` except `wall-clock.csv` is a pure function of
//! those, which `breakwater check-determinism` verifies byte for byte.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalog;
pub mod cli;
pub mod determinism;
pub mod duration;
pub mod file;
pub mod logging;
pub mod oracle;
pub mod plot;
pub mod real;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod select;
pub mod swarm;

/// Commit the binary was built from (`git rev-parse --short HEAD` at build
/// time, "unknown" without git): with the scenario and seed, what replays
/// a run exactly.
pub const COMMIT: &str = env!("BREAKWATER_COMMIT");

/// `breakwater --version`: the package version and [`COMMIT`].
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BREAKWATER_COMMIT"),
    ")"
);
