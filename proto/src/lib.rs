//! The wire contract between a gateway and the fleet hub, in one place: the topics messages
//! travel on, the events and status a gateway publishes, and the update offers it is sent. The
//! agent and the hub both depend on this crate and on nothing of each other, as thin-edge.io's
//! agents and mappers share `tedge_api`: a change to a message is made once, and whatever does
//! not match fails to compile on both sides.

pub mod event;
pub mod offer;
pub mod topic;
