//! Trajectories in the Jülich archive's text format, which PedPy's `load_trajectory` reads:
//! `#` comment lines (one naming the frame rate, units in `x/m`), then one whitespace-separated
//! row `id frame x y` per person and frame, metres.

use std::io::{self, Write};

use crate::crowd::Crowd;

/// Writes a crowd's positions frame by frame.
#[derive(Debug)]
pub struct TrajectoryWriter<W: Write> {
    out: W,
    frame: u64,
    /// Write every k-th step (1: every step).
    every: u64,
    rows: u64,
}

impl<W: Write> TrajectoryWriter<W> {
    /// Starts the file: a description, the frame rate, the units and the columns.
    pub fn new(mut out: W, description: &str, frame_rate: f64, every: u64) -> io::Result<Self> {
        write_header(&mut out, description, frame_rate)?;
        Ok(Self { out, frame: 0, every: every.max(1), rows: 0 })
    }

    /// Records the crowd after a step (only every k-th call writes a frame).
    pub fn record(&mut self, crowd: &Crowd) -> io::Result<()> {
        if crowd.steps().is_multiple_of(self.every) {
            for p in crowd.persons() {
                write_row(&mut self.out, u64::from(p.id) + 1, self.frame, p.pos.x, p.pos.y)?;
                self.rows += 1;
            }
            self.frame += 1;
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The file's header: a description, the frame rate, the units and the columns.
pub fn write_header(out: &mut impl Write, description: &str, frame_rate: f64) -> io::Result<()> {
    writeln!(out, "# description: {}", description.replace('\n', " "))?;
    writeln!(out, "# framerate: {frame_rate} fps")?;
    writeln!(out, "# geometry: see the walkable area written beside this file")?;
    writeln!(out, "# id: person, frame: frame number, x/m, y/m")?;
    writeln!(out, "# id\tframe\tx/m\ty/m")
}

/// One person in one frame.
pub fn write_row(out: &mut impl Write, id: u64, frame: u64, x: f64, y: f64) -> io::Result<()> {
    writeln!(out, "{id}\t{frame}\t{x:.4}\t{y:.4}")
}
