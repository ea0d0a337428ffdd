//! API keys: the wire shapes of `/api/api_keys` (Weir's own endpoints; Prefect's open-source server
//! has none), the key format, the hash the server stores instead of the key, expiry durations
//! (`30d`, `12h`, `45m`) and name rules.
//!
//! A key reads `weir_<key id>_<secret>`: the key id (16 lowercase letters and digits) is public and
//! indexes the stored row, so checking a key is one lookup by id and one constant-time comparison
//! of SHA-256 hashes; the secret (43 characters, 256 random bits) is never stored. A plain SHA-256
//! is enough because the secret is random, not a password.
//!
//! Pure: randomness and the clock are arguments.

use crate::time::Timestamp;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// What every key starts with.
pub const KEY_PREFIX: &str = "weir_";
/// Length of the public key id.
pub const KEY_ID_LENGTH: usize = 16;
/// Length of the secret part.
pub const SECRET_LENGTH: usize = 43;
/// The longest key name accepted, in characters.
pub const MAX_NAME_LENGTH: usize = 100;
/// The shortest bootstrap key the server accepts, in characters.
pub const MIN_BOOTSTRAP_KEY_LENGTH: usize = 16;

/// The alphabet of key ids (lowercase, so ids survive case-folding tools).
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// The alphabet of secrets (62 symbols: 43 of them carry 256 bits).
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A stored API key as the API shows it: never the key nor its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The public start of the key, `weir_<key id>`, to recognise it.
    pub prefix: String,
    pub created: Timestamp,
    /// When the key stops working; `null`: never.
    pub expires: Option<Timestamp>,
    /// When the key was revoked; `null`: not revoked.
    pub revoked: Option<Timestamp>,
}

/// Whether a key works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    /// `active`, `expired` or `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

impl ApiKey {
    /// The key's status at `now` (revocation wins over expiry).
    pub fn status(&self, now: &Timestamp) -> KeyStatus {
        if self.revoked.is_some() {
            KeyStatus::Revoked
        } else if self.expires.as_ref().is_some_and(|e| e <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// The public key id inside `prefix`.
    pub fn key_id(&self) -> &str {
        self.prefix.strip_prefix(KEY_PREFIX).unwrap_or(&self.prefix)
    }
}

/// Body of `POST /api/api_keys/`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    pub name: String,
    /// Seconds from now until the key expires; absent or `null`: it never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
}

/// Answer of `POST /api/api_keys/`: the stored key plus the key itself, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The key to send as `Authorization: Bearer <key>`; the server keeps only its hash.
    pub key: String,
}

/// Body of `POST /api/api_keys/filter`; every field is optional.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyFilterBody {
    /// Only keys with one of these names.
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// Also list revoked and expired keys (default true).
    #[serde(default)]
    pub include_inactive: Option<bool>,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// A freshly generated key: its public id, the secret and the whole key text.
pub struct GeneratedKey {
    pub key_id: String,
    pub secret_hash: String,
    pub key: String,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn random_text(rng: &mut impl Rng, alphabet: &[u8], length: usize) -> String {
    (0..length)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// Generates a new key with `rng` (which must be a cryptographic generator).
pub fn generate(rng: &mut impl Rng) -> GeneratedKey {
    let key_id = random_text(rng, ID_ALPHABET, KEY_ID_LENGTH);
    let secret = random_text(rng, SECRET_ALPHABET, SECRET_LENGTH);
    GeneratedKey {
        secret_hash: hash_secret(&secret),
        key: format!("{KEY_PREFIX}{key_id}_{secret}"),
        key_id,
    }
}

/// The parts of a key that has the `weir_<key id>_<secret>` shape.
#[derive(PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub key_id: &'a str,
    pub secret: &'a str,
}

impl std::fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Splits a key into its id and secret; `None` when it does not have the shape of a Weir key.
pub fn parse(key: &str) -> Option<ParsedKey<'_>> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    let id_ok = key_id.len() == KEY_ID_LENGTH && key_id.bytes().all(|b| ID_ALPHABET.contains(&b));
    let secret_ok =
        secret.len() == SECRET_LENGTH && secret.bytes().all(|b| SECRET_ALPHABET.contains(&b));
    (id_ok && secret_ok).then_some(ParsedKey { key_id, secret })
}

/// The lowercase hex SHA-256 of `secret`: what the store keeps.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Checks a key name: not blank, at most [`MAX_NAME_LENGTH`] characters, no control characters.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the name must not be empty".into());
    }
    if name.chars().count() > MAX_NAME_LENGTH {
        return Err(format!(
            "the name must be at most {MAX_NAME_LENGTH} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the name must not contain control characters".into());
    }
    Ok(())
}

/// Reads a duration such as `30d`, `12h`, `45m` or `90s` as seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || {
        format!("invalid duration {text:?}: expected a number and a unit (s, m, h, d), like 30d, 12h or 45m")
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if number == 0 {
        return Err(format!("invalid duration {text:?}: it must be positive"));
    }
    number
        .checked_mul(unit_seconds)
        .filter(|seconds| *seconds <= MAX_EXPIRY_SECONDS)
        .ok_or_else(|| format!("invalid duration {text:?}: at most 100 years"))
}

/// The longest expiry accepted: 100 years.
pub const MAX_EXPIRY_SECONDS: u64 = 100 * 365 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_hash_their_secret() {
        let mut rng = rand::rng();
        let generated = generate(&mut rng);
        let parsed = parse(&generated.key).expect("a generated key parses");
        assert_eq!(parsed.key_id, generated.key_id);
        assert_eq!(hash_secret(parsed.secret), generated.secret_hash);
        assert_eq!(generated.secret_hash.len(), 64);
        assert!(!format!("{generated:?}").contains(parsed.secret));
        assert_ne!(generate(&mut rng).key, generated.key);
    }

    #[test]
    fn only_well_formed_keys_parse() {
        let secret = "A".repeat(SECRET_LENGTH);
        let good = format!("weir_{}_{secret}", "a1".repeat(8));
        assert!(parse(&good).is_some());
        assert!(parse(&good[1..]).is_none());
        assert!(parse(&format!("{good}x")).is_none());
        assert!(parse(&format!("weir_{}_{secret}", "A1".repeat(8))).is_none());
        assert!(parse("admin:pass").is_none());
        assert!(parse("weir__").is_none());
    }

    #[test]
    fn durations_read_units_and_refuse_the_rest() {
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(12 * 3_600));
        assert_eq!(parse_duration("45m"), Ok(45 * 60));
        assert_eq!(parse_duration("90s"), Ok(90));
        for bad in ["", "30", "d", "3x", "-1d", "1.5h", "0d", "99999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_prefers_revoked_then_expired() {
        let now = Timestamp::now();
        let mut key = ApiKey {
            id: Uuid::nil(),
            name: "k".into(),
            prefix: "weir_abc".into(),
            created: now,
            expires: None,
            revoked: None,
        };
        assert_eq!(key.status(&now), KeyStatus::Active);
        key.expires = Some(now.plus_seconds(-1.0));
        assert_eq!(key.status(&now), KeyStatus::Expired);
        key.revoked = Some(now);
        assert_eq!(key.status(&now), KeyStatus::Revoked);
        assert_eq!(key.key_id(), "abc");
    }

    #[test]
    fn names_must_be_printable_and_short() {
        assert!(validate_name("worker").is_ok());
        assert!(validate_name(" ").is_err());
        assert!(validate_name(&"x".repeat(MAX_NAME_LENGTH + 1)).is_err());
        assert!(validate_name("a\nb").is_err());
    }
}
