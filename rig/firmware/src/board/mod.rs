//! Board support: memory size and the default link, chosen by cargo feature.

#[cfg(feature = "nucleo-h743zi")]
mod nucleo_h743zi;
#[cfg(feature = "qemu-mps2-an500")]
mod qemu_mps2_an500;

#[cfg(feature = "nucleo-h743zi")]
pub use nucleo_h743zi::*;
#[cfg(feature = "qemu-mps2-an500")]
pub use qemu_mps2_an500::*;
