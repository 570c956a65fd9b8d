//! The DET curve (FNMR against FMR, log scale) and the score histogram of `gatelab faces eval`,
//! drawn by plotters as PNG (bitmap backend) and as SVG (for HTML).
//!
//! Text is drawn in the planner's embedded Noto Sans ([`gatelab_plan::report::register_font`]).

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width and height of every plot, in pixels.
pub const SIZE: (u32, u32) = (640, 480);

/// The four files `gatelab faces eval --out` writes besides eval.json.
#[derive(Debug, Clone)]
pub struct Plots {
    /// det.png
    pub det_png: Vec<u8>,
    /// histogram.png
    pub histogram_png: Vec<u8>,
    /// det.svg
    pub det_svg: String,
    /// histogram.svg
    pub histogram_svg: String,
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot failed: {e:?}")
}

/// DET, histogram: PNG bytes and SVG text.
pub fn plots(genuine: &[f32], impostor: &[f32], threshold: f64) -> Result<Plots> {
    gatelab_plan::report::register_font()?;
    let det_png = png(|root| det(root, genuine, impostor)).context("could not draw det.png")?;
    let histogram_png =
        png(|root| histogram(root, genuine, impostor, threshold)).context("could not draw histogram.png")?;
    let mut det_svg = String::new();
    det(SVGBackend::with_string(&mut det_svg, SIZE).into_drawing_area(), genuine, impostor)
        .context("could not draw det.svg")?;
    let mut histogram_svg = String::new();
    histogram(SVGBackend::with_string(&mut histogram_svg, SIZE).into_drawing_area(), genuine, impostor, threshold)
        .context("could not draw histogram.svg")?;
    Ok(Plots { det_png, histogram_png, det_svg, histogram_svg })
}

/// Draws on an RGB bitmap of [`SIZE`] and encodes it as PNG.
fn png(draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>) -> Result<Vec<u8>> {
    png_sized(SIZE, draw)
}

/// Draws on an RGB bitmap of `size` and encodes it as PNG.
pub(crate) fn png_sized(
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    let (w, h) = size;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    draw(BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area())?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("could not encode the PNG header")?;
    writer.write_image_data(&rgb).context("could not encode the PNG image data")?;
    writer.finish().context("could not finish the PNG")?;
    Ok(out)
}

fn det<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, genuine: &[f32], impostor: &[f32]) -> Result<()> {
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
    let caption = "DET: false non-match rate against false match rate";
    log_log_curve(root, caption, ("FMR", "FNMR"), floor, points, RGBColor(31, 119, 180))
}

/// One error-rate curve on log–log axes from `floor` to 1, labelled with one significant digit.
fn log_log_curve<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    caption: &str,
    (x_desc, y_desc): (&str, &str),
    floor: f64,
    points: Vec<(f64, f64)>,
    colour: RGBColor,
) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((floor..1.0).log_scale(), (floor..1.0).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| rate(*v))
        .y_label_formatter(&|v| rate(*v))
        .draw()
        .map_err(err)?;
    chart.draw_series(LineSeries::new(points, colour.stroke_width(2))).map_err(err)?;
    root.present().map_err(err)
}

/// `faces pad-eval`'s plot as PNG bytes and SVG text: with attack presentations, the DET-style
/// curve (BPCER against APCER over every threshold, log scales); without, BPCER against the
/// threshold (what live people pay for each setting), titled so that nobody reads it as attack
/// detection.
pub fn pad_plot(bona_fide: &[f32], attacks: &[f32]) -> Result<(Vec<u8>, String)> {
    gatelab_plan::report::register_font()?;
    let png = png(|root| pad_curve(root, bona_fide, attacks)).context("could not draw pad-det.png")?;
    let mut svg = String::new();
    pad_curve(SVGBackend::with_string(&mut svg, SIZE).into_drawing_area(), bona_fide, attacks)
        .context("could not draw pad-det.svg")?;
    Ok((png, svg))
}

fn pad_curve<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, bona: &[f32], attacks: &[f32]) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let bpcer = |t: f32| bona.iter().filter(|&&s| s < t).count() as f64 / bona.len().max(1) as f64;
    if attacks.is_empty() {
        let points: Vec<(f64, f64)> = (0..=100).map(|k| (f64::from(k) / 100.0, bpcer(k as f32 / 100.0))).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption("BPCER against the liveness threshold (no attacks given: APCER not measured)", ("sans-serif", 14))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(err)?;
        chart.configure_mesh().x_desc("liveness_min").y_desc("BPCER (live refused)").draw().map_err(err)?;
        chart.draw_series(LineSeries::new(points, RGBColor(31, 119, 180).stroke_width(2))).map_err(err)?;
        return root.present().map_err(err);
    }
    let floor = 1.0 / (attacks.len().max(bona.len()) as f64 * 10.0);
    let mut thresholds: Vec<f32> = bona.iter().chain(attacks).copied().collect();
    thresholds.sort_by(f32::total_cmp);
    let points: Vec<(f64, f64)> = thresholds
        .iter()
        .map(|&t| {
            let apcer = attacks.iter().filter(|&&s| s >= t).count() as f64 / attacks.len() as f64;
            (apcer.max(floor), bpcer(t).max(floor))
        })
        .collect();
    let caption = "DET: BPCER (live refused) against APCER (attacks accepted)";
    log_log_curve(root, caption, ("APCER", "BPCER"), floor, points, RGBColor(214, 39, 40))
}

/// A rate on a log axis with one significant digit: 0.3, not 0.30000000000000004; 0.001, 1.
fn rate(v: f64) -> String {
    let decimals = if v > 0.0 { (-v.log10().floor()).clamp(0.0, 12.0) as usize } else { 0 };
    format!("{v:.decimals$}")
}

fn histogram<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    genuine: &[f32],
    impostor: &[f32],
    threshold: f64,
) -> Result<()> {
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
    root.present().map_err(err)
}
