//! A synthetic gate log with a known truth, for tests and the benchmark (not for calibration):
//! people arrive as a non-homogeneous Poisson process with piecewise-constant rates at one gate
//! and direction, queue FIFO for the lane that frees first, and are served with lognormal
//! service times; a share fail their first face attempt and retry at once. Deterministic in
//! the seed (a SplitMix64 stream; quantiles by statrs).

use std::io::Write;

use statrs::distribution::{ContinuousCDF, LogNormal};

#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub gate: String,
    /// Outbound lanes.
    pub lanes: u32,
    /// (from seconds since midnight, to, arrivals per hour).
    pub segments: Vec<(f64, f64, f64)>,
    pub service_mean_s: f64,
    pub service_cv: f64,
    /// Share of arrivals using face (the rest an IC card).
    pub face_share: f64,
    /// Share of face users whose first attempt is refused (they retry at once).
    pub retry_share: f64,
    pub seed: u64,
}

/// One attempt, with the truth the log would not show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attempt {
    /// When the attempt was decided (the end of its service).
    pub t_s: f64,
    pub lane: u32,
    pub person: u64,
    pub face: bool,
    pub granted: bool,
    /// Seconds queued before the first attempt's service.
    pub wait_s: f64,
    pub service_s: f64,
    /// True arrival time.
    pub arrival_s: f64,
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // In (0, 1): never 0, so logarithms stay finite.
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// The true arrival times of `spec` (sorted).
pub fn arrivals(spec: &Spec) -> Vec<f64> {
    let mut rng = SplitMix(spec.seed);
    let mut out = Vec::new();
    for &(from, to, per_hour) in &spec.segments {
        if per_hour <= 0.0 {
            continue;
        }
        let mut t = from;
        loop {
            t += -rng.next().ln() * 3600.0 / per_hour;
            if t >= to {
                break;
            }
            out.push(t);
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

/// Every attempt of `spec`, in time order.
pub fn generate(spec: &Spec) -> Vec<Attempt> {
    let mut rng = SplitMix(spec.seed ^ 0x5eed);
    let s2 = (1.0 + spec.service_cv * spec.service_cv).ln();
    let service = LogNormal::new(spec.service_mean_s.ln() - s2 / 2.0, s2.sqrt()).ok();
    let draw = |rng: &mut SplitMix| service.as_ref().map_or(spec.service_mean_s, |d| d.inverse_cdf(rng.next()));
    let mut free = vec![0.0_f64; spec.lanes.max(1) as usize];
    let mut out = Vec::new();
    for (person, arrival) in arrivals(spec).into_iter().enumerate() {
        let (lane, &lane_free) = free.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).unwrap_or((0, &0.0));
        let start = arrival.max(lane_free);
        let face = rng.next() < spec.face_share;
        let retry = face && rng.next() < spec.retry_share;
        let mut t = start;
        let wait_s = start - arrival;
        if retry {
            let s = draw(&mut rng);
            t += s;
            out.push(Attempt {
                t_s: t,
                lane: lane as u32,
                person: person as u64,
                face,
                granted: false,
                wait_s,
                service_s: s,
                arrival_s: arrival,
            });
        }
        let s = draw(&mut rng);
        t += s;
        out.push(Attempt {
            t_s: t,
            lane: lane as u32,
            person: person as u64,
            face,
            granted: true,
            wait_s,
            service_s: s,
            arrival_s: arrival,
        });
        free[lane] = t;
    }
    out.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    out
}

/// Write attempts in the gatelab CSV layout (times on 2025-03-04), with the `lane` column and,
/// if asked, `wait_s` (the first attempt's queueing; a retry waited no more).
pub fn write_gatelab<W: Write>(attempts: &[Attempt], gate: &str, with_wait: bool, mut w: W) -> std::io::Result<()> {
    writeln!(w, "time,gate,lane,direction,credential,result,person{}", if with_wait { ",wait_s" } else { "" })?;
    for a in attempts {
        let ms = (a.t_s * 1000.0).round() as u64;
        write!(
            w,
            "2025-03-04 {:02}:{:02}:{:02}.{:03},{gate},out-{},out,{},{},p{}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            a.lane + 1,
            if a.face { "face" } else { "ic_card" },
            if a.granted { "granted" } else { "denied:no_face_match" },
            a.person
        )?;
        if with_wait {
            write!(w, ",{:.3}", a.wait_s)?;
        }
        writeln!(w)?;
    }
    Ok(())
}
