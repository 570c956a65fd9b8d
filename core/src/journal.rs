//! A power-loss-safe, encrypted key–value log on NOR flash ([`crate::flash`]).
//!
//! Every change is one appended record; the newest record of a key wins; a delete is a
//! tombstone. Records are encrypted and authenticated with AES-256-GCM-SIV under the terminal's
//! key (nonce misuse-resistant: a nonce repeated after a torn write reveals nothing but
//! equality). Layout, little-endian:
//!
//! ```text
//! sector: [header page: "GLS1" generation:u32 partition:u8 … crc32] [record] [record] … [0xFF…]
//! record: "GLR1" seq:u64 len:u16 partition:u8 0:u8 | ciphertext+tag (len) | crc32 | 0xFF pad to a page
//! plaintext: op:u8 (1 put, 2 delete) class:u8 id:u64 value…
//! ```
//!
//! The header is the AEAD's associated data, so a record moved to another position, sequence
//! number or partition, copied from another terminal, or edited, fails to open. A bad CRC marks
//! a torn write (the expected result of power loss: the record never happened); a good CRC with
//! a failing tag marks tampering (counted as `rejected`).
//!
//! Deletion erases: after the tombstone is written (the commit point), every sector still
//! holding an older record of the key is compacted (its live records copied forward, the
//! sector erased), so a withdrawn template leaves no ciphertext behind. A sector is retired by a
//! record naming its generation before it is erased: if the erase is torn, recovery finishes it
//! rather than trusting half-erased contents. `open` resumes any unfinished deletion.

use aes_gcm_siv::Aes256GcmSiv;
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use zeroize::Zeroize;

use crate::flash::{Flash, FlashError, Geometry};

const SECTOR_MAGIC: &[u8; 4] = b"GLS1";
const RECORD_MAGIC: &[u8; 4] = b"GLR1";
const HEADER: usize = 16;
const TAG: usize = 16;
const CRC: usize = 4;
const PLAIN_KEY: usize = 10;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
/// Key class of the journal's own "this sector is being erased" records.
const CLASS_RETIRED: u8 = 0xFF;
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// A terminal's storage key (256 bits). Never serialised, never printed, zeroed on drop.
pub struct StorageKey([u8; 32]);

impl StorageKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        StorageKey(bytes)
    }

    /// A key for one purpose, derived by SHA-256 with a label (domain separation, so the
    /// identity and biometric partitions never share a key).
    pub fn derive(&self, label: &[u8]) -> StorageKey {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"gatelab-storage-key-v1");
        h.update(label);
        h.update(self.0);
        StorageKey(h.finalize().into())
    }
}

impl Drop for StorageKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl core::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StorageKey(…)")
    }
}

/// What a record is about: a class (defined by the user of the journal) and an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub class: u8,
    pub id: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalError {
    Flash(FlashError),
    /// No room even after compaction: every stored record is live.
    Full,
    /// A value larger than one sector can hold.
    TooLarge,
    /// The flash geometry cannot hold a journal (sectors too small or too few).
    Geometry,
    /// Records are there but none opens with this key: another terminal's flash or the wrong
    /// key. Refused before anything is written, so nothing stored is lost.
    WrongKey,
}

impl From<FlashError> for JournalError {
    fn from(e: FlashError) -> Self {
        JournalError::Flash(e)
    }
}

impl core::fmt::Display for JournalError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            JournalError::Flash(e) => write!(f, "flash: {e}"),
            JournalError::Full => f.write_str("storage full: every record is live"),
            JournalError::TooLarge => f.write_str("record larger than a flash sector"),
            JournalError::Geometry => f.write_str("flash geometry too small for the journal"),
            JournalError::WrongKey => {
                f.write_str("no stored record opens with this key (another terminal's storage, or the wrong key)")
            }
        }
    }
}

