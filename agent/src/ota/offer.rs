//! The update offer a gateway listens for on `{prefix}/cmd/model` (the message itself is
//! `aisle-proto`'s, shared with the hub that sends it). Nothing in an offer is trusted before
//! [`super::verify::verify_manifest`] has checked the signature.

pub use aisle_proto::offer::{MAX_OFFER_BYTES, Offer};
pub use aisle_proto::topic::OFFER as TOPIC;

/// How long the agent stops listening for offers after one too large for its MQTT client came:
/// such a packet ends the connection, and a retained one comes back on every reconnect, so
/// listening on would stop delivery for good. Delivery goes on; offers are tried again after.
pub const PAUSE_AFTER_OVERSIZED: std::time::Duration = std::time::Duration::from_secs(3600);

/// The subscription the update thread asks of the MQTT link.
pub fn commands(to: crossbeam_channel::Sender<crate::mqtt::Command>) -> crate::mqtt::Commands {
    crate::mqtt::Commands {
        topic: TOPIC,
        max_bytes: MAX_OFFER_BYTES,
        pause_after_oversized: PAUSE_AFTER_OVERSIZED,
        to,
    }
}
