//! `/task_runs` and `/task_run_states`: create, read, filter, count and `set_state` (the Prefect 3
//! engine reports task runs through events instead; see `crate::events`).

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::routes::flow_runs::answer_set_state;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;
use weir_core::filters::RunFilterBody;
use weir_core::schemas::{OrchestrationResult, SetStateRequest, TaskRun, TaskRunCreate};
use weir_core::State as RunState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/task_runs/", post(create_task_run))
        .route("/task_runs", post(create_task_run))
        .route("/task_runs/filter", post(filter_task_runs))
        .route("/task_runs/count", post(count_task_runs))
        .route("/task_runs/{id}", get(read_task_run))
        .route("/task_runs/{id}/set_state", post(set_task_run_state))
        .route("/task_run_states/", get(list_task_run_states))
        .route("/task_run_states", get(list_task_run_states))
        .route("/task_run_states/{id}", get(read_task_run_state))
}

/// Creates a task run (201), or returns the one with the same flow run, task key and dynamic key (200).
#[utoipa::path(post, path = "/api/task_runs/", tag = "Task Runs", request_body = TaskRunCreate,
    responses((status = 201, body = TaskRun), (status = 200, body = TaskRun), (status = 422)))]
pub(crate) async fn create_task_run(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TaskRunCreate>,
) -> ApiResult<Response> {
    let (run, created) = state.store.create_task_run(body).await?;
    Ok(crate::error::created_or_found(created, run))
}

/// Reads a task run.
#[utoipa::path(get, path = "/api/task_runs/{id}", tag = "Task Runs", params(("id" = Uuid, Path)),
    responses((status = 200, body = TaskRun), (status = 404)))]
pub(crate) async fn read_task_run(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<TaskRun>> {
    Ok(Json(state.store.read_task_run(id).await?))
}

/// Task runs matching a filter.
#[utoipa::path(post, path = "/api/task_runs/filter", tag = "Task Runs", request_body = RunFilterBody,
    responses((status = 200, body = Vec<TaskRun>)))]
pub(crate) async fn filter_task_runs(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RunFilterBody>,
) -> ApiResult<Json<Vec<TaskRun>>> {
    Ok(Json(state.store.filter_task_runs(&body).await?))
}

/// How many task runs match a filter.
#[utoipa::path(post, path = "/api/task_runs/count", tag = "Task Runs", request_body = RunFilterBody,
    responses((status = 200, body = i64)))]
pub(crate) async fn count_task_runs(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RunFilterBody>,
) -> ApiResult<Json<i64>> {
    Ok(Json(state.store.count_task_runs(&body).await?))
}

/// Proposes a task-run state through the task policy.
#[utoipa::path(post, path = "/api/task_runs/{id}/set_state", tag = "Task Runs", params(("id" = Uuid, Path)),
    request_body = SetStateRequest,
    responses((status = 201, body = OrchestrationResult), (status = 200, body = OrchestrationResult), (status = 404)))]
pub(crate) async fn set_task_run_state(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SetStateRequest>,
) -> ApiResult<Response> {
    let outcome = state
        .store
        .set_task_run_state(id, body.state, body.force)
        .await?;
    Ok(answer_set_state(&state, outcome).await)
}

#[derive(Deserialize)]
pub(crate) struct TaskRunStatesQuery {
    task_run_id: Option<Uuid>,
}

/// A task run's state history, oldest first.
#[utoipa::path(get, path = "/api/task_run_states/", tag = "Task Run States",
    params(("task_run_id" = Uuid, Query)), responses((status = 200, body = Vec<RunState>)))]
pub(crate) async fn list_task_run_states(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<TaskRunStatesQuery>,
) -> ApiResult<Json<Vec<RunState>>> {
    let id = query
        .task_run_id
        .ok_or_else(|| ApiError::invalid(&["query", "task_run_id"], "field required"))?;
    Ok(Json(state.store.task_run_states(id).await?))
}

/// One task-run state.
#[utoipa::path(get, path = "/api/task_run_states/{id}", tag = "Task Run States", params(("id" = Uuid, Path)),
    responses((status = 200, body = RunState), (status = 404)))]
pub(crate) async fn read_task_run_state(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RunState>> {
    Ok(Json(state.store.read_state("task_run_state", id).await?))
}
