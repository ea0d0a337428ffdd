//! Who may call the API. Auth is required when the server has an auth string
//! (`WEIR_SERVER_API_AUTH_STRING`), a bootstrap API key (`WEIR_SERVER_BOOTSTRAP_API_KEY`) or is told
//! to (`WEIR_SERVER_REQUIRE_API_KEY`); otherwise every request is served and credentials are
//! ignored, as Prefect's open-source server does.
//!
//! A credential arrives as `Authorization: Bearer <key>` (what Prefect clients send for
//! `PREFECT_API_KEY`), as `Authorization: Basic base64(<secret>)` (`PREFECT_API_AUTH_STRING`), or as
//! the token of a websocket's auth frame. Whatever the carrier, the secret is accepted when it is a
//! stored API key that is neither expired nor revoked, the bootstrap key, or the auth string; every
//! comparison is constant-time. Health and readiness stay open; websockets authenticate with their
//! upgrade's `Authorization` header or their first frame (see `routes::events`).
//!
//! Stored keys are looked up by their public key id and cached for [`CACHE_TTL`], so a busy client
//! costs one database read per key every few seconds. A key revoked through this server leaves the
//! cache at once (and a lookup racing the revocation is not cached); a key revoked through another
//! replica of a shared PostgreSQL database stops working here within [`CACHE_TTL`].

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use weir_core::api_keys::{self, KeyStatus, ParsedKey};
use weir_core::Timestamp;
use weir_storage::Store;

/// Paths that never need credentials.
const OPEN_PATHS: &[&str] = &["/api/health", "/api/ready"];
/// Websocket paths, which authenticate in their upgrade header or first frame.
const WEBSOCKET_PATHS: &[&str] = &["/api/events/in", "/api/events/out"];
/// How long a looked-up key is trusted without reading the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Cached keys at most; the cache starts over when full.
const CACHE_CAPACITY: usize = 10_000;

/// Why a request was refused; the message is the 401's `detail` (it never echoes the credential).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    Missing,
    Invalid,
    Expired,
    Revoked,
    /// The key could not be checked (database busy): 503, not 401.
    Unavailable,
}

impl Denied {
    /// The message told to the client.
    pub fn message(self) -> &'static str {
        match self {
            Denied::Missing => "Missing credentials: send Authorization: Bearer <API key>",
            Denied::Invalid => "Invalid credentials",
            Denied::Expired => "API key expired",
            Denied::Revoked => "API key revoked",
            Denied::Unavailable => "Service Unavailable",
        }
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> ApiError {
        match denied {
            Denied::Unavailable => ApiError::Unavailable,
            other => ApiError::Unauthorized(other.message()),
        }
    }
}

/// A stored key as last read: enough to check a presented secret and its expiry.
struct CachedKey {
    secret_hash: String,
    expires: Option<Timestamp>,
    read_at: Instant,
}

/// The server's credentials and the cache of stored keys. Shared by every handler.
pub struct Authenticator {
    auth_string: Option<String>,
    bootstrap_key_hash: Option<String>,
    required: bool,
    cache: Mutex<HashMap<String, CachedKey>>,
    /// Bumped by every revocation, so a lookup that started before one is not cached.
    revocations: AtomicU64,
}

impl Authenticator {
    /// The authenticator of a server with these settings.
    pub fn new(config: &crate::ServerConfig) -> Authenticator {
        Authenticator {
            auth_string: config.auth_string.clone(),
            bootstrap_key_hash: config
                .bootstrap_api_key
                .as_deref()
                .map(api_keys::hash_secret),
            required: config.auth_string.is_some()
                || config.bootstrap_api_key.is_some()
                || config.require_api_key,
            cache: Mutex::new(HashMap::new()),
            revocations: AtomicU64::new(0),
        }
    }

