//! The CMSDK APB UART of Arm's MPS2/MPS3 FPGA images (QEMU models it on both), polled.

use core::ptr::{read_volatile, write_volatile};

const TX_FULL: u32 = 1 << 0;
const RX_FULL: u32 = 1 << 1;

/// The UART whose registers start at `BASE`.
pub struct Uart<const BASE: usize>(());

impl<const BASE: usize> Uart<BASE> {
    const DATA: *mut u32 = BASE as *mut u32;
    const STATE: *mut u32 = (BASE + 0x04) as *mut u32;
    const CTRL: *mut u32 = (BASE + 0x08) as *mut u32;
    const BAUDDIV: *mut u32 = (BASE + 0x10) as *mut u32;

    pub fn open() -> Self {
        // SAFETY: the UART's registers, at the address the board maps them; nothing else in
        // the firmware touches them.
        unsafe {
            write_volatile(Self::BAUDDIV, 16);
            write_volatile(Self::CTRL, 0b11); // TX and RX enabled
        }
        Uart(())
    }

    /// Bytes available now (never blocks).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        // SAFETY: register reads, see `open`.
        while n < buf.len() && unsafe { read_volatile(Self::STATE) } & RX_FULL != 0 {
            buf[n] = unsafe { read_volatile(Self::DATA) } as u8;
            n += 1;
        }
        n
    }

    pub fn write_all(&mut self, data: &[u8]) {
        for &b in data {
            // SAFETY: register access, see `open`.
            unsafe {
                while read_volatile(Self::STATE) & TX_FULL != 0 {}
                write_volatile(Self::DATA, u32::from(b));
            }
        }
    }
}
