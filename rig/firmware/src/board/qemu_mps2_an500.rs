//! QEMU `mps2-an500`: Cortex-M7, 4 MiB SRAM for data and stack, 16 MiB RAM at 0x6000_0000
//! (QEMU's `mps.ram`) for the heap, CMSDK UART0 at 0x4000_4000 wired to the host's socket chardev. No DWT cycle
//! counter: ticks come from SysTick under `-icount`.

use gatelab_core::wire::Board;

pub const BOARD: Board = Board::QemuMps2An500;
/// 15 of the 16 MiB RAM: a terminal with 5,000 residents at 512-d (2.5 MiB of templates, its
/// gallery growing by doubling, plus persons, cards and consent records) fits.
pub const HEAP_BYTES: usize = 15 * 1024 * 1024;

/// The board's 16 MiB RAM block: no section is linked there; the allocator owns the first 15 MiB.
const HEAP_START: usize = 0x6000_0000;
/// The last MiB stands in for the terminal's flash: nothing initialises it, and QEMU's
/// `system_reset` leaves RAM as it was, so what the terminal stored survives a reset.
const STORAGE_START: usize = HEAP_START + HEAP_BYTES;

pub fn heap_start() -> usize {
    HEAP_START
}

/// The identity and biometric storage regions (called once, by `serve`).
pub fn storage() -> Option<(&'static mut [u8], &'static mut [u8])> {
    // SAFETY: the last MiB of the board's RAM block, outside the heap and every linked section;
    // this is its only reference, handed out once.
    Some(unsafe { super::ram_storage::regions(STORAGE_START) })
}

/// CMSDK UART0, wired to the host's socket chardev.
#[cfg(not(feature = "rtt"))]
pub type DefaultLink = super::cmsdk_uart::Uart<0x4000_4000>;
