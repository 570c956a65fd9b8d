//! The one progress bar of `gatelab run`, `plan` and `sweep`: an indicatif bar on stderr behind
//! the libraries' [`Progress`] trait, hidden with `--quiet` (and when stderr is no terminal,
//! which indicatif detects).

use gatelab_sim::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// A terminal progress bar, or nothing when `quiet`.
#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new(quiet: bool) -> Bar {
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {percent}% ({elapsed} elapsed, ~{eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Bar { bar }
    }
}

impl Progress for Bar {
    fn start(&self, total: u64, label: &str) {
        // A second piece of work (the plan's sensitivity runs) starts a fresh bar.
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_message(label.to_string());
    }
    fn advance(&self, units: u64) {
        self.bar.inc(units);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
