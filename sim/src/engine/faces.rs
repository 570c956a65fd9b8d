//! Synthetic faces for the real matcher. Each enrolled person gets a unit template; each visit
//! produces a probe whose cosine with that template is drawn from the scenario's genuine
//! distribution. Templates share a common component so that impostor cosines centre on the
//! scenario's impostor mean, with a spread set by how many dimensions the individual parts use
//! (random unit vectors in k dimensions have cosines with sd ≈ 1/√k). False accepts and false
//! rejects are then whatever the core's int8 1:N search makes of them — nothing is decided here.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use gatelab_scenario::MatcherModel;

#[derive(Debug, Clone)]
pub struct FaceModel {
    dim: usize,
    /// Weight of the common component: the impostor mean.
    common: f32,
    /// Dimensions the individual part of a template spreads over.
    spread_dims: usize,
    genuine_mean: f64,
    genuine_sd: f64,
}

impl FaceModel {
    pub fn new(m: &MatcherModel) -> FaceModel {
        let common = m.impostor_mean.clamp(0.0, 0.95);
        let wanted =
            if m.impostor_sd > 0.0 { ((1.0 - common) / m.impostor_sd).powi(2).round() as usize } else { m.dim };
        FaceModel {
            dim: m.dim,
            common: common as f32,
            spread_dims: wanted.clamp(2, m.dim - 1),
            genuine_mean: m.genuine_mean,
            genuine_sd: m.genuine_sd,
        }
    }

    /// A new person's enrolment template (unit length).
    pub fn template(&self, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let mut t = vec![0.0f32; self.dim];
        let mut individual: Vec<f32> = (0..self.spread_dims).map(|_| StandardNormal.sample(rng)).collect();
        normalise(&mut individual);
        t[0] = self.common.sqrt();
        let scale = (1.0 - self.common).sqrt();
        for (slot, v) in t[1..=self.spread_dims].iter_mut().zip(&individual) {
            *slot = scale * v;
        }
        normalise(&mut t);
        t
    }

    /// A live capture of the person enrolled with `template`.
    pub fn probe(&self, template: &[f32], rng: &mut ChaCha8Rng) -> Vec<f32> {
        let z: f64 = StandardNormal.sample(rng);
        let genuine = (self.genuine_mean + self.genuine_sd * z).clamp(-0.99, 0.999) as f32;
        // Noise orthogonal to the template, so the cosine is exactly `genuine` before int8.
        let mut noise: Vec<f32> = (0..self.dim).map(|_| StandardNormal.sample(rng)).collect();
        let along: f32 = noise.iter().zip(template).map(|(n, t)| n * t).sum();
        for (n, t) in noise.iter_mut().zip(template) {
            *n -= along * t;
        }
        normalise(&mut noise);
        let side = (1.0 - genuine * genuine).sqrt();
        template.iter().zip(&noise).map(|(t, n)| genuine * t + side * n).collect()
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn genuine_and_impostor_cosines_follow_the_model() {
        let model = FaceModel::new(&MatcherModel::default());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let people: Vec<Vec<f32>> = (0..200).map(|_| model.template(&mut rng)).collect();
        let genuine: Vec<f32> = people.iter().map(|t| cos(t, &model.probe(t, &mut rng))).collect();
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let sd = |v: &[f32]| {
            let m = mean(v);
            (v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / v.len() as f32).sqrt()
        };
        assert!((mean(&genuine) - 0.70).abs() < 0.03, "genuine mean {}", mean(&genuine));
        assert!((sd(&genuine) - 0.10).abs() < 0.03, "genuine sd {}", sd(&genuine));
        let impostor: Vec<f32> = people.windows(2).map(|w| cos(&w[0], &w[1])).collect();
        assert!((mean(&impostor) - 0.01).abs() < 0.03, "impostor mean {}", mean(&impostor));
        // 128 dimensions cannot spread random cosines tighter than about 1/sqrt(127).
        assert!(sd(&impostor) > 0.06 && sd(&impostor) < 0.12, "impostor sd {}", sd(&impostor));
    }
}
