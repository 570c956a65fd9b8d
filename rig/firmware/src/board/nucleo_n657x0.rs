//! ST NUCLEO-N657X0-Q: STM32N657 (Cortex-M55 with Helium and an FPU, at 64 MHz from HSI after
//! reset). probe-rs 0.32 knows the chip (`--chip STM32N657`) and loads the image into the AXI
//! SRAM in development boot; the on-board ST-LINK carries RTT for the link, and the DWT counts
//! cycles. No flash driver yet: terminals run from RAM only (`ConfigurePersistent` is refused).

use gatelab_core::wire::Board;

pub const BOARD: Board = Board::NucleoN657x0;
/// Part of the 1 MiB data region: galleries up to ~1,300 × 512-d or ~5,000 × 128-d fit.
pub const HEAP_BYTES: usize = 896 * 1024;

static mut HEAP_MEMORY: [core::mem::MaybeUninit<u8>; HEAP_BYTES] = [core::mem::MaybeUninit::uninit(); HEAP_BYTES];

pub fn storage() -> Option<(&'static mut [u8], &'static mut [u8])> {
    None
}

pub fn heap_start() -> usize {
    (&raw mut HEAP_MEMORY) as usize
}
