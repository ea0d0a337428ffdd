//! `/v2/concurrency_limits/increment-with-lease`, `/decrement-with-lease` and
//! `/leases/{lease_id}/renew`: slots of global limits held under a lease, the way Prefect 3.9.1's
//! `concurrency()` context managers and its task engine (for `tag:` limits) take them.
//!
//! A lease's `lease_duration` seconds last `ServerConfig::lease_time_unit` each (one second but in
//! tests). Status codes follow Prefect: 200 with the lease, 423 with `Retry-After` when a limit is
//! full, 422 for bad input or more slots than a limit has; 204 for a release (also of an unknown
//! lease, which releases nothing) and a renewal, 410 when renewing a lease that is gone.

use crate::error::{json_with_status, ApiJson, ApiPath, ApiResult};
use crate::routes::concurrency_limits::{checked, locked};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use uuid::Uuid;
use weir_core::concurrency_leases::{
    ConcurrencyLimitWithLeaseResponse, DecrementWithLeaseBody, IncrementWithLeaseBody,
    RenewLeaseBody,
};
use weir_core::concurrency_limits::ConcurrencyLimitV2;
use weir_core::Timestamp;
use weir_storage::LeaseIncrement;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/concurrency_limits/increment-with-lease",
            post(increment_with_lease),
        )
        .route(
            "/v2/concurrency_limits/decrement-with-lease",
            post(decrement_with_lease),
        )
        .route(
            "/v2/concurrency_limits/leases/{lease_id}/renew",
            post(renew_lease),
        )
}

/// `lease_duration` seconds in the server's lease time.
fn lease_seconds(state: &AppState, lease_duration: f64) -> f64 {
    lease_duration * state.config.lease_time_unit.as_secs_f64()
}

/// Takes slots on the named limits, all or nothing, under a new lease: 200 with the lease id and
/// the limits, or 423 with `Retry-After` when one of them is full.
#[utoipa::path(post, path = "/api/v2/concurrency_limits/increment-with-lease",
    tag = "Concurrency Limits V2", request_body = IncrementWithLeaseBody,
    responses((status = 200, body = ConcurrencyLimitWithLeaseResponse), (status = 422),
        (status = 423)))]
pub(crate) async fn increment_with_lease(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<IncrementWithLeaseBody>,
) -> ApiResult<Response> {
    checked(body.check())?;
    let seconds = lease_seconds(&state, body.lease_duration);
    let outcome = state
        .store
        .acquire_concurrency_lease(&body.names, body.slots, body.mode, seconds, body.holder)
        .await?;
    Ok(match outcome {
        LeaseIncrement::Acquired { lease_id, limits } => Json(ConcurrencyLimitWithLeaseResponse {
            lease_id,
            limits: limits.iter().map(ConcurrencyLimitV2::minimal).collect(),
        })
        .into_response(),
        LeaseIncrement::Locked { retry_after } => locked("Locked", Some(retry_after)),
    })
}

/// Gives back the slots of a lease and ends it. Idempotent: a lease already given back (or
/// repossessed, or never taken) releases nothing.
#[utoipa::path(post, path = "/api/v2/concurrency_limits/decrement-with-lease",
    tag = "Concurrency Limits V2", request_body = DecrementWithLeaseBody,
    responses((status = 204), (status = 422)))]
pub(crate) async fn decrement_with_lease(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DecrementWithLeaseBody>,
) -> ApiResult<StatusCode> {
    state
        .store
        .release_concurrency_lease(body.lease_id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a lease last `lease_duration` seconds from now: 204, or 410 when it is gone.
#[utoipa::path(post, path = "/api/v2/concurrency_limits/leases/{lease_id}/renew",
    tag = "Concurrency Limits V2", params(("lease_id" = Uuid, Path)),
    request_body = RenewLeaseBody, responses((status = 204), (status = 410), (status = 422)))]
pub(crate) async fn renew_lease(
    State(state): State<AppState>,
    ApiPath(lease_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RenewLeaseBody>,
) -> ApiResult<Response> {
    checked(body.check())?;
    let expires = Timestamp::now().plus_seconds(lease_seconds(&state, body.lease_duration));
    if state
        .store
        .renew_concurrency_lease(lease_id, expires)
        .await?
    {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(json_with_status(
        StatusCode::GONE,
        json!({"detail": "Lease not found - it may have expired or been revoked"}),
    ))
}
