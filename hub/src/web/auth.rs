//! Who is reading: local users with argon2 password hashes, sessions as random tokens in an
//! HttpOnly, Secure, SameSite=Strict cookie (only their SHA-256 is stored), and roles scoped to
//! sites. Every page but the login goes through [`Viewer`].

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::OnceLock;

use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio_postgres::Client;

pub const COOKIE: &str = "aisle_hub_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every site, the fleet page, rollouts.
    FleetAdmin,
    /// Alerts and figures of the sites listed for the user.
    StoreOps,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "fleet-admin" => Some(Role::FleetAdmin),
            "store-ops" => Some(Role::StoreOps),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::FleetAdmin => "fleet-admin",
            Role::StoreOps => "store-ops",
        }
    }
}

/// The logged-in user of one request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub name: String,
    pub role: Role,
    pub sites: Vec<String>,
}

impl Viewer {
    pub fn can_see(&self, site: &str) -> bool {
        self.role == Role::FleetAdmin || self.sites.iter().any(|s| s == site)
    }

    /// The sites to read, `None` meaning all of them.
    pub fn scope(&self) -> Option<&[String]> {
        (self.role == Role::StoreOps).then_some(self.sites.as_slice())
    }
}

/// Password checks run at once at most, per replica.
pub const VERIFIERS: usize = 2;

/// Longest password checked; longer ones are refused unchecked (hashing megabytes is work an
/// attacker should not get for free).
const MAX_PASSWORD_BYTES: usize = 1024;

/// A name a user could have: not empty, at most 128 characters, no control characters (which
/// PostgreSQL or a log line could not take as they are).
pub fn fair_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 128 && !name.chars().any(char::is_control)
}

/// A name as it may appear in a log line: escaped, and cut to 64 characters.
pub fn shown(name: &str) -> String {
    let cut: String = name.chars().take(64).collect();
    let more = if cut.len() < name.len() { "…" } else { "" };
    format!("{:?}{more}", cut)
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Adds a user, or replaces the password, role and sites of one that exists.
pub async fn put_user(
    db: &Client,
    name: &str,
    password: &str,
    role: Role,
    sites: &[String],
) -> Result<(), String> {
    if !fair_name(name) || !(8..=MAX_PASSWORD_BYTES).contains(&password.len()) {
        return Err(
            "a user needs a name (1-128 characters, none of them control characters) and a password of 8 to 1024 bytes"
                .into(),
        );
    }
    if role == Role::StoreOps && sites.is_empty() {
        return Err("a store-ops user needs at least one --site".into());
    }
    let hash = hash_password(password)?;
    db.execute(
        "INSERT INTO users (name, password_hash, role, sites) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, \
         role = EXCLUDED.role, sites = EXCLUDED.sites",
        &[&name, &hash, &role.as_str(), &sites],
    )
    .await
    .map_err(|e| crate::db::pg_message(&e))?;
    db.execute("DELETE FROM sessions WHERE user_name = $1", &[&name])
        .await
        .map_err(|e| crate::db::pg_message(&e))?;
    Ok(())
}

/// A new session's token when the name and password match, `None` otherwise (which of the two
/// was wrong is not said). The hash is checked even for an unknown name, so timing does not tell.
pub async fn log_in(
    db: &Client,
    name: &str,
    password: &str,
    hours: u32,
    verifiers: &Semaphore,
) -> Result<Option<String>, tokio_postgres::Error> {
    if !fair_name(name) || password.len() > MAX_PASSWORD_BYTES {
        return Ok(None);
    }
    let row = db
        .query_opt("SELECT password_hash FROM users WHERE name = $1", &[&name])
        .await?;
    static DECOY: OnceLock<String> = OnceLock::new();
    let hash: String = match row {
        Some(r) => r.get(0),
        None => DECOY
            .get_or_init(|| hash_password("no such user").unwrap_or_default())
            .clone(),
    };
    // Argon2 takes tens of milliseconds and 19 MiB by design: on the blocking pool, a few at a
    // time, so a flood of guesses waits its turn instead of slowing pages and ingest or
    // growing memory.
    let Ok(_permit) = verifiers.acquire().await else {
        return Ok(None);
    };
    let password = password.to_string();
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    if !matches {
        return Ok(None);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    db.execute(
        "INSERT INTO sessions (token_sha256, user_name, expires_at) \
         VALUES ($1, $2, now() + make_interval(hours => $3))",
        &[&token_hash(&token), &name, &(hours as i32)],
    )
    .await?;
    Ok(Some(token))
}

pub async fn log_out(db: &Client, token: &str) -> Result<(), tokio_postgres::Error> {
    db.execute(
        "DELETE FROM sessions WHERE token_sha256 = $1 OR expires_at < now()",
        &[&token_hash(token)],
    )
    .await
    .map(|_| ())
}

/// The viewer a session token belongs to, if it is valid and unexpired.
pub async fn viewer(db: &Client, token: &str) -> Result<Option<Viewer>, tokio_postgres::Error> {
    let row = db
        .query_opt(
            "SELECT u.name, u.role, u.sites FROM sessions s JOIN users u ON u.name = s.user_name \
             WHERE s.token_sha256 = $1 AND s.expires_at > now()",
            &[&token_hash(token)],
        )
        .await?;
    Ok(row.and_then(|r| {
        Some(Viewer {
            name: r.get(0),
            role: Role::parse(r.get(1))?,
            sites: r.get(2),
        })
    }))
}

/// The session token in a `Cookie` header.
pub fn token_from_cookies(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn only_a_well_formed_token_is_read() {
        let t = "a".repeat(64);
        assert_eq!(
            token_from_cookies(&format!("x=1; {COOKIE}={t}")),
            Some(t.as_str())
        );
        assert_eq!(token_from_cookies(&format!("{COOKIE}=../../etc")), None);
        assert_eq!(token_from_cookies("other=1"), None);
    }

    #[test]
    fn store_ops_see_their_sites_only() {
        let v = Viewer {
            name: "ops".into(),
            role: Role::StoreOps,
            sites: vec!["store-9".into()],
        };
        assert!(v.can_see("store-9") && !v.can_see("store-1"));
        let admin = Viewer {
            role: Role::FleetAdmin,
            sites: vec![],
            ..v
        };
        assert!(admin.can_see("store-1") && admin.scope().is_none());
    }
}
