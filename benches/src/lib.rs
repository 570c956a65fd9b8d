//! Inputs and yardsticks shared by the benchmarks.

use std::hint::black_box;
use std::time::{Duration, Instant};

use gatelab_core::template::{Precision, Probe, TemplateStore};
use gatelab_core::{PersonId, Timestamp};

pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// What the desk sends when owner `p` moves in (compound 1): registration, an IC card with
/// `p`'s number, and a separate face consent for 300 days, given at time 0.
pub fn move_in(p: u32) -> [gatelab_core::AdminCommand; 3] {
    use gatelab_core::consent::Grantor;
    use gatelab_core::*;
    let person = Person { id: PersonId(p), kind: PersonKind::Owner, household: None, age_years: 40 };
    let card = Credential {
        id: CredentialId(u64::from(p)),
        holder: PersonId(p),
        kind: CredentialKind::IcCard,
        expires_at: None,
    };
    let consent = ConsentRecord::face_access(
        ConsentId(u64::from(p)),
        PersonId(p),
        CompoundId(1),
        Grantor::Subject,
        Timestamp(0),
        300 * 86_400_000,
    );
    [AdminCommand::RegisterPerson(person), AdminCommand::IssueCredential(card), AdminCommand::RecordConsent(consent)]
}

/// A fixed pseudo-random vector in [-0.5, 0.5)^dim.
pub fn vector(seed: u64, dim: usize) -> Vec<f32> {
    (0..dim as u64).map(|i| (splitmix((seed << 16) ^ i) >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect()
}

/// A gallery of `n` random templates.
pub fn gallery(n: usize, dim: usize, precision: Precision) -> TemplateStore {
    let mut store = TemplateStore::new(dim, precision).expect("supported dimension");
    store.reserve(n);
    for p in 0..n {
        store.insert(PersonId(p as u32), &vector(p as u64, dim), Timestamp::NEVER).expect("finite vector");
    }
    store
}

pub fn probes(count: usize, dim: usize) -> Vec<Probe> {
    (0..count).map(|i| Probe::new(&vector(1_000_000 + i as u64, dim), dim).expect("finite vector")).collect()
}

/// Single-core read bandwidth in bytes/s over an array of `bytes`: the best of several
/// sequential sums, with the same software prefetch distance the int8 scan uses, so the
/// yardstick is as good a reader as the thing it measures. An array larger than the last-level
/// cache gives DRAM bandwidth; one the size of a gallery gives what that gallery can be read at.
pub fn read_bandwidth(bytes: usize, rounds: usize) -> f64 {
    let words = vec![1u64; (bytes / 8).max(8)];
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        // Eight independent sums so the adds never limit the reads.
        let mut acc = [0u64; 8];
        for (i, chunk) in words.chunks_exact(8).enumerate() {
            prefetch(&words, i * 8 + 256);
            for j in 0..8 {
                acc[j] = acc[j].wrapping_add(chunk[j]);
            }
        }
        black_box(acc);
        best = best.min(start.elapsed());
    }
    (words.len() * 8) as f64 / best.as_secs_f64()
}

#[inline(always)]
#[allow(unsafe_code)]
fn prefetch(words: &[u64], index: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(w) = words.get(index) {
        // SAFETY: a prefetch is only a hint and never faults; the address is inside `words`.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((w as *const u64).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (words, index);
}

/// Median seconds per call of `f` over `samples` timed batches of `batch` calls.
pub fn median_secs(samples: usize, batch: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed().as_secs_f64() / batch as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The process's peak resident memory, as Linux reports it (`VmHWM`).
pub fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown (no /proc/self/status)".into())
}

/// A shipped scenario (`scenarios/NAME.toml`), or exit 2 saying why.
pub fn shipped_scenario(name: &str) -> gatelab_scenario::Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"));
    gatelab_scenario::Scenario::load(&path).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    })
}

/// Runs `benches/py/jupedsim_room.py` (JuPedSim's collision-free speed model) with `python` on
/// a geometry and its people: `walkable_wkt`, per exit a polygon, per agent `[x, y, desired
/// speed, exit]` (all there at the start) or `[x, y, speed, exit, appears at s]`, our model's
/// time step, body and time gap (`model`: dt_s, radius_m, time_gap_s, neighbour_range_m), and
/// a cap on simulated seconds. Returns the script's JSON (wall_s, agent_steps, left, …).
pub fn run_jupedsim(
    python: &std::path::Path,
    walkable_wkt: String,
    exits: serde_json::Value,
    agents: serde_json::Value,
    model: [f64; 4],
    cap_s: f64,
) -> Result<serde_json::Value, String> {
    let [dt_s, radius_m, time_gap_s, neighbour_range_m] = model;
    let spec = serde_json::json!({
        "walkable_wkt": walkable_wkt,
        "exits": exits,
        "agents": agents,
        "dt_s": dt_s,
        "radius_m": radius_m,
        "time_gap_s": time_gap_s,
        "range_neighbor_repulsion_m": neighbour_range_m,
        "cap_s": cap_s,
    });
    let dir =
        std::env::temp_dir().join(format!("gatelab-jupedsim-{}-{}", std::process::id(), splitmix(cap_s.to_bits())));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let input = dir.join("spec.json");
    std::fs::write(&input, spec.to_string()).map_err(|e| e.to_string())?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("py/jupedsim_room.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg("--input")
        .arg(&input)
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("no result from jupedsim_room.py ({e}): {}", String::from_utf8_lossy(&out.stderr)))?;
    if let Some(err) = v["error"].as_str() {
        return Err(err.to_owned());
    }
    Ok(v)
}
