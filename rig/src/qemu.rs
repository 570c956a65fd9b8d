//! QEMU running the firmware — `mps2-an500` (Cortex-M7) or `mps3-an547` (Cortex-M55): the
//! process, its monitor, and the UART link over a Unix socket chardev.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::transport::Transport;

/// QEMU's `-icount` shift: each instruction advances the virtual clock by 2^6 ns, so SysTick
/// (25 MHz) counts 1.6 ticks per instruction — deterministic, and calibrated by the firmware.
pub const ICOUNT_SHIFT: u32 = 6;

/// The QEMU machines the firmware has a board for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `mps2-an500`: Cortex-M7 (Armv7E-M with the DSP extension).
    Mps2An500,
    /// `mps3-an547`: Cortex-M55 (Armv8.1-M with Helium).
    Mps3An547,
}

impl Machine {
    /// QEMU's `-M` name.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Mps2An500 => "mps2-an500",
            Machine::Mps3An547 => "mps3-an547",
        }
    }
}

/// How QEMU is started.
#[derive(Clone, Debug)]
pub struct QemuOptions {
    pub machine: Machine,
    pub firmware: PathBuf,
    /// Count instructions (`-icount`): needed for instruction-count benchmarks, slower.
    pub icount: bool,
    /// Open QEMU's gdbstub on this TCP port (the RTT link).
    pub gdb_port: Option<u16>,
    /// Connect the UART to a socket (the UART link).
    pub uart: bool,
}

/// A running QEMU; killed when dropped.
#[derive(Debug)]
pub struct Qemu {
    pub machine: Machine,
    child: Child,
    dir: tempfile::TempDir,
    stderr_path: PathBuf,
    monitor: Option<UnixStream>,
}

pub fn qemu_binary() -> String {
    std::env::var("GATELAB_QEMU").unwrap_or_else(|_| "qemu-system-arm".into())
}

impl Qemu {
    /// Start QEMU with the firmware. With `uart`, QEMU waits until [`Qemu::connect_uart`].
    pub fn start(options: &QemuOptions) -> Result<Qemu> {
        if !options.firmware.is_file() {
            bail!(
                "firmware {} not found: build it with `cargo xtask firmware` (or pass --firmware ELF)",
                options.firmware.display()
            );
        }
        let dir =
            tempfile::Builder::new().prefix("gatelab-qemu").tempdir().context("could not make a socket folder")?;
        let uart = dir.path().join("uart.sock");
        let monitor = dir.path().join("monitor.sock");
        let stderr_path = dir.path().join("qemu.log");
        let mut cmd = Command::new(qemu_binary());
        cmd.args(["-M", options.machine.name(), "-display", "none", "-nodefaults"])
            .arg("-kernel")
            .arg(&options.firmware)
            .arg("-monitor")
            .arg(format!("unix:{},server=on,wait=off", monitor.display()));
        if options.uart {
            cmd.arg("-chardev")
                .arg(format!("socket,id=uart0,path={},server=on,wait=on", uart.display()))
                .args(["-serial", "chardev:uart0"]);
        }
        if options.icount {
            cmd.arg("-icount").arg(format!("shift={ICOUNT_SHIFT},align=off,sleep=off"));
        }
        if let Some(port) = options.gdb_port {
            cmd.arg("-gdb").arg(format!("tcp:127.0.0.1:{port}"));
        }
        let log = std::fs::File::create(&stderr_path).context("could not create QEMU's log file")?;
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let child = cmd.spawn().with_context(|| {
            format!(
                "could not start {}: install it (Debian: apt-get install --no-install-recommends qemu-system-arm, \
                 which `cargo xtask setup` does) or set GATELAB_QEMU",
                qemu_binary()
            )
        })?;
        let mut qemu = Qemu { machine: options.machine, child, dir, stderr_path, monitor: None };
        qemu.monitor = Some(qemu.wait_for_socket(&monitor)?);
        Ok(qemu)
    }

    fn wait_for_socket(&mut self, path: &Path) -> Result<UnixStream> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(s) = UnixStream::connect(path) {
                return Ok(s);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("QEMU exited ({status}) before it was ready: {}", self.log_tail());
            }
            if Instant::now() > deadline {
                bail!("QEMU did not open {} within 20 s: {}", path.display(), self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The UART link (QEMU starts the guest once this connects).
    pub fn connect_uart(&mut self) -> Result<UnixStream> {
        let path = self.dir.path().join("uart.sock");
        self.wait_for_socket(&path)
    }

    /// Send a monitor command (`system_reset`, `stop`, `cont`, …).
    pub fn monitor(&mut self, command: &str) -> Result<()> {
        let m = self.monitor.as_mut().context("QEMU has no monitor")?;
        m.write_all(command.as_bytes())?;
        m.write_all(b"\n")?;
        Ok(())
    }

    /// The last lines QEMU printed.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
        if tail.is_empty() { "(QEMU printed nothing)".into() } else { format!("QEMU said: {tail}") }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The firmware's UART, through QEMU's socket chardev.
#[derive(Debug)]
pub struct QemuUart {
    pub qemu: Qemu,
    stream: UnixStream,
    machine: Machine,
}

impl QemuUart {
    pub fn start(machine: Machine, firmware: &Path, icount: bool) -> Result<QemuUart> {
        let options = QemuOptions { machine, firmware: firmware.to_path_buf(), icount, gdb_port: None, uart: true };
        let mut qemu = Qemu::start(&options)?;
        let stream = qemu.connect_uart()?;
        Ok(QemuUart { qemu, stream, machine })
    }
}

impl Transport for QemuUart {
    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).with_context(|| format!("UART link to QEMU lost: {}", self.qemu.log_tail()))
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match self.stream.read(buf) {
            Ok(0) => bail!("QEMU closed the UART (it exited?): {}", self.qemu.log_tail()),
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Ok(0),
            Err(e) => Err(e).context("reading QEMU's UART"),
        }
    }

    fn describe(&self) -> String {
        format!("QEMU {} over UART", self.machine.name())
    }

    fn diagnostics(&mut self) -> String {
        self.qemu.log_tail()
    }
}

/// What the on-target self-test printed, and whether every test passed.
#[derive(Debug, Clone)]
pub struct SelftestOutcome {
    pub passed: bool,
    pub output: String,
}

/// Run the self-test image under QEMU with semihosting (its output and exit status reach us).
pub fn run_selftest(machine: Machine, firmware: &Path, timeout: Duration) -> Result<SelftestOutcome> {
    if !firmware.is_file() {
        bail!("self-test image {} not found: build it with `cargo xtask firmware`", firmware.display());
    }
    let mut child = Command::new(qemu_binary())
        .args(["-M", machine.name(), "-display", "none", "-nodefaults"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-kernel")
        .arg(firmware)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start {}: install qemu-system-arm (`cargo xtask setup`)", qemu_binary()))?;
    let mut stdout = child.stdout.take().context("QEMU's output")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the self-test did not finish within {timeout:?}: the target hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = reader.join().unwrap_or_default();
    let finished = output.lines().any(|l| l.starts_with("selftest: "));
    if !finished {
        bail!("the self-test stopped before its summary ({status}); it printed:\n{output}");
    }
    Ok(SelftestOutcome { passed: status.success(), output })
}
