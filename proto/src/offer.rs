//! The update offer as it travels over MQTT on `{prefix}/{site}/{device}/cmd/model`: the
//! manifest's exact bytes and their minisign signature, as JSON. The artifact is fetched from the
//! manifest's signed `url`, so the message stays small and a broker never carries models. Nothing
//! in an offer is trusted before the gateway has checked the signature.

use serde::{Deserialize, Serialize};

/// Offers above this size are refused unread: a manifest and a signature fit in a few KiB.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// `update.toml`, byte for byte as signed.
    pub manifest: String,
    /// `update.toml.minisig`.
    pub signature: String,
    /// Co-signatures by other admins, for gateways that require k of n.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cosignatures: Vec<String>,
}

impl Offer {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_OFFER_BYTES {
            return Err(format!(
                "offer is {} bytes, at most {MAX_OFFER_BYTES} are read",
                bytes.len()
            ));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("offer is not an update offer: {e}"))
    }

    /// Every signature, the packer's first.
    pub fn signatures(&self) -> Vec<String> {
        std::iter::once(self.signature.clone())
            .chain(self.cosignatures.iter().cloned())
            .collect()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Which gateways an update manifest is for (its `[targets]`); `"*"` matches any. The hub plans
/// a rollout's waves with the rule the gateway will apply when it verifies the manifest.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    pub devices: Vec<String>,
    pub sites: Vec<String>,
}

impl Targets {
    pub fn admits(&self, device: &str, site: &str) -> bool {
        let any = |list: &[String], id: &str| list.iter().any(|x| x == "*" || x == id);
        any(&self.devices, device) && any(&self.sites, site)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_round_trip_and_strangers_are_refused() {
        let o = Offer {
            manifest: "format = 1\n".into(),
            signature: "untrusted comment: x\nRW…\n".into(),
            cosignatures: vec!["second".into()],
        };
        assert_eq!(o.signatures().len(), 2);
        assert_eq!(Offer::parse(&o.to_json()).unwrap(), o);
        let e = Offer::parse(br#"{"manifest":"","signature":"","model":"AAAA"}"#).unwrap_err();
        assert!(e.contains("unknown field `model`"), "{e}");
        let big = vec![b' '; MAX_OFFER_BYTES + 1];
        assert!(Offer::parse(&big).unwrap_err().contains("at most"));
    }
}
