//! The hot path allocates nothing: with an output buffer that already has the capacity,
//! `encapsulate` and `decapsulate` make no heap allocation after an SA's first packet (which
//! expands its keys), for every transform, both modes and ESN. Counted with a global allocator that counts the allocations of this thread.

mod esp_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use esp_common::*;
use ipsec_core::esp::Mode;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: thread-local storage may already be gone while a thread exits.
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if counting {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counting touches
// only const-initialized thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn no_allocation_per_packet() {
    // The counter works.
    assert!(allocations_in(|| drop(std::hint::black_box(vec![0u8; 10]))) > 0);
    for t in all_transforms() {
        for mode in [Mode::Tunnel, Mode::Transport] {
            for esn in [false, true] {
                let (mut tx, mut rx) = pair(&config(t, mode, esn));
                let packets = [ipv4(17, 0, 1400), ipv6(6, 1000), ipv4(1, 8, 0)];
                let mut wire = Vec::with_capacity(2048);
                let mut inner = Vec::with_capacity(2048);
                // The first packet expands the keys of both SAs.
                tx.encapsulate(&packets[0], &mut wire).unwrap();
                rx.decapsulate(&wire, &mut inner).unwrap();
                let n = allocations_in(|| {
                    for _ in 0..20 {
                        for p in &packets {
                            tx.encapsulate(p, &mut wire).unwrap();
                            rx.decapsulate(&wire, &mut inner).unwrap();
                        }
                        // Rejections allocate nothing either.
                        rx.decapsulate(&wire, &mut inner).unwrap_err();
                        tx.encapsulate_dummy(64, &mut wire).unwrap();
                        rx.decapsulate(&wire, &mut inner).unwrap();
                    }
                });
                assert_eq!(n, 0, "{} {mode:?} esn={esn}: allocations", name(&t));
            }
        }
    }
}
