//! Signed over-the-air model updates (docs/ota.md). Fleet admins sign an update manifest with a
//! minisign key (`aisle model keygen|pack`); the agent trusts nothing in an update until that
//! signature verifies with a configured key, and then checks expiry, target, the anti-rollback
//! floor, the artifact's size and hash, and the ONNX file itself before it may run.

pub mod admin;
pub mod bundle;
pub mod canary;
pub mod download;
pub mod flood;
pub mod gate;
pub mod manifest;
pub mod offer;
pub mod offline;
pub mod onnx;
pub mod publish;
pub mod recover;
mod settings;
pub mod store;
mod trust;
pub mod updater;
pub mod verify;

pub use settings::OtaConfig;
