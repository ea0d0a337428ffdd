//! `/concurrency_limits` (v1): the concurrency limits of task-run tags — upsert by tag, read by
//! id or tag, a page sorted by tag, delete, reset of the runs holding the slots, and
//! `/increment` and `/decrement` of a task run's slots (Prefect's `prefect.concurrency.v1`).
//!
//! As in Prefect 3.9.1 a tag's limit is the global limit `tag:{tag}` (see `concurrency_limits`);
//! `active_slots` lists the task runs holding a slot, directly or through a lease. The slots are
//! taken and given back by the task-run policy
//! (`weir_core::orchestration::task::secure_task_concurrency_slots`), by `/increment` and
//! `/decrement` here, and by Prefect 3.9.1's task engine through leases on `tag:` limits
//! (`concurrency_leases`).

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::routes::concurrency_limits::locked;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use uuid::Uuid;
use weir_core::concurrency_leases::{TagDecrementBody, TagIncrementBody};
use weir_core::concurrency_limits::{
    ConcurrencyLimit, ConcurrencyLimitCreate, ConcurrencyLimitV2, LimitPageBody,
    MinimalConcurrencyLimitResponse, ResetBody, TAG_PREFIX,
};
use weir_core::orchestration::task::TagSlots;

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
        .route("/concurrency_limits/increment", post(increment_tag_slots))
        .route("/concurrency_limits/decrement", post(decrement_tag_slots))
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

/// Takes a slot of each tag's limit for a task run: 200 with the limits (named by their tags),
/// or 423 when a limit is 0 or, with `Retry-After` (at least a second: Prefect's v1 client
/// retries after exactly that), full.
#[utoipa::path(post, path = "/api/concurrency_limits/increment", tag = "Concurrency Limits",
    request_body = TagIncrementBody,
    responses((status = 200, body = Vec<MinimalConcurrencyLimitResponse>), (status = 423),
        (status = 422)))]
pub(crate) async fn increment_tag_slots(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TagIncrementBody>,
) -> ApiResult<Response> {
    let (outcome, limits) = state
        .store
        .increment_tag_slots(body.task_run_id, &body.names)
        .await?;
    Ok(match outcome {
        TagSlots::Acquired => {
            let minimal: Vec<MinimalConcurrencyLimitResponse> = limits
                .iter()
                .map(|l| MinimalConcurrencyLimitResponse {
                    name: l.name.trim_start_matches(TAG_PREFIX).to_owned(),
                    ..l.minimal()
                })
                .collect();
            Json(minimal).into_response()
        }
        TagSlots::Abort { reason } => locked(&reason, None),
        TagSlots::Wait {
            delay_seconds,
            reason,
        } => locked(&reason, Some(delay_seconds.max(1.0))),
    })
}

/// Gives back what a task run holds on its tags' limits: 200 with the limits found.
#[utoipa::path(post, path = "/api/concurrency_limits/decrement", tag = "Concurrency Limits",
    request_body = TagDecrementBody,
    responses((status = 200, body = Vec<MinimalConcurrencyLimitResponse>), (status = 422)))]
pub(crate) async fn decrement_tag_slots(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TagDecrementBody>,
) -> ApiResult<Json<Vec<MinimalConcurrencyLimitResponse>>> {
    let limits = state
        .store
        .decrement_tag_slots(body.task_run_id, &body.names)
        .await?;
    Ok(Json(
        limits.iter().map(ConcurrencyLimitV2::minimal).collect(),
    ))
}
