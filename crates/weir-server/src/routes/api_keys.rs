//! `/api_keys`: create (the answer carries the key, the only time it is shown), filter, read and
//! revoke API keys. Prefect's open-source server has no such endpoints, so the shapes are Weir's
//! (`weir_core::api_keys`). No answer ever holds a key's hash; revoking takes effect on this
//! server's next request (see `auth`).

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use uuid::Uuid;
use weir_core::api_keys::{
    validate_name, ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyFilterBody, KeyStatus,
    MAX_EXPIRY_SECONDS,
};
use weir_core::Timestamp;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api_keys/", post(create_api_key))
        .route("/api_keys", post(create_api_key))
        .route("/api_keys/filter", post(filter_api_keys))
        .route("/api_keys/{id}", get(read_api_key))
        .route("/api_keys/{id}/revoke", post(revoke_api_key))
}

/// Creates an API key and answers it once, with the key itself in `key`.
#[utoipa::path(post, path = "/api/api_keys/", tag = "API keys", request_body = ApiKeyCreate,
    responses((status = 201, body = ApiKeyCreated), (status = 409), (status = 422)))]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ApiKeyCreate>,
) -> ApiResult<Response> {
    validate_name(&body.name).map_err(|msg| ApiError::invalid(&["body", "name"], msg))?;
    if let Some(seconds) = body.expires_in_seconds {
        if seconds == 0 || seconds > MAX_EXPIRY_SECONDS {
            return Err(ApiError::invalid(
                &["body", "expires_in_seconds"],
                format!("must be from 1 to {MAX_EXPIRY_SECONDS}"),
            ));
        }
    }
    let (api_key, key) = state
        .store
        .issue_api_key(&body.name, body.expires_in_seconds)
        .await?;
    tracing::info!(name = %api_key.name, prefix = %api_key.prefix, "API key created");
    let created = ApiKeyCreated { api_key, key };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// API keys, oldest first, optionally only some names or only active keys.
#[utoipa::path(post, path = "/api/api_keys/filter", tag = "API keys",
    request_body = ApiKeyFilterBody, responses((status = 200, body = Vec<ApiKey>), (status = 422)))]
pub(crate) async fn filter_api_keys(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ApiKeyFilterBody>,
) -> ApiResult<Json<Vec<ApiKey>>> {
    let offset = body.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid(&["body", "offset"], "must be 0 or more"));
    }
    let limit = body.limit.unwrap_or(i64::MAX);
    if limit < 0 {
        return Err(ApiError::invalid(&["body", "limit"], "must be 0 or more"));
    }
    let now = Timestamp::now();
    let include_inactive = body.include_inactive.unwrap_or(true);
    let keys = state
        .store
        .list_api_keys()
        .await?
        .into_iter()
        .filter(|key| {
            body.names
                .as_ref()
                .is_none_or(|names| names.contains(&key.name))
        })
        .filter(|key| include_inactive || key.status(&now) == KeyStatus::Active)
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(Json(keys))
}

/// Reads an API key (never the key itself).
#[utoipa::path(get, path = "/api/api_keys/{id}", tag = "API keys", params(("id" = Uuid, Path)),
    responses((status = 200, body = ApiKey), (status = 404)))]
pub(crate) async fn read_api_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(state.store.read_api_key(id).await?))
}

/// Revokes an API key: from the next request on, it gets 401. Revoking twice is harmless.
#[utoipa::path(post, path = "/api/api_keys/{id}/revoke", tag = "API keys",
    params(("id" = Uuid, Path)), responses((status = 200, body = ApiKey), (status = 404)))]
pub(crate) async fn revoke_api_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiKey>> {
    let api_key = state.store.revoke_api_key(id).await?;
    state.auth.forget(api_key.key_id());
    tracing::info!(name = %api_key.name, prefix = %api_key.prefix, "API key revoked");
    Ok(Json(api_key))
}
