//! NOR-flash semantics, as the journal ([`crate::journal`]) needs them: the region is split into
//! equal sectors, a sector is erased as a whole (to `0xFF`), and a page is programmed once
//! after an erase, whole and aligned. A write that power loss interrupts leaves its page (or,
//! for an erase, its sector) with arbitrary contents: that is the "torn" state the journal must
//! survive.
//!
//! [`MemFlash`] implements the semantics over any byte buffer: a `Vec` on the host, a `static`
//! RAM region on the firmware under QEMU (it survives a reset there). [`PowerCut`] wraps a flash
//! and cuts power at a chosen write point ([`Outage`]), tearing that write, so property tests can try every
//! point.

use alloc::vec::Vec;

/// Sizes of a flash region. `sector_size` is a multiple of `page_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Smallest programmable unit (32 bytes: one STM32H7 flash word).
    pub page_size: u32,
    /// Smallest erasable unit.
    pub sector_size: u32,
    pub sectors: u32,
}

impl Geometry {
    pub fn bytes(&self) -> u32 {
        self.sector_size * self.sectors
    }
    pub fn pages_per_sector(&self) -> u32 {
        self.sector_size / self.page_size
    }
    /// Pages of at least 16 bytes, whole pages per sector, 4+ pages a sector, 3+ sectors.
    pub(crate) fn is_valid(&self) -> bool {
        self.page_size >= 16
            && self.page_size.is_power_of_two()
            && self.sector_size.is_multiple_of(self.page_size)
            && self.sector_size >= 4 * self.page_size
            && self.sectors >= 3
            && self.sector_size.checked_mul(self.sectors).is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashError {
    /// Address, length or alignment outside what the geometry allows (a bug in the caller).
    OutOfRange,
    /// Programming a page that was not erased (a bug in the caller: NOR flash cannot do it).
    NotErased,
    /// Power went away during or before this operation; nothing more can be written.
    PowerLost,
    /// The device reported a failure.
    Device,
}

impl core::fmt::Display for FlashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FlashError::OutOfRange => "flash access out of range or misaligned",
            FlashError::NotErased => "flash page programmed twice without an erase",
            FlashError::PowerLost => "power lost during a flash write",
            FlashError::Device => "the flash device reported an error",
        })
    }
}

/// A flash region. Offsets are relative to its start.
pub trait Flash {
    fn geometry(&self) -> Geometry;
    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), FlashError>;
    /// Program whole pages at a page-aligned offset; every page must be erased.
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError>;
    fn erase(&mut self, sector: u32) -> Result<(), FlashError>;
}

/// Lend a flash to a journal while keeping it (to reopen it after a failed recovery).
impl<F: Flash + ?Sized> Flash for &mut F {
    fn geometry(&self) -> Geometry {
        (**self).geometry()
    }
    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), FlashError> {
        (**self).read(offset, out)
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        (**self).program(offset, data)
    }
    fn erase(&mut self, sector: u32) -> Result<(), FlashError> {
        (**self).erase(sector)
    }
}

/// Flash semantics over a byte buffer, with a per-page "programmed" flag so a double program is
/// caught as real flash would corrupt it.
#[derive(Debug)]
pub struct MemFlash<B> {
    geometry: Geometry,
    bytes: B,
    programmed: Vec<bool>,
}

