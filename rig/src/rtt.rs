//! SEGGER RTT on the host side: the firmware's control block and ring buffers in target RAM,
//! read and written through any [`MemoryAccess`] — QEMU's gdbstub or a probe-rs debug probe.
//! One implementation of the ring logic serves both.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::transport::Transport;

/// Reads and writes target memory.
pub trait MemoryAccess {
    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<()>;
    fn write(&mut self, address: u32, data: &[u8]) -> Result<()>;
    /// Bracket a batch of accesses: a gdbstub must halt the core for them, a probe need not.
    fn begin(&mut self) -> Result<()> {
        Ok(())
    }
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
    fn describe(&self) -> String;
    fn diagnostics(&mut self) -> String {
        String::new()
    }
}

const ID: &[u8; 10] = b"SEGGER RTT";
/// Offsets in the control block and in each 24-byte buffer descriptor (32-bit target).
const CB_MAX_UP: u32 = 16;
const CB_BUFFERS: u32 = 24;
const DESCRIPTOR: u32 = 24;
const D_BUFFER: u32 = 4;
const D_SIZE: u32 = 8;
const D_WR: u32 = 12;
const D_RD: u32 = 16;

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// One ring buffer's fixed description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ring {
    descriptor: u32,
    buffer: u32,
    size: u32,
}

impl Ring {
    fn load(mem: &mut impl MemoryAccess, descriptor: u32) -> Result<Ring> {
        let mut d = [0u8; 24];
        mem.read(descriptor, &mut d)?;
        let ring = Ring { descriptor, buffer: word(&d, D_BUFFER as usize), size: word(&d, D_SIZE as usize) };
        if ring.size < 2 || ring.buffer == 0 {
            bail!("RTT buffer at {descriptor:#010x} is not set up (size {}, address {:#x})", ring.size, ring.buffer);
        }
        Ok(ring)
    }

    /// (write offset, read offset), checked against the size.
    fn offsets(&self, mem: &mut impl MemoryAccess) -> Result<(u32, u32)> {
        let mut b = [0u8; 8];
        mem.read(self.descriptor + D_WR, &mut b)?;
        let (wr, rd) = (word(&b, 0), word(&b, 4));
        if wr >= self.size || rd >= self.size {
            bail!(
                "RTT ring at {:#010x} is corrupt (write {wr}, read {rd}, size {}): did the target reset?",
                self.buffer,
                self.size
            );
        }
        Ok((wr, rd))
    }
}

/// The host end of RTT up channel 0 (target → host) and down channel 0 (host → target).
pub struct RttLink<M: MemoryAccess> {
    mem: M,
    up: Ring,
    down: Ring,
    /// Bytes the last poll found, handed out over later `recv` calls.
    pending: Vec<u8>,
    poll_interval: Duration,
}

impl<M: MemoryAccess> std::fmt::Debug for RttLink<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RttLink")
            .field("mem", &self.mem.describe())
            .field("up", &self.up)
            .field("down", &self.down)
            .finish()
    }
}