/// What recovery found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Valid records read.
    pub records: u32,
    /// Records cut short by power loss (ignored, as if never written).
    pub torn: u32,
    /// Records whose authentication failed: edited, moved or from another terminal (refused).
    pub rejected: u32,
    /// Sectors erased during recovery (torn erases, retired sectors, garbage).
    pub erased: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sector {
    /// Erased (`clean`) or holding garbage that must be erased before use.
    Free { clean: bool },
    /// Holds records up to byte `end`; only the head sector is appended to.
    Used { generation: u32, end: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Loc {
    sector: u32,
    offset: u32,
    seq: u64,
    key: Key,
    tombstone: bool,
    bytes: u32,
}

/// See the module docs.
pub struct Journal<F> {
    flash: F,
    cipher: Aes256GcmSiv,
    partition: u8,
    geometry: Geometry,
    sectors: Vec<Sector>,
    locs: Vec<Loc>,
    /// Per key, its records in flash: (seq, sector, tombstone). Keeps "newest" and "older
    /// copy elsewhere" lookups logarithmic, so compaction stays linear in the records.
    index: BTreeMap<Key, Vec<(u64, u32, bool)>>,
    head: Option<u32>,
    next_seq: u64,
    next_generation: u32,
}

impl<F> core::fmt::Debug for Journal<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Journal")
            .field("partition", &self.partition)
            .field("records", &self.locs.len())
            .field("head", &self.head)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// The live contents recovered by [`Journal::open`].
pub type Contents = BTreeMap<Key, Vec<u8>>;

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl<F: Flash> Journal<F> {
    /// Recover the journal of `partition` from `flash`: finish torn erases and unfinished
    /// deletions, and return the live contents. With `refuse_foreign`, a flash holding records
    /// of which none opens is refused ([`JournalError::WrongKey`]) before anything is written;
    /// without, they count as rejected (tampered) and are dropped.
    pub fn open(
        flash: F,
        key: &StorageKey,
        partition: u8,
        refuse_foreign: bool,
    ) -> Result<(Self, Contents, OpenReport), JournalError> {
        let geometry = flash.geometry();
        if !geometry.is_valid() {
            return Err(JournalError::Geometry);
        }
        let cipher = Aes256GcmSiv::new_from_slice(&key.0).map_err(|_| JournalError::Geometry)?;
        let mut journal = Journal {
            flash,
            cipher,
            partition,
            geometry,
            sectors: vec![Sector::Free { clean: false }; geometry.sectors as usize],
            locs: Vec::new(),
            index: BTreeMap::new(),
            head: None,
            next_seq: 0,
            next_generation: 0,
        };
        let mut report = OpenReport::default();
        let mut retired = Vec::new();
        let mut sealed = Vec::new();
        for s in 0..geometry.sectors {
            journal.scan_sector(s, &mut report, &mut retired, &mut sealed)?;
        }
        if refuse_foreign && report.records == 0 && report.rejected > 0 {
            return Err(JournalError::WrongKey);
        }
        // Sectors whose erase was under way: their contents cannot be trusted.
        for s in 0..geometry.sectors {
            if let Sector::Used { generation, .. } = journal.sectors[s as usize]
                && retired.contains(&generation)
            {
                journal.forget_sector(s);
                journal.sectors[s as usize] = Sector::Free { clean: false };
            }
        }
        // The newest surviving record of each key.
        let mut newest: BTreeMap<Key, Loc> = BTreeMap::new();
        for l in &journal.locs {
            if newest.get(&l.key).is_none_or(|n| l.seq > n.seq) {
                newest.insert(l.key, *l);
            }
        }
        let mut contents = Contents::new();
        for (key, l) in newest {
            if key.class != CLASS_RETIRED && !l.tombstone {
                let value = journal.read_value(l)?.unwrap_or_default();
                contents.insert(key, value);
            }
        }
        journal.head = (0..geometry.sectors)
            .filter(|&s| !sealed.contains(&s))
            .filter_map(|s| match journal.sectors[s as usize] {
                Sector::Used { generation, .. } => Some((generation, s)),
                Sector::Free { .. } => None,
            })
            .max()
            .map(|(_, s)| s);
        // Finish torn erases now, so every free sector is clean.
        for s in 0..geometry.sectors {
            if journal.sectors[s as usize] == (Sector::Free { clean: false }) {
                journal.flash.erase(s)?;
                journal.sectors[s as usize] = Sector::Free { clean: true };
                report.erased += 1;
            }
        }
        // Resume deletions cut short: no older record may outlive its tombstone.
        let tombstones: Vec<(Key, u64)> = journal.locs.iter().filter(|l| l.tombstone).map(|l| (l.key, l.seq)).collect();
        for (key, seq) in tombstones {
            journal.purge(key, seq)?;
        }
        Ok((journal, contents, report))
    }

    fn scan_sector(
        &mut self,
        s: u32,
        report: &mut OpenReport,
        retired: &mut Vec<u32>,
        sealed: &mut Vec<u32>,
    ) -> Result<(), JournalError> {
        let g = self.geometry;
        let base = s * g.sector_size;
        let mut page = vec![0u8; g.page_size as usize];
        self.flash.read(base, &mut page)?;
        let Some(generation) = self.parse_sector_header(&page) else {
            let mut sector = vec![0u8; g.sector_size as usize];
            self.flash.read(base, &mut sector)?;
            self.sectors[s as usize] = Sector::Free { clean: sector.iter().all(|&b| b == 0xFF) };
            return Ok(());
        };
        self.next_generation = self.next_generation.max(generation.wrapping_add(1));
        let mut offset = g.page_size;
        let mut header = [0u8; HEADER];
        while offset + g.page_size <= g.sector_size {
            self.flash.read(base + offset, &mut header)?;
            if header.iter().all(|&b| b == 0xFF) {
                // The end of the records, if everything after is erased too. A stray programmed
                // byte there (a torn write that left its header blank, a flipped bit) means no
                // page after this point may be programmed again: seal the sector.
                let mut rest = vec![0u8; (g.sector_size - offset) as usize];
                self.flash.read(base + offset, &mut rest)?;
                if rest.iter().any(|&b| b != 0xFF) {
                    report.torn += 1;
                    sealed.push(s);
                }
                break;
            }
            let len = u16::from_le_bytes([header[12], header[13]]) as usize;
            let bytes = round_up(HEADER + len + CRC, g.page_size as usize) as u32;
            if &header[..4] != RECORD_MAGIC || len < TAG + PLAIN_KEY || offset + bytes > g.sector_size {
                // A torn header: nothing after it in this sector can be trusted or appended to.
                report.torn += 1;
                sealed.push(s);
                break;
            }
            let mut record = vec![0u8; HEADER + len + CRC];
            self.flash.read(base + offset, &mut record)?;
            let stored_crc = u32::from_le_bytes([
                record[HEADER + len],
                record[HEADER + len + 1],
                record[HEADER + len + 2],
                record[HEADER + len + 3],
            ]);
            if CRC32.checksum(&record[..HEADER + len]) != stored_crc {
                report.torn += 1;
                sealed.push(s);
                break;
            }
            let seq = u64::from_le_bytes(header[4..12].try_into().unwrap_or_default());
            match self.open_record(&record[..HEADER + len]) {
                Some((op, key, mut value)) => {
                    report.records += 1;
                    self.next_seq = self.next_seq.max(seq + 1);
                    let tombstone = op == OP_DELETE;
                    self.remember(Loc { sector: s, offset, seq, key, tombstone, bytes });
                    if key.class == CLASS_RETIRED && !tombstone {
                        retired.push(key.id as u32);
                    }
                    value.zeroize();
                }
                None => report.rejected += 1,
            }
            offset += bytes;
        }
        self.sectors[s as usize] = Sector::Used { generation, end: offset };
        Ok(())
    }

    fn parse_sector_header(&self, page: &[u8]) -> Option<u32> {
        if &page[..4] != SECTOR_MAGIC || page[8] != self.partition {
            return None;
        }
        let crc = u32::from_le_bytes(page[12..16].try_into().ok()?);
        (CRC32.checksum(&page[..12]) == crc).then(|| u32::from_le_bytes([page[4], page[5], page[6], page[7]]))
    }

    fn nonce(&self, seq: u64) -> aes_gcm_siv::Nonce {
        let mut n = [0u8; 12];
        n[0] = self.partition;
        n[4..].copy_from_slice(&seq.to_le_bytes());
        aes_gcm_siv::Nonce::from(n)
    }

    /// Authenticate and decrypt header ‖ ciphertext; `None` if it fails.
    fn open_record(&self, record: &[u8]) -> Option<(u8, Key, Vec<u8>)> {
        let (header, ciphertext) = record.split_at(HEADER);
        if header[14] != self.partition {
            return None;
        }
        let seq = u64::from_le_bytes(header[4..12].try_into().ok()?);
        let mut plain = self.cipher.decrypt(&self.nonce(seq), Payload { msg: ciphertext, aad: header }).ok()?;
        if plain.len() < PLAIN_KEY || !matches!(plain[0], OP_PUT | OP_DELETE) {
            plain.zeroize();
            return None;
        }
        let key = Key { class: plain[1], id: u64::from_le_bytes(plain[2..10].try_into().ok()?) };
        let op = plain[0];
        let value = plain[PLAIN_KEY..].to_vec();
        plain.zeroize();
        Some((op, key, value))
    }

    fn read_value(&mut self, l: Loc) -> Result<Option<Vec<u8>>, JournalError> {
        let base = l.sector * self.geometry.sector_size + l.offset;
        let mut header = [0u8; HEADER];
        self.flash.read(base, &mut header)?;
        let len = u16::from_le_bytes([header[12], header[13]]) as usize;
        let mut record = vec![0u8; HEADER + len];
        self.flash.read(base, &mut record)?;
        Ok(self.open_record(&record).map(|(_, _, v)| v))
    }

    /// (seq, tombstone) of the newest record of `key` in flash.
    fn newest(&self, key: Key) -> Option<(u64, bool)> {
        self.index.get(&key)?.iter().max_by_key(|(seq, _, _)| *seq).map(|&(seq, _, tombstone)| (seq, tombstone))
    }

    fn remember(&mut self, l: Loc) {
        self.index.entry(l.key).or_default().push((l.seq, l.sector, l.tombstone));
        self.locs.push(l);
    }

    /// Drop the bookkeeping of an erased (or untrusted) sector.
    fn forget_sector(&mut self, s: u32) {
        for l in self.locs.iter().filter(|l| l.sector == s) {
            if let Some(v) = self.index.get_mut(&l.key) {
                v.retain(|&(seq, sector, _)| !(seq == l.seq && sector == s));
                if v.is_empty() {
                    self.index.remove(&l.key);
                }
            }
        }
        self.locs.retain(|l| l.sector != s);
    }

    /// Bytes one record with a value of `len` bytes takes.
    pub fn record_bytes(&self, len: usize) -> usize {
        round_up(HEADER + PLAIN_KEY + len + TAG + CRC, self.geometry.page_size as usize)
    }

    /// Store `value` under `key` (replacing any older value).
    pub fn put(&mut self, key: Key, value: &[u8]) -> Result<(), JournalError> {
        self.make_room(self.record_bytes(value.len()), true)?;
        self.append(OP_PUT, key, value)
    }

    /// Delete `key` and erase every older record of it from the flash.
    pub fn delete(&mut self, key: Key) -> Result<(), JournalError> {
        match self.newest(key) {
            None => return Ok(()),
            // Deleted already; finish erasing if a cut stopped it.
            Some((seq, true)) => return self.purge(key, seq),
            Some(_) => {}
        }
        // Deletions may use the spare sector that puts leave free.
        self.make_room(self.record_bytes(0), false)?;
        self.append(OP_DELETE, key, &[])?;
        let seq = self.next_seq - 1;
        self.purge(key, seq)
    }

    /// True if a put of `len` bytes would succeed (after compaction if needed); compacts.
    pub fn reserve(&mut self, len: usize) -> Result<(), JournalError> {
        self.make_room(self.record_bytes(len), true)
    }

    /// Records in flash (live and superseded), for tests and status.
    pub fn records(&self) -> usize {
        self.locs.len()
    }

    pub fn flash(&self) -> &F {
        &self.flash
    }

    pub fn into_flash(self) -> F {
        self.flash
    }

    fn free_sectors(&self) -> usize {
        self.sectors.iter().filter(|s| matches!(s, Sector::Free { .. })).count()
    }

    fn head_room(&self) -> usize {
        match self.head.map(|h| self.sectors[h as usize]) {
            Some(Sector::Used { end, .. }) => (self.geometry.sector_size - end) as usize,
            _ => 0,
        }
    }

    /// Make room for a record of `bytes`. Puts keep one sector spare for compaction and
    /// deletions; a deletion may use it.
    fn make_room(&mut self, bytes: usize, keep_spare: bool) -> Result<(), JournalError> {
        if bytes > (self.geometry.sector_size - self.geometry.page_size) as usize {
            return Err(JournalError::TooLarge);
        }
        if self.head_room() >= bytes {
            return Ok(());
        }
        let needed = if keep_spare { 2 } else { 1 };
        // Each compaction frees a sector or fills the head; bounded so a full store ends.
        for _ in 0..2 * self.geometry.sectors {
            if self.free_sectors() >= needed {
                break;
            }
            let victim = self.victim().ok_or(JournalError::Full)?;
            self.compact(victim)?;
        }
        if self.free_sectors() < needed {
            return Err(JournalError::Full);
        }
        self.open_new_head()
    }

    /// The sector (not the head) with the most dead bytes, if any has some.
    fn victim(&self) -> Option<u32> {
        (0..self.geometry.sectors)
            .filter(|&s| Some(s) != self.head)
            .filter_map(|s| match self.sectors[s as usize] {
                Sector::Used { end, .. } => {
                    let live: u32 =
                        self.locs.iter().filter(|l| l.sector == s && self.is_live(l, s)).map(|l| l.bytes).sum();
                    let dead = end - self.geometry.page_size - live;
                    (dead > 0).then_some((dead, s))
                }
                Sector::Free { .. } => None,
            })
            .max()
            .map(|(_, s)| s)
    }

    /// Must `l` survive the compaction of sector `victim`?
    fn is_live(&self, l: &Loc, victim: u32) -> bool {
        if self.newest(l.key).is_some_and(|(seq, _)| seq != l.seq) {
            return false;
        }
        if l.key.class == CLASS_RETIRED {
            let generation = l.key.id as u32;
            return self.sectors.iter().any(|s| matches!(s, Sector::Used { generation: g, .. } if *g == generation));
        }
        if l.tombstone {
            // Needed only while an older record of the key survives elsewhere.
            return self
                .index
                .get(&l.key)
                .is_some_and(|v| v.iter().any(|&(seq, sector, _)| seq < l.seq && sector != victim));
        }
        true
    }

    fn open_new_head(&mut self) -> Result<(), JournalError> {
        let s = (0..self.geometry.sectors)
            .find(|&s| self.sectors[s as usize] == Sector::Free { clean: true })
            .or_else(|| (0..self.geometry.sectors).find(|&s| matches!(self.sectors[s as usize], Sector::Free { .. })))
            .ok_or(JournalError::Full)?;
        if self.sectors[s as usize] != (Sector::Free { clean: true }) {
            self.flash.erase(s)?;
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let mut page = vec![0xFFu8; self.geometry.page_size as usize];
        page[..4].copy_from_slice(SECTOR_MAGIC);
        page[4..8].copy_from_slice(&generation.to_le_bytes());
        page[8] = self.partition;
        page[9..12].fill(0);
        let crc = CRC32.checksum(&page[..12]);
        page[12..16].copy_from_slice(&crc.to_le_bytes());
        // Mark it used before the write: if power fails, recovery sees either nothing or a
        // torn header (garbage to erase), never records of an unknown sector.
        self.sectors[s as usize] = Sector::Used { generation, end: self.geometry.page_size };
        self.head = Some(s);
        self.flash.program(s * self.geometry.sector_size, &page)?;
        Ok(())
    }

    /// Append one record to the head (room already made).
    fn append(&mut self, op: u8, key: Key, value: &[u8]) -> Result<(), JournalError> {
        let bytes = self.record_bytes(value.len());
        if self.head_room() < bytes {
            self.open_new_head()?;
        }
        let Some(head) = self.head else { return Err(JournalError::Full) };
        let Sector::Used { generation, end } = self.sectors[head as usize] else { return Err(JournalError::Full) };
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut plain = Vec::with_capacity(PLAIN_KEY + value.len());
        plain.push(op);
        plain.push(key.class);
        plain.extend_from_slice(&key.id.to_le_bytes());
        plain.extend_from_slice(value);
        let len = plain.len() + TAG;
        let mut record = vec![0xFFu8; bytes];
        record[..4].copy_from_slice(RECORD_MAGIC);
        record[4..12].copy_from_slice(&seq.to_le_bytes());
        record[12..14].copy_from_slice(&(len as u16).to_le_bytes());
        record[14] = self.partition;
        record[15] = 0;
        let sealed = self.cipher.encrypt(&self.nonce(seq), Payload { msg: &plain, aad: &record[..HEADER] });
        plain.zeroize();
        let ciphertext = sealed.map_err(|_| JournalError::TooLarge)?;
        record[HEADER..HEADER + len].copy_from_slice(&ciphertext);
        let crc = CRC32.checksum(&record[..HEADER + len]);
        record[HEADER + len..HEADER + len + CRC].copy_from_slice(&crc.to_le_bytes());
        let offset = end;
        self.sectors[head as usize] = Sector::Used { generation, end: end + bytes as u32 };
        self.remember(Loc { sector: head, offset, seq, key, tombstone: op == OP_DELETE, bytes: bytes as u32 });
        self.flash.program(head * self.geometry.sector_size + offset, &record)?;
        Ok(())
    }

    /// Erase every record of `key` older than `seq` by compacting the sectors that hold one.
    fn purge(&mut self, key: Key, seq: u64) -> Result<(), JournalError> {
        loop {
            let older =
                self.index.get(&key).and_then(|v| v.iter().find(|&&(s, _, _)| s < seq).map(|&(_, sector, _)| sector));
            let Some(s) = older else {
                return Ok(());
            };
            if Some(s) == self.head {
                // Records are never moved within a sector: start a new head, then compact.
                self.open_new_head_for_compaction()?;
            }
            self.compact(s)?;
        }
    }

    fn open_new_head_for_compaction(&mut self) -> Result<(), JournalError> {
        if self.free_sectors() == 0 {
            let victim = self.victim().ok_or(JournalError::Full)?;
            self.compact(victim)?;
        }
        // Fails with `Full` if the compaction freed nothing.
        self.open_new_head()
    }

    /// Copy sector `victim`'s live records to the head, retire it, erase it.
    fn compact(&mut self, victim: u32) -> Result<(), JournalError> {
        let Sector::Used { generation, .. } = self.sectors[victim as usize] else { return Ok(()) };
        if Some(victim) == self.head {
            self.head = None;
        }
        let keep: Vec<Loc> =
            self.locs.iter().filter(|l| l.sector == victim && self.is_live(l, victim)).copied().collect();
        for l in keep {
            let value = self.read_value(l)?.unwrap_or_default();
            let op = if l.tombstone { OP_DELETE } else { OP_PUT };
            if self.head_room() < self.record_bytes(value.len()) {
                self.open_new_head()?;
            }
            self.append(op, l.key, &value)?;
        }
        if self.head_room() < self.record_bytes(0) {
            self.open_new_head()?;
        }
        self.append(OP_PUT, Key { class: CLASS_RETIRED, id: u64::from(generation) }, &[])?;
        self.flash.erase(victim)?;
        self.forget_sector(victim);
        self.sectors[victim as usize] = Sector::Free { clean: true };
        Ok(())
    }

    /// Compact every sector that holds dead records (a maintenance pass; also a test hook).
    pub fn compact_all(&mut self) -> Result<(), JournalError> {
        for _ in 0..self.geometry.sectors {
            let Some(victim) = self.victim() else { break };
            if self.free_sectors() == 0 {
                return Err(JournalError::Full);
            }
            self.compact(victim)?;
        }
        Ok(())
    }
}
