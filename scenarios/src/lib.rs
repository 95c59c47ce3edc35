//! Seeded chaos scenarios for Breakwater: the scenario file format and its
//! validation ([`mod@file`]), the built-in catalog ([`catalog`]), swarm mode
//! ([`swarm`]), the oracles every run is checked against ([`oracle`]), the
//! runner that spreads scenario x seed runs over threads ([`runner`]), the
//! CSV reports ([`report`]) and the `breakwater` command line ([`cli`]).
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
pub mod oracle;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod select;
pub mod swarm;
