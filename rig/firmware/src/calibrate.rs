//! Straight-line blocks of a known number of instructions, to convert ticks to instructions.

use core::arch::asm;

/// Exactly 1,000 `add` instructions.
#[inline(never)]
pub fn adds_1000() {
    let mut x: u32 = 0;
    // SAFETY: register arithmetic only.
    unsafe { asm!(".rept 1000", "adds {x}, {x}, #1", ".endr", x = inout(reg) x, options(nomem, nostack)) };
    core::hint::black_box(x);
}

/// Exactly 5,000 `add` instructions.
#[inline(never)]
pub fn adds_5000() {
    let mut x: u32 = 0;
    // SAFETY: register arithmetic only.
    unsafe { asm!(".rept 5000", "adds {x}, {x}, #1", ".endr", x = inout(reg) x, options(nomem, nostack)) };
    core::hint::black_box(x);
}
