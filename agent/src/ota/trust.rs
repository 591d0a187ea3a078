//! Which admins' keys a gateway trusts for updates (`[ota] trusted_keys`, `revoked_keys`,
//! `required_signatures`), checked once when the config is read; `verify` uses them.

use minisign::PublicKey;
use thiserror::Error;

/// The keys an agent trusts, the key ids it no longer does, and how many distinct trusted keys
/// must sign an update (k of n: one stolen admin key is not enough when k > 1).
pub struct Trust {
    pub(super) keys: Vec<PublicKey>,
    pub(super) revoked: Vec<String>,
    pub(super) required: usize,
}

#[derive(Debug, Error, PartialEq)]
#[error("{field}: {reason}")]
pub struct KeyError {
    pub field: String,
    pub reason: String,
}

/// Key problems as one line, for commands that report a single error.
pub fn describe(errors: &[KeyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A key id as minisign prints it: 16 upper-case hex digits of the little-endian key number.
pub fn key_id(keynum: &[u8]) -> String {
    keynum.iter().rev().map(|b| format!("{b:02X}")).collect()
}

impl Trust {
    /// Keys as minisign public keys in base64 (`RW…`, the second line of a `.pub` file);
    /// revoked entries as key ids (16 hex digits, as `minisign` prints them); `required`
    /// signatures by distinct trusted keys.
    pub fn new(
        keys: &[String],
        revoked: &[String],
        required: usize,
    ) -> Result<Self, Vec<KeyError>> {
        let mut problems = Vec::new();
        let mut parsed = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match PublicKey::from_base64(k.trim()) {
                Ok(pk) => parsed.push(pk),
                Err(e) => problems.push(KeyError {
                    field: format!("ota.trusted_keys[{i}]"),
                    reason: format!("not a minisign public key: {e}"),
                }),
            }
        }
        for (i, id) in revoked.iter().enumerate() {
            if id.len() != 16 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
                problems.push(KeyError {
                    field: format!("ota.revoked_keys[{i}]"),
                    reason: format!("{id:?} is not a 16-hex-digit key id"),
                });
            }
        }
        if parsed.is_empty() && problems.is_empty() {
            problems.push(KeyError {
                field: "ota.trusted_keys".into(),
                reason: "needs at least one key".into(),
            });
        }
        if required == 0 || required > keys.len().max(1) {
            problems.push(KeyError {
                field: "ota.required_signatures".into(),
                reason: format!(
                    "{required} is not between 1 and the {} trusted key(s)",
                    keys.len()
                ),
            });
        }
        if problems.is_empty() {
            Ok(Self {
                keys: parsed,
                revoked: revoked.iter().map(|r| r.to_ascii_uppercase()).collect(),
                required,
            })
        } else {
            Err(problems)
        }
    }
}
