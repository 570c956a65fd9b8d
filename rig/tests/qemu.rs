//! The firmware under QEMU, on both terminal classes — Cortex-M7 (`mps2-an500`) and Cortex-M55
//! (`mps3-an547`): replays of shipped scenarios over both links, protocol abuse, resets and
//! hangs, persistent storage across a reset, the on-target tests and the bench. Needs
//! `qemu-system-arm` and the images of `cargo xtask firmware` (both made by `cargo xtask test`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use gatelab_core::trace::{TraceEntry, TraceHeader};
use gatelab_core::wire::{self, HostMsg, LinkError};
use gatelab_core::{Action, AuditEvent, AuditRecord, Event, Timestamp};
use gatelab_rig::client::{RigError, Target};
use gatelab_rig::firmware::{self, Image};
use gatelab_rig::qemu::{Machine, QemuUart};
use gatelab_rig::{gdb, replay, rtt};
use gatelab_scenario::Scenario;
use gatelab_sim::engine::Keep;
use indicatif::ProgressBar;

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(name)
}

/// A trace of the first `minutes` of a shipped scenario (registration day included).
fn trace(name: &str, minutes: u32) -> (TraceHeader, Vec<TraceEntry>) {
    let mut s = Scenario::load(&scenario(name)).unwrap();
    s.run.duration_min = minutes;
    let keep = Keep { trace: true, ..Keep::NOTHING };
    let mut result = gatelab_sim::run::run_keeping(&s, s.run.seed, 1, &gatelab_sim::progress::Silent, keep).unwrap();
    let t = result.replications.remove(0).trace.expect("a trace was asked for");
    (t.header, t.entries)
}

/// The two terminal classes, each with its QEMU machine and images.
#[derive(Clone, Copy, Debug)]
enum Cpu {
    M7,
    M55,
}

