//! The DET curve (FNMR against FMR, log scale) and the score histogram of `gatelab faces eval`,
//! as SVG made by plotters.

use anyhow::{Result, anyhow};
use plotters::prelude::*;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot failed: {e:?}")
}

/// (det.svg, histogram.svg).
pub fn plots(genuine: &[f32], impostor: &[f32], threshold: f64) -> Result<(String, String)> {
    let mut det = String::new();
    {
        let root = SVGBackend::with_string(&mut det, (640, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut thresholds: Vec<f32> = genuine.iter().chain(impostor).copied().collect();
        thresholds.sort_by(f32::total_cmp);
        let floor = 1.0 / (impostor.len().max(genuine.len()) as f64 * 10.0);
        let points: Vec<(f64, f64)> = thresholds
            .iter()
            .map(|&t| {
                let fmr = impostor.iter().filter(|&&s| s >= t).count() as f64 / impostor.len() as f64;
                let fnmr = genuine.iter().filter(|&&s| s < t).count() as f64 / genuine.len() as f64;
                (fmr.max(floor), fnmr.max(floor))
            })
            .collect();
        let mut chart = ChartBuilder::on(&root)
            .caption("DET: false non-match rate against false match rate", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d((floor..1.0).log_scale(), (floor..1.0).log_scale())
            .map_err(err)?;
        chart.configure_mesh().x_desc("FMR").y_desc("FNMR").draw().map_err(err)?;
        chart.draw_series(LineSeries::new(points, RGBColor(31, 119, 180).stroke_width(2))).map_err(err)?;
        root.present().map_err(err)?;
    }
    let mut hist = String::new();
    {
        let root = SVGBackend::with_string(&mut hist, (640, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        const BINS: usize = 40;
        let bin = |v: f32| (((f64::from(v) + 1.0) / 2.0 * BINS as f64).floor() as usize).min(BINS - 1);
        let mut g = [0usize; BINS];
        let mut i = [0usize; BINS];
        genuine.iter().for_each(|&v| g[bin(v)] += 1);
        impostor.iter().for_each(|&v| i[bin(v)] += 1);
        let share = |c: usize, n: usize| c as f64 / n.max(1) as f64;
        let ymax = (0..BINS).map(|k| share(g[k], genuine.len()).max(share(i[k], impostor.len()))).fold(0.01, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption("cosine scores: genuine (green) and impostor (red) pairs", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(-1.0..1.0, 0.0..ymax * 1.1)
            .map_err(err)?;
        chart.configure_mesh().x_desc("cosine").y_desc("share of pairs").draw().map_err(err)?;
        let width = 2.0 / BINS as f64;
        let lo = |k: usize| -1.0 + k as f64 * width;
        chart
            .draw_series((0..BINS).map(|k| {
                Rectangle::new(
                    [(lo(k), 0.0), (lo(k) + width, share(i[k], impostor.len()))],
                    RGBColor(214, 39, 40).mix(0.6).filled(),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series((0..BINS).map(|k| {
                Rectangle::new(
                    [(lo(k), 0.0), (lo(k) + width, share(g[k], genuine.len()))],
                    RGBColor(44, 160, 44).mix(0.6).filled(),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new([(threshold, 0.0), (threshold, ymax * 1.1)], BLACK.stroke_width(1)))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok((det, hist))
}
