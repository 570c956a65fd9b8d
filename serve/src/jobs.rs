//! Plans run one at a time, in the order asked, each alternative at most once in the queue: a
//! burst of clicks cannot start a dozen plans on a two-core machine.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::Engine;
use crate::store::{RunState, Store};

/// A run in the queue or under way: what the page's progress bar shows.
#[derive(Debug, Default)]
pub struct Live {
    pub running: AtomicBool,
    pub done: AtomicU64,
    pub total: AtomicU64,
    pub cancel: AtomicBool,
    pub label: Mutex<String>,
}

impl gatelab_sim::progress::Progress for Live {
    fn start(&self, total: u64, label: &str) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        if let Ok(mut l) = self.label.lock() {
            *l = label.to_owned();
        }
    }
    fn advance(&self, units: u64) {
        self.done.fetch_add(units, Ordering::Relaxed);
    }
    fn finish(&self) {}
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
pub struct Jobs {
    queue: Sender<String>,
    live: Arc<Mutex<HashMap<String, Arc<Live>>>>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jobs")
    }
}

impl Jobs {
    pub fn start(store: Store, engine: Arc<dyn Engine>) -> Self {
        let (queue, orders) = channel::<String>();
        let live: Arc<Mutex<HashMap<String, Arc<Live>>>> = Arc::default();
        let table = live.clone();
        std::thread::Builder::new()
            .name("gatelab-serve-plans".into())
            .spawn(move || {
                for id in orders {
                    let Some(job) = table.lock().ok().and_then(|t| t.get(&id).cloned()) else { continue };
                    run_one(&store, engine.as_ref(), &id, &job);
                    if let Ok(mut t) = table.lock() {
                        t.remove(&id);
                    }
                }
            })
            .expect("a thread for plans");
        Self { queue, live }
    }

    /// Queues a plan of `id`; false if one is already queued or running.
    pub fn enqueue(&self, store: &Store, id: &str) -> anyhow::Result<bool> {
        let mut table = self.live.lock().map_err(|_| anyhow::anyhow!("the job table was poisoned"))?;
        if table.contains_key(id) {
            return Ok(false);
        }
        table.insert(id.to_owned(), Arc::new(Live::default()));
        store.save_run_state(id, &RunState { state: "queued".into(), ..RunState::default() })?;
        self.queue.send(id.to_owned()).map_err(|_| anyhow::anyhow!("the plan queue has stopped"))?;
        Ok(true)
    }

    /// Asks the run of `id` to stop (queued: it will not start); false if there is none.
    pub fn cancel(&self, id: &str) -> bool {
        self.live.lock().ok().and_then(|t| t.get(id).cloned()).is_some_and(|job| {
            job.cancel.store(true, Ordering::Relaxed);
            true
        })
    }

    /// Progress of the run of `id`, if one is queued or running: (running, done, total, label).
    pub fn progress(&self, id: &str) -> Option<(bool, u64, u64, String)> {
        let job = self.live.lock().ok()?.get(id).cloned()?;
        let label = job.label.lock().map(|l| l.clone()).unwrap_or_default();
        Some((
            job.running.load(Ordering::Relaxed),
            job.done.load(Ordering::Relaxed),
            job.total.load(Ordering::Relaxed),
            label,
        ))
    }
}

/// Plans into `plan.partial/`, then puts it in place of `plan/`: a failed or cancelled run
/// leaves the last plan as it was.
fn run_one(store: &Store, engine: &dyn Engine, id: &str, job: &Live) {
    let save = |state: &str, message: String, wall_s: f64| {
        let _ = store.save_run_state(id, &RunState { state: state.into(), message, wall_s });
    };
    if job.cancel.load(Ordering::Relaxed) {
        save("cancelled", "cancelled before it started".into(), 0.0);
        return;
    }
    job.running.store(true, Ordering::Relaxed);
    save("running", String::new(), 0.0);
    let started = Instant::now();
    let partial = store.dir(id).join("plan.partial");
    let _ = std::fs::remove_dir_all(&partial);
    let outcome = store.meta(id).and_then(|meta| engine.plan(&store.scenario_path(id), &meta.settings, &partial, job));
    let wall = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            let plan = store.plan_dir(id);
            let _ = std::fs::remove_dir_all(&plan);
            match std::fs::rename(&partial, &plan) {
                Ok(()) => save("done", String::new(), wall),
                Err(e) => save("failed", format!("could not keep the plan: {e}"), wall),
            }
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            if job.cancel.load(Ordering::Relaxed) {
                save("cancelled", "cancelled; the last plan is kept".into(), wall);
            } else {
                save("failed", format!("{e:#}"), wall);
            }
        }
    }
}
