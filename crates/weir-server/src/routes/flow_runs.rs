//! `/flow_runs` and `/flow_run_states`: create, read, update, labels, delete, filter, count, and the
//! orchestrated `set_state`.

use crate::error::{json_with_status, ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;
use weir_core::filters::RunFilterBody;
use weir_core::schemas::{
    FlowRun, FlowRunCreate, FlowRunUpdate, JsonObject, OrchestrationResult, SetStateRequest,
};
use weir_core::State as RunState;
use weir_storage::SetStateOutcome;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/flow_runs/", post(create_flow_run))
        .route("/flow_runs", post(create_flow_run))
        .route("/flow_runs/filter", post(filter_flow_runs))
        .route("/flow_runs/count", post(count_flow_runs))
        .route("/flow_runs/paginate", post(paginate_flow_runs))
        .route(
            "/flow_runs/{id}",
            get(read_flow_run)
                .patch(update_flow_run)
                .delete(delete_flow_run),
        )
        .route("/flow_runs/{id}/labels", patch(patch_labels))
        .route("/flow_runs/{id}/set_state", post(set_flow_run_state))
        .route("/flow_run_states/", get(list_flow_run_states))
        .route("/flow_run_states", get(list_flow_run_states))
        .route("/flow_run_states/{id}", get(read_flow_run_state))
}

/// Creates a flow run (201), or returns the run with the same idempotency key (200).
#[utoipa::path(post, path = "/api/flow_runs/", tag = "Flow Runs", request_body = FlowRunCreate,
    responses((status = 201, body = FlowRun), (status = 200, body = FlowRun, description = "Idempotency key matched"),
              (status = 422)))]
pub(crate) async fn create_flow_run(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<FlowRunCreate>,
) -> ApiResult<Response> {
    let (run, created) = state.store.create_flow_run(body).await?;
    if created {
        publish_initial_state_event(&state, &run).await;
    }
    Ok(crate::error::created_or_found(created, run))
}

/// Publishes the `prefect.flow-run.<State>` event of a new run's first state (workers wake on it).
pub(crate) async fn publish_initial_state_event(state: &AppState, run: &FlowRun) {
    let Some(initial) = &run.state else { return };
    let flow_name = state
        .store
        .read_flow(run.flow_id)
        .await
        .ok()
        .map(|f| f.name);
    let event =
        weir_core::events::flow_run_state_event(run, flow_name.as_deref(), None, initial, None);
    let _ = state.events.publish(event).await;
}

/// Reads a flow run.
#[utoipa::path(get, path = "/api/flow_runs/{id}", tag = "Flow Runs", params(("id" = Uuid, Path)),
    responses((status = 200, body = FlowRun), (status = 404)))]
pub(crate) async fn read_flow_run(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<FlowRun>> {
    Ok(Json(state.store.read_flow_run(id).await?))
}

/// Updates a flow run (name, version, parameters, policy, tags, `infrastructure_pid`, job variables).
#[utoipa::path(patch, path = "/api/flow_runs/{id}", tag = "Flow Runs", params(("id" = Uuid, Path)),
    request_body = FlowRunUpdate, responses((status = 204), (status = 404)))]
pub(crate) async fn update_flow_run(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<FlowRunUpdate>,
) -> ApiResult<StatusCode> {
    state.store.update_flow_run(id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Merges labels into a flow run's labels.
#[utoipa::path(patch, path = "/api/flow_runs/{id}/labels", tag = "Flow Runs", params(("id" = Uuid, Path)),
    request_body = Object, responses((status = 204), (status = 404)))]
