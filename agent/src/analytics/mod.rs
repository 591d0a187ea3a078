//! Store analytics: detections become tracks, tracks become zone metrics, alerts and summaries.
//! Everything here is pure: no IO, time passed in by the caller.

pub mod camera;
pub mod geometry;
pub mod rules;
pub mod tracker;
pub mod zones;
