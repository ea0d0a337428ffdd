//! `/work_pools` and `/work_queues`: pools with their base job templates, their queues, their
//! workers' heartbeats, and the poll that hands scheduled runs to workers.
//!
//! A pool of a type Weir knows (`process`, `kubernetes`) created without a base job template gets
//! that type's default template; any template is validated before it is stored. The worker
//! websocket `/work_pools/{name}/workers/connect` is not served: Prefect's worker then falls back
//! to the REST heartbeat and poll below.

use super::{any_of, page};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value};
use uuid::Uuid;
use weir_core::job_template::{
    default_kubernetes_template, default_process_template, BaseJobTemplate,
};
use weir_core::schemas::JsonObject;
use weir_core::work_pools::{
    ScheduledRunsRequest, WorkPool, WorkPoolCreate, WorkPoolUpdate, WorkQueue, WorkQueueCreate,
    WorkQueueUpdate, Worker, WorkerFlowRun, WorkerHeartbeat,
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/work_pools/", post(create_work_pool))
        .route("/work_pools", post(create_work_pool))
        .route("/work_pools/filter", post(filter_work_pools))
        .route("/work_pools/count", post(count_work_pools))
        .route(
            "/work_pools/{name}",
            get(read_work_pool)
                .patch(update_work_pool)
                .delete(delete_work_pool),
        )
        .route("/work_pools/{name}/queues", post(create_work_queue))
        .route("/work_pools/{name}/queues/", post(create_work_queue))
        .route("/work_pools/{name}/queues/filter", post(filter_work_queues))
        .route(
            "/work_pools/{name}/queues/{queue}",
            get(read_pool_queue)
                .patch(update_pool_queue)
                .delete(delete_pool_queue),
        )
        .route("/work_pools/{name}/workers/heartbeat", post(heartbeat))
        .route("/work_pools/{name}/workers/filter", post(filter_workers))
        .route(
            "/work_pools/{name}/workers/{worker}",
            axum::routing::delete(delete_worker),
        )
        .route(
            "/work_pools/{name}/get_scheduled_flow_runs",
            post(get_scheduled_flow_runs),
        )
        .route(
            "/work_queues/{id}",
            get(read_work_queue).patch(update_work_queue),
        )
}

/// The default template for a pool type Weir's workers know, if any.
fn default_template(pool_type: &str) -> Option<BaseJobTemplate> {
    match pool_type {
        "process" => Some(default_process_template()),
        "kubernetes" => Some(default_kubernetes_template()),
        _ => None,
    }
}

/// Checks a base job template, naming the offending field in the 422.
fn check_template(template: &JsonObject) -> ApiResult<()> {
    let parsed: BaseJobTemplate = serde_json::from_value(Value::Object(template.clone()))
        .map_err(|e| ApiError::invalid(&["body", "base_job_template"], e.to_string()))?;
    parsed
        .validate()
        .map_err(|e| ApiError::invalid(&["body", "base_job_template"], e.to_string()))
}

fn as_object(template: BaseJobTemplate) -> JsonObject {
    match serde_json::to_value(template) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Creates a work pool (with its `default` queue).
#[utoipa::path(post, path = "/api/work_pools/", tag = "Work Pools", request_body = WorkPoolCreate,
    responses((status = 201, body = WorkPool), (status = 409), (status = 422)))]
pub(crate) async fn create_work_pool(
    State(state): State<AppState>,
    ApiJson(mut body): ApiJson<WorkPoolCreate>,
) -> ApiResult<Response> {
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid(
            &["body", "name"],
            "name must not be empty",
        ));
    }
    if body.base_job_template.is_empty() {
        if let Some(template) = default_template(&body.pool_type) {
            body.base_job_template = as_object(template);
        }
    }
    check_template(&body.base_job_template)?;
    let pool = state.store.create_work_pool(body).await?;
    Ok((StatusCode::CREATED, Json(pool)).into_response())
}

/// Reads a work pool by name.
#[utoipa::path(get, path = "/api/work_pools/{name}", tag = "Work Pools",
    params(("name" = String, Path)), responses((status = 200, body = WorkPool), (status = 404)))]
