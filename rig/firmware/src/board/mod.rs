//! Board support: memory size and the default link, chosen by cargo feature.

/// The CMSDK APB UART both QEMU boards wire to the host's socket chardev.
#[cfg(all(any(feature = "qemu-mps2-an500", feature = "qemu-mps3-an547"), not(feature = "rtt")))]
mod cmsdk_uart;
#[cfg(feature = "nucleo-h743zi")]
mod nucleo_h743zi;
#[cfg(feature = "nucleo-n657x0")]
mod nucleo_n657x0;
#[cfg(feature = "qemu-mps2-an500")]
mod qemu_mps2_an500;
#[cfg(feature = "qemu-mps3-an547")]
mod qemu_mps3_an547;
/// Both QEMU boards keep the terminal's "flash" in RAM that `system_reset` leaves alone.
#[cfg(any(feature = "qemu-mps2-an500", feature = "qemu-mps3-an547"))]
mod ram_storage;

#[cfg(feature = "nucleo-h743zi")]
pub use nucleo_h743zi::*;
#[cfg(feature = "nucleo-n657x0")]
pub use nucleo_n657x0::*;
#[cfg(feature = "qemu-mps2-an500")]
pub use qemu_mps2_an500::*;
#[cfg(feature = "qemu-mps3-an547")]
pub use qemu_mps3_an547::*;
