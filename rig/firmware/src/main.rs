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
mod fixtures;
#[cfg(not(feature = "selftest"))]
mod link;
#[cfg(feature = "selftest")]
mod selftest;
mod service;
mod ticks;

use cortex_m_rt::entry;
use embedded_alloc::LlffHeap;
use gatelab_core::wire::{self, TargetInfo};

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

fn heap_free() -> usize {
    HEAP.free()
}

#[entry]
fn main() -> ! {
    // SAFETY: called once, before any allocation; the region is ours alone.
    unsafe { HEAP.init(board::heap_start(), board::HEAP_BYTES) };
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
    let mut service = service::Service::new(info, heap_free, board::storage());
    service.hello(&mut |frame| link.write_all(frame));
    let mut buf = [0u8; 256];
    loop {
        let n = link.read(&mut buf);
        if n > 0 {
            service.on_bytes(&buf[..n], &mut clock, &mut |frame| link.write_all(frame));
        }
    }
}

/// A fault (a bad address, an undefined instruction) resets the board like a panic, so the host
/// sees a reset instead of silence; the self-test image reports it and fails instead.
#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    #[cfg(feature = "selftest")]
    {
        cortex_m_semihosting::hprintln!("selftest: hard fault");
        cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    }
    cortex_m::peripheral::SCB::sys_reset()
}

/// A panic (out of memory included) resets the board: the host sees the unasked `Hello` that
/// follows and reports the reset, and no half-applied state survives.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    #[cfg(feature = "selftest")]
    {
        cortex_m_semihosting::hprintln!("selftest: panic: {}", _info);
        cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    }
    cortex_m::peripheral::SCB::sys_reset()
}
