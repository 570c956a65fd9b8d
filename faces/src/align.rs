//! Face alignment: the least-squares similarity transform (rotation, uniform scale,
//! translation; no reflection — Umeyama's solution in closed form for 2-D) that carries five
//! landmarks onto the standard ArcFace 112×112 template, and a bilinear warp through it.

/// Left eye, right eye, nose tip, left and right mouth corner on the 112×112 ArcFace crop.
pub const ARCFACE_112: [[f32; 2]; 5] =
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/// `[a, -b, tx; b, a, ty]` as `[a, b, tx, ty]`: dst = [[a, -b], [b, a]]·src + t.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    /// Least-squares similarity taking `src` points onto `dst` points.
    pub fn estimate(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Similarity {
        let n = src.len().min(dst.len()).max(1) as f64;
        let mean = |p: &[[f32; 2]]| {
            let (x, y) = p.iter().fold((0.0, 0.0), |(x, y), q| (x + f64::from(q[0]), y + f64::from(q[1])));
            (x / n, y / n)
        };
        let (sx, sy) = mean(src);
        let (dx, dy) = mean(dst);
        let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
        for (s, d) in src.iter().zip(dst) {
            let (px, py) = (f64::from(s[0]) - sx, f64::from(s[1]) - sy);
            let (qx, qy) = (f64::from(d[0]) - dx, f64::from(d[1]) - dy);
            num_a += px * qx + py * qy;
            num_b += px * qy - py * qx;
            den += px * px + py * py;
        }
        let (a, b) = if den > 0.0 { (num_a / den, num_b / den) } else { (1.0, 0.0) };
        Similarity { a, b, tx: dx - (a * sx - b * sy), ty: dy - (b * sx + a * sy) }
    }

    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [self.a * p[0] - self.b * p[1] + self.tx, self.b * p[0] + self.a * p[1] + self.ty]
    }

    /// The inverse transform (dst → src).
    pub fn inverse(&self) -> Similarity {
        let det = self.a * self.a + self.b * self.b;
        let (a, b) = if det > 0.0 { (self.a / det, -self.b / det) } else { (1.0, 0.0) };
        Similarity { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }
}

/// Warp an RGB image (row-major, 3 bytes per pixel) into a `size`×`size` crop through `m`
/// (image → crop), bilinear, black outside the image. Returns RGB floats 0–255, row-major.
pub fn warp_rgb(rgb: &[u8], width: u32, height: u32, m: &Similarity, size: u32) -> Vec<[f32; 3]> {
    let inv = m.inverse();
    let (w, h) = (width as i64, height as i64);
    let pixel = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= w || y >= h {
            return [0.0; 3];
        }
        let i = ((y * w + x) * 3) as usize;
        [f32::from(rgb[i]), f32::from(rgb[i + 1]), f32::from(rgb[i + 2])]
    };
    let mut out = Vec::with_capacity((size * size) as usize);
    for v in 0..size {
        for u in 0..size {
            let [x, y] = inv.apply([f64::from(u), f64::from(v)]);
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let (p00, p10, p01, p11) = (pixel(x0, y0), pixel(x0 + 1, y0), pixel(x0, y0 + 1), pixel(x0 + 1, y0 + 1));
            let mut c = [0.0f32; 3];
            for k in 0..3 {
                let top = p00[k] * (1.0 - fx) + p10[k] * fx;
                let bottom = p01[k] * (1.0 - fx) + p11[k] * fx;
                c[k] = top * (1.0 - fy) + bottom * fy;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_similarity_and_inverts_it() {
        let truth = Similarity { a: 0.8, b: 0.3, tx: 12.0, ty: -4.0 };
        let src = [[10.0f32, 20.0], [50.0, 22.0], [30.0, 40.0], [15.0, 60.0], [45.0, 61.0]];
        let dst: Vec<[f32; 2]> = src
            .iter()
            .map(|p| {
                let q = truth.apply([f64::from(p[0]), f64::from(p[1])]);
                [q[0] as f32, q[1] as f32]
            })
            .collect();
        let m = Similarity::estimate(&src, &dst);
        for (got, want) in [(m.a, truth.a), (m.b, truth.b), (m.tx, truth.tx), (m.ty, truth.ty)] {
            assert!((got - want).abs() < 1e-4, "{m:?}");
        }
        let back = m.inverse().apply(m.apply([3.0, 7.0]));
        assert!((back[0] - 3.0).abs() < 1e-9 && (back[1] - 7.0).abs() < 1e-9);
    }

    #[test]
    fn identity_warp_copies_pixels() {
        let rgb: Vec<u8> = (0..4 * 4 * 3).map(|i| i as u8).collect();
        let out = warp_rgb(&rgb, 4, 4, &Similarity { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 }, 4);
        assert_eq!(out[5], [15.0, 16.0, 17.0]);
    }
}
