//! Calls of Weir's API-key endpoints (`/api_keys`): create (the answer holds the key, shown once),
//! list, revoke.

use crate::{Client, Method, Result};
use serde_json::json;
use uuid::Uuid;
use weir_core::api_keys::{ApiKey, ApiKeyCreate, ApiKeyCreated};

impl Client {
    /// Creates an API key; an unrevoked key of the same name is a 409.
    pub async fn create_api_key(&self, create: &ApiKeyCreate) -> Result<ApiKeyCreated> {
        let body = Self::to_json(create);
        self.call(Method::POST, "/api_keys/", Some(&body)).await
    }

    /// Every API key, oldest first, revoked and expired ones included.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        self.call(Method::POST, "/api_keys/filter", Some(&json!({})))
            .await
    }

    /// Revokes the API key with this id and returns it.
    pub async fn revoke_api_key(&self, id: Uuid) -> Result<ApiKey> {
        self.call(Method::POST, &format!("/api_keys/{id}/revoke"), None)
            .await
    }
}
