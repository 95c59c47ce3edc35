//! The closed path allocates nothing: counted by a global allocator.
// A global allocator needs `unsafe impl`; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use breakwater_core::{BreakerConfig, CircuitBreaker, ManualClock};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// Counts, then forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarding the caller's contract unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarding the caller's contract unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn run_to_completion<F: Future>(future: F) -> F::Output {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a closed-state call of a ready operation completes in one poll"),
    }
}

#[test]
fn ten_thousand_closed_state_calls_allocate_nothing() {
    let config = BreakerConfig::builder("alloc").build().unwrap();
    let breaker = CircuitBreaker::builder(config)
        .clock(ManualClock::new())
        .build();
    // Warm up: thread-local shard index and tracing callsite registration.
    for _ in 0..10 {
        run_to_completion(breaker.call(|| async { Ok::<u64, std::io::Error>(1) })).unwrap();
        breaker.try_acquire().unwrap().success();
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut sum = 0;
    for i in 0..10_000u64 {
        sum += run_to_completion(breaker.call(|| async move { Ok::<u64, std::io::Error>(i) }))
            .unwrap();
        breaker.try_acquire().unwrap().success();
    }
    let allocated = ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert_eq!(sum, (0..10_000u64).sum::<u64>());
    assert_eq!(
        allocated, 0,
        "closed-state calls allocated {allocated} times"
    );
    assert_eq!(breaker.metrics().operations_total(), 20_020);
}
