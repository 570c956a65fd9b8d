//! Where the firmware images are. `cargo xtask firmware` builds them into
//! `<cargo target dir>/firmware/`; `--firmware ELF` or `GATELAB_FIRMWARE_DIR` point elsewhere.

use std::path::PathBuf;

/// The images `cargo xtask firmware` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Image {
    /// QEMU mps2-an500 (Cortex-M7), link over the UART.
    QemuUart,
    /// QEMU mps2-an500 (Cortex-M7), link over RTT (what a board runs).
    QemuRtt,
    /// NUCLEO-H743ZI (Cortex-M7), link over RTT.
    NucleoH743zi,
    /// QEMU mps2-an500 (Cortex-M7), the core's on-target tests (semihosting).
    QemuSelftest,
    /// QEMU mps3-an547 (Cortex-M55), link over the UART.
    QemuM55Uart,
    /// QEMU mps3-an547 (Cortex-M55), link over RTT.
    QemuM55Rtt,
    /// NUCLEO-N657X0-Q (STM32N657, Cortex-M55), link over RTT.
    NucleoN657x0,
    /// QEMU mps3-an547 (Cortex-M55), the core's on-target tests (semihosting).
    QemuM55Selftest,
}

impl Image {
    pub fn file_name(self) -> &'static str {
        match self {
            Image::QemuUart => "qemu-mps2-an500-uart.elf",
            Image::QemuRtt => "qemu-mps2-an500-rtt.elf",
            Image::NucleoH743zi => "nucleo-h743zi-rtt.elf",
            Image::QemuSelftest => "qemu-mps2-an500-selftest.elf",
            Image::QemuM55Uart => "qemu-mps3-an547-uart.elf",
            Image::QemuM55Rtt => "qemu-mps3-an547-rtt.elf",
            Image::NucleoN657x0 => "nucleo-n657x0-rtt.elf",
            Image::QemuM55Selftest => "qemu-mps3-an547-selftest.elf",
        }
    }
}

/// Folders searched, in order.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("GATELAB_FIRMWARE_DIR") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(d).join("firmware"));
    }
    // Beside the running binary: target/<profile>/gatelab-rig or target/<profile>/deps/test-….
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(3) {
            dirs.push(up.join("firmware"));
        }
    }
    dirs
}

/// The image's path, or an error that says how to build it.
pub fn locate(image: Image) -> anyhow::Result<PathBuf> {
    let dirs = search_path();
    dirs.iter().map(|d| d.join(image.file_name())).find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!(
            "firmware image {} not found (looked in {}): build it with `cargo xtask firmware`, \
             or pass --firmware ELF",
            image.file_name(),
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}
