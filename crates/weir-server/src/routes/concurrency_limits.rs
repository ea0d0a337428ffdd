//! `/v2/concurrency_limits`: global concurrency limits — create, read, update and delete by id or
//! name, a page sorted by name, and `/increment` and `/decrement` of their slots.
//!
//! Bodies are checked here with Prefect's rules (`weir_core::concurrency_limits`), so bad input is a
//! 422 naming the field; a name already taken is a 409. An increment that does not fit answers 423
//! with a `Retry-After` header in seconds; increments of inactive or unknown limits are ignored.

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use weir_core::concurrency_limits::{
    check_slots, ConcurrencyLimitV2, ConcurrencyLimitV2Create, ConcurrencyLimitV2Update,
    DecrementBody, GlobalConcurrencyLimitResponse, IncrementBody, LimitPageBody,
    MinimalConcurrencyLimitResponse,
};
use weir_core::Timestamp;
use weir_storage::{Increment, LimitKey};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/concurrency_limits/", post(create_limit))
        .route("/v2/concurrency_limits", post(create_limit))
        .route("/v2/concurrency_limits/filter", post(filter_limits))
        .route("/v2/concurrency_limits/increment", post(increment_slots))
        .route("/v2/concurrency_limits/decrement", post(decrement_slots))
        .route(
            "/v2/concurrency_limits/{id_or_name}",
            get(read_limit).patch(update_limit).delete(delete_limit),
        )
}

pub(crate) fn checked(result: Result<(), (&'static str, String)>) -> ApiResult<()> {
    result.map_err(|(field, msg)| ApiError::invalid(&["body", field], msg))
}

/// Creates a global concurrency limit.
#[utoipa::path(post, path = "/api/v2/concurrency_limits/", tag = "Concurrency Limits V2",
    request_body = ConcurrencyLimitV2Create,
    responses((status = 201, body = ConcurrencyLimitV2), (status = 409), (status = 422)))]
pub(crate) async fn create_limit(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConcurrencyLimitV2Create>,
) -> ApiResult<Response> {
    checked(body.check())?;
    let limit = state.store.create_concurrency_limit_v2(body).await?;
    Ok((StatusCode::CREATED, Json(limit)).into_response())
}

/// Reads a global concurrency limit by id or name; active slots are counted after decay.
#[utoipa::path(get, path = "/api/v2/concurrency_limits/{id_or_name}",
    tag = "Concurrency Limits V2", params(("id_or_name" = String, Path)),
    responses((status = 200, body = GlobalConcurrencyLimitResponse), (status = 404)))]
pub(crate) async fn read_limit(
    State(state): State<AppState>,
    ApiPath(id_or_name): ApiPath<String>,
) -> ApiResult<Json<GlobalConcurrencyLimitResponse>> {
    let limit = state
        .store
        .read_concurrency_limit_v2(&LimitKey::parse(&id_or_name))
        .await?;
    Ok(Json(limit.response(Timestamp::now())))
}

/// A page of global concurrency limits sorted by name (at most 200).
#[utoipa::path(post, path = "/api/v2/concurrency_limits/filter", tag = "Concurrency Limits V2",
    request_body = LimitPageBody,
    responses((status = 200, body = Vec<GlobalConcurrencyLimitResponse>), (status = 422)))]
pub(crate) async fn filter_limits(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LimitPageBody>,
) -> ApiResult<Json<Vec<GlobalConcurrencyLimitResponse>>> {
    let (limit, offset) = body
        .page()
        .map_err(|(field, msg)| ApiError::invalid(&["body", field], msg))?;
    let now = Timestamp::now();
    let limits = state
        .store
        .page_concurrency_limits_v2(limit, offset)
        .await?;
    Ok(Json(limits.iter().map(|l| l.response(now)).collect()))
}

/// Updates a global concurrency limit found by id or name.
#[utoipa::path(patch, path = "/api/v2/concurrency_limits/{id_or_name}",
    tag = "Concurrency Limits V2", params(("id_or_name" = String, Path)),
    request_body = ConcurrencyLimitV2Update,
    responses((status = 204), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn update_limit(
    State(state): State<AppState>,
    ApiPath(id_or_name): ApiPath<String>,
    ApiJson(body): ApiJson<ConcurrencyLimitV2Update>,
) -> ApiResult<StatusCode> {
    checked(body.check())?;
    state
        .store
        .update_concurrency_limit_v2(&LimitKey::parse(&id_or_name), body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a global concurrency limit found by id or name.
#[utoipa::path(delete, path = "/api/v2/concurrency_limits/{id_or_name}",
    tag = "Concurrency Limits V2", params(("id_or_name" = String, Path)),
    responses((status = 204), (status = 404)))]
pub(crate) async fn delete_limit(
    State(state): State<AppState>,
    ApiPath(id_or_name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_concurrency_limit_v2(&LimitKey::parse(&id_or_name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes slots on the named limits, all or nothing: 200 with the limits, or 423 with
/// `Retry-After` when one of them is full.
#[utoipa::path(post, path = "/api/v2/concurrency_limits/increment",
    tag = "Concurrency Limits V2", request_body = IncrementBody,
    responses((status = 200, body = Vec<MinimalConcurrencyLimitResponse>), (status = 422),
        (status = 423)))]
pub(crate) async fn increment_slots(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<IncrementBody>,
) -> ApiResult<Response> {
    checked(check_slots(body.slots, &body.names))?;
    let outcome = state
        .store
        .increment_concurrency_slots(&body.names, body.slots, body.mode)
        .await?;
    Ok(match outcome {
        Increment::Acquired(limits) => {
            let minimal: Vec<_> = limits.iter().map(ConcurrencyLimitV2::minimal).collect();
            Json(minimal).into_response()
        }
        Increment::Locked { retry_after } => locked("Locked", Some(retry_after)),
    })
}

/// The 423 of a denied acquisition, with `Retry-After` in seconds when given.
pub(crate) fn locked(detail: &str, retry_after: Option<f64>) -> Response {
    let mut response = (StatusCode::LOCKED, Json(json!({"detail": detail}))).into_response();
    if let Some(Ok(value)) = retry_after.map(|s| HeaderValue::from_str(&s.to_string())) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Gives back slots on the named limits and records how long they were held.
#[utoipa::path(post, path = "/api/v2/concurrency_limits/decrement",
    tag = "Concurrency Limits V2", request_body = DecrementBody,
    responses((status = 200, body = Vec<MinimalConcurrencyLimitResponse>), (status = 422)))]
pub(crate) async fn decrement_slots(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DecrementBody>,
) -> ApiResult<Json<Vec<MinimalConcurrencyLimitResponse>>> {
    checked(check_slots(body.slots, &body.names))?;
    if body.occupancy_seconds.is_some_and(|s| s <= 0.0) {
        return Err(ApiError::invalid(
            &["body", "occupancy_seconds"],
            "must be greater than 0",
        ));
    }
    let limits = state
        .store
        .decrement_concurrency_slots(&body.names, body.slots, body.occupancy_seconds)
        .await?;
    Ok(Json(
        limits.iter().map(ConcurrencyLimitV2::minimal).collect(),
    ))
}
