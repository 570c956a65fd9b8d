//! The level-of-service map of a gate in a site, drawn to scale: the ground (grey), its
//! obstacles and the lane cabinets (dark), each half-metre cell coloured by the Fruin queuing
//! level of the mean density about it (the 1.5 m square) over the gate's busiest 15 minutes
//! (blank where nobody came),
//! the queue where it stood when longest (dots), a legend and a 5 m scale bar. SVG for the
//! report, PNG to look at, and the grid as CSV.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use gatelab_sim::QueuingLevel;
use gatelab_sim::engine::los_map::DensityMap;
use plotters::coord::Shift;
use plotters::prelude::*;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing the level-of-service map failed: {e:?}")
}

/// Fruin's levels, A (roomy) to F (crushed), from green to dark red.
fn colour(level: QueuingLevel) -> RGBColor {
    match level {
        QueuingLevel::A => RGBColor(150, 210, 150),
        QueuingLevel::B => RGBColor(80, 180, 90),
        QueuingLevel::C => RGBColor(240, 210, 60),
        QueuingLevel::D => RGBColor(245, 150, 40),
        QueuingLevel::E => RGBColor(220, 50, 40),
        QueuingLevel::F => RGBColor(130, 0, 20),
    }
}

const LEVELS: [QueuingLevel; 6] =
    [QueuingLevel::A, QueuingLevel::B, QueuingLevel::C, QueuingLevel::D, QueuingLevel::E, QueuingLevel::F];

/// Pixels per metre and the picture's size: the ground within 900 × 700 px, a legend beside.
fn frame(map: &DensityMap) -> (f64, (u32, u32)) {
    let w = map.nx as f64 * map.cell_m;
    let h = map.ny as f64 * map.cell_m;
    let scale = (900.0 / w).min(700.0 / h);
    (scale, ((w * scale) as u32 + 260, (h * scale) as u32 + 110))
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, map: &DensityMap) -> Result<()> {
    let (scale, (_, h)) = frame(map);
    let [x0, y0] = map.origin;
    root.fill(&WHITE).map_err(err)?;
    let px =
        |x: f64, y: f64| -> (i32, i32) { (40 + ((x - x0) * scale) as i32, h as i32 - 70 - ((y - y0) * scale) as i32) };
    let ring = |r: &[[f64; 2]]| -> Vec<(i32, i32)> { r.iter().map(|p| px(p[0], p[1])).collect() };
    // What is not ground (fence, gate housing, buildings on the edge) is drawn as obstacle.
    let (far_x, far_y) = (x0 + map.nx as f64 * map.cell_m, y0 + map.ny as f64 * map.cell_m);
    root.draw(&Rectangle::new([px(x0, far_y), px(far_x, y0)], RGBColor(110, 110, 120).filled())).map_err(err)?;
    root.draw(&Polygon::new(ring(&map.outline), RGBColor(228, 228, 222).filled())).map_err(err)?;
    for hole in &map.holes {
        root.draw(&Polygon::new(ring(hole), RGBColor(110, 110, 120).filled())).map_err(err)?;
    }
    for j in 0..map.ny {
        for i in 0..map.nx {
            let d = map.density[j * map.nx + i];
            if d <= 0.0 {
                continue;
            }
            let (x, y) = (x0 + i as f64 * map.cell_m, y0 + j as f64 * map.cell_m);
            let (a, b) = (px(x, y + map.cell_m), px(x + map.cell_m, y));
            root.draw(&Rectangle::new([a, b], colour(QueuingLevel::of_density(d)).filled())).map_err(err)?;
        }
    }
    for p in &map.queue_at_longest {
        root.draw(&Circle::new(px(f64::from(p[0]), f64::from(p[1])), 3, BLACK.filled())).map_err(err)?;
    }
    let font = ("sans-serif", 14).into_font();
    let title = format!(
        "gate {}: level of service, busiest 15 minutes (mean of {} replication(s)); dots: the queue at its longest",
        map.gate, map.replications
    );
    root.draw(&Text::new(title, (40, 12), font.clone())).map_err(err)?;
    let (lx, _) = px(x0 + map.nx as f64 * map.cell_m, y0);
    for (k, level) in LEVELS.iter().enumerate() {
        let top = 50 + 24 * k as i32;
        root.draw(&Rectangle::new([(lx + 20, top), (lx + 38, top + 16)], colour(*level).filled())).map_err(err)?;
        let label = match level.max_density_per_m2() {
            d if d.is_finite() => format!("{level}: ≤ {d:.2} /m²"),
            _ => format!("{level}: more"),
        };
        root.draw(&Text::new(label, (lx + 44, top), font.clone())).map_err(err)?;
    }
    // A 5 m scale bar under the ground.
    let (bx, by) = (40, h as i32 - 30);
    root.draw(&PathElement::new(vec![(bx, by), (bx + (5.0 * scale) as i32, by)], BLACK.stroke_width(3)))
        .map_err(err)?;
    root.draw(&Text::new("5 m", (bx + (5.0 * scale) as i32 + 6, by - 8), font)).map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

pub fn svg(map: &DensityMap) -> Result<String> {
    gatelab_plan::report::register_font()?;
    let (_, size) = frame(map);
    let mut out = String::new();
    draw(SVGBackend::with_string(&mut out, size).into_drawing_area(), map)?;
    Ok(out)
}

pub fn png(map: &DensityMap) -> Result<Vec<u8>> {
    gatelab_plan::report::register_font()?;
    let (_, size) = frame(map);
    crate::faces_plots::png_sized(size, |root| draw(root, map))
}

/// Writes `los_map_<gate>.svg`, `.png` and `.csv` (x, y of each cell's centre in the gate's
/// frame, persons/m², level; cells where somebody stood) into `dir`.
pub fn write(dir: &Path, maps: &[DensityMap]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for map in maps {
        let stem: String = map.gate.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let path = dir.join(format!("los_map_{stem}.svg"));
        std::fs::write(&path, svg(map)?).with_context(|| format!("could not write {}", path.display()))?;
        files.push(path);
        let path = dir.join(format!("los_map_{stem}.png"));
        std::fs::write(&path, png(map)?).with_context(|| format!("could not write {}", path.display()))?;
        files.push(path);
        let path = dir.join(format!("los_map_{stem}.csv"));
        let mut w = csv::Writer::from_path(&path).with_context(|| format!("could not create {}", path.display()))?;
        w.write_record(["x_m", "y_m", "density_per_m2", "level"])?;
        for j in 0..map.ny {
            for i in 0..map.nx {
                let d = map.density[j * map.nx + i];
                if d > 0.0 {
                    let x = map.origin[0] + (i as f64 + 0.5) * map.cell_m;
                    let y = map.origin[1] + (j as f64 + 0.5) * map.cell_m;
                    let level = QueuingLevel::of_density(d).to_string();
                    w.write_record([format!("{x:.2}"), format!("{y:.2}"), format!("{d:.4}"), level])?;
                }
            }
        }
        w.flush().with_context(|| format!("could not write {}", path.display()))?;
        files.push(path);
    }
    Ok(files)
}
