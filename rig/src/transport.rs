//! How bytes reach a target. Three real links share this one trait: QEMU's UART socket, RTT
//! ring buffers through QEMU's gdbstub, and RTT through a debug probe (probe-rs).

use std::time::Duration;

use anyhow::Result;

pub trait Transport {
    /// Send all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> Result<()>;
    /// Receive what is there within `timeout`; `Ok(0)` when nothing came.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize>;
    /// For messages: "QEMU mps2-an500 over UART", "NUCLEO via probe-rs RTT", …
    fn describe(&self) -> String;
    /// Recent diagnostic output of the target's runner (QEMU's stderr), for error messages.
    fn diagnostics(&mut self) -> String {
        String::new()
    }
}

impl Transport for Box<dyn Transport> {
    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        (**self).send(bytes)
    }
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        (**self).recv(buf, timeout)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn diagnostics(&mut self) -> String {
        (**self).diagnostics()
    }
}
