//! The update manifest: the one document a fleet admin signs. It pins the model artifact by
//! size and SHA-256, says which devices may take it and until when, and carries the decoder
//! settings, so a verified manifest is everything the agent needs to trust the bytes it fetches.

use serde::{Deserialize, Serialize};

use crate::detect::manifest::{InputSection, OutputSection};

/// Bumped when the manifest's meaning changes; an agent refuses formats it does not know.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateManifest {
    pub format: u32,
    /// Model name, e.g. `nanodet-m-416`.
    pub name: String,
    /// The detector slot the model fills (`person`); versions are ordered per slot.
    pub slot: String,
    /// Strictly above every version this device has ever activated in the slot.
    pub version: u64,
    /// Lower-case hex SHA-256 of the ONNX file.
    pub sha256: String,
    /// Exact size of the ONNX file in bytes; downloads stop at it.
    pub size: u64,
    /// Oldest agent (`MAJOR.MINOR.PATCH`) that can run this model.
    pub min_agent_version: String,
    /// Unix seconds after which the manifest is refused: an intercepted manifest cannot be
    /// replayed for ever.
    pub expires_unix_s: u64,
    pub targets: Targets,
    /// Where the artifact is fetched from (`https://…`); absent when it travels with the
    /// manifest (a bundle on a USB stick, or inside the MQTT message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub input: InputSection,
    pub output: OutputSection,
}

/// Which gateways may install the update (shared with the hub, which plans rollouts by it).
pub use aisle_proto::offer::Targets;

/// `MAJOR.MINOR.PATCH` as numbers, for the minimum agent version; `None` when malformed.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
    let parsed = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_by_name_or_wildcard() {
        let t = Targets {
            devices: vec!["*".into()],
            sites: vec!["store-12".into(), "store-14".into()],
        };
        assert!(t.admits("gw-1", "store-14"));
        assert!(!t.admits("gw-1", "store-13"));
    }

    #[test]
    fn versions_parse_only_as_three_numbers() {
        assert_eq!(parse_version("0.10.2"), Some((0, 10, 2)));
        assert!(parse_version("1.2").is_none());
        assert!(parse_version("1.2.3.4").is_none());
        assert!(parse_version("1.x.3").is_none());
        assert!(parse_version("0.9.9") < parse_version("0.10.0"));
    }
}
