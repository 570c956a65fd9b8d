//! A real board through a debug probe (probe-rs): flash the ELF, reset, run, and give the RTT
//! link its memory access while the core runs (no halting needed, unlike a gdbstub). The
//! firmware counts cycles with DWT CYCCNT itself; [`ProbeTarget::cycle_counter`] reads it from
//! the host side as a cross-check.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use probe_rs::flashing::{ElfLoader, ElfOptions, download_file};
use probe_rs::probe::list::Lister;
use probe_rs::{MemoryInterface, Permissions, Session};

use crate::rtt::MemoryAccess;

/// DWT cycle counter (CYCCNT) on every Armv7-M core that has one.
pub const DWT_CYCCNT: u64 = 0xE000_1004;

pub struct ProbeTarget {
    session: Session,
    chip: String,
}

impl std::fmt::Debug for ProbeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeTarget").field("chip", &self.chip).finish_non_exhaustive()
    }
}

impl ProbeTarget {
    /// Attach through the first probe found, flash `elf`, reset and run it.
    pub fn flash_and_run(chip: &str, elf: &Path) -> Result<ProbeTarget> {
        let probes = Lister::new().list_all();
        let Some(info) = probes.first() else {
            bail!(
                "no debug probe found: plug in the board's ST-LINK (USB), and on Linux allow access to it \
                 (probe-rs udev rules: https://probe.rs/docs/getting-started/probe-setup/)"
            );
        };
        let probe = info.open().with_context(|| format!("could not open probe {}", info.identifier))?;
        let mut session = probe.attach(chip, Permissions::default()).with_context(|| {
            format!("could not attach to {chip} (is --chip right? `probe-rs chip list` names them)")
        })?;
        download_file(&mut session, elf, ElfLoader(ElfOptions::default()))
            .with_context(|| format!("could not flash {}", elf.display()))?;
        let mut core = session.core(0)?;
        core.reset_and_halt(Duration::from_secs(2)).context("could not reset the core after flashing")?;
        core.run().context("could not start the core")?;
        drop(core);
        Ok(ProbeTarget { session, chip: chip.to_string() })
    }

    /// The core's cycle counter, read over the debug port.
    pub fn cycle_counter(&mut self) -> Result<u32> {
        Ok(self.session.core(0)?.read_word_32(DWT_CYCCNT)?)
    }

    /// Whether CYCCNT advances while the firmware runs (it enables it at boot): the cross-check
    /// that the cycles the firmware reports are real ones.
    pub fn cycle_counter_runs(&mut self) -> Result<bool> {
        let before = self.cycle_counter()?;
        std::thread::sleep(Duration::from_millis(10));
        Ok(self.cycle_counter()? != before)
    }
}

impl MemoryAccess for ProbeTarget {
    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<()> {
        self.session.core(0)?.read_8(u64::from(address), buf).with_context(|| format!("probe read at {address:#010x}"))
    }

    fn write(&mut self, address: u32, data: &[u8]) -> Result<()> {
        self.session
            .core(0)?
            .write_8(u64::from(address), data)
            .with_context(|| format!("probe write at {address:#010x}"))
    }

    fn describe(&self) -> String {
        format!("{} via probe-rs", self.chip)
    }
}
