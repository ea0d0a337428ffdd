//! Health, readiness, versions, CSRF (disabled) and storage settings.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/version", get(api_version))
        .route("/admin/version", get(server_version))
        .route("/admin/storage", get(storage))
        .route("/admin/settings", get(settings))
        .route("/csrf-token", get(csrf_token))
        .route("/hello", get(hello))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/api/health", tag = "Root", responses((status = 200, body = bool)))]
pub(crate) async fn health() -> Json<bool> {
    Json(true)
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/api/ready", tag = "Root",
    responses((status = 200, description = "The database answers"), (status = 503)))]
pub(crate) async fn ready(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state
        .store
        .ping()
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(Json(json!({ "message": "OK" })))
}

/// The API version (`X-PREFECT-API-VERSION`) this server speaks.
#[utoipa::path(get, path = "/api/version", tag = "Root", responses((status = 200, body = String)))]
pub(crate) async fn api_version() -> Json<&'static str> {
    Json(weir_core::PREFECT_API_VERSION)
}

/// The Prefect server version Weir is compatible with (the client checks its major version).
#[utoipa::path(get, path = "/api/admin/version", tag = "Admin", responses((status = 200, body = String)))]
pub(crate) async fn server_version() -> Json<&'static str> {
    Json(weir_core::PREFECT_COMPAT_VERSION)
}

/// Result-storage settings: none configured.
#[utoipa::path(get, path = "/api/admin/storage", tag = "Admin", responses((status = 200)))]
pub(crate) async fn storage() -> Json<Value> {
    Json(json!({ "default_result_storage_block_id": null }))
}

/// Server settings visible to clients.
#[utoipa::path(get, path = "/api/admin/settings", tag = "Admin", responses((status = 200)))]
pub(crate) async fn settings(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "server": {"api": {"auth_string": state.config.auth_string.as_ref().map(|_| "********"),
                           "csrf_protection_enabled": false}},
        "weir": {"version": env!("CARGO_PKG_VERSION")}
    }))
}

/// CSRF protection is disabled: the Prefect client expects exactly this 422 and stops asking.
#[utoipa::path(get, path = "/api/csrf-token", tag = "Root", params(("client" = Option<String>, Query)),
    responses((status = 422, description = "CSRF protection is disabled.")))]
pub(crate) async fn csrf_token() -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "detail": "CSRF protection is disabled." })),
    )
        .into_response()
}

/// A greeting.
#[utoipa::path(get, path = "/api/hello", tag = "Root", responses((status = 200, body = String)))]
pub(crate) async fn hello() -> Json<&'static str> {
    Json("👋")
}
