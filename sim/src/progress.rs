//! How long work says how far it got. Libraries report; only the binary draws (a terminal
//! progress bar), so the simulation and the planner never depend on a terminal crate.

/// Receives the progress of one piece of long work, possibly from several threads at once.
pub trait Progress: Sync {
    /// The work is `total` units long; `label` says what it is ("simulating 10 × Dongcheng").
    fn start(&self, total: u64, label: &str);
    /// `units` more are done.
    fn advance(&self, units: u64);
    /// All done (or abandoned): stop showing anything.
    fn finish(&self);
    /// Whoever watches wants the work stopped (the browser's cancel): long loops ask between
    /// units and end with an error saying so.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress nobody watches.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: u64, _: &str) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
