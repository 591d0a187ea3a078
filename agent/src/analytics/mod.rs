//! Store analytics: detections become tracks, tracks become zone metrics, alerts and summaries.
//! Everything here is pure: no IO, time passed in by the caller.

mod assignment;
pub mod camera;
pub mod geometry;
mod id_map;
pub mod metric;
pub mod mot;
pub mod rules;
pub mod tracker;
pub mod zones;
