//! `gatelab-walk`: pedestrians in a site's geometry.
//!
//! - [`geometry`]: the walkable area (a `geo` polygon with holes) and its walls.
//! - [`field`]: floor fields by fast marching — how far to a goal from anywhere, and which way.
//! - [`crowd`]: the collision-free speed model stepping everyone at once; barriers; lines.
//! - [`lane`]: a lane's terminal serving the head of its queue through a barrier.
//! - [`speeds`]: free speeds (Weidmann; RiMEA 7's demographic table).
//! - [`service_level`]: Fruin's queuing levels of service.
//! - [`validation`]: the RiMEA cases, lab bottleneck flows and the lane case, with their bands.
//! - [`trajectory`]: the Jülich text format PedPy reads.
//!
//! Knows no Bevy, no scenario file, no terminal: the simulation drives it. Deterministic: a
//! seed fixes every position, and nothing here depends on threads.

pub mod crowd;
pub mod field;
pub mod geometry;
pub mod lane;
pub mod service_level;
pub mod speeds;
pub mod trajectory;
pub mod validation;
pub mod vec2;

pub use crowd::{Crowd, ModelParams, Person, Route, StepEvents};
pub use field::FloorField;
pub use geometry::{GeometryError, Segment, Walkable};
pub use service_level::QueuingLevel;
pub use vec2::Vec2;