impl Cpu {
    fn machine(self) -> Machine {
        match self {
            Cpu::M7 => Machine::Mps2An500,
            Cpu::M55 => Machine::Mps3An547,
        }
    }
    fn image(self, link: Link) -> Image {
        match (self, link) {
            (Cpu::M7, Link::Uart) => Image::QemuUart,
            (Cpu::M7, Link::Rtt) => Image::QemuRtt,
            (Cpu::M7, Link::Selftest) => Image::QemuSelftest,
            (Cpu::M55, Link::Uart) => Image::QemuM55Uart,
            (Cpu::M55, Link::Rtt) => Image::QemuM55Rtt,
            (Cpu::M55, Link::Selftest) => Image::QemuM55Selftest,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Link {
    Uart,
    Rtt,
    Selftest,
}

fn uart_on(cpu: Cpu, icount: bool) -> Target<QemuUart> {
    let elf = firmware::locate(cpu.image(Link::Uart)).unwrap();
    Target::connect(QemuUart::start(cpu.machine(), &elf, icount).unwrap(), Duration::from_secs(20)).unwrap()
}

fn rtt_on(cpu: Cpu) -> Target<rtt::RttLink<gdb::GdbStub>> {
    let elf = firmware::locate(cpu.image(Link::Rtt)).unwrap();
    let cb = rtt::control_block_address(&elf).unwrap();
    let stub = gdb::GdbStub::start_qemu(cpu.machine(), &elf, false).unwrap();
    let link = rtt::RttLink::attach(stub, cb, Duration::from_secs(20)).unwrap();
    Target::connect(link, Duration::from_secs(20)).unwrap()
}

/// Each test body runs on both terminal classes.
macro_rules! on_both_cpus {
    ($body:ident: $m7:ident, $m55:ident) => {
        #[test]
        fn $m7() {
            $body(Cpu::M7)
        }
        #[test]
        fn $m55() {
            $body(Cpu::M55)
        }
    };
}

on_both_cpus!(dongcheng_replays_identically: dongcheng_replays_on_the_m7_uart_firmware_with_identical_decisions_and_a_clean_log, dongcheng_replays_on_the_m55_uart_firmware_with_identical_decisions_and_a_clean_log);

fn dongcheng_replays_identically(cpu: Cpu) {
    let (header, entries) = trace("dongcheng.toml", 60);
    let mut target = uart_on(cpu, false);
    let (report, log) = replay::replay(&mut target, &header, &entries, &ProgressBar::hidden()).unwrap();
    assert_eq!(report.events, entries.len() as u64);
    assert!(report.decisions > 100, "the morning hour has decisions: {report:?}");
    assert_eq!(report.mismatches, 0, "{}", report.first_mismatch.as_ref().map(|m| m.to_string()).unwrap_or_default());
    assert_eq!(report.consent_violations, 0, "{:?}", report.violations_by_rule);
    // Every terminal's records, none lost: per source, sequence numbers 0.. without gaps.
    let mut next = std::collections::BTreeMap::new();
    for r in &log {
        let expected = next.entry(r.source).or_insert(0u64);
        assert_eq!(r.seq, *expected, "gap in {}'s audit log", r.source);
        *expected += 1;
    }
    assert_eq!(next.len(), header.terminals.len());
}

on_both_cpus!(forced_face_over_rtt: forced_face_replays_identically_over_rtt_on_the_m7_and_is_flagged, forced_face_replays_identically_over_rtt_on_the_m55_and_is_flagged);

fn forced_face_over_rtt(cpu: Cpu) {
    let (header, entries) = trace("dongcheng-forced-face.toml", 60);
    let mut target = rtt_on(cpu);
    assert_eq!(target.describe(), format!("QEMU {} via gdbstub over RTT", cpu.machine().name()));
    let (report, _) = replay::replay(&mut target, &header, &entries, &ProgressBar::hidden()).unwrap();
    assert_eq!(report.mismatches, 0, "{}", report.first_mismatch.as_ref().map(|m| m.to_string()).unwrap_or_default());
    // The target's own log convicts the policy: no card for residents (C2), card users' frames
    // kept (C3), the door held open on a camera fault (C7).
    for rule in ["C2", "C3"] {
        assert!(report.violations_by_rule.get(rule).is_some_and(|&n| n > 0), "{rule}: {:?}", report.violations_by_rule);
    }
}

on_both_cpus!(core_passes_on_target: the_core_passes_its_tests_on_the_m7, the_core_passes_its_tests_on_the_m55_with_the_helium_kernel);

fn core_passes_on_target(cpu: Cpu) {
    let elf = firmware::locate(cpu.image(Link::Selftest)).unwrap();
    let outcome = gatelab_rig::qemu::run_selftest(cpu.machine(), &elf, Duration::from_secs(300)).unwrap();
    assert!(outcome.passed, "{}", outcome.output);
    assert!(outcome.output.contains("int8_kernel_matches_the_portable_definition ... ok"), "{}", outcome.output);
    let door = "a_fault_inside_an_open_window_is_audited_as_open_for_all ... ok";
    assert!(outcome.output.contains(door), "{}", outcome.output);
    assert!(outcome.output.contains(", 0 failed"), "{}", outcome.output);
}

/// A frame refused with `want`; once a terminal is configured, the dropped input is first
/// audited (`InputDropped`, its seq pushed to `audited`).
fn expect_refusal<T: gatelab_rig::transport::Transport>(
    target: &mut Target<T>,
    want: LinkError,
    audited: Option<&mut Vec<u64>>,
) -> wire::LinkStatus {
    if let Some(seqs) = audited {
        match target.next("waiting for the drop's audit record", Duration::from_secs(10)).unwrap() {
            wire::TargetMsg::Action(Action::Audit(r)) => {
                assert_eq!(r.event, AuditEvent::InputDropped { count: 1 });
                seqs.push(r.seq);
            }
            other => panic!("expected the audit of a dropped input, got {other:?}"),
        }
    }
    match target.next("waiting for the refusal", Duration::from_secs(10)).unwrap() {
        wire::TargetMsg::Error { error, status } => {
            assert_eq!(error, want);
            status
        }
        other => panic!("expected the refusal {want:?}, got {other:?}"),
    }
}

fn audit_of(actions: &[Action]) -> Vec<AuditRecord> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Audit(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

on_both_cpus!(damaged_frames: damaged_frames_are_refused_and_counted_and_nothing_is_lost_on_the_m7, damaged_frames_are_refused_and_counted_and_nothing_is_lost_on_the_m55);

fn damaged_frames(cpu: Cpu) {
    let (header, entries) = trace("dongcheng.toml", 1);
    let mut target = uart_on(cpu, false);
    let config = &header.terminals[0];
    target.configure(config, &header.policy).unwrap();
    let mut actions = Vec::new();
    let mut seqs = Vec::new();
    let mine: Vec<&TraceEntry> = entries.iter().filter(|e| e.terminal == 0).take(40).collect();
    let mut abuse = 0;
    for (i, e) in mine.iter().enumerate() {
        // Between real events: a flipped bit, another version, an oversize frame, garbage.
        let mut frame = Vec::new();
        wire::encode_host(&HostMsg::Event { now: e.at, event: e.event.clone() }, &mut frame).unwrap();
        match i % 4 {
            0 => {
                let mut bad = frame.clone();
                bad[frame.len() / 2] ^= 0x10;
                if bad[frame.len() / 2] == 0 {
                    bad[frame.len() / 2] = 0x77;
                }
                target.send_raw(&bad).unwrap();
                expect_refusal(&mut target, LinkError::Corrupt, Some(&mut seqs));
            }
            1 => {
                let mut raw = vec![wire::VERSION + 1, 0, 0, 0, 0, 0];
                raw.push(0);
                let mut cobs = vec![0u8; raw.len() + 2];
                let n = cobs_encode(&raw, &mut cobs);
                cobs.truncate(n);
                cobs.push(0);
                target.send_raw(&cobs).unwrap();
                // The CRC is wrong too, and CRC is checked first: still refused, still counted.
                let status = expect_refusal(&mut target, LinkError::Corrupt, Some(&mut seqs));
                assert!(status.corrupt > 0);
            }
            2 => {
                let mut big = vec![0x42u8; wire::MAX_ENCODED + 100];
                big.push(0);
                target.send_raw(&big).unwrap();
                expect_refusal(&mut target, LinkError::Oversize, Some(&mut seqs));
            }
            _ => {
                target.send_raw(&[0x01, 0x02, 0x00]).unwrap();
                expect_refusal(&mut target, LinkError::Corrupt, Some(&mut seqs));
            }
        }
        abuse += 1;
        target.event(e.at, &e.event, &mut actions).unwrap();
        seqs.extend(audit_of(&actions).iter().map(|r| r.seq));
        actions.clear();
    }
    // Every dropped frame audited, and no audit record lost or duplicated by the abuse.
    assert!(seqs.len() >= abuse);
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    let status = target.status().unwrap();
    assert_eq!(status.errors() as usize, abuse, "{status:?}");
    assert_eq!(status.frames as usize, 1 + mine.len() + 1, "configure + events + status: {status:?}");
}

on_both_cpus!(other_version: another_protocol_version_is_named_by_the_m7, another_protocol_version_is_named_by_the_m55);

/// A wrong-version frame with a *valid* CRC is named as such.
fn other_version(cpu: Cpu) {
    let mut target = uart_on(cpu, false);
    let mut raw = vec![wire::VERSION + 1];
    raw.push(0); // HostMsg::Hello
    let crc = crc32_iso_hdlc(&raw);
    raw.extend(crc.to_le_bytes());
    let mut frame = vec![0u8; raw.len() + 2];
    let n = cobs_encode(&raw, &mut frame);
    frame.truncate(n);
    frame.push(0);
    target.send_raw(&frame).unwrap();
    let status = expect_refusal(&mut target, LinkError::Version { got: wire::VERSION + 1, want: wire::VERSION }, None);
    assert_eq!(status.version, 1);
    // Events before any Configure are refused too.
    let mut actions = Vec::new();
    let err = target.event(Timestamp(1), &Event::Tick, &mut actions).unwrap_err();
    assert!(
        matches!(err.downcast_ref::<RigError>(), Some(RigError::Refused { error: LinkError::NotConfigured, .. })),
        "{err}"
    );
}

on_both_cpus!(reset_and_hang: a_reset_and_a_hang_of_the_m7_are_told_apart, a_reset_and_a_hang_of_the_m55_are_told_apart);

fn reset_and_hang(cpu: Cpu) {
    let (header, _) = trace("dongcheng.toml", 1);
    let mut target = uart_on(cpu, false);
    target.configure(&header.terminals[0], &header.policy).unwrap();
    target.link().qemu.monitor("system_reset").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let err = target.configure(&header.terminals[0], &header.policy).unwrap_err();
    assert!(matches!(err.downcast_ref::<RigError>(), Some(RigError::Reset { .. })), "{err}");
    assert!(err.to_string().contains("reset"), "{err}");

    let mut target = uart_on(cpu, false);
    target.timeout = Duration::from_secs(2);
    target.link().qemu.monitor("stop").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let err = target.configure(&header.terminals[0], &header.policy).unwrap_err();
    assert!(matches!(err.downcast_ref::<RigError>(), Some(RigError::Timeout { .. })), "{err}");
    assert!(err.to_string().contains("did not answer within 2s"), "{err}");
}

fn cobs_encode(raw: &[u8], out: &mut [u8]) -> usize {
    // Straightforward COBS, independent of the implementation under test.
    let mut code_at = 0;
    let mut code = 1u8;
    let mut o = 1;
    for &b in raw {
        if b == 0 {
            out[code_at] = code;
            code_at = o;
            o += 1;
            code = 1;
        } else {
            out[o] = b;
            o += 1;
            code += 1;
            if code == 0xFF {
                out[code_at] = code;
                code_at = o;
                o += 1;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    o
}

fn crc32_iso_hdlc(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_bench_on_the_target_calibrates_the_simulation() {
    use gatelab_rig::bench;
    let mut target = uart_on(Cpu::M7, true);
    let results =
        bench::run(&mut target, &[128], &[100, 1_000], 1, Duration::from_secs(120), &ProgressBar::hidden()).unwrap();
    assert_eq!(results.rows.len(), 4);
    for r in &results.rows {
        assert!(r.fits && r.best_match_ok, "{r:?}");
        assert_eq!(r.unit, "instructions");
        assert_eq!(r.multiply_accumulates, 128 * u64::from(r.gallery));
    }
    // QEMU's SysTick under -icount: 25 MHz × 2^6 ns per instruction = 1.6 ticks per instruction.
    assert!((results.ticks_per_unit - 1.6).abs() < 0.01, "{}", results.ticks_per_unit);

    let cal = bench::calibration(&results, target.info().board, 480e6);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hil.toml"), toml::to_string(&cal).unwrap()).unwrap();
    let mut text = std::fs::read_to_string(scenario("dongcheng.toml")).unwrap();
    assert!(!text.contains("[service]"), "the shipped scenario has a [service] table now: merge into it");
    text.push_str("\n[service]\nterminal_calibration = \"hil.toml\"\n");
    std::fs::write(dir.path().join("scenario.toml"), text).unwrap();
    let s = Scenario::load(&dir.path().join("scenario.toml")).unwrap();
    // Two points: the line through them, read at the compound's resident count.
    let (a, b) = (cal.gate_decision[0], cal.gate_decision[1]);
    let n = f64::from(s.residents());
    let want = a.seconds + (b.seconds - a.seconds) * (n - f64::from(a.gallery)) / f64::from(b.gallery - a.gallery);
    assert!((s.service.face_decision_s - want).abs() < 1e-12, "{} vs {want}", s.service.face_decision_s);
    assert!(s.service.face_decision_s > 0.0);
    // A missing file is named, with the field and the command that writes it.
    let broken = std::fs::read_to_string(dir.path().join("scenario.toml")).unwrap().replace("hil.toml", "missing.toml");
    std::fs::write(dir.path().join("broken.toml"), broken).unwrap();
    let err = Scenario::load(&dir.path().join("broken.toml")).unwrap_err().to_string();
    assert!(err.contains("service.terminal_calibration") && err.contains("gatelab-rig bench"), "{err}");
    // And the calibrated scenario simulates.
    let mut quick = s.clone();
    quick.run.duration_min = 10;
    gatelab_sim::run::run(&quick, 1, 1, &gatelab_sim::progress::Silent).unwrap();
}

/// The images' int8 kernels are the instructions they mean to be: Helium's VMLADAVA.S8 (which
/// llvm-objdump prints as its alias `vmlava.s8`) fed by VLDRB on the M55, SMLAD on the M7, and
/// no Helium instruction in the M7 image. llvm-objdump is rustup's `llvm-tools` (setup adds it).
#[test]
fn each_image_scans_with_its_own_instruction_set() {
    let sysroot = std::process::Command::new("rustc").args(["--print", "sysroot"]).output().unwrap();
    let host = std::process::Command::new("rustc").arg("-vV").output().unwrap();
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap();
    let objdump = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/llvm-objdump");
    assert!(
        objdump.is_file(),
        "{} missing: `rustup component add llvm-tools` (cargo xtask setup does)",
        objdump.display()
    );
    let count = |image: Image, cpu: &str, mnemonic: &str| {
        let elf = firmware::locate(image).unwrap();
        let o = std::process::Command::new(&objdump).args(["-d", &format!("--mcpu={cpu}")]).arg(&elf).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.split_whitespace().any(|w| w == mnemonic)).count()
    };
    // The kernel's loop body: 8 stripes of 6 rows, each a probe load and six template loads.
    assert!(count(Image::QemuM55Uart, "cortex-m55", "vmlava.s8") >= 48);
    assert!(count(Image::QemuM55Uart, "cortex-m55", "vldrb.u8") >= 56);
    // 16 SMLAD per 16 template bytes, eight times over.
    assert!(count(Image::QemuUart, "cortex-m7", "smlad") >= 64);
    assert_eq!(count(Image::QemuUart, "cortex-m55", "vmlava.s8"), 0);
}

/// `bench` on both terminal classes in one run: each target's table and bench file, the
/// side-by-side table, and a calibration per class that a scenario simulates with.
#[test]
fn both_terminal_classes_bench_side_by_side_and_each_calibrates_a_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let cal = dir.path().join("terminal.toml");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gatelab-rig"))
        .args(["bench", "--target", "qemu,qemu-m55", "--dims", "128", "--galleries", "100,1000", "--repeats", "1"])
        .args(["--quiet", "--out", out.to_str().unwrap(), "--emit-calibration", cal.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{text}");
    for file in ["bench-qemu.json", "bench-qemu-m55.json", "bench-side-by-side.txt"] {
        assert!(out.join(file).is_file(), "{file} missing: {text}");
    }
    let table = std::fs::read_to_string(out.join("bench-side-by-side.txt")).unwrap();
    assert!(table.contains("qemu instructions") && table.contains("qemu-m55 instructions"), "{table}");
    let m55: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench-qemu-m55.json")).unwrap()).unwrap();
    // QEMU's SSE-300 SysTick under -icount: 32 MHz × 2^6 ns per instruction.
    let ticks = m55["ticks_per_unit"].as_f64().unwrap();
    assert!((ticks - 2.048).abs() < 0.01, "{ticks}");
    for row in m55["rows"].as_array().unwrap() {
        assert_eq!(row["best_match_ok"], true, "{row}");
    }
    for (class, source) in [("qemu", "mps2-an500"), ("qemu-m55", "mps3-an547")] {
        let file = dir.path().join(format!("terminal-{class}.toml"));
        let written = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}; {text}", file.display()));
        assert!(written.contains(source), "{written}");
        let mut scenario = std::fs::read_to_string(scenario("dongcheng.toml")).unwrap();
        scenario.push_str(&format!("\n[service]\nterminal_calibration = \"terminal-{class}.toml\"\n"));
        let path = dir.path().join(format!("dongcheng-{class}.toml"));
        std::fs::write(&path, scenario).unwrap();
        let mut s = Scenario::load(&path).unwrap();
        assert!(s.service.face_decision_s > 0.0);
        s.run.duration_min = 5;
        gatelab_sim::run::run(&s, 1, 1, &gatelab_sim::progress::Silent).unwrap();
    }
}

/// Ten times the rush-hour rate (the morning's gate events repeated ten times within the same
/// minutes), through RTT: the target still decides exactly as the host core, its log stays
/// clean and gap-free, and its heap does not grow with the traffic.
#[test]
fn a_tenfold_flood_is_decided_identically_with_bounded_memory() {
    let (header, entries) = trace("dongcheng.toml", 15);
    let flood = gatelab_core::trace::flood(&entries, 10);
    let gate_events = |es: &[TraceEntry]| es.iter().filter(|e| !matches!(e.event, Event::Admin(_))).count();
    assert_eq!(gate_events(&flood), 10 * gate_events(&entries));
    let mut target = rtt_on(Cpu::M7);
    let (report, log) = replay::replay(&mut target, &header, &flood, &ProgressBar::hidden()).unwrap();
    assert_eq!(report.mismatches, 0, "{}", report.first_mismatch.as_ref().map(|m| m.to_string()).unwrap_or_default());
    assert_eq!(report.consent_violations, 0, "{:?}", report.violations_by_rule);
    assert!(report.decisions > 200, "{report:?}");
    let mut next = std::collections::BTreeMap::new();
    for r in &log {
        let expected = next.entry(r.source).or_insert(0u64);
        assert_eq!(r.seq, *expected, "gap in {}'s audit log", r.source);
        *expected += 1;
    }
    // Door windows and the decision scratch are reused: no per-event growth.
    assert!(report.heap_growth_under_traffic <= 16 * 1024, "heap grew by {} bytes", report.heap_growth_under_traffic);
    eprintln!(
        "flood: {} events, {} decisions, heap free min {} B, growth {} B",
        report.events, report.decisions, report.heap_free_min, report.heap_growth_under_traffic
    );
}

on_both_cpus!(persistent_across_reset: a_persistent_terminal_survives_a_reset_of_the_m7_and_decides_as_the_host, a_persistent_terminal_survives_a_reset_of_the_m55_and_decides_as_the_host);

/// The serving firmware keeps its terminal in the board's storage (a RAM region QEMU's reset
/// leaves alone): half of a morning is fed, the board is reset mid-stream, the terminal is
/// recovered from storage and the rest is fed. A host `PersistentTerminal` over the same flash
/// geometry, "rebooted" at the same point, decides identically — before, at and after the
/// restart (its `Restarted` record, digest included).
fn persistent_across_reset(cpu: Cpu) {
    let (header, entries) = trace("dongcheng.toml", 20);
    let config = &header.terminals[0];
    let key = [0x37u8; 32];
    let mine: Vec<&TraceEntry> = entries.iter().filter(|e| e.terminal == 0).collect();
    let half = mine.iter().rposition(|e| matches!(e.event, Event::Admin(_))).unwrap() + 5;
    assert!(half < mine.len(), "events after registration");

    let open_host = |flash| host_mirror(config, &header.policy, key, flash);
    let (mut host, host_restart, _) = open_host(None);

    let mut target = uart_on(cpu, false);
    let mut actions = Vec::new();
    target.configure_persistent(config, &header.policy, key, &mut actions).unwrap();
    assert_eq!(actions, host_restart, "a fresh terminal's first record");
    let compare = |target: &mut Target<QemuUart>, host: &mut HostMirror, e: &TraceEntry| {
        let want = host.handle(e.at, e.event.clone()).unwrap().to_vec();
        let mut got = Vec::new();
        target.event(e.at, &e.event, &mut got).unwrap();
        assert_eq!(got, want, "at {} ({:?})", e.at, e.event.without_biometrics());
    };
    for e in &mine[..half] {
        compare(&mut target, &mut host, e);
    }
    let enrolled = host.terminal().store().len();
    assert!(enrolled > 0, "the morning enrolled faces before the reset");

    // Reset the board; reboot the host mirror from its flash bytes.
    target.link().qemu.monitor("system_reset").unwrap();
    match target.next("waiting for the reset's Hello", Duration::from_secs(10)).unwrap() {
        wire::TargetMsg::Hello(_) => {}
        other => panic!("expected a fresh Hello after the reset, got {other:?}"),
    }
    let (id, bio) = host.into_flash();
    let (mut host, host_restart, _) = open_host(Some((id.into_inner(), bio.into_inner())));
    target.configure_persistent(config, &header.policy, key, &mut actions).unwrap();
    assert_eq!(actions, host_restart, "the recovery");
    match actions.first() {
        Some(Action::Audit(r)) => {
            assert!(
                matches!(r.event, AuditEvent::Restarted { boot: 2, templates, .. } if templates as usize == enrolled),
                "{:?}",
                r.event
            );
        }
        other => panic!("{other:?}"),
    }
    for e in &mine[half..] {
        compare(&mut target, &mut host, e);
    }
    // Another key: refused, storage untouched (the next configure with the right key works).
    let err = target.configure_persistent(config, &header.policy, [1; 32], &mut actions).unwrap_err();
    assert!(
        matches!(err.downcast_ref::<RigError>(), Some(RigError::Refused { error: LinkError::Storage, .. })),
        "{err}"
    );
}

on_both_cpus!(linked_across_reset: a_linked_terminal_on_a_lossy_link_survives_a_reset_of_the_m7_and_decides_as_the_host, a_linked_terminal_on_a_lossy_link_survives_a_reset_of_the_m55_and_decides_as_the_host);

/// The firmware runs the terminal side of the authority link (issue 21): terminal 0 of a
/// Dongcheng morning is linked to a real `Authority`, which gets the trace's admin commands at
/// their times; every frame it sends and every report the terminal sends back cross a link that
/// drops one frame in seven downwards and one in five upwards; the board is reset mid-morning
/// and recovers from its storage. A host `PersistentTerminal` fed the same frames decides
/// identically throughout (actions, audit records, reports to the authority), and the
/// authority's and the terminal's logs together are clean under the checker.
fn linked_across_reset(cpu: Cpu) {
    use gatelab_core::sync::{Authority, AuthorityAction, LinkKey};
    use std::collections::VecDeque;

    struct Rig {
        host: HostMirror,
        target: Target<QemuUart>,
        authority: Authority,
        log: Vec<AuditRecord>,
        sent: [u64; 2],
        dropped: [u64; 2],
    }
    impl Rig {
        /// Deliver `event` to both terminals, compare, and carry everything it causes across the
        /// lossy link until the exchange settles.
        fn feed(&mut self, at: Timestamp, event: Event) {
            let mut queue = VecDeque::from([event]);
            while let Some(event) = queue.pop_front() {
                let want = self.host.handle(at, event.clone()).unwrap().to_vec();
                let mut got = Vec::new();
                self.target.event(at, &event, &mut got).unwrap();
                assert_eq!(got, want, "at {at} ({:?})", event.without_biometrics());
                self.terminal_did(at, want, &mut queue);
            }
        }

        /// Keep the terminal's records; carry its reports to the authority (unless lost).
        fn terminal_did(&mut self, at: Timestamp, actions: Vec<Action>, queue: &mut VecDeque<Event>) {
            for action in actions {
                match action {
                    Action::Audit(r) => self.log.push(r),
                    Action::ToAuthority(up) if self.pass(1) => {
                        let answers: Vec<_> = self.authority.handle_uplink(at, &up).collect();
                        self.authority_did(answers, queue);
                    }
                    _ => {}
                }
            }
        }

        fn authority_did(&mut self, actions: Vec<AuthorityAction>, queue: &mut VecDeque<Event>) {
            for action in actions {
                match action {
                    AuthorityAction::Audit(r) => self.log.push(r),
                    AuthorityAction::Send { frame, .. } if self.pass(0) => queue.push_back(Event::FromAuthority(frame)),
                    AuthorityAction::Send { .. } => {}
                }
            }
        }

        /// One frame in seven down (0), one in five up (1), is lost.
        fn pass(&mut self, direction: usize) -> bool {
            self.sent[direction] += 1;
            let lost = self.sent[direction].is_multiple_of([7, 5][direction]);
            self.dropped[direction] += u64::from(lost);
            !lost
        }

        fn submit(&mut self, at: Timestamp, command: gatelab_core::AdminCommand) {
            let (actions, _) = self.authority.submit(at, command);
            let actions: Vec<_> = actions.collect();
            let mut queue = VecDeque::new();
            self.authority_did(actions, &mut queue);
            for event in queue {
                self.feed(at, event);
            }
        }

        /// The authority's resends due by `at`.
        fn resend(&mut self, at: Timestamp) {
            while let Some(due) = self.authority.poll_timeout().filter(|&t| t <= at) {
                let actions: Vec<_> = self.authority.tick(due).collect();
                let mut queue = VecDeque::new();
                self.authority_did(actions, &mut queue);
                for event in queue {
                    self.feed(due.max(self.host.terminal().now()), event);
                }
                if self.authority.poll_timeout() == Some(due) {
                    break;
                }
            }
        }

        fn attach(&mut self, at: Timestamp, link: &LinkKey) {
            let want = self.host.attach_authority(at, link.clone()).unwrap().to_vec();
            let mut got = Vec::new();
            self.target.attach_authority(at, link.to_bytes(), &mut got).unwrap();
            assert_eq!(got, want, "attaching at {at}");
            let mut queue = VecDeque::new();
            self.terminal_did(at, want, &mut queue);
            for event in queue {
                self.feed(at, event);
            }
        }
    }

    let (header, entries) = trace("dongcheng.toml", 20);
    let config = &header.terminals[0];
    let key = [0x37u8; 32];
    let master = [0x5cu8; 32];
    let link = LinkKey::derive(&master, config.compound, config.id);
    let authority =
        Authority::new(config.compound, header.policy.clone(), &master, [(config.id, config.camera)]).unwrap();
    let mine: Vec<&TraceEntry> = entries.iter().filter(|e| e.terminal == 0).collect();
    let half = mine.iter().rposition(|e| matches!(e.event, Event::Admin(_))).unwrap() + 40;
    assert!(half < mine.len(), "events after registration");
    let open_host = |flash| host_mirror(config, &header.policy, key, flash);
    let (host, host_restart, _) = open_host(None);
    let mut target = uart_on(cpu, false);
    let mut actions = Vec::new();
    target.configure_persistent(config, &header.policy, key, &mut actions).unwrap();
    assert_eq!(actions, host_restart);
    let mut rig = Rig {
        host,
        target,
        authority,
        log: host_restart.iter().filter_map(audit_record).collect(),
        sent: [0; 2],
        dropped: [0; 2],
    };
    rig.attach(Timestamp::ZERO, &link);

    let play = |rig: &mut Rig, part: &[&TraceEntry]| {
        for e in part {
            rig.resend(e.at);
            match &e.event {
                Event::Admin(command) => rig.submit(e.at, command.clone()),
                event => rig.feed(e.at, event.clone()),
            }
        }
    };
    play(&mut rig, &mine[..half]);
    assert!(!rig.host.terminal().store().is_empty(), "the morning enrolled faces before the reset");

    // Reset the board mid-morning; reboot the host mirror from its flash bytes; link both again.
    rig.target.link().qemu.monitor("system_reset").unwrap();
    match rig.target.next("waiting for the reset's Hello", Duration::from_secs(10)).unwrap() {
        wire::TargetMsg::Hello(_) => {}
        other => panic!("expected a fresh Hello after the reset, got {other:?}"),
    }
    let at = mine[half].at;
    let Rig { host, target, authority, log, sent, dropped } = rig;
    let (id, bio) = host.into_flash();
    let (host, host_restart, _) = open_host(Some((id.into_inner(), bio.into_inner())));
    let mut rig = Rig { host, target, authority, log, sent, dropped };
    rig.target.configure_persistent(config, &header.policy, key, &mut actions).unwrap();
    assert_eq!(actions, host_restart, "the recovery");
    rig.log.extend(host_restart.iter().filter_map(audit_record));
    rig.attach(at, &link);
    play(&mut rig, &mine[half..]);
    // Quiet for a minute: resends and renewals settle.
    let end = mine.last().unwrap().at;
    for s in 1..=12 {
        let t = end.plus_ms(5_000 * s);
        rig.resend(t);
        rig.feed(t, Event::Tick);
    }
    assert!(rig.dropped[0] > 0 && rig.dropped[1] > 0, "the link lost nothing: {:?}", rig.dropped);
    assert_eq!(rig.host.terminal().sync_version(), Some(rig.authority.head()), "not caught up");
    assert!(rig.log.iter().any(|r| matches!(r.event, AuditEvent::LeaseRenewed { .. })));
    let report = gatelab_core::check(&rig.log, &header.policy);
    assert!(report.is_clean(), "{:#?}", report.violations);
    eprintln!(
        "linked terminal: {} admin versions, {} frames down ({} lost), {} reports up ({} lost), {} records, 0 mismatches, 0 violations",
        rig.authority.head(),
        rig.sent[0],
        rig.dropped[0],
        rig.sent[1],
        rig.dropped[1],
        rig.log.len()
    );
}

type HostMirror = gatelab_core::persist::PersistentTerminal<
    gatelab_core::flash::MemFlash<Vec<u8>>,
    gatelab_core::flash::MemFlash<Vec<u8>>,
>;

/// A host `PersistentTerminal` over the target's storage geometry: on blank flash, or on the
/// bytes a previous one left (a reboot).
fn host_mirror(
    config: &gatelab_core::TerminalConfig,
    policy: &gatelab_core::Policy,
    key: [u8; 32],
    flash: Option<(Vec<u8>, Vec<u8>)>,
) -> (HostMirror, Vec<Action>, gatelab_core::persist::Recovery) {
    use gatelab_core::flash::MemFlash;
    use gatelab_core::wire::{STORAGE_BIOMETRIC, STORAGE_IDENTITY};
    let (id, bio) = flash.unwrap_or_else(|| {
        (vec![0xFF; STORAGE_IDENTITY.bytes() as usize], vec![0xFF; STORAGE_BIOMETRIC.bytes() as usize])
    });
    gatelab_core::persist::PersistentTerminal::open(
        config.clone(),
        policy.clone(),
        MemFlash::over(STORAGE_IDENTITY, id).unwrap(),
        MemFlash::over(STORAGE_BIOMETRIC, bio).unwrap(),
        &gatelab_core::journal::StorageKey::new(key),
    )
    .unwrap()
}

fn audit_record(a: &Action) -> Option<AuditRecord> {
    match a {
        Action::Audit(r) => Some(r.clone()),
        _ => None,
    }
}

/// No export path through the rig (C6): `gatelab-rig replay` writes exactly replay.json and
/// target-audit.jsonl, and neither holds a float vector (the trace's enrolments and probes go in;
/// nothing template-shaped comes out, not even an echo of a mismatching event).
#[test]
fn the_rigs_outputs_carry_no_template() {
    let (header, entries) = trace("dongcheng.toml", 2);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dc.trace");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    gatelab_core::trace::jsonl::write_header(&mut w, &header).unwrap();
    for e in &entries {
        gatelab_core::trace::jsonl::write_entry(&mut w, e).unwrap();
    }
    drop(w);
    let out = dir.path().join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gatelab-rig"))
        .args(["replay", file.to_str().unwrap(), "--target", "qemu-rtt", "--quiet", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["replay.json", "target-audit.jsonl"]);
    fn float_vector(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Array(a) => {
                let floats = a.iter().filter(|x| x.as_f64().is_some_and(|f| f.fract() != 0.0)).count();
                floats >= 64 || a.iter().any(float_vector)
            }
            serde_json::Value::Object(m) => m.values().any(float_vector),
            _ => false,
        }
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("replay.json")).unwrap()).unwrap();
    assert!(!float_vector(&report));
    for line in std::fs::read_to_string(out.join("target-audit.jsonl")).unwrap().lines() {
        assert!(!float_vector(&serde_json::from_str(line).unwrap()), "{line}");
    }
    // The scan is not blind: the trace itself does hold the simulation's embeddings.
    let trace_text = std::fs::read_to_string(&file).unwrap();
    assert!(trace_text.lines().any(|l| float_vector(&serde_json::from_str(l).unwrap())));
}