pub(crate) async fn read_work_pool(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<WorkPool>> {
    Ok(Json(state.store.read_work_pool(&name).await?))
}

/// Updates a work pool.
#[utoipa::path(patch, path = "/api/work_pools/{name}", tag = "Work Pools",
    params(("name" = String, Path)), request_body = WorkPoolUpdate,
    responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn update_work_pool(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<WorkPoolUpdate>,
) -> ApiResult<StatusCode> {
    if let Some(template) = &body.base_job_template {
        check_template(template)?;
    }
    state.store.update_work_pool(&name, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a work pool with its queues.
#[utoipa::path(delete, path = "/api/work_pools/{name}", tag = "Work Pools",
    params(("name" = String, Path)), responses((status = 204), (status = 404)))]
pub(crate) async fn delete_work_pool(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.store.delete_work_pool(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn matching_pools(state: &AppState, body: &Value) -> ApiResult<Vec<WorkPool>> {
    let pools = state.store.list_work_pools().await?;
    let names = any_of(body, "work_pools", "name");
    let types = any_of(body, "work_pools", "type");
    let ids = any_of(body, "work_pools", "id");
    Ok(pools
        .into_iter()
        .filter(|p| names.as_ref().is_none_or(|n| n.contains(&p.name)))
        .filter(|p| types.as_ref().is_none_or(|t| t.contains(&p.pool_type)))
        .filter(|p| ids.as_ref().is_none_or(|i| i.contains(&p.id.to_string())))
        .collect())
}

/// Work pools matching a filter (`work_pools.name/type/id.any_`).
#[utoipa::path(post, path = "/api/work_pools/filter", tag = "Work Pools",
    responses((status = 200, body = Vec<WorkPool>)))]
pub(crate) async fn filter_work_pools(
    State(state): State<AppState>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Vec<WorkPool>>> {
    let body = body.map_or(Value::Null, |Json(b)| b);
    Ok(Json(page(matching_pools(&state, &body).await?, &body)))
}

/// How many work pools match a filter.
#[utoipa::path(post, path = "/api/work_pools/count", tag = "Work Pools",
    responses((status = 200, body = i64)))]
pub(crate) async fn count_work_pools(
    State(state): State<AppState>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<usize>> {
    let body = body.map_or(Value::Null, |Json(b)| b);
    Ok(Json(matching_pools(&state, &body).await?.len()))
}

/// Adds a queue to a pool.
#[utoipa::path(post, path = "/api/work_pools/{name}/queues", tag = "Work Pools",
    params(("name" = String, Path)), request_body = WorkQueueCreate,
    responses((status = 201, body = WorkQueue), (status = 404), (status = 409)))]
pub(crate) async fn create_work_queue(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<WorkQueueCreate>,
) -> ApiResult<Response> {
    let queue = state.store.create_work_queue(&name, body).await?;
    Ok((StatusCode::CREATED, Json(queue)).into_response())
}

/// A pool's queues matching a filter (`work_queues.name.any_`).
#[utoipa::path(post, path = "/api/work_pools/{name}/queues/filter", tag = "Work Pools",
    params(("name" = String, Path)), responses((status = 200, body = Vec<WorkQueue>)))]
pub(crate) async fn filter_work_queues(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Vec<WorkQueue>>> {
    let body = body.map_or(Value::Null, |Json(b)| b);
    let pool = state.store.read_work_pool(&name).await?;
    let names = any_of(&body, "work_queues", "name");
    let queues = state
        .store
        .list_work_queues(pool.id)
        .await?
        .into_iter()
        .filter(|q| names.as_ref().is_none_or(|n| n.contains(&q.name)))
        .collect();
    Ok(Json(page(queues, &body)))
}

/// Reads a pool's queue by name.
#[utoipa::path(get, path = "/api/work_pools/{name}/queues/{queue}", tag = "Work Pools",
    params(("name" = String, Path), ("queue" = String, Path)),
    responses((status = 200, body = WorkQueue), (status = 404)))]
pub(crate) async fn read_pool_queue(
    State(state): State<AppState>,
    ApiPath((name, queue)): ApiPath<(String, String)>,
) -> ApiResult<Json<WorkQueue>> {
    Ok(Json(
        state.store.read_work_queue_by_name(&name, &queue).await?,
    ))
}

/// Updates a pool's queue.
#[utoipa::path(patch, path = "/api/work_pools/{name}/queues/{queue}", tag = "Work Pools",
    params(("name" = String, Path), ("queue" = String, Path)), request_body = WorkQueueUpdate,
    responses((status = 204), (status = 404)))]
