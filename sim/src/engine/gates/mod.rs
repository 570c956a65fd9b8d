//! The gatehouse: lane choice and queues (`LanesPlugin`), the terminals' service and the
//! passage sensor (`GatesPlugin`), and the guard's booth and car gate (`GuardsPlugin`).
//!
//! Nothing here decides who may pass: an agent presents a face or a credential, the core
//! terminal answers, and the answer opens the door or not. What the sim adds is time: walking
//! up, presenting, retrying, giving up, queueing, following someone through.

mod guards;
mod lanes;
mod service;
mod state;

pub use guards::GuardsPlugin;
pub use lanes::LanesPlugin;
pub use service::GatesPlugin;
pub use state::{Desk, Gatehouse, LaneState, Method, Phase};
pub(crate) use state::{desk_spot, spots, terminal_spot};
