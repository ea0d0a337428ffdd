//! API keys: issue (generate a key, store only its hash), read, list, revoke, and the lookup by
//! public key id that authenticates requests.
//!
//! Names are unique among unrevoked keys (a partial unique index), so two concurrent creates of one
//! name cannot both succeed, and a revoked key's name can be reused. Revoking is one UPDATE that
//! only sets `revoked` once; it is committed before the call returns, so the next lookup sees it.

use crate::db::on_pool;
use crate::{Error, Result, Store};
use uuid::Uuid;
use weir_core::api_keys::{self, ApiKey};
use weir_core::Timestamp;

const NOT_FOUND: Error = Error::NotFound { kind: "API key" };

/// A stored key with the hash of its secret, for checking a presented key.
#[derive(Clone)]
pub struct ApiKeyCredentials {
    pub api_key: ApiKey,
    /// Lowercase hex SHA-256 of the secret.
    pub secret_hash: String,
}

impl Store {
    /// Generates a key named `name`, stores it with its hash, and returns it with the key text,
    /// which is not kept anywhere. `expires_in_seconds` counts from now. An unrevoked key of the
    /// same name is a conflict.
    pub async fn issue_api_key(
        &self,
        name: &str,
        expires_in_seconds: Option<u64>,
    ) -> Result<(ApiKey, String)> {
        api_keys::validate_name(name).map_err(|msg| Error::Invalid(format!("name: {msg}")))?;
        let generated = api_keys::generate(&mut rand::rng());
        let now = Timestamp::now();
        let api_key = ApiKey {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            prefix: format!("{}{}", api_keys::KEY_PREFIX, generated.key_id),
            created: now,
            expires: expires_in_seconds.map(|seconds| now.plus_seconds(seconds as f64)),
            revoked: None,
        };
        let inserted = on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO api_key (id, name, key_id, secret_hash, created, expires, revoked, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) ON CONFLICT DO NOTHING")
            .bind(api_key.id.to_string())
            .bind(&api_key.name)
            .bind(&generated.key_id)
            .bind(&generated.secret_hash)
            .bind(now.to_canonical())
            .bind(api_key.expires.map(|e| e.to_canonical()))
            .bind(serde_json::to_string(&api_key)?)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if inserted == 0 {
            return Err(Error::Conflict(format!(
                "An API key named {name:?} already exists; revoke it first or choose another name."
            )));
        }
        Ok((api_key, generated.key))
    }

    /// The key with this id.
    pub async fn read_api_key(&self, id: Uuid) -> Result<ApiKey> {
        let row: Option<(String,)> = on_pool!(read &self.db, pool =>
            sqlx::query_as("SELECT doc FROM api_key WHERE id = $1")
                .bind(id.to_string()).fetch_optional(pool).await)?;
        let (doc,) = row.ok_or(NOT_FOUND)?;
        Ok(serde_json::from_str(&doc)?)
    }

    /// Every key, oldest first (keys are few; callers filter in memory).
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        let rows: Vec<(String,)> = on_pool!(read &self.db, pool =>
            sqlx::query_as("SELECT doc FROM api_key ORDER BY created, id").fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(doc,)| Ok(serde_json::from_str(&doc)?))
            .collect()
    }

    /// Revokes the key with this id and returns it. Revoking a revoked key changes nothing.
    pub async fn revoke_api_key(&self, id: Uuid) -> Result<ApiKey> {
        let mut api_key = self.read_api_key(id).await?;
        if api_key.revoked.is_some() {
            return Ok(api_key);
        }
        let now = Timestamp::now();
        api_key.revoked = Some(now);
        let changed = on_pool!(&self.db, pool => sqlx::query(
            "UPDATE api_key SET revoked = $1, doc = $2 WHERE id = $3 AND revoked IS NULL")
            .bind(now.to_canonical())
            .bind(serde_json::to_string(&api_key)?)
            .bind(id.to_string())
            .execute(pool).await.map(|r| r.rows_affected()))?;
        if changed == 0 {
            // Revoked concurrently: answer with the stored revocation.
            return self.read_api_key(id).await;
        }
        Ok(api_key)
    }

    /// The key whose public id is `key_id`, with its secret's hash; `None` when there is none.
    /// The read pool sees every committed write, so a revocation that returned is visible here.
    pub async fn find_api_key_credentials(
        &self,
        key_id: &str,
    ) -> Result<Option<ApiKeyCredentials>> {
        let row: Option<(String, String)> = on_pool!(read &self.db, pool =>
            sqlx::query_as("SELECT doc, secret_hash FROM api_key WHERE key_id = $1")
                .bind(key_id).fetch_optional(pool).await)?;
        row.map(|(doc, secret_hash)| {
            Ok(ApiKeyCredentials {
                api_key: serde_json::from_str(&doc)?,
                secret_hash,
            })
        })
        .transpose()
    }
}
