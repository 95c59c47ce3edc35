//! Atomics used by the state machine, swapped for loom's under `--cfg breakwater_loom`
//! so the model checker can explore every interleaving of the hot path.

#[cfg(breakwater_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(breakwater_loom))]
pub(crate) use std::sync::atomic::AtomicU64;

pub(crate) use std::sync::atomic::Ordering;
