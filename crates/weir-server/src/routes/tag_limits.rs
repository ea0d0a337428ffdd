//! `/concurrency_limits` (v1): the concurrency limits of task-run tags — upsert by tag, read by
//! id or tag, a page sorted by tag, delete, and reset of the runs holding the slots.
//!
//! As in Prefect 3.9.1 a tag's limit is the global limit `tag:{tag}` (see `concurrency_limits`);
//! `active_slots` lists the task runs holding a slot. The slots are taken and given back by the
//! task-run policy (`weir_core::orchestration::task::secure_task_concurrency_slots`).

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use uuid::Uuid;
use weir_core::concurrency_limits::{
    ConcurrencyLimit, ConcurrencyLimitCreate, LimitPageBody, ResetBody,
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/concurrency_limits/", post(upsert_tag_limit))
        .route("/concurrency_limits", post(upsert_tag_limit))
        .route("/concurrency_limits/filter", post(filter_tag_limits))
        .route(
            "/concurrency_limits/tag/{tag}",
            get(read_tag_limit).delete(delete_tag_limit),
        )
        .route("/concurrency_limits/tag/{tag}/reset", post(reset_tag_limit))
        .route(
            "/concurrency_limits/{id}",
            get(read_tag_limit_by_id).delete(delete_tag_limit_by_id),
        )
}

/// Creates the limit of a tag (201) or sets the limit of an existing one (200).
#[utoipa::path(post, path = "/api/concurrency_limits/", tag = "Concurrency Limits",
    request_body = ConcurrencyLimitCreate,
    responses((status = 201, body = ConcurrencyLimit), (status = 200, body = ConcurrencyLimit),
        (status = 422)))]
pub(crate) async fn upsert_tag_limit(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConcurrencyLimitCreate>,
) -> ApiResult<Response> {
    body.check()
        .map_err(|(field, msg)| ApiError::invalid(&["body", field], msg))?;
    let (limit, created) = state.store.upsert_tag_limit(body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(limit)).into_response())
}

/// Reads a tag's limit by id.
#[utoipa::path(get, path = "/api/concurrency_limits/{id}", tag = "Concurrency Limits",
    params(("id" = Uuid, Path)), responses((status = 200, body = ConcurrencyLimit), (status = 404)))]
pub(crate) async fn read_tag_limit_by_id(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ConcurrencyLimit>> {
    Ok(Json(state.store.read_tag_limit_by_id(id).await?))
}

/// Reads a tag's limit.
#[utoipa::path(get, path = "/api/concurrency_limits/tag/{tag}", tag = "Concurrency Limits",
    params(("tag" = String, Path)),
    responses((status = 200, body = ConcurrencyLimit), (status = 404)))]
pub(crate) async fn read_tag_limit(
    State(state): State<AppState>,
    ApiPath(tag): ApiPath<String>,
) -> ApiResult<Json<ConcurrencyLimit>> {
    Ok(Json(state.store.read_tag_limit(&tag).await?))
}

/// A page of tag limits sorted by tag (at most 200).
#[utoipa::path(post, path = "/api/concurrency_limits/filter", tag = "Concurrency Limits",
    request_body = LimitPageBody,
    responses((status = 200, body = Vec<ConcurrencyLimit>), (status = 422)))]
pub(crate) async fn filter_tag_limits(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LimitPageBody>,
) -> ApiResult<Json<Vec<ConcurrencyLimit>>> {
    let (limit, offset) = body
        .page()
        .map_err(|(field, msg)| ApiError::invalid(&["body", field], msg))?;
    Ok(Json(state.store.page_tag_limits(limit, offset).await?))
}

/// Deletes a tag's limit.
#[utoipa::path(delete, path = "/api/concurrency_limits/tag/{tag}", tag = "Concurrency Limits",
    params(("tag" = String, Path)), responses((status = 200), (status = 404)))]
pub(crate) async fn delete_tag_limit(
    State(state): State<AppState>,
    ApiPath(tag): ApiPath<String>,
) -> ApiResult<Json<()>> {
    state.store.delete_tag_limit(&tag).await?;
    Ok(Json(()))
}

/// Deletes a limit by id.
#[utoipa::path(delete, path = "/api/concurrency_limits/{id}", tag = "Concurrency Limits",
    params(("id" = Uuid, Path)), responses((status = 200), (status = 404)))]
pub(crate) async fn delete_tag_limit_by_id(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<()>> {
    state.store.delete_tag_limit_by_id(id).await?;
    Ok(Json(()))
}

/// Frees every slot of a tag's limit, then gives one to each run of `slot_override`.
#[utoipa::path(post, path = "/api/concurrency_limits/tag/{tag}/reset",
    tag = "Concurrency Limits", params(("tag" = String, Path)), request_body = ResetBody,
    responses((status = 200), (status = 404)))]
pub(crate) async fn reset_tag_limit(
    State(state): State<AppState>,
    ApiPath(tag): ApiPath<String>,
    ApiJson(body): ApiJson<ResetBody>,
) -> ApiResult<Json<()>> {
    let runs = body.slot_override.unwrap_or_default();
    state.store.reset_tag_limit(&tag, &runs).await?;
    Ok(Json(()))
}
