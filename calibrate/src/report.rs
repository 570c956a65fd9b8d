//! `--report DIR`: `index.html` (self-contained but for its PNGs beside it) with the arrivals
//! per interval of each gate, observed (served, as the log shows them) against fitted (the
//! fragment's rows, reconstructed where saturated), the service-time histogram of each
//! credential kind with both fitted densities, the goodness-of-fit table and the skipped rows.
//! Counts and rates only, like the fragment. Plots in the planner's style (plotters, Noto Sans).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::CalibrateError;
use crate::analyse::{Calibration, Row};
use crate::fit::{Family, ks_critical_5pct};

const SIZE: (u32, u32) = (860, 380);
const BLUE: RGBColor = RGBColor(31, 119, 180);
const RED: RGBColor = RGBColor(214, 39, 40);
const LIGHT_BLUE: RGBColor = RGBColor(143, 187, 217);
const LIGHT_RED: RGBColor = RGBColor(234, 147, 147);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const ORANGE: RGBColor = RGBColor(255, 127, 14);

type Draw<T> = Result<T, String>;
/// A line of the arrivals plot: label, colour, value per row, stroke width.
type Series = (&'static str, RGBColor, fn(&Row) -> f64, u32);

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing a plot failed: {e:?}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// plotters' `ab_glyph` knows no font until one is registered: the embedded Noto Sans, once.
fn register_font() -> Draw<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, notosans::REGULAR_TTF)
                .map_err(|_| "the embedded Noto Sans is not a font plotters can read".to_string())
        })
        .clone()
}

