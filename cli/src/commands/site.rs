//! `gatelab site check`: load a site (`gatelab-site`), print what it holds and how it was read,
//! and draw it to scale (SVG and PNG, plotters).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use gatelab_site::{Site, SourceKind};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::args::SiteCommand;

pub fn site(command: SiteCommand) -> Result<ExitCode> {
    match command {
        SiteCommand::Check { files, svg, png } => check(files, svg, png),
    }
}

fn check(files: Vec<PathBuf>, svg: Option<PathBuf>, png: Option<PathBuf>) -> Result<ExitCode> {
    if files.len() > 1 && (svg.is_some() || png.is_some()) {
        anyhow::bail!("--svg and --png draw one site: give one file with them");
    }
    let mut bad = 0;
    for file in &files {
        match gatelab_site::load(file) {
            Ok(site) => {
                print!("{}", summary(&site));
                if let Some(path) = &svg {
                    let text = draw_svg(&site)?;
                    std::fs::write(path, text).with_context(|| format!("could not write {}", path.display()))?;
                    println!("  drawn to scale: {}", path.display());
                }
                if let Some(path) = &png {
                    let bytes = draw_png(&site)?;
                    std::fs::write(path, bytes).with_context(|| format!("could not write {}", path.display()))?;
                    println!("  drawn to scale: {}", path.display());
                }
            }
            Err(errors) => {
                bad += 1;
                eprintln!("{errors}");
            }
        }
    }
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// What the site holds, for a planner to read against the drawing.
pub fn summary(site: &Site) -> String {
    let (lo, hi) = site.walkable.bounds();
    let mut out = format!(
        "{}: valid — walkable {:.1} m² within {:.1} × {:.1} m, {} hole(s)\n",
        site.file,
        site.walkable.area(),
        hi.x - lo.x,
        hi.y - lo.y,
        site.walkable.holes().len()
    );
    for note in &site.notes {
        out.push_str(&format!("  read: {note}\n"));
    }
    for gate in &site.gates {
        out.push_str(&format!("  gate '{}': {:.2} m wide\n", gate.name, (gate.line.b - gate.line.a).length()));
    }
    for source in &site.sources {
        match source.kind {
            SourceKind::Residents { share } => out.push_str(&format!(
                "  source '{}': residents, share {:.2}, at ({:.1}, {:.1})\n",
                source.name, share, source.at.x, source.at.y
            )),
            SourceKind::Street => out.push_str(&format!(
                "  street '{}': visitors and couriers, at ({:.1}, {:.1})\n",
                source.name, source.at.x, source.at.y
            )),
        }
    }
    for queue in &site.queues {
        let holds: Vec<String> = gatelab_site::QueuingLevel::ALL
            .into_iter()
            .filter_map(|level| Some(format!("{level} {}", queue.holds_at(level)?)))
            .collect();
        out.push_str(&format!(
            "  queue area for '{}': {:.1} m², holds at Fruin level {}\n",
            queue.gate,
            queue.area_m2,
            holds.join(", ")
        ));
    }
    for skipped in &site.skipped {
        out.push_str(&format!("  skipped: {skipped}\n"));
    }
    out
}

/// Pixels per metre and the picture's size for a site.
fn layout(site: &Site) -> (f64, (u32, u32)) {
    let (lo, hi) = site.walkable.bounds();
    let (w, h) = ((hi.x - lo.x).max(1.0), (hi.y - lo.y).max(1.0));
    let scale = (900.0 / w).min(900.0 / h);
    // 40 px margins, 120 more on the right for labels.
    (scale, ((w * scale) as u32 + 200, (h * scale) as u32 + 80))
}

pub fn draw_svg(site: &Site) -> Result<String> {
    gatelab_plan::report::register_font()?;
    let (_, size) = layout(site);
    let mut svg = String::new();
    draw(SVGBackend::with_string(&mut svg, size).into_drawing_area(), site)?;
    Ok(svg)
}

fn draw_png(site: &Site) -> Result<Vec<u8>> {
    gatelab_plan::report::register_font()?;
    let (_, size) = layout(site);
    crate::faces_plots::png_sized(size, |root| draw(root, site))
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing the site failed: {e:?}")
}

/// The site to scale: ground, obstacles, queue areas, gates, sources, a 10 m scale bar.
fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, site: &Site) -> Result<()> {
    let (scale, (_, h)) = layout(site);
    let (lo, _) = site.walkable.bounds();
    root.fill(&WHITE).map_err(err)?;
    // Metres to pixels: y up, 40 px margin.
    let px = |x: f64, y: f64| -> (i32, i32) {
        (40 + ((x - lo.x) * scale) as i32, h as i32 - 40 - ((y - lo.y) * scale) as i32)
    };
    let ring = |corners: &[gatelab_walk::Vec2]| -> Vec<(i32, i32)> { corners.iter().map(|c| px(c.x, c.y)).collect() };
    root.draw(&Polygon::new(ring(&site.walkable.outline()), RGBColor(228, 228, 222).filled())).map_err(err)?;
    for hole in site.walkable.holes() {
        root.draw(&Polygon::new(ring(&hole), RGBColor(120, 120, 130).filled())).map_err(err)?;
    }
    let font = ("sans-serif", 13).into_font();
    for queue in &site.queues {
        let points: Vec<(i32, i32)> = queue.outline.iter().map(|p| px(p.x, p.y)).collect();
        root.draw(&Polygon::new(points.clone(), RGBColor(90, 170, 90).mix(0.35).filled())).map_err(err)?;
        let label = format!("queue {}: {:.0} m²", queue.gate, queue.area_m2);
        // Above its top-left corner, clear of the gate's label below.
        let corner = points.iter().fold((i32::MAX, i32::MAX), |(x, y), p| (x.min(p.0), y.min(p.1)));
        root.draw(&Text::new(label, (corner.0, corner.1 - 16), font.clone())).map_err(err)?;
    }
    for gate in &site.gates {
        let (a, b) = (px(gate.line.a.x, gate.line.a.y), px(gate.line.b.x, gate.line.b.y));
        root.draw(&PathElement::new(vec![a, b], RED.stroke_width(4))).map_err(err)?;
        root.draw(&Text::new(format!("gate {}", gate.name), (a.0, a.1 + 6), font.clone())).map_err(err)?;
    }
    for source in &site.sources {
        let colour = match source.kind {
            SourceKind::Residents { .. } => BLUE,
            SourceKind::Street => RGBColor(230, 130, 0),
        };
        if source.points.len() > 1 {
            let path: Vec<(i32, i32)> = source.points.iter().map(|p| px(p.x, p.y)).collect();
            root.draw(&PathElement::new(path, colour.stroke_width(3))).map_err(err)?;
        }
        let at = px(source.at.x, source.at.y);
        root.draw(&Circle::new(at, 5, colour.filled())).map_err(err)?;
        root.draw(&Text::new(source.name.clone(), (at.0 + 7, at.1 - 7), font.clone())).map_err(err)?;
    }
    // A 10 m scale bar under the drawing.
    let (x0, y0) = (40, h as i32 - 15);
    root.draw(&PathElement::new(vec![(x0, y0), (x0 + (10.0 * scale) as i32, y0)], BLACK.stroke_width(3)))
        .map_err(err)?;
    root.draw(&Text::new("10 m", (x0 + (10.0 * scale) as i32 + 6, y0 - 8), font)).map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
