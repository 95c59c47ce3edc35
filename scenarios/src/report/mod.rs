//! Reporters over finished runs: the files of one run's folder ([`run`]),
//! the sweep-level summary and wall-clock files ([`sweep`]), and the
//! plain-text table printed at the end of a command ([`table`]).

pub mod run;
pub mod sweep;
pub mod table;
