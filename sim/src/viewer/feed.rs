//! Where the viewer's frames come from: the live simulation (the very app `gatelab run` builds,
//! stepped here) or a recording played back.

use anyhow::Result;
use bevy::prelude::*;

use crate::engine::model::Clock;
use crate::engine::{Keep, Simulation};
use crate::record::{AgentDot, Frame, Player, Recording, Stage};
use gatelab_scenario::Scenario;

/// The simulation of one replication, owned by the viewer and stepped on demand (through the
/// engine's one stepping API, as a headless run is).
pub struct LiveSim {
    scenario: Scenario,
    seed: u64,
    sim: Simulation,
}

impl std::fmt::Debug for LiveSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSim").field("seed", &self.seed).finish_non_exhaustive()
    }
}

impl LiveSim {
    pub fn new(scenario: &Scenario, seed: u64) -> Result<LiveSim> {
        Ok(LiveSim { scenario: scenario.clone(), seed, sim: Simulation::new(scenario, seed, Keep::NOTHING)? })
    }

    pub fn clock(&self) -> &Clock {
        self.sim.clock()
    }

    /// When the next step will run (milliseconds since midnight); `None` once the run is over.
    pub fn next_step_ms(&self) -> Option<u64> {
        self.sim.next_step_ms()
    }

    /// Run every step due at or before `t_ms`.
    pub fn advance_to(&mut self, t_ms: u64) {
        self.sim.advance_to(t_ms);
    }

    /// Start again from the beginning (time only runs forward in a simulation).
    fn restart(&mut self) -> Result<()> {
        *self = LiveSim::new(&self.scenario, self.seed)?;
        Ok(())
    }

    pub fn frame(&mut self) -> Result<Frame> {
        crate::engine::capture::capture_world(self.sim.world_mut())
    }

    /// People in the plaza now, counted straight from the simulation's bodies.
    pub fn bodies(&mut self) -> usize {
        let world = self.sim.world_mut();
        world.query::<&crate::engine::model::Body>().iter(world).count()
    }
}

/// The viewer's source of frames.
#[derive(Resource, Debug)]
pub enum Feed {
    Live { sim: Box<LiveSim>, stage: Stage, window_end_ms: u64, title: String },
    Replay(Box<Player>),
}

impl Feed {
    /// The live simulation of `seed` (a replication's seed); `title` names it for people.
    pub fn live(scenario: &Scenario, seed: u64, title: String) -> Result<Feed> {
        let sim = LiveSim::new(scenario, seed)?;
        let stage = crate::engine::capture::stage_of(sim.sim.world());
        let c = sim.clock();
        let window_end_ms = c.start_ms + c.end_tick * c.dt_ms;
        Ok(Feed::Live { sim: Box::new(sim), stage, window_end_ms, title })
    }

    pub fn replay(recording: Recording) -> Feed {
        Feed::Replay(Box::new(Player::new(recording)))
    }

    pub fn stage(&self) -> &Stage {
        match self {
            Feed::Live { stage, .. } => stage,
            Feed::Replay(p) => &p.recording.header.stage,
        }
    }

    /// A line naming what is shown.
    pub fn title(&self) -> String {
        match self {
            Feed::Live { title, .. } => title.clone(),
            Feed::Replay(p) => {
                let h = &p.recording.header;
                format!("{}: replay, seed {}", h.scenario, h.seed)
            }
        }
    }

    /// The first moment there is something to show, and the end of the scenario's window.
    pub fn span_ms(&self) -> (u64, u64) {
        match self {
            Feed::Live { sim, window_end_ms, .. } => (sim.clock().start_ms, *window_end_ms),
            Feed::Replay(p) => p.recording.span_ms(),
        }
    }

    /// Nothing more will happen.
    pub fn finished(&self) -> bool {
        match self {
            Feed::Live { sim, .. } => sim.clock().finished,
            Feed::Replay(p) => p.at_end(),
        }
    }

    /// Play forward to `t_ms`.
    pub fn advance_to(&mut self, t_ms: u64) {
        match self {
            Feed::Live { sim, .. } => sim.advance_to(t_ms),
            Feed::Replay(p) => {
                p.play_to(t_ms);
            }
        }
    }

    /// Go to `t_ms`, backwards too (a live simulation starts again and runs up to it, which
    /// gives the same state: same seed, same steps).
    pub fn jump_to(&mut self, t_ms: u64) -> Result<()> {
        match self {
            Feed::Live { sim, .. } => {
                if t_ms < sim.clock().now_ms() {
                    sim.restart()?;
                }
                sim.advance_to(t_ms);
            }
            Feed::Replay(p) => p.seek(t_ms),
        }
        Ok(())
    }

    /// The time of the next step (live) or frame (replay), for single-stepping.
    pub fn next_time_ms(&self) -> Option<u64> {
        match self {
            Feed::Live { sim, .. } => sim.next_step_ms(),
            Feed::Replay(p) => p.next_frame().map(|f| f.t_ms),
        }
    }

    /// What to draw at `t_ms` (at or after the last step or frame played).
    pub fn frame_at(&mut self, t_ms: u64) -> Result<Frame> {
        match self {
            Feed::Live { sim, .. } => sim.frame(),
            Feed::Replay(p) => Ok(interpolated(p, t_ms)),
        }
    }
}

/// The frame shown, with everyone moved part of the way to where the next frame has them.
fn interpolated(player: &Player, t_ms: u64) -> Frame {
    let Some(shown) = player.frame() else { return Frame::default() };
    let mut frame = Frame { events: Vec::new(), ..shown.clone() };
    let Some(next) = player.next_frame().filter(|n| n.t_ms > shown.t_ms && t_ms > shown.t_ms) else {
        return frame;
    };
    let alpha = ((t_ms - shown.t_ms) as f32 / (next.t_ms - shown.t_ms) as f32).min(1.0);
    for dot in &mut frame.agents {
        if let Ok(i) = next.agents.binary_search_by_key(&dot.serial, |a: &AgentDot| a.serial) {
            let to = next.agents[i];
            dot.x += (to.x - dot.x) * alpha;
            dot.y += (to.y - dot.y) * alpha;
        }
    }
    frame
}
