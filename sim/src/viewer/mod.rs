//! `gatelab view` (cargo feature `viewer`): the gate area drawn to scale in a Bevy window —
//! lanes, terminals, doors, the guard booth and car gate, everyone in the plaza — with a clock,
//! live counters and playback controls; replays of recordings; screenshots rendered off-screen.
//!
//! The viewer never simulates anything itself. Live, it steps the very app `gatelab run` builds
//! ([`crate::engine::build_app`]) and only *reads* its state ([`crate::engine::capture::capture_frame`]);
//! a replay reads a recording. Both become a [`Frame`], and the same systems draw it.

mod feed;
mod scene;
mod shot;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use bevy::window::{ExitCondition, WindowResolution};

pub use feed::{Feed, LiveSim};
pub use scene::look_color;

use crate::record::{Frame, Recording};
use gatelab_scenario::Scenario;

/// Playback speeds: ×1, ×2, … ×64 simulated seconds per second.
pub const MAX_SPEED: u32 = 64;

/// What to show and how.
#[derive(Debug, Clone)]
pub struct ViewArgs {
    pub source: Source,
    /// Simulated seconds per real second (1…64, a power of two).
    pub speed: u32,
    /// Start at this time (milliseconds since midnight) instead of the beginning.
    pub start_ms: Option<u64>,
    pub paused: bool,
    /// Window (or screenshot) size in pixels.
    pub size: (u32, u32),
    /// Render one frame at a time to a PNG and exit.
    pub screenshot: Option<ScreenshotArgs>,
}

#[derive(Debug, Clone)]
pub enum Source {
    /// `seed` as for `gatelab run`: the viewer shows its replication 0.
    Live {
        scenario: Box<Scenario>,
        seed: u64,
    },
    Replay(PathBuf),
}

#[derive(Debug, Clone)]
pub struct ScreenshotArgs {
    pub out: PathBuf,
    /// Milliseconds since midnight.
    pub at_ms: u64,
}

/// Playback state: the time shown, how fast it runs.
#[derive(Resource, Debug)]
pub struct ViewClock {
    pub t_ms: f64,
    pub speed: u32,
    pub paused: bool,
    /// Digits typed after `J` (jump to HH:MM).
    pub typing: Option<String>,
    /// 1 shows the whole plaza; Z and X zoom in on the gate and out again.
    pub zoom: f32,
}

/// The frame drawn this update.
#[derive(Resource, Debug, Default)]
pub struct Shown(pub Frame);

/// Open the viewer (or take the screenshot) and return when it is closed.
pub fn run(args: ViewArgs) -> Result<()> {
    let mut feed = match &args.source {
        Source::Live { scenario, seed } => Feed::live(
            scenario,
            crate::run::replication_seed(*seed, 0),
            format!("{}: live, seed {seed}", scenario.name),
        )?,
        Source::Replay(path) => Feed::replay(Recording::load(path)?),
    };
    let (start_ms, end_ms) = feed.span_ms();
    let at = args.screenshot.as_ref().map(|s| s.at_ms).or(args.start_ms);
    if let Some(at) = at {
        if at < start_ms || at > end_ms + crate::engine::DRAIN_MS {
            bail!(
                "{} is outside the run ({} to {}): pick a time in that window",
                clock_hm(at),
                clock_hm(start_ms),
                clock_hm(end_ms)
            );
        }
        // Fast-forward without drawing anything: only the simulation's own steps run.
        feed.jump_to(at)?;
    }
    let t_ms = at.unwrap_or(start_ms);
    feed.advance_to(t_ms);
    let first = feed.frame_at(t_ms)?;
    let (width, height) = args.size;

    let mut app = App::new();
    match &args.screenshot {
        Some(shot) => {
            // Off-screen: no window, no display needed; the camera renders into an image.
            app.add_plugins(
                DefaultPlugins
                    .set(WindowPlugin {
                        primary_window: None,
                        exit_condition: ExitCondition::DontExit,
                        close_when_requested: false,
                        ..default()
                    })
                    // One frame matters: have every pipeline ready before it is drawn.
                    .set(bevy::render::RenderPlugin { synchronous_pipeline_compilation: true, ..default() })
                    .disable::<bevy::winit::WinitPlugin>(),
            )
            .add_plugins(ScheduleRunnerPlugin::run_loop(Duration::from_millis(1)))
            .insert_resource(shot::ShotJob::new(shot.out.clone(), (width, height)));
        }
        None => {
            app.add_plugins(DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: format!("gatelab view: {}", feed.title()),
                    resolution: WindowResolution::new(width, height),
                    ..default()
                }),
                ..default()
            }));
        }
    }
    let outcome = shot::Outcome::default();
    app.insert_resource(ClearColor(scene::BACKGROUND))
        .insert_resource(ViewClock {
            t_ms: t_ms as f64,
            speed: args.speed.clamp(1, MAX_SPEED),
            paused: args.paused || args.screenshot.is_some(),
            typing: None,
            zoom: 1.0,
        })
        .insert_resource(Shown(first))
        .insert_resource(feed)
        .insert_resource(outcome.clone())
        .add_plugins(scene::ScenePlugin);
    if args.screenshot.is_some() {
        app.add_plugins(shot::ShotPlugin);
    } else {
        app.add_systems(Update, (controls, advance).chain().before(scene::DrawSet));
    }
    let exit = app.run();
    if let Some(message) = outcome.error() {
        bail!("{message}");
    }
    match exit {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => bail!("the viewer stopped with an error (code {code}); see the log above"),
    }
}