impl<M: MemoryAccess> RttLink<M> {
    /// Wait until the firmware has set up its control block at `control_block`, then attach.
    pub fn attach(mut mem: M, control_block: u32, timeout: Duration) -> Result<RttLink<M>> {
        let deadline = Instant::now() + timeout;
        loop {
            mem.begin()?;
            let mut head = [0u8; 24];
            let read = mem.read(control_block, &mut head);
            let ready = read.is_ok() && &head[..ID.len()] == ID;
            if ready {
                let max_up = word(&head, CB_MAX_UP as usize);
                if max_up == 0 || word(&head, CB_MAX_UP as usize + 4) == 0 || max_up > 16 {
                    mem.end()?;
                    bail!("RTT control block at {control_block:#010x} has no usable channel 0 ({head:02x?})");
                }
                let up = Ring::load(&mut mem, control_block + CB_BUFFERS)?;
                let down = Ring::load(&mut mem, control_block + CB_BUFFERS + DESCRIPTOR * max_up)?;
                mem.end()?;
                return Ok(RttLink { mem, up, down, pending: Vec::new(), poll_interval: Duration::from_micros(200) });
            }
            mem.end()?;
            if Instant::now() > deadline {
                let diag = mem.diagnostics();
                bail!(
                    "no RTT control block at {control_block:#010x} within {timeout:?} (is this an RTT image, and \
                     did it boot?) {diag}"
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Copy as much of `data` as fits into the down ring; returns the bytes written.
    fn write_some(&mut self, data: &[u8]) -> Result<usize> {
        let ring = self.down;
        let (wr, rd) = ring.offsets(&mut self.mem)?;
        // One slot stays empty so that full and empty differ.
        let free = (rd + ring.size - wr - 1) % ring.size;
        let n = (free as usize).min(data.len());
        if n == 0 {
            return Ok(0);
        }
        let first = n.min((ring.size - wr) as usize);
        self.mem.write(ring.buffer + wr, &data[..first])?;
        if first < n {
            self.mem.write(ring.buffer, &data[first..n])?;
        }
        let new_wr = (wr + n as u32) % ring.size;
        self.mem.write(ring.descriptor + D_WR, &new_wr.to_le_bytes())?;
        Ok(n)
    }

    /// Take everything in the up ring.
    fn read_all(&mut self) -> Result<()> {
        let ring = self.up;
        let (wr, rd) = ring.offsets(&mut self.mem)?;
        if wr == rd {
            return Ok(());
        }
        let start = self.pending.len();
        if wr > rd {
            self.pending.resize(start + (wr - rd) as usize, 0);
            self.mem.read(ring.buffer + rd, &mut self.pending[start..])?;
        } else {
            let tail = (ring.size - rd) as usize;
            self.pending.resize(start + tail + wr as usize, 0);
            self.mem.read(ring.buffer + rd, &mut self.pending[start..start + tail])?;
            self.mem.read(ring.buffer, &mut self.pending[start + tail..])?;
        }
        self.mem.write(ring.descriptor + D_RD, &wr.to_le_bytes())?;
        Ok(())
    }

    fn batch<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        self.mem.begin()?;
        let r = f(self);
        self.mem.end()?;
        r
    }
}

impl<M: MemoryAccess> Transport for RttLink<M> {
    fn send(&mut self, mut bytes: &[u8]) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !bytes.is_empty() {
            let n = self.batch(|l| l.write_some(bytes))?;
            bytes = &bytes[n..];
            if n == 0 {
                if Instant::now() > deadline {
                    let diag = self.mem.diagnostics();
                    bail!("the target stopped reading its RTT down channel (hung?) {diag}");
                }
                std::thread::sleep(self.poll_interval);
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.pending.is_empty() {
                let n = buf.len().min(self.pending.len());
                buf[..n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                return Ok(n);
            }
            self.batch(|l| l.read_all()).context("reading the RTT up channel")?;
            if self.pending.is_empty() {
                if Instant::now() >= deadline {
                    return Ok(0);
                }
                std::thread::sleep(self.poll_interval);
            }
        }
    }

    fn describe(&self) -> String {
        format!("{} over RTT", self.mem.describe())
    }

    fn diagnostics(&mut self) -> String {
        self.mem.diagnostics()
    }
}

/// The address of `_SEGGER_RTT` in an ELF image.
pub fn control_block_address(elf: &std::path::Path) -> Result<u32> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(elf).with_context(|| format!("could not read firmware {}", elf.display()))?;
    let file = object::File::parse(&*data).with_context(|| format!("{} is not an ELF image", elf.display()))?;
    let symbol = file.symbols().find(|s| s.name() == Ok("_SEGGER_RTT")).with_context(|| {
        format!("{} has no _SEGGER_RTT symbol: it is not an RTT image (build with --features rtt)", elf.display())
    })?;
    u32::try_from(symbol.address()).context("_SEGGER_RTT above 4 GiB: not a 32-bit target")
}

#[cfg(test)]
mod tests {
    //! The ring logic against an in-memory target whose "firmware" side is written here the
    //! way rtt-target does it.
    use super::*;

    const CB: u32 = 0x2000_0000;
    const UP_BUF: u32 = 0x2000_0100;
    const DOWN_BUF: u32 = 0x2000_0200;
    const SIZE: u32 = 64;

    struct Ram {
        base: u32,
        bytes: Vec<u8>,
        accesses: usize,
    }

    impl Ram {
        fn new() -> Ram {
            let mut r = Ram { base: CB, bytes: vec![0; 0x400], accesses: 0 };
            r.put(CB, ID);
            r.put(CB + CB_MAX_UP, &1u32.to_le_bytes());
            r.put(CB + CB_MAX_UP + 4, &1u32.to_le_bytes());
            r.put(CB + CB_BUFFERS + D_BUFFER, &UP_BUF.to_le_bytes());
            r.put(CB + CB_BUFFERS + D_SIZE, &SIZE.to_le_bytes());
            r.put(CB + CB_BUFFERS + DESCRIPTOR + D_BUFFER, &DOWN_BUF.to_le_bytes());
            r.put(CB + CB_BUFFERS + DESCRIPTOR + D_SIZE, &SIZE.to_le_bytes());
            r
        }
        fn put(&mut self, at: u32, data: &[u8]) {
            let i = (at - self.base) as usize;
            self.bytes[i..i + data.len()].copy_from_slice(data);
        }
        fn get(&self, at: u32) -> u32 {
            word(&self.bytes, (at - self.base) as usize)
        }
        /// The target writing into its up ring (as much as fits).
        fn target_send(&mut self, data: &[u8]) -> usize {
            let d = CB + CB_BUFFERS;
            let (mut wr, rd) = (self.get(d + D_WR), self.get(d + D_RD));
            let mut n = 0;
            for &b in data {
                if (wr + 1) % SIZE == rd {
                    break;
                }
                self.put(UP_BUF + wr, &[b]);
                wr = (wr + 1) % SIZE;
                n += 1;
            }
            self.put(d + D_WR, &wr.to_le_bytes());
            n
        }
        /// The target draining its down ring.
        fn target_receive(&mut self) -> Vec<u8> {
            let d = CB + CB_BUFFERS + DESCRIPTOR;
            let (wr, mut rd) = (self.get(d + D_WR), self.get(d + D_RD));
            let mut out = Vec::new();
            while rd != wr {
                out.push(self.bytes[(DOWN_BUF + rd - self.base) as usize]);
                rd = (rd + 1) % SIZE;
            }
            self.put(d + D_RD, &rd.to_le_bytes());
            out
        }
    }

    impl MemoryAccess for &mut Ram {
        fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<()> {
            self.accesses += 1;
            let i = address.checked_sub(self.base).context("below RAM")? as usize;
            buf.copy_from_slice(self.bytes.get(i..i + buf.len()).context("beyond RAM")?);
            Ok(())
        }
        fn write(&mut self, address: u32, data: &[u8]) -> Result<()> {
            self.accesses += 1;
            let i = address.checked_sub(self.base).context("below RAM")? as usize;
            self.bytes.get_mut(i..i + data.len()).context("beyond RAM")?.copy_from_slice(data);
            Ok(())
        }
        fn describe(&self) -> String {
            "in-memory target".into()
        }
    }

    #[test]
    fn bytes_cross_both_rings_in_order_across_wrap_arounds() {
        let mut ram = Ram::new();
        let mut sent_up: Vec<u8> = Vec::new();
        let mut got_up: Vec<u8> = Vec::new();
        let mut got_down: Vec<u8> = Vec::new();
        let mut sent_down: Vec<u8> = Vec::new();
        for round in 0..40u8 {
            // Odd sizes so the offsets wrap at every possible place.
            let up: Vec<u8> =
                (0..(round as usize * 7) % 50 + 1).map(|i| round.wrapping_mul(31).wrapping_add(i as u8)).collect();
            let n = ram.target_send(&up);
            sent_up.extend(&up[..n]);
            let mut link = RttLink::attach(&mut ram, CB, Duration::from_millis(10)).unwrap();
            let mut buf = [0u8; 13];
            loop {
                let n = link.recv(&mut buf, Duration::ZERO).unwrap();
                if n == 0 {
                    break;
                }
                got_up.extend(&buf[..n]);
            }
            let down: Vec<u8> = (0..(round as usize * 5) % 60 + 1).map(|i| i as u8 ^ round).collect();
            let n = link.batch(|l| l.write_some(&down)).unwrap();
            assert!(n == down.len() || n == (SIZE - 1) as usize, "a ring fills up to size - 1");
            sent_down.extend(&down[..n]);
            drop(link);
            got_down.extend(ram.target_receive());
        }
        assert_eq!(got_up, sent_up);
        assert_eq!(got_down, sent_down);
        assert!(got_up.len() > 500 && got_down.len() > 500);
    }

    #[test]
    fn a_missing_or_corrupt_control_block_is_an_error_not_a_hang() {
        let mut ram = Ram::new();
        ram.put(CB, b"NOT RTT...");
        let err = RttLink::attach(&mut ram, CB, Duration::from_millis(20)).unwrap_err();
        assert!(err.to_string().contains("no RTT control block"), "{err}");

        let mut ram = Ram::new();
        let mut link = RttLink::attach(&mut ram, CB, Duration::from_millis(10)).unwrap();
        drop(link);
        ram.put(CB + CB_BUFFERS + D_WR, &999u32.to_le_bytes());
        link = RttLink::attach(&mut ram, CB, Duration::from_millis(10)).unwrap();
        let err = link.recv(&mut [0u8; 8], Duration::ZERO).unwrap_err();
        assert!(format!("{err:#}").contains("corrupt"), "{err:#}");
    }
}
