//! QEMU `mps3-an547`: Cortex-M55 (Armv8.1-M, Helium, FPU) on the SSE-300, which leaves reset in
//! the Secure state; everything is used through its Secure alias (address bit 28). Code in the
//! 512 KiB ITCM, data and stack in the 512 KiB DTCM, the heap in the DDR at 0x7000_0000, CMSDK
//! UART0 at 0x5930_3000 wired to the host's socket chardev. No DWT cycle counter under QEMU:
//! ticks come from SysTick under `-icount`, as on the M7 image.

use gatelab_core::wire::Board;

pub const BOARD: Board = Board::QemuMps3An547;
/// As on the M7 image: a terminal with 5,000 residents at 512-d fits.
pub const HEAP_BYTES: usize = 15 * 1024 * 1024;

/// The DDR (2 GiB at 0x6000_0000, Secure alias 0x7000_0000): no section is linked there.
const HEAP_START: usize = 0x7000_0000;
/// The MiB after the heap stands in for the terminal's flash: nothing initialises it, and
/// QEMU's `system_reset` leaves RAM as it was, so what the terminal stored survives a reset.
const STORAGE_START: usize = HEAP_START + HEAP_BYTES;

pub fn heap_start() -> usize {
    HEAP_START
}

/// The identity and biometric storage regions (called once, by `serve`).
pub fn storage() -> Option<(&'static mut [u8], &'static mut [u8])> {
    // SAFETY: the MiB of DDR after the heap, outside every linked section; this is its only
    // reference, handed out once.
    Some(unsafe { super::ram_storage::regions(STORAGE_START) })
}

/// CMSDK UART0 (Secure alias of 0x4930_3000).
#[cfg(not(feature = "rtt"))]
pub type DefaultLink = super::cmsdk_uart::Uart<0x5930_3000>;
