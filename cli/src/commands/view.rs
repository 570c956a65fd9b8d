//! `gatelab view`: the rendered viewer (feature `viewer`), live or from a recording.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::ViewArgs;

#[cfg(feature = "viewer")]
pub fn view(args: ViewArgs) -> Result<ExitCode> {
    use gatelab_sim::viewer;
    let source = match args.replay {
        Some(file) => viewer::Source::Replay(file),
        None => {
            let (scenario, _) = super::load_scenario(args.scenario.as_deref())?;
            // Shows replication 0 of `gatelab run --seed S`: the passages of its passages.csv.
            let seed = args.seed.unwrap_or(scenario.run.seed);
            viewer::Source::Live { scenario: Box::new(scenario), seed }
        }
    };
    let screenshot = match (args.screenshot, args.at) {
        (Some(out), Some(at_ms)) => Some(viewer::ScreenshotArgs { out, at_ms }),
        _ => None,
    };
    let view = viewer::ViewArgs {
        source,
        speed: args.speed,
        start_ms: args.start,
        paused: args.paused,
        size: args.size,
        screenshot,
    };
    let shot = view.screenshot.clone();
    viewer::run(view)?;
    if let Some(shot) = shot {
        println!("wrote {} and {}", shot.out.display(), shot.out.with_extension("counts.json").display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "viewer"))]
pub fn view(args: ViewArgs) -> Result<ExitCode> {
    // The arguments were already checked by clap, so a typo is reported before the long rebuild.
    let _ = args;
    anyhow::bail!(
        "this gatelab was built without the viewer: rebuild with --features viewer, e.g.\n  \
         cargo run --release --features viewer -- view"
    )
}
