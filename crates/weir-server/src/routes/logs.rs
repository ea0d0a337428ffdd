//! `/logs`: batched creation and filtered reads.

use crate::error::{ApiJson, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use weir_core::filters::LogFilterBody;
use weir_core::schemas::{Log, LogCreate};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/logs/", post(create_logs))
        .route("/logs", post(create_logs))
        .route("/logs/filter", post(filter_logs))
}

/// Stores a batch of log lines.
#[utoipa::path(post, path = "/api/logs/", tag = "Logs", request_body = Vec<LogCreate>,
    responses((status = 201), (status = 422)))]
pub(crate) async fn create_logs(
    State(state): State<AppState>,
    ApiJson(logs): ApiJson<Vec<LogCreate>>,
) -> ApiResult<(StatusCode, Json<()>)> {
    state.store.create_logs(logs).await?;
    Ok((StatusCode::CREATED, Json(())))
}

/// Log lines matching a filter, oldest first by default.
#[utoipa::path(post, path = "/api/logs/filter", tag = "Logs", request_body = LogFilterBody,
    responses((status = 200, body = Vec<Log>)))]
pub(crate) async fn filter_logs(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LogFilterBody>,
) -> ApiResult<Json<Vec<Log>>> {
    Ok(Json(state.store.filter_logs(&body).await?))
}
