//! The closed path allocates nothing: counted by a global allocator.
// A global allocator needs `unsafe impl`; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use breakwater_core::{BreakerConfig, CircuitBreaker, ManualClock};

struct Counting;

thread_local! {
    // Per thread, so the test harness's own threads are not counted.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// Counts, then forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: the slot may be gone while a thread is exiting.
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
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
    let before = allocations();
    let mut sum = 0;
    for i in 0..10_000u64 {
        sum += run_to_completion(breaker.call(|| async move { Ok::<u64, std::io::Error>(i) }))
            .unwrap();
        breaker.try_acquire().unwrap().success();
    }
    let allocated = allocations() - before;
    assert_eq!(sum, (0..10_000u64).sum::<u64>());
    assert_eq!(
        allocated, 0,
        "closed-state calls allocated {allocated} times"
    );
    assert_eq!(breaker.metrics().operations_total(), 20_020);
}