    /// Whether requests need credentials.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Checks the `Authorization` header of a request (`Ok` whenever auth is not required).
    pub async fn check_headers(&self, store: &Store, headers: &HeaderMap) -> Result<(), Denied> {
        if !self.required {
            return Ok(());
        }
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(Denied::Missing)?
            .to_str()
            .map_err(|_| Denied::Invalid)?;
        let (scheme, credential) = value.trim().split_once(' ').ok_or(Denied::Invalid)?;
        let credential = credential.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            self.check_secret(store, Some(credential)).await
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credential)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(Denied::Invalid)?;
            self.check_secret(store, Some(&decoded)).await
        } else {
            Err(Denied::Invalid)
        }
    }

    /// Checks a raw secret: a websocket token, a Bearer key or a Basic auth string (`Ok` whenever
    /// auth is not required).
    pub async fn check_secret(&self, store: &Store, secret: Option<&str>) -> Result<(), Denied> {
        if !self.required {
            return Ok(());
        }
        let secret = secret.filter(|s| !s.is_empty()).ok_or(Denied::Missing)?;
        if let Some(parsed) = api_keys::parse(secret) {
            return self.check_stored_key(store, &parsed).await;
        }
        let matches_auth_string = self
            .auth_string
            .as_deref()
            .is_some_and(|expected| bool::from(secret.as_bytes().ct_eq(expected.as_bytes())));
        // Hashes have one length, so comparing them leaks nothing about the key's length.
        let matches_bootstrap = self.bootstrap_key_hash.as_deref().is_some_and(|expected| {
            let given = api_keys::hash_secret(secret);
            bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        });
        if matches_auth_string || matches_bootstrap {
            Ok(())
        } else {
            Err(Denied::Invalid)
        }
    }

    async fn check_stored_key(&self, store: &Store, key: &ParsedKey<'_>) -> Result<(), Denied> {
        let (secret_hash, expires) = match self.cached(key.key_id) {
            Some(hit) => hit,
            None => self.look_up(store, key.key_id).await?,
        };
        let given = api_keys::hash_secret(key.secret);
        if !bool::from(given.as_bytes().ct_eq(secret_hash.as_bytes())) {
            return Err(Denied::Invalid);
        }
        if expires.is_some_and(|e| e <= Timestamp::now()) {
            return Err(Denied::Expired);
        }
        Ok(())
    }

    fn cached(&self, key_id: &str) -> Option<(String, Option<Timestamp>)> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key_id)
            .filter(|entry| entry.read_at.elapsed() < CACHE_TTL)
            .map(|entry| (entry.secret_hash.clone(), entry.expires))
    }

    async fn look_up(
        &self,
        store: &Store,
        key_id: &str,
    ) -> Result<(String, Option<Timestamp>), Denied> {
        let revocations = self.revocations.load(Ordering::SeqCst);
        let found = store
            .find_api_key_credentials(key_id)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "cannot read an API key");
                Denied::Unavailable
            })?
            .ok_or(Denied::Invalid)?;
        if found.api_key.status(&Timestamp::now()) == KeyStatus::Revoked {
            return Err(Denied::Revoked);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if self.revocations.load(Ordering::SeqCst) == revocations {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(
                key_id.to_owned(),
                CachedKey {
                    secret_hash: found.secret_hash.clone(),
                    expires: found.api_key.expires,
                    read_at: Instant::now(),
                },
            );
        }
        Ok((found.secret_hash, found.api_key.expires))
    }

    /// Forgets a revoked key, so its next use reads the revocation.
    pub fn forget(&self, key_id: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        self.revocations.fetch_add(1, Ordering::SeqCst);
        cache.remove(key_id);
    }
}

/// Rejects requests without valid credentials when auth is required.
pub async fn require_auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if OPEN_PATHS.contains(&path) || WEBSOCKET_PATHS.contains(&path) {
        return next.run(request).await;
    }
    match state
        .auth
        .check_headers(&state.store, request.headers())
        .await
    {
        Ok(()) => next.run(request).await,
        Err(denied) => ApiError::from(denied).into_response(),
    }
}