pub(crate) async fn patch_labels(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(labels): ApiJson<JsonObject>,
) -> ApiResult<StatusCode> {
    state.store.patch_flow_run_labels(id, labels).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a flow run with its states and task runs.
#[utoipa::path(delete, path = "/api/flow_runs/{id}", tag = "Flow Runs", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404)))]
pub(crate) async fn delete_flow_run(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.store.delete_flow_run(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Flow runs matching a filter.
#[utoipa::path(post, path = "/api/flow_runs/filter", tag = "Flow Runs", request_body = RunFilterBody,
    responses((status = 200, body = Vec<FlowRun>)))]
pub(crate) async fn filter_flow_runs(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RunFilterBody>,
) -> ApiResult<Json<Vec<FlowRun>>> {
    Ok(Json(state.store.filter_flow_runs(&body).await?))
}

/// How many flow runs match a filter.
#[utoipa::path(post, path = "/api/flow_runs/count", tag = "Flow Runs", request_body = RunFilterBody,
    responses((status = 200, body = i64)))]
pub(crate) async fn count_flow_runs(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RunFilterBody>,
) -> ApiResult<Json<i64>> {
    Ok(Json(state.store.count_flow_runs(&body).await?))
}

/// A page of the flow runs matching a filter, with how many match and how many pages they fill.
#[utoipa::path(post, path = "/api/flow_runs/paginate", tag = "Flow Runs", request_body = Object,
    responses((status = 200, body = Object, description = "`{results, count, limit, pages, page}`")))]
pub(crate) async fn paginate_flow_runs(
    State(state): State<AppState>,
    ApiJson(mut body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<serde_json::Value>> {
    let page = super::PageRequest::take(&mut body)?;
    let filter: RunFilterBody = crate::error::parse_json(body.to_string().as_bytes())?;
    let count = state.store.count_flow_runs(&filter).await?;
    let results = state.store.filter_flow_runs(&filter).await?;
    Ok(Json(page.answer(results, count)))
}

/// Proposes a state. 201 when the proposal was accepted and written, 200 for REJECT/WAIT/ABORT.
#[utoipa::path(post, path = "/api/flow_runs/{id}/set_state", tag = "Flow Runs", params(("id" = Uuid, Path)),
    request_body = SetStateRequest,
    responses((status = 201, body = OrchestrationResult), (status = 200, body = OrchestrationResult), (status = 404)))]
pub(crate) async fn set_flow_run_state(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SetStateRequest>,
) -> ApiResult<Response> {
    let outcome = state
        .store
        .set_flow_run_state(id, body.state, body.force)
        .await?;
    Ok(answer_set_state(&state, outcome).await)
}

/// Publishes the outcome's event and answers 201 for ACCEPT, 200 otherwise.
pub(crate) async fn answer_set_state(state: &AppState, outcome: SetStateOutcome) -> Response {
    if let Some(event) = outcome.event {
        let _ = state.events.publish(event).await;
    }
    let accepted = outcome.result.status == weir_core::schemas::SetStateStatus::Accept;
    let status = if accepted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_with_status(status, outcome.result)
}

#[derive(Deserialize)]
pub(crate) struct FlowRunStatesQuery {
    flow_run_id: Option<Uuid>,
}

/// A flow run's state history, oldest first.
#[utoipa::path(get, path = "/api/flow_run_states/", tag = "Flow Run States",
    params(("flow_run_id" = Uuid, Query)), responses((status = 200, body = Vec<RunState>)))]
pub(crate) async fn list_flow_run_states(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FlowRunStatesQuery>,
) -> ApiResult<Json<Vec<RunState>>> {
    let id = query
        .flow_run_id
        .ok_or_else(|| ApiError::invalid(&["query", "flow_run_id"], "field required"))?;
    Ok(Json(state.store.flow_run_states(id).await?))
}

/// One flow-run state.
#[utoipa::path(get, path = "/api/flow_run_states/{id}", tag = "Flow Run States", params(("id" = Uuid, Path)),
    responses((status = 200, body = RunState), (status = 404)))]
pub(crate) async fn read_flow_run_state(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RunState>> {
    Ok(Json(state.store.read_state("flow_run_state", id).await?))
}
