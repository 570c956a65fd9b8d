//! `gatelab view --screenshot OUT.png --at HH:MM`: render the frame off-screen, save it, write
//! `OUT.counts.json` (who was drawn where, and the simulation's own count), exit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use bevy::camera::RenderTarget;
use bevy::camera::visibility::ViewVisibility;
use bevy::prelude::*;
use bevy::render::render_resource::TextureFormat;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use serde_json::json;

use super::scene::{AgentMark, DrawSet, ViewCamera};
use super::{Feed, Shown, clock_hm};

/// Updates to let the renderer settle (pipelines compiled, text laid out) before capturing.
const WARMUP_UPDATES: u32 = 30;
/// Give up if the capture has not come back after this many more updates.
const CAPTURE_TIMEOUT_UPDATES: u32 = 600;

#[derive(Resource, Debug)]
pub struct ShotJob {
    pub out: PathBuf,
    pub size: (u32, u32),
    /// The image the camera renders into (set when the camera is spawned).
    pub image: Option<Handle<Image>>,
    updates: u32,
}

impl ShotJob {
    pub fn new(out: PathBuf, size: (u32, u32)) -> ShotJob {
        ShotJob { out, size, image: None, updates: 0 }
    }
}

/// Why the screenshot failed, if it did (read after the app has exited).
#[derive(Resource, Clone, Debug, Default)]
pub struct Outcome(Arc<Mutex<Option<String>>>);

impl Outcome {
    fn fail(&self, message: String) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(message);
        }
    }
    pub fn error(&self) -> Option<String> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

#[derive(Debug)]
pub struct ShotPlugin;

impl Plugin for ShotPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(PostStartup, render_into_image).add_systems(Update, take_shot.after(DrawSet));
    }
}

/// Off-screen: the view's camera renders into an image the size of the requested screenshot.
fn render_into_image(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    job: Option<ResMut<ShotJob>>,
    cameras: Query<Entity, With<ViewCamera>>,
) {
    let Some(mut job) = job else { return };
    let (w, h) = job.size;
    let handle = images.add(Image::new_target_texture(w, h, TextureFormat::Rgba8UnormSrgb, None));
    for camera in &cameras {
        commands.entity(camera).insert(RenderTarget::Image(handle.clone().into()));
    }
    job.image = Some(handle);
}

/// The counts file's path: `OUT.png` → `OUT.counts.json`.
pub fn counts_path(out: &Path) -> PathBuf {
    out.with_extension("counts.json")
}

#[expect(clippy::too_many_arguments, reason = "a Bevy system: each parameter is one thing it reads or writes")]
fn take_shot(
    mut commands: Commands,
    mut job: ResMut<ShotJob>,
    mut feed: ResMut<Feed>,
    shown: Res<Shown>,
    outcome: Res<Outcome>,
    marks: Query<(&AgentMark, &GlobalTransform, &ViewVisibility)>,
    cameras: Query<(&Camera, &GlobalTransform), With<ViewCamera>>,
    mut exit: MessageWriter<AppExit>,
) {
    job.updates += 1;
    if job.updates > WARMUP_UPDATES + CAPTURE_TIMEOUT_UPDATES {
        outcome.fail(format!(
            "the renderer gave back no image after {} updates (is a Vulkan driver installed? \
             Debian: mesa-vulkan-drivers)",
            job.updates
        ));
        exit.write(AppExit::error());
        return;
    }
    if job.updates != WARMUP_UPDATES {
        return;
    }
    let Some(image) = job.image.clone() else {
        outcome.fail("the off-screen camera has no image to render into".into());
        exit.write(AppExit::error());
        return;
    };
    let Ok((camera, camera_at)) = cameras.single() else {
        outcome.fail("no camera".into());
        exit.write(AppExit::error());
        return;
    };
    // What was drawn: people the renderer found inside the view, where they landed in pixels.
    let mut by_look: BTreeMap<&str, u32> = BTreeMap::new();
    let mut drawn = Vec::new();
    for (mark, at, visible) in &marks {
        if !visible.get() {
            continue;
        }
        let Ok(px) = camera.world_to_viewport(camera_at, at.translation()) else { continue };
        *by_look.entry(mark.look.as_str()).or_default() += 1;
        drawn.push(json!({ "serial": mark.serial, "look": mark.look.as_str(), "x": px.x.round(), "y": px.y.round() }));
    }
    let sim_agents = match &mut *feed {
        Feed::Live { sim, .. } => sim.bodies(),
        Feed::Replay(_) => shown.0.agents.len(),
    };
    let t = shown.0.t_ms;
    let counts = json!({
        "scenario": feed.title(),
        "at": clock_hm(t),
        "t_ms": t,
        "size": [job.size.0, job.size.1],
        "agents_drawn": drawn.len(),
        "agents_by_look": by_look,
        "tailgaters_drawn": shown.0.agents.iter().filter(|a| a.tailgating).count(),
        "sim_agents": sim_agents,
        "agents": drawn,
    });
    let out = job.out.clone();
    let outcome = outcome.clone();
    commands.spawn(Screenshot::image(image)).observe(
        move |captured: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| match save(
            &out,
            captured.image.clone(),
            &counts,
        ) {
            Ok(()) => {
                info!("wrote {} and {}", out.display(), counts_path(&out).display());
                exit.write(AppExit::Success);
            }
            Err(e) => {
                outcome.fail(format!("{e:#}"));
                exit.write(AppExit::error());
            }
        },
    );
}

fn save(out: &Path, image: Image, counts: &serde_json::Value) -> Result<()> {
    let rgba = image.try_into_dynamic().map_err(|e| anyhow::anyhow!("the rendered image: {e}"))?.to_rgba8();
    let (w, h) = (rgba.width(), rgba.height());
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    let file = std::fs::File::create(out).with_context(|| format!("could not create {}", out.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().with_context(|| format!("could not write {}", out.display()))?;
    writer.write_image_data(rgba.as_raw()).with_context(|| format!("could not write {}", out.display()))?;
    writer.finish().with_context(|| format!("could not write {}", out.display()))?;
    let counts_file = counts_path(out);
    std::fs::write(&counts_file, serde_json::to_string_pretty(counts)? + "\n")
        .with_context(|| format!("could not write {}", counts_file.display()))?;
    Ok(())
}
