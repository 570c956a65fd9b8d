//! `gatelab-rig`: run the gate terminal's firmware under QEMU or on a board, replay simulation
//! traces on it, and measure its matcher.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use gatelab_rig::client::Target;
use gatelab_rig::firmware::{self, Image};
use gatelab_rig::transport::Transport;
use gatelab_rig::{bench, gdb, qemu, replay, rtt};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser, Debug)]
#[command(
    name = "gatelab-rig",
    version,
    about = "Hardware-in-the-loop: the gatelab-core terminal as Cortex-M7 or Cortex-M55 firmware, under QEMU or on a board",
    long_about = "Runs the very gate logic the simulation uses — terminal, consent ledger, template store, int8 \
        matcher — as firmware on a Cortex-M7 (Armv7E-M, DSP) or a Cortex-M55 (Armv8.1-M, Helium), fed over \
        one wire protocol (postcard + COBS + CRC), and proves that it decides exactly as the host does, and \
        how fast.\n\n\
        Targets:\n  \
        qemu          QEMU mps2-an500 (Cortex-M7), firmware UART on a socket (what CI runs)\n  \
        qemu-rtt      QEMU mps2-an500, the RTT image, its ring buffers reached through QEMU's gdbstub\n  \
        qemu-m55      QEMU mps3-an547 (Cortex-M55), firmware UART on a socket (CI runs it too)\n  \
        qemu-m55-rtt  QEMU mps3-an547, the RTT image through QEMU's gdbstub\n  \
        probe         a real board through a debug probe (probe-rs): flash, RTT, DWT cycle counter;\n                \
        --chip STM32H743ZITx (NUCLEO-H743ZI, M7) or STM32N657 (NUCLEO-N657X0-Q, M55)\n\n\
        `bench` takes several targets (`--target qemu,qemu-m55`) and prints them side by side.\n\
        Firmware images come from `cargo xtask firmware` (into <target dir>/firmware/).",
    after_help = "Examples:\n  \
        gatelab run scenarios/dongcheng.toml --duration-min 60 --replications 1 --export-trace dc.trace\n  \
        gatelab-rig replay dc.trace --target qemu --out replay-out\n  \
        gatelab-rig replay dc.trace --target qemu-m55 --out replay-m55\n  \
        gatelab-rig bench --target qemu,qemu-m55 --out bench-out --emit-calibration terminal.toml\n  \
        gatelab-rig bench --target probe --chip STM32N657"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TargetKind {
    Qemu,
    QemuRtt,
    QemuM55,
    QemuM55Rtt,
    Probe,
}

impl TargetKind {
    /// The name `--target` takes.
    fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default()
    }
}

