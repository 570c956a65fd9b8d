//! The workbench's overhead: Dongcheng planned for 1..4 lanes × 10 replications through the
//! page (`gatelab serve`: create, edit, "Save and plan", poll until done) against the same plan
//! from the command line, in one run, release build; and the server's memory at rest and at
//! its peak during the plan (VmRSS / VmHWM).
//!
//! `cargo bench -p gatelab-benches --bench serve` (it builds the release `gatelab` first).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn release_binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "gatelab-cli", "--bin", "gatelab"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "could not build the release gatelab");
    // This bench runs from <target>/release/deps/.
    let exe = std::env::current_exe().expect("the bench's path");
    exe.parent().and_then(|d| d.parent()).expect("<target>/release").join("gatelab")
}

/// (resident now, peak resident) of a process, MB.
fn memory_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let gatelab = release_binary();
    let dir = std::env::temp_dir().join(format!("gatelab-serve-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    // Through the page.
    let mut server = Command::new(&gatelab)
        .args(["serve", "--port", "0", "--data"])
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("gatelab serve starts");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").expect(&line).trim_end_matches('/').to_owned();
    agent.post(&format!("{base}/new")).send_form([("shipped", "dongcheng")]).unwrap();
    let (rest, _) = memory_mb(server.id());
    let settings =
        [("lanes_from", "1"), ("lanes_to", "4"), ("replications", "10"), ("target_wait_p95", "60"), ("los", "D")];
    let started = Instant::now();
    let mut form = settings.to_vec();
    form.push(("action", "run"));
    agent.post(&format!("{base}/a/a1/edit")).send_form(form).unwrap();
    let state = loop {
        let mut r = agent.get(&format!("{base}/a/a1/status")).call().unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        if v["final"] == true {
            break v["state"].as_str().unwrap_or("").to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let page = started.elapsed().as_secs_f64();
    let (after, peak) = memory_mb(server.id());
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(state, "done");
    // The same plan from the command line.
    let started = Instant::now();
    let out = Command::new(&gatelab)
        .args([
            "plan",
            "scenarios/dongcheng.toml",
            "--lanes",
            "1..4",
            "--replications",
            "10",
            "--max-replications",
            "10",
        ])
        .args(["--target-wait-p95", "60", "--los", "D", "--no-sensitivity", "--quiet", "--out"])
        .arg(dir.join("cli"))
        .current_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap();
    let cli = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let same = std::fs::read(dir.join("cli/plan.json")).ok()
        == std::fs::read(dir.join("data/alternatives/a1/plan/plan.json")).ok();
    println!(
        "gatelab serve — Dongcheng, lanes 1..4 × 10 replications, release build, {} threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("  through the page (Save and plan → result): {page:.2} s");
    println!("  gatelab plan on the command line:          {cli:.2} s");
    println!("  page / command line: {:.3} (aim ≤ 1.10); plan.json identical: {same}", page / cli);
    println!("  server memory: {rest:.0} MB at rest, {after:.0} MB after the plan, peak {peak:.0} MB");
    let _ = std::fs::remove_dir_all(&dir);
}
