//! The terminal's storage on the QEMU boards: RAM past the heap that nothing initialises and
//! QEMU's `system_reset` leaves as it was, so what the terminal stored survives a reset.

use gatelab_core::wire::{STORAGE_BIOMETRIC, STORAGE_IDENTITY};

/// The identity and biometric regions, back to back from `start` (called once, by `serve`).
///
/// # Safety
/// `start` must begin enough RAM for both regions, outside the heap and every linked section,
/// and nothing else may reference it.
pub unsafe fn regions(start: usize) -> (&'static mut [u8], &'static mut [u8]) {
    let identity = STORAGE_IDENTITY.bytes() as usize;
    let biometric = STORAGE_BIOMETRIC.bytes() as usize;
    // SAFETY: the caller's promise above.
    unsafe {
        (
            core::slice::from_raw_parts_mut(start as *mut u8, identity),
            core::slice::from_raw_parts_mut((start + identity) as *mut u8, biometric),
        )
    }
}
