//! A small GDB remote-serial-protocol client for QEMU's gdbstub: halt, resume, read and write
//! memory. Enough to reach the RTT ring buffers of the very image a board would run.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::qemu::{Machine, Qemu, QemuOptions};
use crate::rtt::MemoryAccess;

/// Largest memory chunk per packet (QEMU accepts more; this keeps packets small).
const CHUNK: usize = 1024;

pub struct GdbStub {
    stream: TcpStream,
    running: bool,
    /// Acknowledge received packets (until no-ack mode is on).
    ack: bool,
    /// Keeps QEMU alive as long as the stub is used.
    qemu: Option<Qemu>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for GdbStub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdbStub").field("running", &self.running).finish_non_exhaustive()
    }
}

impl GdbStub {
    /// Start QEMU with the RTT image and its gdbstub, connect, and let the firmware run.
    pub fn start_qemu(machine: Machine, firmware: &std::path::Path, icount: bool) -> Result<GdbStub> {
        let port = free_port()?;
        let options =
            QemuOptions { machine, firmware: firmware.to_path_buf(), icount, gdb_port: Some(port), uart: false };
        let qemu = Qemu::start(&options)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => {
                    bail!("could not reach QEMU's gdbstub on port {port}: {e}; {}", qemu.log_tail())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        stream.set_nodelay(true)?;
        let mut stub = GdbStub { stream, running: false, ack: true, qemu: Some(qemu), buf: Vec::new() };
        // A gdb connection stops the guest and QEMU says so unasked; ask again and drain both
        // stop replies, so that every later reply answers our own request.
        stub.send_packet(b"?")?;
        let mut stops = 0;
        while let Ok(reply) = stub.read_packet(Duration::from_millis(300)) {
            if matches!(reply.first(), Some(b'T' | b'S')) {
                stops += 1;
            }
        }
        if stops == 0 {
            bail!("QEMU's gdbstub did not report the halted guest; {}", stub.diagnostics());
        }
        // Fewer round trips without acks; QEMU 7 does not offer it (empty reply): keep acking.
        stub.ack = stub.command(b"QStartNoAckMode")? != b"OK";
        stub.resume()?;
        Ok(stub)
    }

    fn send_packet(&mut self, body: &[u8]) -> Result<()> {
        let sum = body.iter().fold(0u8, |s, &b| s.wrapping_add(b));
        let mut p = Vec::with_capacity(body.len() + 4);
        p.push(b'$');
        p.extend_from_slice(body);
        p.extend_from_slice(format!("#{sum:02x}").as_bytes());
        self.stream.write_all(&p).context("gdbstub connection lost")
    }

    /// Read one `$…#cs` packet (acks and other noise before it are skipped).
    fn read_packet(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(start) = self.buf.iter().position(|&b| b == b'$')
                && let Some(hash) = self.buf[start..].iter().position(|&b| b == b'#').map(|h| start + h)
                && self.buf.len() >= hash + 3
            {
                let body = self.buf[start + 1..hash].to_vec();
                self.buf.drain(..hash + 3);
                if self.ack {
                    self.stream.write_all(b"+")?;
                }
                return Ok(body);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("QEMU's gdbstub did not answer within {timeout:?}");
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => bail!("QEMU closed the gdbstub connection (it exited?)"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(e).context("reading from QEMU's gdbstub"),
            }
        }
    }

    fn command(&mut self, body: &[u8]) -> Result<Vec<u8>> {
        self.send_packet(body)?;
        self.read_packet(Duration::from_secs(10))
    }

    fn halt(&mut self) -> Result<()> {
        self.stream.write_all(&[0x03])?;
        let reply = self.read_packet(Duration::from_secs(10)).context("halting the target")?;
        if !matches!(reply.first(), Some(b'T' | b'S')) {
            bail!("unexpected reply to a halt: {}", String::from_utf8_lossy(&reply));
        }
        self.running = false;
        Ok(())
    }

    fn resume(&mut self) -> Result<()> {
        // `c` has no reply until the next stop.
        self.send_packet(b"c")?;
        self.running = true;
        Ok(())
    }
}

impl MemoryAccess for GdbStub {
    fn read(&mut self, address: u32, buf: &mut [u8]) -> Result<()> {
        for (i, part) in buf.chunks_mut(CHUNK).enumerate() {
            let at = address + (i * CHUNK) as u32;
            let reply = self.command(format!("m{at:x},{:x}", part.len()).as_bytes())?;
            if reply.len() != part.len() * 2 {
                bail!("gdbstub could not read {} bytes at {at:#010x}: {}", part.len(), String::from_utf8_lossy(&reply));
            }
            for (j, pair) in reply.chunks_exact(2).enumerate() {
                let hex = std::str::from_utf8(pair).ok().and_then(|s| u8::from_str_radix(s, 16).ok());
                part[j] = hex.with_context(|| format!("gdbstub sent non-hex memory at {at:#010x}"))?;
            }
        }
        Ok(())
    }

    fn write(&mut self, address: u32, data: &[u8]) -> Result<()> {
        for (i, part) in data.chunks(CHUNK).enumerate() {
            let at = address + (i * CHUNK) as u32;
            let mut body = format!("M{at:x},{:x}:", part.len()).into_bytes();
            for b in part {
                body.extend_from_slice(format!("{b:02x}").as_bytes());
            }
            let reply = self.command(&body)?;
            if reply != b"OK" {
                bail!(
                    "gdbstub could not write {} bytes at {at:#010x}: {}",
                    part.len(),
                    String::from_utf8_lossy(&reply)
                );
            }
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<()> {
        if self.running { self.halt() } else { Ok(()) }
    }

    fn end(&mut self) -> Result<()> {
        if self.running { Ok(()) } else { self.resume() }
    }

    fn describe(&self) -> String {
        let machine = self.qemu.as_ref().map_or("?", |q| q.machine.name());
        format!("QEMU {machine} via gdbstub")
    }

    fn diagnostics(&mut self) -> String {
        self.qemu.as_ref().map(Qemu::log_tail).unwrap_or_default()
    }
}

/// A TCP port nobody listens on right now.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).context("no free local TCP port for the gdbstub")?;
    Ok(l.local_addr()?.port())
}
