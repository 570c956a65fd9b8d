//! A terminal's storage on the host: the core's power-loss-safe, encrypted journal
//! ([`gatelab_core::persist`]) over two files with flash semantics, in one folder:
//!
//! ```text
//! STORE/identity.flash   persons, consents, person → template handle (256 KiB)
//! STORE/biometric.flash  templates under opaque handles, AES-256-GCM-SIV (4 MiB)
//! STORE/terminal.key     the terminal's 256-bit key (mode 0600), made on first use
//! ```
//!
//! On a real terminal the key lives in a secure element and the partitions in its flash; here
//! the folder stands in for both. Programs and erases are written through (`sync_data`), so a
//! crash leaves the files exactly as a power cut leaves flash.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gatelab_core::flash::{Flash, FlashError, Geometry};
use gatelab_core::journal::StorageKey;

/// STM32H7-like pages (32 bytes); small sectors keep compaction cheap on the host.
pub const IDENTITY: Geometry = Geometry { page_size: 32, sector_size: 16 * 1024, sectors: 16 };
pub const BIOMETRIC: Geometry = Geometry { page_size: 32, sector_size: 64 * 1024, sectors: 64 };

/// A file with NOR-flash semantics (see [`gatelab_core::flash`]).
#[derive(Debug)]
pub struct FileFlash {
    file: File,
    geometry: Geometry,
}

impl FileFlash {
    /// Open `path`, or create it erased. A file of another size is not a partition of this
    /// store: refused, left untouched.
    pub fn open(path: &Path, geometry: Geometry) -> Result<FileFlash> {
        let exists = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("could not open {}", path.display()))?;
        let len = file.metadata().with_context(|| format!("could not read {}", path.display()))?.len();
        if exists && len != u64::from(geometry.bytes()) {
            bail!(
                "{} is {len} bytes, not a {}-byte partition of a gatelab store (damaged or not a store); it was left untouched",
                path.display(),
                geometry.bytes()
            );
        }
        if !exists || len == 0 {
            let erased = vec![0xFF; geometry.sector_size as usize];
            for s in 0..geometry.sectors {
                file.write_all_at(&erased, u64::from(s * geometry.sector_size))
                    .with_context(|| format!("could not create {}", path.display()))?;
            }
            file.sync_all().with_context(|| format!("could not create {}", path.display()))?;
        }
        Ok(FileFlash { file, geometry })
    }
}

impl Flash for FileFlash {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), FlashError> {
        self.file.read_exact_at(out, u64::from(offset)).map_err(|_| FlashError::Device)
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let page = self.geometry.page_size as usize;
        if !(offset as usize).is_multiple_of(page) || !data.len().is_multiple_of(page) {
            return Err(FlashError::OutOfRange);
        }
        self.file.write_all_at(data, u64::from(offset)).map_err(|_| FlashError::Device)?;
        self.file.sync_data().map_err(|_| FlashError::Device)
    }

    fn erase(&mut self, sector: u32) -> Result<(), FlashError> {
        if sector >= self.geometry.sectors {
            return Err(FlashError::OutOfRange);
        }
        let erased = vec![0xFF; self.geometry.sector_size as usize];
        self.file
            .write_all_at(&erased, u64::from(sector * self.geometry.sector_size))
            .map_err(|_| FlashError::Device)?;
        self.file.sync_data().map_err(|_| FlashError::Device)
    }
}

/// The folder's partitions and key.
#[derive(Debug)]
pub struct StoreFiles {
    pub identity: FileFlash,
    pub biometric: FileFlash,
    pub key: StorageKey,
}

/// Open the store in `dir`, creating it (and its key) if it does not exist yet.
pub fn open(dir: &Path) -> Result<StoreFiles> {
    if dir.is_file() {
        bail!(
            "{} is a file; a store is a folder (identity.flash, biometric.flash, terminal.key). It was left untouched",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("could not create the store {}", dir.display()))?;
    let key = key(&dir.join("terminal.key"))?;
    Ok(StoreFiles {
        identity: FileFlash::open(&dir.join("identity.flash"), IDENTITY)?,
        biometric: FileFlash::open(&dir.join("biometric.flash"), BIOMETRIC)?,
        key,
    })
}

/// Read the key, or make one from the OS's randomness (readable by the owner only).
fn key(path: &PathBuf) -> Result<StorageKey> {
    let mut bytes = [0u8; 32];
    if path.exists() {
        let raw = std::fs::read(path).with_context(|| format!("could not read the key {}", path.display()))?;
        if raw.len() != 32 {
            bail!("{} is not a 32-byte terminal key; the store was left untouched", path.display());
        }
        bytes.copy_from_slice(&raw);
    } else {
        getrandom::fill(&mut bytes)
            .map_err(|e| anyhow::anyhow!("the operating system gave no randomness for a new terminal key: {e}"))?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("could not create the key {}", path.display()))?;
        std::io::Write::write_all(&mut f, &bytes).with_context(|| format!("could not write {}", path.display()))?;
        f.sync_all().with_context(|| format!("could not write {}", path.display()))?;
    }
    let key = StorageKey::new(bytes);
    // StorageKey zeroes its own copy on drop; clear this one too.
    bytes.fill(0);
    Ok(key)
}
