//! `AttacksPlugin` (`[attacks]`): someone tries to get in with a resident's printed photo or a
//! phone replay at a face lane, at Poisson times from its own random stream. The photo is of an
//! enrolled resident, so it matches like a live probe of them; only the terminal's liveness
//! check (the core, against `policy.liveness_min`) stands in the way. Each attempt is one
//! presentation at a random face lane's terminal; an attacker let in walks through (the
//! passage sensor counts them). Attackers do not queue: at a few an hour they pick a quiet
//! moment, and their time at the terminal is neglected.
//!
//! Live faces are scored too — in the gate service, from the bona fide distribution — so
//! BPCER (live people refused) and its cost in waits come out of the same run.

use bevy::prelude::*;
use gatelab_core::Event;
use gatelab_core::audit::DecisionReason;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp1};

use super::core_link::CoreLink;
use super::model::{Clock, Layout, Rngs, ScenarioRes, SimSet};
use super::population::Population;
use gatelab_scenario::Attacks;

/// PAD counts of one replication (ISO/IEC 30107-3: APCER = accepted attacks / attack
/// presentations; BPCER = refused live presentations / live presentations).
#[derive(Resource, Debug, Default, Clone, Copy)]
pub struct PadTally {
    pub attack_presentations: u64,
    pub attacks_accepted: u64,
    pub screen_presentations: u64,
    pub live_presentations: u64,
    pub live_refused: u64,
}

/// Whether the terminal's liveness check judged a probe, from its answer: a terminal whose
/// camera or matcher is down, or whose lease lapsed, refuses faces before looking (those are
/// no presentations in ISO/IEC 30107-3's sense, and are not counted in APCER or BPCER).
pub fn judged(deny: Option<DecisionReason>) -> bool {
    !matches!(deny, Some(DecisionReason::FaceUnavailable | DecisionReason::LeaseLapsed))
}

/// Scores of presentations, drawn from the scenario's Beta distributions.
#[derive(Resource, Debug)]
pub struct PadScores {
    bona_fide: Beta<f64>,
    attack: Beta<f64>,
}

impl PadScores {
    pub fn new(a: &Attacks) -> Option<PadScores> {
        let (ba, bb) = Attacks::beta(a.bona_fide_mean, a.bona_fide_sd);
        let (aa, ab) = Attacks::beta(a.attack_mean, a.attack_sd);
        Some(PadScores { bona_fide: Beta::new(ba, bb).ok()?, attack: Beta::new(aa, ab).ok()? })
    }

    /// A live face's liveness score.
    pub fn live(&self, rng: &mut ChaCha8Rng) -> f32 {
        self.bona_fide.sample(rng) as f32
    }
}

#[derive(Resource, Debug)]
struct AttackState {
    draws: ChaCha8Rng,
    next_ms: u64,
    mean_gap_ms: f64,
    screen_share: f64,
}

#[derive(Debug)]
pub struct AttacksPlugin;

impl Plugin for AttacksPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PadTally>().add_systems(Startup, setup_attacks);
        // Without attacks the system would return at once on each of ~100,000 steps: a
        // system's run costs as much as a small one's work, so it is not added at all.
        if app.world().get_resource::<ScenarioRes>().is_none_or(|s| s.0.attacks.is_some()) {
            app.add_systems(FixedUpdate, attack.in_set(SimSet::Arrivals));
        }
    }
}

fn setup_attacks(mut commands: Commands, scenario: Res<ScenarioRes>, rngs: Res<Rngs>, clock: Res<Clock>) {
    let Some(a) = &scenario.0.attacks else { return };
    let mut draws = rngs.attacks();
    let mean_gap_ms = if a.per_hour > 0.0 { 3_600_000.0 / a.per_hour } else { f64::INFINITY };
    let first: f64 = Exp1.sample(&mut draws);
    let next_ms = if mean_gap_ms.is_finite() { clock.start_ms + (first * mean_gap_ms) as u64 } else { u64::MAX };
    commands.insert_resource(AttackState { draws, next_ms, mean_gap_ms, screen_share: a.screen_share });
}

#[allow(clippy::too_many_arguments)]
fn attack(
    state: Option<ResMut<AttackState>>,
    scores: Option<Res<PadScores>>,
    mut clock: ResMut<Clock>,
    layout: Res<Layout>,
    population: Res<Population>,
    mut core: ResMut<CoreLink>,
    mut tally: ResMut<PadTally>,
) {
    let (Some(mut state), Some(scores)) = (state, scores) else { return };
    let now = clock.now_ms();
    let window_end = clock.start_ms + clock.end_tick * clock.dt_ms;
    while state.next_ms <= now && state.next_ms < window_end {
        let state = &mut *state;
        let gap: f64 = Exp1.sample(&mut state.draws);
        state.next_ms += (gap * state.mean_gap_ms).max(1.0) as u64;
        let lanes: Vec<usize> = (0..layout.lanes.len()).filter(|&l| layout.lanes[l].has_camera).collect();
        // Photos of residents whose face still opens the gate (a withdrawn one's would not).
        let enrolled: Vec<usize> =
            population.residents.iter().filter(|r| r.enrolled).filter_map(|r| r.template).collect();
        if lanes.is_empty() || enrolled.is_empty() {
            continue;
        }
        let lane = &layout.lanes[lanes[state.draws.random_range(0..lanes.len())]];
        let victim = enrolled[state.draws.random_range(0..enrolled.len())];
        let embedding = population.faces.probe(population.template(victim), &mut state.draws);
        let screen = state.draws.random_bool(state.screen_share);
        let liveness = scores.attack.sample(&mut state.draws) as f32;
        let reply = core.send(clock.now(), lane.terminal, Event::ScoredFaceProbe { embedding, liveness });
        if !judged(reply.deny) {
            // The camera was off: nothing was presented to the check; they leave.
            continue;
        }
        tally.attack_presentations += 1;
        tally.screen_presentations += u64::from(screen);
        if reply.grant.is_some() {
            tally.attacks_accepted += 1;
            // In they go.
            core.send(clock.now(), lane.terminal, Event::PassageSensed);
        }
    }
    if state.next_ms < window_end {
        let tick = clock.tick_at(state.next_ms);
        clock.wake_at(tick);
    }
}