impl MemFlash<Vec<u8>> {
    /// A blank (erased) flash of this geometry.
    pub fn blank(geometry: Geometry) -> Result<Self, FlashError> {
        if !geometry.is_valid() {
            return Err(FlashError::OutOfRange);
        }
        Self::over(geometry, alloc::vec![0xFF; geometry.bytes() as usize])
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> MemFlash<B> {
    /// Flash over existing contents (what was there before a reset). A page reads as
    /// programmed unless it is all `0xFF`.
    pub fn over(geometry: Geometry, bytes: B) -> Result<Self, FlashError> {
        if !geometry.is_valid() || bytes.as_ref().len() != geometry.bytes() as usize {
            return Err(FlashError::OutOfRange);
        }
        let programmed =
            bytes.as_ref().chunks(geometry.page_size as usize).map(|page| page.iter().any(|&b| b != 0xFF)).collect();
        Ok(MemFlash { geometry, bytes, programmed })
    }

    /// The raw contents (tests scan them for leftovers).
    pub fn contents(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// The raw contents, for a test that plays attacker or cosmic ray.
    pub fn contents_mut(&mut self) -> &mut [u8] {
        self.bytes.as_mut()
    }

    pub fn into_inner(self) -> B {
        self.bytes
    }

    fn span(&self, offset: u32, len: usize) -> Result<core::ops::Range<usize>, FlashError> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(FlashError::OutOfRange)?;
        if end > self.bytes.as_ref().len() {
            return Err(FlashError::OutOfRange);
        }
        Ok(start..end)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Flash for MemFlash<B> {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), FlashError> {
        let range = self.span(offset, out.len())?;
        out.copy_from_slice(&self.bytes.as_ref()[range]);
        Ok(())
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let page = self.geometry.page_size as usize;
        if !(offset as usize).is_multiple_of(page) || !data.len().is_multiple_of(page) {
            return Err(FlashError::OutOfRange);
        }
        let range = self.span(offset, data.len())?;
        let first = range.start / page;
        let pages = first..first + data.len() / page;
        if self.programmed[pages.clone()].iter().any(|&p| p) {
            return Err(FlashError::NotErased);
        }
        self.bytes.as_mut()[range].copy_from_slice(data);
        self.programmed[pages].fill(true);
        Ok(())
    }

    fn erase(&mut self, sector: u32) -> Result<(), FlashError> {
        if sector >= self.geometry.sectors {
            return Err(FlashError::OutOfRange);
        }
        let size = self.geometry.sector_size as usize;
        let start = sector as usize * size;
        self.bytes.as_mut()[start..start + size].fill(0xFF);
        let pages = size / self.geometry.page_size as usize;
        let first = start / self.geometry.page_size as usize;
        self.programmed[first..first + pages].fill(false);
        Ok(())
    }
}

/// When power goes: one shared counter of write points for every flash of a device (a cut
/// stops them all at once). Clone it into each [`PowerCut`].
#[derive(Clone, Debug)]
pub struct Outage(alloc::rc::Rc<core::cell::Cell<OutageState>>);

#[derive(Clone, Copy, Debug)]
struct OutageState {
    cut_at: u64,
    writes: u64,
    noise: u32,
}

impl Outage {
    /// Power fails at write point `cut_at` (0-based; every page programmed and every sector
    /// erase is one write point). `noise` seeds the garbage a torn page gets.
    pub fn at(cut_at: u64, noise: u32) -> Outage {
        Outage(alloc::rc::Rc::new(core::cell::Cell::new(OutageState { cut_at, writes: 0, noise: noise | 1 })))
    }

    /// Power never fails: only counts write points (to learn how many a run has).
    pub fn never() -> Outage {
        Outage::at(u64::MAX, 1)
    }

    /// Write points used so far.
    pub fn writes(&self) -> u64 {
        self.0.get().writes
    }

    pub fn power_lost(&self) -> bool {
        let s = self.0.get();
        s.writes > s.cut_at
    }

    /// Count one write point; true if it is the one power fails in.
    fn tick(&self) -> bool {
        let mut s = self.0.get();
        let cut = s.writes == s.cut_at;
        s.writes += 1;
        self.0.set(s);
        cut
    }

    fn noise(&self) -> u8 {
        // xorshift32: deterministic garbage.
        let mut s = self.0.get();
        s.noise ^= s.noise << 13;
        s.noise ^= s.noise >> 17;
        s.noise ^= s.noise << 5;
        self.0.set(s);
        s.noise as u8
    }
}

/// A flash that loses power at its [`Outage`]'s write point. That write is torn: for a
/// program, the pages before it land, the torn page gets half its bytes and half noise, the
/// rest nothing; a torn erase leaves the sector half erased with a damaged page. Every later
/// operation fails with [`FlashError::PowerLost`].
#[derive(Debug)]
pub struct PowerCut<F> {
    inner: F,
    outage: Outage,
}

impl<F: Flash> PowerCut<F> {
    pub fn new(inner: F, outage: &Outage) -> Self {
        PowerCut { inner, outage: outage.clone() }
    }

    pub fn into_inner(self) -> F {
        self.inner
    }
}

impl<F: Flash> Flash for PowerCut<F> {
    fn geometry(&self) -> Geometry {
        self.inner.geometry()
    }

    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), FlashError> {
        if self.outage.power_lost() {
            return Err(FlashError::PowerLost);
        }
        self.inner.read(offset, out)
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let page = self.inner.geometry().page_size as usize;
        for (i, chunk) in data.chunks(page).enumerate() {
            if self.outage.power_lost() {
                return Err(FlashError::PowerLost);
            }
            let at = offset + (i * page) as u32;
            if self.outage.tick() {
                let mut torn: Vec<u8> = chunk.to_vec();
                for b in torn.iter_mut().skip(page / 2) {
                    *b = self.outage.noise();
                }
                self.inner.program(at, &torn)?;
                return Err(FlashError::PowerLost);
            }
            self.inner.program(at, chunk)?;
        }
        Ok(())
    }

    fn erase(&mut self, sector: u32) -> Result<(), FlashError> {
        if self.outage.power_lost() {
            return Err(FlashError::PowerLost);
        }
        if !self.outage.tick() {
            return self.inner.erase(sector);
        }
        // Half erased: the first half is erased, the second keeps its old contents except for
        // one damaged page.
        let g = self.inner.geometry();
        let mut old = alloc::vec![0u8; g.sector_size as usize];
        let base = sector * g.sector_size;
        self.inner.read(base, &mut old)?;
        self.inner.erase(sector)?;
        let page = g.page_size as usize;
        let half = (g.pages_per_sector() / 2) as usize * page;
        for b in old[half..half + page].iter_mut() {
            *b ^= self.outage.noise() | 1;
        }
        for (i, chunk) in old[half..].chunks(page).enumerate() {
            if chunk.iter().any(|&b| b != 0xFF) {
                self.inner.program(base + (half + i * page) as u32, chunk)?;
            }
        }
        Err(FlashError::PowerLost)
    }
}
