//! `gatelab serve`: the planner's workbench in the browser.
//!
//! A planner keeps **alternatives** — each a folder under `DATA/alternatives/<id>/` holding the
//! scenario as edited (`scenario.toml`, plus the site drawing it walks on, copied or
//! uploaded), the plan's settings and its last run (`alternative.json`, `run.json`) and the
//! plan's files (`plan/`: exactly what `gatelab plan` writes). The server holds nothing the
//! folder does not: restart it and every alternative, edit and result is still there.
//!
//! What it knows: HTTP (axum), the scenario schema and its validator (every edit is checked
//! by `Scenario::validate`, messages shown beside the field), and the [`Engine`] the binary
//! hands it — the same library calls as `gatelab plan`, so a plan run here and one run from
//! the command line on the downloaded scenario have the same bytes. It never knows plotting,
//! the planner's internals or faces: it accepts no photo or template, and shows none.
//!
//! Safety: it binds to 127.0.0.1 unless told otherwise (and warns when it is); with a token
//! every request needs it (`Authorization: Bearer …`, or the cookie `/login?token=…` sets);
//! uploads are size-limited and read by the validated loaders; file names from requests are
//! never used as paths (ids are the server's own; a download must name a file the folder
//! lists); plans run one at a time in a queue, each alternative at most once in it.

mod http;
mod jobs;
mod pages;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
pub use gatelab_sim::progress::Progress;
pub use store::Settings;

/// What the binary does for the server: the same calls as its own commands.
pub trait Engine: Send + Sync + 'static {
    /// Plans the scenario at `scenario` into the folder `out`, as `gatelab plan SCENARIO --out
    /// OUT` with the settings' options would, reporting to `progress` (and stopping with an
    /// error when it says it was cancelled).
    fn plan(&self, scenario: &Path, settings: &Settings, out: &Path, progress: &dyn Progress) -> Result<()>;
    /// The scenario's site drawn to scale as SVG, if it walks on one.
    fn site_svg(&self, scenario: &gatelab_scenario::Scenario) -> Result<Option<String>>;
    /// Records one replication of the scenario's first `minutes` into the file `recording`, as
    /// `gatelab run SCENARIO --replications 1 --duration-min MINUTES --record FILE` would (the
    /// recording the viewer plays); its other outputs go to the folder `out`.
    fn record(&self, scenario: &Path, minutes: u32, recording: &Path, out: &Path) -> Result<()>;
    /// Calibrates from a gate log (gatelab's `passages.csv` or its documented layout) into the
    /// scenario fragment `fragment`, as `gatelab calibrate LOG --out FRAGMENT` would; returns
    /// what it read and skipped, in a line.
    fn calibrate(&self, log: &Path, fragment: &Path) -> Result<String>;
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: std::net::IpAddr,
    /// 0: any free port (printed).
    pub port: u16,
    /// Where alternatives live.
    pub data: PathBuf,
    /// Required on every request when given.
    pub token: Option<String>,
    /// The shipped scenarios a new alternative can start from.
    pub scenarios: PathBuf,
    /// Largest upload accepted, bytes.
    pub max_upload: usize,
}

/// Runs the server until the process is stopped. Prints `listening on http://ADDR/` (with the
/// port chosen) once it accepts connections.
pub fn serve(config: Config, engine: Arc<dyn Engine>) -> Result<()> {
    if !config.bind.is_loopback() {
        eprintln!(
            "warning: serving on {} — anyone who can reach this address can run plans here{}",
            config.bind,
            if config.token.is_some() { " with the token" } else { "; give --token to require one" }
        );
    }
    let store = store::Store::open(&config.data.join("alternatives"))?;
    let interrupted = store.mark_interrupted()?;
    if interrupted > 0 {
        eprintln!("{interrupted} plan(s) were running when the server last stopped: marked interrupted");
    }
    let jobs = jobs::Jobs::start(store.clone(), engine.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()
        .context("could not start the server's runtime")?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(config.bind, config.port);
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("could not listen on {addr}"))?;
        let local = listener.local_addr()?;
        let app = http::router(http::AppState {
            store,
            jobs,
            engine,
            token: config.token.clone(),
            scenarios: config.scenarios.clone(),
            max_upload: config.max_upload,
        });
        println!("listening on http://{local}/");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(listener, app).await.context("the server stopped")
    })
}
