//! A lane's service point: the terminal in front of a barrier. The person at the head of the
//! queue is served — a card read, a face matched — and released through the barrier. Service of
//! the next person starts when the previous one is released and the next is within reach of the
//! terminal, so the walk up overlaps the previous passage: a saturated lane passes one person
//! per service time, unless walking through takes longer.

use crate::crowd::Crowd;
use crate::vec2::Vec2;

/// How far before the barrier a person can be served (an arm's length and a step), m.
pub const DEFAULT_REACH_M: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Idle,
    Serving { person: u32, until_s: f64 },
}

/// The terminal of one lane.
#[derive(Debug, Clone)]
pub struct ServicePoint {
    barrier: usize,
    /// The barrier's midpoint and the unit normal pointing to the queue's side.
    at: Vec2,
    towards_queue: Vec2,
    reach_m: f64,
    state: State,
    served: u64,
}

impl ServicePoint {
    /// A terminal serving at barrier `barrier` of `crowd`, its queue on the side `towards_queue`
    /// points to.
    pub fn new(crowd: &Crowd, barrier: usize, towards_queue: Vec2, reach_m: f64) -> Self {
        let s = crowd.barrier(barrier).segment;
        let at = (s.a + s.b) * 0.5;
        Self { barrier, at, towards_queue: towards_queue.normalize_or_zero(), reach_m, state: State::Idle, served: 0 }
    }

    pub fn served(&self) -> u64 {
        self.served
    }

    /// Whom the terminal is serving now.
    pub fn serving(&self) -> Option<u32> {
        match self.state {
            State::Idle => None,
            State::Serving { person, .. } => Some(person),
        }
    }

    /// Advances the terminal to the crowd's time; `service_s` is asked for each new service.
    pub fn update(&mut self, crowd: &mut Crowd, mut service_s: impl FnMut() -> f64) {
        let now = crowd.time_s();
        if let State::Serving { person, until_s } = self.state {
            if now + 1e-9 >= until_s {
                crowd.release(self.barrier, person);
                self.served += 1;
                self.state = State::Idle;
            } else {
                return;
            }
        }
        // The nearest person on the queue's side within reach who is not yet released.
        let mut next: Option<(f64, u32)> = None;
        for p in crowd.persons() {
            let d = p.pos - self.at;
            let ahead = d.dot(self.towards_queue);
            if ahead <= 0.0 || d.length() > self.reach_m || crowd.is_released(self.barrier, p.id) {
                continue;
            }
            if next.is_none_or(|(best, _)| d.length() < best) {
                next = Some((d.length(), p.id));
            }
        }
        if let Some((_, person)) = next {
            self.state = State::Serving { person, until_s: now + service_s() };
        }
    }
}