pub(crate) async fn update_pool_queue(
    State(state): State<AppState>,
    ApiPath((name, queue)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<WorkQueueUpdate>,
) -> ApiResult<StatusCode> {
    let queue = state.store.read_work_queue_by_name(&name, &queue).await?;
    state.store.update_work_queue(queue.id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a pool's queue (not its default queue).
#[utoipa::path(delete, path = "/api/work_pools/{name}/queues/{queue}", tag = "Work Pools",
    params(("name" = String, Path), ("queue" = String, Path)),
    responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn delete_pool_queue(
    State(state): State<AppState>,
    ApiPath((name, queue)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let queue = state.store.read_work_queue_by_name(&name, &queue).await?;
    state.store.delete_work_queue(queue.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads a queue by id.
#[utoipa::path(get, path = "/api/work_queues/{id}", tag = "Work Queues",
    params(("id" = Uuid, Path)), responses((status = 200, body = WorkQueue), (status = 404)))]
pub(crate) async fn read_work_queue(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WorkQueue>> {
    Ok(Json(state.store.read_work_queue(id).await?))
}

/// Updates a queue by id.
#[utoipa::path(patch, path = "/api/work_queues/{id}", tag = "Work Queues",
    params(("id" = Uuid, Path)), request_body = WorkQueueUpdate,
    responses((status = 204), (status = 404)))]
pub(crate) async fn update_work_queue(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WorkQueueUpdate>,
) -> ApiResult<StatusCode> {
    state.store.update_work_queue(id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records a worker's heartbeat: 204, or the worker's id when `get_worker_id` is true.
#[utoipa::path(post, path = "/api/work_pools/{name}/workers/heartbeat", tag = "Work Pools",
    params(("name" = String, Path)), request_body = WorkerHeartbeat,
    responses((status = 204), (status = 200, body = Uuid), (status = 404)))]
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<WorkerHeartbeat>,
) -> ApiResult<Response> {
    let (id, pool_was_not_ready) = state
        .store
        .worker_heartbeat(&name, &body.name, body.heartbeat_interval_seconds)
        .await?;
    if pool_was_not_ready {
        // The pool just became READY: the foreman announces it now rather than at its next pass.
        state.foreman_wake.notify_one();
    }
    Ok(if body.get_worker_id {
        Json(id).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    })
}

/// A pool's workers matching a filter (`workers.status.any_`).
#[utoipa::path(post, path = "/api/work_pools/{name}/workers/filter", tag = "Work Pools",
    params(("name" = String, Path)), responses((status = 200, body = Vec<Worker>)))]
pub(crate) async fn filter_workers(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Vec<Worker>>> {
    let body = body.map_or(Value::Null, |Json(b)| b);
    let pool = state.store.read_work_pool(&name).await?;
    let statuses = any_of(&body, "workers", "status");
    let workers = state
        .store
        .list_workers(pool.id)
        .await?
        .into_iter()
        .filter(|w| {
            let status = serde_json::to_value(w.status).unwrap_or_default();
            statuses
                .as_ref()
                .is_none_or(|s| status.as_str().is_some_and(|t| s.iter().any(|x| x == t)))
        })
        .collect();
    Ok(Json(page(workers, &body)))
}

/// Forgets a worker.
#[utoipa::path(delete, path = "/api/work_pools/{name}/workers/{worker}", tag = "Work Pools",
    params(("name" = String, Path), ("worker" = String, Path)),
    responses((status = 204), (status = 404)))]
pub(crate) async fn delete_worker(
    State(state): State<AppState>,
    ApiPath((name, worker)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    state.store.delete_worker(&name, &worker).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The scheduled runs a worker of this pool should start now.
#[utoipa::path(post, path = "/api/work_pools/{name}/get_scheduled_flow_runs", tag = "Work Pools",
    params(("name" = String, Path)), request_body = ScheduledRunsRequest,
    responses((status = 200, body = Vec<WorkerFlowRun>), (status = 404)))]
pub(crate) async fn get_scheduled_flow_runs(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<ScheduledRunsRequest>,
) -> ApiResult<Json<Vec<WorkerFlowRun>>> {
    let (runs, queue_was_not_ready) = state
        .store
        .scheduled_runs_for_workers(&name, &request)
        .await?;
    if queue_was_not_ready {
        // A queue (and its deployments) just became READY: announced now by the foreman.
        state.foreman_wake.notify_one();
    }
    Ok(Json(runs))
}
