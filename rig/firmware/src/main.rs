//! gatelab terminal firmware: the same `gatelab-core` terminal, consent ledger, template store
//! and int8 matcher as the simulation and the host, on a Cortex-M7, driven by `gatelab-rig`
//! over the wire protocol (`gatelab_core::wire`).
//!
//! Build: `cargo build --release` here (QEMU mps2-an500 over UART, the CI image);
//! `--features rtt` for the RTT image QEMU's gdbstub or a probe reaches;
//! `--no-default-features --features nucleo-h743zi` for the board; `--features selftest` for
//! the on-target tests (QEMU with semihosting: `gatelab-rig selftest`).

#![no_std]
#![no_main]
// The self-test image runs tests instead of the service: the link code is unused there.
#![cfg_attr(feature = "selftest", allow(unused))]

extern crate alloc;

mod board;
mod calibrate;
#[cfg(not(feature = "selftest"))]
mod link;
#[cfg(feature = "selftest")]
mod selftest;
mod service;
mod ticks;

use core::mem::MaybeUninit;

use cortex_m_rt::entry;
use embedded_alloc::LlffHeap;
use gatelab_core::wire::{self, TargetInfo};

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

static mut HEAP_MEMORY: [MaybeUninit<u8>; board::HEAP_BYTES] = [MaybeUninit::uninit(); board::HEAP_BYTES];

fn heap_free() -> usize {
    HEAP.free()
}

#[entry]
fn main() -> ! {
    // SAFETY: called once, before any allocation; the region is ours alone.
    unsafe { HEAP.init((&raw mut HEAP_MEMORY) as usize, board::HEAP_BYTES) };
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        cortex_m::peripheral::SCB::sys_reset();
    };
    let clock = ticks::Ticks::start(&mut cp.DCB, &mut cp.DWT, cp.SYST);
    #[cfg(feature = "selftest")]
    selftest::run_and_exit(clock);
    #[cfg(not(feature = "selftest"))]
    serve(clock)
}

/// Answer the host, forever.
#[cfg(not(feature = "selftest"))]
fn serve(mut clock: ticks::Ticks) -> ! {
    let mut link = link::Link::open();
    let info = TargetInfo {
        version: wire::VERSION,
        board: board::BOARD,
        ticks: service::Clock::source(&clock),
        heap_bytes: board::HEAP_BYTES as u32,
        max_frame: wire::MAX_FRAME as u32,
    };
    let mut service = service::Service::new(info, heap_free);
    service.hello(&mut |frame| link.write_all(frame));
    let mut buf = [0u8; 256];
    loop {
        let n = link.read(&mut buf);
        if n > 0 {
            service.on_bytes(&buf[..n], &mut clock, &mut |frame| link.write_all(frame));
        }
    }
}

/// A panic (out of memory included) resets the board: the host sees the unasked `Hello` that
/// follows and reports the reset, and no half-applied state survives.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}