pub fn clock_hm(ms: u64) -> String {
    format!("{:02}:{:02}", ms / 3_600_000, ms / 60_000 % 60)
}

/// Keyboard: Space pause, → step, ↑/↓ speed, [ / ] five minutes back or on, Home the start,
/// J then HHMM and Enter jump to a time, Z/X zoom in on the gate and out, P save a screenshot.
fn controls(
    keys: Res<ButtonInput<KeyCode>>,
    mut clock: ResMut<ViewClock>,
    mut feed: ResMut<Feed>,
    mut commands: Commands,
) {
    let clock = &mut *clock;
    if let Some(typed) = &mut clock.typing {
        const DIGITS: [KeyCode; 10] = [
            KeyCode::Digit0,
            KeyCode::Digit1,
            KeyCode::Digit2,
            KeyCode::Digit3,
            KeyCode::Digit4,
            KeyCode::Digit5,
            KeyCode::Digit6,
            KeyCode::Digit7,
            KeyCode::Digit8,
            KeyCode::Digit9,
        ];
        for (d, key) in DIGITS.iter().enumerate() {
            if keys.just_pressed(*key) && typed.len() < 4 {
                typed.push(char::from(b'0' + d as u8));
            }
        }
        if keys.just_pressed(KeyCode::Backspace) {
            typed.pop();
        }
        if keys.just_pressed(KeyCode::Escape) {
            clock.typing = None;
        } else if keys.just_pressed(KeyCode::Enter) {
            let minutes = typed.parse::<u64>().ok().filter(|_| typed.len() == 4).map(|n| n / 100 * 60 + n % 100);
            if let Some(m) = minutes {
                jump(clock, &mut feed, m * 60_000);
            }
            clock.typing = None;
        }
        return;
    }
    if keys.just_pressed(KeyCode::Space) {
        clock.paused = !clock.paused;
    }
    if keys.just_pressed(KeyCode::ArrowUp) {
        clock.speed = (clock.speed * 2).min(MAX_SPEED);
    }
    if keys.just_pressed(KeyCode::ArrowDown) {
        clock.speed = (clock.speed / 2).max(1);
    }
    if keys.just_pressed(KeyCode::ArrowRight) {
        clock.paused = true;
        if let Some(next) = feed.next_time_ms() {
            clock.t_ms = clock.t_ms.max(next as f64);
            feed.advance_to(clock.t_ms as u64);
        }
    }
    let now = clock.t_ms as u64;
    if keys.just_pressed(KeyCode::BracketRight) {
        jump(clock, &mut feed, now + 5 * 60_000);
    }
    if keys.just_pressed(KeyCode::BracketLeft) {
        jump(clock, &mut feed, now.saturating_sub(5 * 60_000));
    }
    if keys.just_pressed(KeyCode::Home) {
        let (start, _) = feed.span_ms();
        jump(clock, &mut feed, start);
    }
    if keys.just_pressed(KeyCode::KeyZ) {
        clock.zoom = (clock.zoom * 2.0).min(8.0);
    }
    if keys.just_pressed(KeyCode::KeyX) {
        clock.zoom = (clock.zoom / 2.0).max(1.0);
    }
    if keys.just_pressed(KeyCode::KeyJ) {
        clock.typing = Some(String::new());
    }
    if keys.just_pressed(KeyCode::KeyP) {
        let path = format!("gatelab-{}.png", clock_hm(now).replace(':', ""));
        commands
            .spawn(bevy::render::view::screenshot::Screenshot::primary_window())
            .observe(bevy::render::view::screenshot::save_to_disk(path));
    }
}

fn jump(clock: &mut ViewClock, feed: &mut Feed, t_ms: u64) {
    let (start, _) = feed.span_ms();
    let t_ms = t_ms.max(start);
    match feed.jump_to(t_ms) {
        Ok(()) => clock.t_ms = t_ms as f64,
        Err(e) => error!("could not jump to {}: {e:#}", clock_hm(t_ms)),
    }
}

/// Move the shown time on by the real time elapsed × speed, and bring the feed there.
fn advance(time: Res<Time>, mut clock: ResMut<ViewClock>, mut feed: ResMut<Feed>, mut shown: ResMut<Shown>) {
    if !clock.paused {
        // At most a tenth of a second of real time per frame: a stalled window does not leap.
        let real_s = time.delta_secs_f64().min(0.1);
        clock.t_ms += real_s * 1000.0 * f64::from(clock.speed);
        if feed.finished() {
            clock.paused = true;
        }
    }
    let t = clock.t_ms as u64;
    feed.advance_to(t);
    match feed.frame_at(t) {
        Ok(frame) => shown.0 = frame,
        Err(e) => error!("{e:#}"),
    }
}
