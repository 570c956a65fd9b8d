//! ST NUCLEO-H743ZI / H743ZI2: Cortex-M7, runs from the 64 MHz HSI after reset (no clock tree
//! set-up needed for the link or the counter), 512 KiB AXI SRAM for data. Reached through the
//! on-board ST-LINK with probe-rs: RTT for the link, DWT CYCCNT for cycles.

use gatelab_core::wire::Board;

pub const BOARD: Board = Board::NucleoH743zi;
/// AXI SRAM less stack and statics: galleries up to ~700 × 512-d or ~3,000 × 128-d fit.
pub const HEAP_BYTES: usize = 448 * 1024;

static mut HEAP_MEMORY: [core::mem::MaybeUninit<u8>; HEAP_BYTES] = [core::mem::MaybeUninit::uninit(); HEAP_BYTES];

/// No flash driver yet: the board runs terminals from RAM only (`ConfigurePersistent` is refused).
pub fn storage() -> Option<(&'static mut [u8], &'static mut [u8])> {
    None
}

pub fn heap_start() -> usize {
    (&raw mut HEAP_MEMORY) as usize
}