#[derive(clap::Args, Debug)]
struct TargetArgs {
    /// Where the firmware runs (`bench` takes several, comma-separated, and compares them).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "qemu")]
    target: Vec<TargetKind>,
    /// Firmware ELF (default: the image `cargo xtask firmware` built for the target).
    #[arg(long, value_name = "ELF")]
    firmware: Option<PathBuf>,
    /// probe-rs chip name for --target probe (NUCLEO-H743ZI: STM32H743ZITx; NUCLEO-N657X0-Q:
    /// STM32N657, which takes the Cortex-M55 image).
    #[arg(long, default_value = "STM32H743ZITx")]
    chip: String,
    /// Seconds to wait for any one reply before declaring the target hung.
    #[arg(long, value_name = "S", default_value_t = 20)]
    timeout_s: u64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Feed a trace from `gatelab run --export-trace` to the target; compare every decision with
    /// the host core; check the target's audit log against C1–C8.
    ///
    /// Writes DIR/replay.json (decisions, mismatches, consent_violations, target, …) and
    /// DIR/target-audit.jsonl. Exit status: 0 identical and clean, 1 any mismatch (the first
    /// is printed in full), 3 identical but the audit log breaks a consent rule, 2 error.
    Replay {
        /// Trace file (JSON Lines) from `gatelab run SCENARIO --export-trace FILE`.
        trace: PathBuf,
        #[command(flatten)]
        target: TargetArgs,
        /// Output folder.
        #[arg(long, value_name = "DIR", default_value = "rig-out")]
        out: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Load test: repeat the trace's gate events (cards, faces, passages, doors, faults)
        /// N times within the same span, N times the rush-hour rate from the same residents.
        /// replay.json then shows whether decisions still match and how far the heap grew.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        flood: u32,
    },
    /// Measure int8 1:N search (128-d and 512-d; N = 100, 1,000, 5,000) and a full gate decision
    /// on the target: cycles on a board, instructions under QEMU (-icount).
    Bench {
        #[command(flatten)]
        target: TargetArgs,
        /// Measurements per figure (the smallest is reported).
        #[arg(long, default_value_t = 3)]
        repeats: u16,
        /// Only these dimensions (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = bench::DIMS)]
        dims: Vec<u16>,
        /// Only these gallery sizes (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = bench::GALLERIES)]
        galleries: Vec<u32>,
        /// Output folder for bench.json.
        #[arg(long, value_name = "DIR", default_value = "rig-out")]
        out: PathBuf,
        /// Also write the gate-decision times as a terminal calibration for the simulation
        /// (`[service] terminal_calibration = "FILE"` in a scenario).
        #[arg(long, value_name = "FILE")]
        emit_calibration: Option<PathBuf>,
        /// Where the target counts instructions, not cycles (QEMU): turn them into seconds at
        /// this clock, one instruction per cycle. Default: the terminal class's usual top clock
        /// (Cortex-M7: 480 MHz, an STM32H743; Cortex-M55: 800 MHz, an STM32N657).
        #[arg(long, value_name = "MHZ")]
        assume_mhz: Option<f64>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Run the core's on-target tests under QEMU (int8 kernel against the portable
    /// definition, store, terminal and consent checker, wire codec, tick counter).
    /// Exit status: 0 all passed, 1 a test failed, 2 error.
    Selftest {
        /// Self-test ELF (default: the image `cargo xtask firmware` built for --target).
        #[arg(long, value_name = "ELF")]
        firmware: Option<PathBuf>,
        /// Which QEMU machine: `qemu` (Cortex-M7) or `qemu-m55` (Cortex-M55).
        #[arg(long, value_enum, default_value_t = TargetKind::Qemu)]
        target: TargetKind,
    },
    /// Boot the target and print what it reports about itself.
    Info {
        #[command(flatten)]
        target: TargetArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The one target of a command that runs on one.
fn single(args: &TargetArgs) -> Result<TargetKind> {
    match args.target.as_slice() {
        [one] => Ok(*one),
        more => anyhow::bail!(
            "--target {}: this command runs on one target (only `bench` compares several)",
            more.iter().map(|t| t.name()).collect::<Vec<_>>().join(",")
        ),
    }
}

/// Connect to `kind`. `icount`: QEMU counts instructions (benchmarks).
fn open(args: &TargetArgs, kind: TargetKind, icount: bool) -> Result<Target<Box<dyn Transport>>> {
    let timeout = Duration::from_secs(args.timeout_s.max(1));
    let image = |image: Image| match &args.firmware {
        Some(f) => Ok(f.clone()),
        None => firmware::locate(image),
    };
    let uart = |machine, which: Image| -> Result<Box<dyn Transport>> {
        Ok(Box::new(qemu::QemuUart::start(machine, &image(which)?, icount)?))
    };
    let rtt = |machine, which: Image| -> Result<Box<dyn Transport>> {
        let elf = image(which)?;
        let cb = rtt::control_block_address(&elf)?;
        let stub = gdb::GdbStub::start_qemu(machine, &elf, icount)?;
        Ok(Box::new(rtt::RttLink::attach(stub, cb, timeout)?))
    };
    let link: Box<dyn Transport> = match kind {
        TargetKind::Qemu => uart(qemu::Machine::Mps2An500, Image::QemuUart)?,
        TargetKind::QemuRtt => rtt(qemu::Machine::Mps2An500, Image::QemuRtt)?,
        TargetKind::QemuM55 => uart(qemu::Machine::Mps3An547, Image::QemuM55Uart)?,
        TargetKind::QemuM55Rtt => rtt(qemu::Machine::Mps3An547, Image::QemuM55Rtt)?,
        TargetKind::Probe => {
            // The STM32N6 is a Cortex-M55: it takes the Helium image.
            let board = if args.chip.to_ascii_uppercase().starts_with("STM32N6") {
                Image::NucleoN657x0
            } else {
                Image::NucleoH743zi
            };
            open_probe(args, &image(board)?, timeout)?
        }
    };
    Target::connect(link, timeout)
}

#[cfg(feature = "probe")]
fn open_probe(args: &TargetArgs, elf: &std::path::Path, timeout: Duration) -> Result<Box<dyn Transport>> {
    let cb = rtt::control_block_address(elf)?;
    let probe = gatelab_rig::probe::ProbeTarget::flash_and_run(&args.chip, elf)?;
    Ok(Box::new(rtt::RttLink::attach(probe, cb, timeout)?))
}

#[cfg(not(feature = "probe"))]
fn open_probe(_: &TargetArgs, _: &std::path::Path, _: Duration) -> Result<Box<dyn Transport>> {
    anyhow::bail!("this gatelab-rig was built without the `probe` feature (probe-rs): rebuild with default features")
}

/// `dir/name.ext` → `dir/name-suffix.ext`.
fn suffixed(file: &std::path::Path, suffix: &str) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match file.extension() {
        Some(ext) => format!("{stem}-{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{suffix}"),
    };
    file.with_file_name(name)
}

fn bar(len: u64, quiet: bool, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} ({elapsed}, ~{eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Selftest { firmware, target } => {
            let (machine, image) = match target {
                TargetKind::Qemu => (qemu::Machine::Mps2An500, Image::QemuSelftest),
                TargetKind::QemuM55 => (qemu::Machine::Mps3An547, Image::QemuM55Selftest),
                other => anyhow::bail!("--target {}: the self-test runs under QEMU: qemu or qemu-m55", other.name()),
            };
            let elf = match firmware {
                Some(f) => f,
                None => firmware::locate(image)?,
            };
            let outcome = qemu::run_selftest(machine, &elf, Duration::from_secs(300))?;
            print!("{}", outcome.output);
            Ok(if outcome.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Info { target } => {
            let t = open(&target, single(&target)?, false)?;
            println!("{}: {:?}", t.describe(), t.info());
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { trace, target, out, quiet, flood } => {
            let file =
                std::fs::File::open(&trace).with_context(|| format!("could not open trace {}", trace.display()))?;
            let (header, entries) = gatelab_core::trace::jsonl::read(std::io::BufReader::new(file))
                .with_context(|| format!("trace {}", trace.display()))?;
            let entries = if flood > 1 { gatelab_core::trace::flood(&entries, flood) } else { entries };
            let mut t = open(&target, single(&target)?, false)?;
            let progress = bar(entries.len() as u64, quiet, &format!("replaying on {}", t.describe()));
            let (report, log) = replay::replay(&mut t, &header, &entries, &progress)?;
            progress.finish_and_clear();
            std::fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
            let audit = out.join("target-audit.jsonl");
            let mut w = std::io::BufWriter::new(
                std::fs::File::create(&audit).with_context(|| format!("could not create {}", audit.display()))?,
            );
            gatelab_core::audit::jsonl::write(&mut w, &log)
                .and_then(|()| std::io::Write::flush(&mut w))
                .with_context(|| format!("could not write {}", audit.display()))?;
            let json = out.join("replay.json");
            std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")
                .with_context(|| format!("could not write {}", json.display()))?;
            println!(
                "{}: {} events on {} terminal(s), {} decisions, {} actions — {} mismatches; target audit log: {} records, {} consent violations",
                report.target,
                report.events,
                report.terminals,
                report.decisions,
                report.actions,
                report.mismatches,
                report.audit_records,
                report.consent_violations
            );
            for (rule, n) in &report.violations_by_rule {
                println!("  {rule}: {n}");
            }
            println!(
                "target heap: {} bytes free at least; grew by at most {} bytes under gate traffic",
                report.heap_free_min, report.heap_growth_under_traffic
            );
            println!("wrote {} and {}", json.display(), audit.display());
            if let Some(m) = &report.first_mismatch {
                println!("{m}");
                return Ok(ExitCode::from(1));
            }
            Ok(if report.consent_violations > 0 { ExitCode::from(3) } else { ExitCode::SUCCESS })
        }
        Command::Bench { target, repeats, dims, galleries, out, emit_calibration, assume_mhz, quiet } => {
            let several = target.target.len() > 1;
            anyhow::ensure!(
                !(several && target.firmware.is_some()),
                "--firmware names one image: with several --target, let each take its own"
            );
            if let Some(mhz) = assume_mhz {
                anyhow::ensure!(mhz > 0.0, "--assume-mhz {mhz}: a clock must be positive");
            }
            std::fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
            let mut all = Vec::new();
            for &kind in &target.target {
                let mut t = open(&target, kind, true)?;
                let progress =
                    bar((dims.len() * galleries.len() * 2) as u64, quiet, &format!("benchmarking {}", kind.name()));
                let timeout = Duration::from_secs(target.timeout_s.max(1) * 30);
                let results = bench::run(&mut t, &dims, &galleries, repeats.max(1), timeout, &progress)?;
                progress.finish_and_clear();
                print!("{}", bench::render(&results));
                let json = out.join(if several { format!("bench-{}.json", kind.name()) } else { "bench.json".into() });
                std::fs::write(&json, serde_json::to_string_pretty(&results)? + "\n")
                    .with_context(|| format!("could not write {}", json.display()))?;
                println!("wrote {}", json.display());
                if let Some(file) = &emit_calibration {
                    // One file per target: `terminal.toml` becomes `terminal-qemu-m55.toml`.
                    let file = if several { suffixed(file, &kind.name()) } else { file.clone() };
                    let board = t.info().board;
                    let mhz = assume_mhz.unwrap_or_else(|| bench::typical_mhz(board));
                    let cal = bench::calibration(&results, board, mhz * 1e6);
                    let text = format!(
                        "# Written by `gatelab-rig bench --emit-calibration`: seconds per gate decision on the\n\
                         # terminal's hardware. Use it in a scenario: [service] terminal_calibration = \"{}\"\n{}",
                        file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                        toml::to_string(&cal)?
                    );
                    std::fs::write(&file, text).with_context(|| format!("could not write {}", file.display()))?;
                    println!("wrote {} ({})", file.display(), cal.note);
                }
                all.push((kind.name(), results));
            }
            if several {
                let table = bench::render_side_by_side(&all);
                print!("\n{table}");
                let path = out.join("bench-side-by-side.txt");
                std::fs::write(&path, &table).with_context(|| format!("could not write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