fn png(draw: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Draw<()>) -> Draw<Vec<u8>> {
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    draw(BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area())?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(&rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

fn hhmm(min: f64) -> String {
    let m = min.round().max(0.0) as u32;
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Arrivals per interval at one gate: served (bars of the log) and fitted (lines), out and in.
fn arrivals(root: DrawingArea<BitMapBackend<'_>, Shift>, gate: &str, rows: &[&Row]) -> Draw<()> {
    root.fill(&WHITE).map_err(err)?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return Ok(()) };
    let x0 = f64::from(first.start_min);
    let x1 = f64::from(last.start_min + last.minutes);
    let per = |r: &Row, rate: f64| rate * f64::from(r.minutes) / 60.0;
    let ymax = rows
        .iter()
        .flat_map(|r| [r.served_out, r.served_in, per(r, r.outbound), per(r, r.inbound)])
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{gate}: arrivals per {} min — served (log) and fitted", first.minutes), ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, 0.0..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("time of day")
        .y_desc("people per interval")
        .x_label_formatter(&|m| hhmm(*m))
        .draw()
        .map_err(err)?;
    for r in rows.iter().filter(|r| r.saturated_out.is_some() || r.saturated_in.is_some()) {
        let (a, b) = (f64::from(r.start_min), f64::from(r.start_min + r.minutes));
        chart.draw_series([Rectangle::new([(a, 0.0), (b, ymax)], RGBColor(255, 235, 200).filled())]).map_err(err)?;
    }
    let steps = |value: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .flat_map(|r| {
                let v = value(r);
                [(f64::from(r.start_min), v), (f64::from(r.start_min + r.minutes), v)]
            })
            .collect()
    };
    let series: [Series; 4] = [
        ("out, served (log)", LIGHT_BLUE, |r| r.served_out, 1),
        ("out, fitted", BLUE, |r| r.outbound * f64::from(r.minutes) / 60.0, 3),
        ("in, served (log)", LIGHT_RED, |r| r.served_in, 1),
        ("in, fitted", RED, |r| r.inbound * f64::from(r.minutes) / 60.0, 3),
    ];
    for (label, colour, value, width) in series {
        chart
            .draw_series(LineSeries::new(steps(&value), colour.stroke_width(width)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(width)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// A service-time histogram (density) with both fitted densities.
fn service(
    root: DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    samples: &[f64],
    fitted: &crate::fit::Fitted,
) -> Draw<()> {
    root.fill(&WHITE).map_err(err)?;
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let hi = sorted.get((sorted.len() as f64 * 0.995) as usize).copied().unwrap_or(1.0).max(0.5) * 1.1;
    let mut width = hi / 40.0;
    // Times logged to 0.1 s: bins of whole tenths, or every other bin holds one tick more.
    if sorted.iter().take(1000).all(|x| ((x * 10.0) - (x * 10.0).round()).abs() < 1e-6) {
        width = (width * 10.0).ceil().max(1.0) / 10.0;
    }
    let bins = (hi / width).ceil().max(1.0) as u32;
    let mut counts = vec![0usize; bins as usize];
    for &x in &sorted {
        if x < hi {
            counts[((x / width) as usize).min(bins as usize - 1)] += 1;
        }
    }
    let density: Vec<f64> = counts.iter().map(|&c| c as f64 / (sorted.len() as f64 * width)).collect();
    let curve = |f: &crate::fit::Fit| -> Vec<(f64, f64)> {
        (1..=200).map(|i| hi * f64::from(i) / 200.0).map(|x| (x, f.pdf(x))).collect()
    };
    let ymax = density
        .iter()
        .copied()
        .chain(curve(&fitted.lognormal).iter().map(|p| p.1))
        .chain(curve(&fitted.gamma).iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.1, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..hi, 0.0..ymax)
        .map_err(err)?;
    chart.configure_mesh().x_desc("headway while saturated (s)").y_desc("density (1/s)").draw().map_err(err)?;
    chart
        .draw_series(density.iter().enumerate().map(|(i, &d)| {
            let a = i as f64 * width;
            Rectangle::new([(a, 0.0), (a + width, d)], BLUE.mix(0.35).filled())
        }))
        .map_err(err)?
        .label(format!("headways (n = {})", fitted.n))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], BLUE.mix(0.35).filled()));
    for (family, colour) in [(Family::Lognormal, GREEN), (Family::Gamma, ORANGE)] {
        let f = fitted.of(family);
        chart
            .draw_series(LineSeries::new(curve(f), colour.stroke_width(2)))
            .map_err(err)?
            .label(format!("{} (KS D {:.3}, AIC {:.0})", family.as_str(), f.ks, f.aic))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Write `index.html` and its PNGs into `dir`; the files written, `index.html` first.
pub fn write(cal: &Calibration, dir: &Path) -> Result<Vec<PathBuf>, CalibrateError> {
    let fail = |file: &Path, why: String| CalibrateError::Write { file: file.to_path_buf(), why };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e.to_string()))?;
    register_font().map_err(|e| fail(dir, e))?;
    let mut files = vec![dir.join("index.html")];
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>gatelab calibrate</title>\
         <style>body{{font-family:sans-serif;max-width:920px;margin:2em auto}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f4f4f4}}</style></head><body>\
         <h1>Calibration from gate logs</h1><p>{} events from {} over {} day(s); {} rows skipped. \
         Person ids only joined retries: this report holds counts and rates.</p>",
        cal.events,
        escape(&cal.files.join(", ")),
        cal.days,
        cal.issues.total()
    );
    html.push_str("<h2>Arrivals</h2><p>Served: arrivals at their first attempt, as the log shows them. Fitted: the fragment's rows, reconstructed where a lane was saturated (shaded).</p>");
    for (g, gate) in cal.gates.iter().enumerate() {
        let rows: Vec<&Row> = cal.rows.iter().filter(|r| &r.gate == gate).collect();
        if rows.is_empty() {
            continue;
        }
        let name = format!("arrivals-{g}.png");
        let path = dir.join(&name);
        let bytes = png(|root| arrivals(root, gate, &rows)).map_err(|e| fail(&path, e))?;
        std::fs::write(&path, bytes).map_err(|e| fail(&path, e.to_string()))?;
        let _ = write!(html, "<img src=\"{name}\" alt=\"arrivals at {}\">", escape(gate));
        files.push(path);
    }
    html.push_str("<h2>Service times</h2><p>Headways between attempts of one lane while it was saturated, fitted by maximum likelihood; the family is chosen by AIC over all kinds. The KS critical value assumes continuous times: a log to 0.1 s has ties, which alone lift D by up to the tick's share of the CDF.</p>");
    html.push_str("<table><tr><th>kind</th><th>n</th><th>family</th><th>mean (s)</th><th>cv</th><th>log-likelihood</th><th>AIC</th><th>KS D</th><th>KS 5 % critical</th></tr>");
    for f in &cal.service {
        let Some(fitted) = &f.fitted else {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td colspan=7>not estimated (at least 30 needed)</td></tr>",
                f.kind.label(),
                f.histogram.len()
            );
            continue;
        };
        for family in [Family::Lognormal, Family::Gamma] {
            let x = fitted.of(family);
            let best = if fitted.best().family == family { " ✓" } else { "" };
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}{best}</td><td>{:.3}</td><td>{:.3}</td><td>{:.1}</td><td>{:.1}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                f.kind.label(),
                fitted.n,
                family.as_str(),
                x.mean,
                x.cv,
                x.log_likelihood,
                x.aic,
                x.ks,
                ks_critical_5pct(fitted.n)
            );
        }
    }
    html.push_str("</table>");
    for f in &cal.service {
        let Some(fitted) = &f.fitted else { continue };
        let name = format!("service-{}.png", f.kind.field().trim_end_matches("_s"));
        let path = dir.join(&name);
        let title = format!("{} service time: headways and fitted densities", f.kind.label());
        let bytes = png(|root| service(root, &title, &f.histogram, fitted)).map_err(|e| fail(&path, e))?;
        std::fs::write(&path, bytes).map_err(|e| fail(&path, e.to_string()))?;
        let _ = write!(html, "<img src=\"{name}\" alt=\"{} service time\">", escape(f.kind.label()));
        files.push(path);
    }
    html.push_str("<h2>Skipped rows</h2>");
    if cal.issues.total() == 0 {
        html.push_str("<p>None.</p>");
    } else {
        html.push_str("<table><tr><th>kind</th><th>rows</th></tr>");
        for (kind, n) in &cal.issues.counts {
            let _ = write!(html, "<tr><td>{kind}</td><td>{n}</td></tr>");
        }
        html.push_str("</table><ul>");
        for issue in &cal.issues.listed {
            let _ = write!(html, "<li>{}</li>", escape(&issue.to_string()));
        }
        html.push_str("</ul>");
    }
    html.push_str("<h2>The fragment</h2><pre>");
    html.push_str(&escape(&crate::fragment::write(cal)));
    html.push_str("</pre></body></html>\n");
    // One element a line: readable source, and diffs of two reports line up.
    let html = html
        .replace("</tr>", "</tr>\n")
        .replace("</p>", "</p>\n")
        .replace("<img", "\n<img")
        .replace("</li>", "</li>\n");
    std::fs::write(&files[0], html).map_err(|e| fail(&files[0], e.to_string()))?;
    Ok(files)
}
