//! `/deployments`: upsert on (flow, name), read, read by name, filter, count, update, delete,
//! schedules, pause/resume, `create_flow_run`; plus the two small endpoints Prefect's `deploy`
//! calls around them (`/automations/owned-by/...`, `/collections/views/aggregate-worker-metadata`).

use super::{any_of, page};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use uuid::Uuid;
use weir_core::deployments::{
    Deployment, DeploymentCreate, DeploymentFlowRunCreate, DeploymentSchedule,
    DeploymentScheduleCreate, DeploymentScheduleUpdate, DeploymentUpdate,
};
use weir_core::job_template::{default_kubernetes_template, default_process_template};
use weir_core::schemas::FlowRun;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/deployments/", post(create_deployment))
        .route("/deployments", post(create_deployment))
        .route("/deployments/filter", post(filter_deployments))
        .route("/deployments/count", post(count_deployments))
        .route("/deployments/paginate", post(paginate_deployments))
        .route(
            "/deployments/name/{flow}/{name}",
            get(read_deployment_by_name),
        )
        .route(
            "/deployments/{id}",
            get(read_deployment)
                .patch(update_deployment)
                .delete(delete_deployment),
        )
        .route("/deployments/{id}/create_flow_run", post(create_flow_run))
        .route(
            "/deployments/{id}/schedules",
            get(read_schedules).post(create_schedules),
        )
        .route(
            "/deployments/{id}/schedules/{schedule_id}",
            patch(update_schedule).delete(delete_schedule),
        )
        .route("/deployments/{id}/pause_deployment", post(pause))
        .route("/deployments/{id}/resume_deployment", post(resume))
        .route(
            "/automations/owned-by/{resource_id}",
            delete(delete_owned_automations),
        )
        .route(
            "/collections/views/aggregate-worker-metadata",
            get(worker_metadata),
        )
}

/// Creates a deployment, or replaces the flow's deployment of that name (200).
#[utoipa::path(post, path = "/api/deployments/", tag = "Deployments", request_body = DeploymentCreate,
    responses((status = 201, body = Deployment), (status = 200, body = Deployment), (status = 422)))]
pub(crate) async fn create_deployment(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DeploymentCreate>,
) -> ApiResult<Response> {
    let (deployment, created) = state.store.upsert_deployment(body).await?;
    state.scheduler_wake.notify_one();
    Ok(crate::error::created_or_found(created, deployment))
}

/// Reads a deployment.
#[utoipa::path(get, path = "/api/deployments/{id}", tag = "Deployments",
    params(("id" = Uuid, Path)), responses((status = 200, body = Deployment), (status = 404)))]
pub(crate) async fn read_deployment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(state.store.read_deployment(id).await?))
}

/// Reads a deployment by flow name and deployment name.
#[utoipa::path(get, path = "/api/deployments/name/{flow}/{name}", tag = "Deployments",
    params(("flow" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Deployment), (status = 404)))]
pub(crate) async fn read_deployment_by_name(
    State(state): State<AppState>,
    ApiPath((flow, name)): ApiPath<(String, String)>,
) -> ApiResult<Json<Deployment>> {
    Ok(Json(
        state.store.read_deployment_by_name(&flow, &name).await?,
    ))
}

async fn matching(state: &AppState, body: &Value) -> ApiResult<Vec<Deployment>> {
    let names = any_of(body, "deployments", "name");
    let ids = any_of(body, "deployments", "id");
    let pools = any_of(body, "work_pools", "name");
    let flow_ids = any_of(body, "flows", "id");
    let flow_names = match any_of(body, "flows", "name") {
        Some(names) => {
            let mut ids = Vec::new();
            for name in names {
                if let Some(flow) = state.store.read_flow_by_name(&name).await? {
                    ids.push(flow.id.to_string());
                }
            }
            Some(ids)
        }
        None => None,
    };
    Ok(state
        .store
        .list_deployments()
        .await?
        .into_iter()
        .filter(|d| names.as_ref().is_none_or(|n| n.contains(&d.name)))
        .filter(|d| ids.as_ref().is_none_or(|i| i.contains(&d.id.to_string())))
        .filter(|d| {
            pools
                .as_ref()
                .is_none_or(|p| d.work_pool_name.as_ref().is_some_and(|n| p.contains(n)))
        })
        .filter(|d| {
            let flow = d.flow_id.to_string();
            flow_ids.as_ref().is_none_or(|f| f.contains(&flow))
                && flow_names.as_ref().is_none_or(|f| f.contains(&flow))
        })
        .collect())
}

/// Deployments matching a filter (`deployments.name/id`, `flows.name/id`, `work_pools.name`).
#[utoipa::path(post, path = "/api/deployments/filter", tag = "Deployments",
    responses((status = 200, body = Vec<Deployment>)))]
pub(crate) async fn filter_deployments(
    State(state): State<AppState>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Vec<Deployment>>> {
    let body = body.map_or(Value::Null, |Json(b)| b);
    Ok(Json(page(matching(&state, &body).await?, &body)))
}

/// How many deployments match a filter.
#[utoipa::path(post, path = "/api/deployments/count", tag = "Deployments",
    responses((status = 200, body = i64)))]
pub(crate) async fn count_deployments(
    State(state): State<AppState>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<usize>> {
    let body = body.map_or(Value::Null, |Json(b)| b);
    Ok(Json(matching(&state, &body).await?.len()))
}

/// A page of the deployments matching a filter, with how many match and how many pages they fill.
#[utoipa::path(post, path = "/api/deployments/paginate", tag = "Deployments", request_body = Object,
    responses((status = 200, body = Object, description = "`{results, count, limit, pages, page}`")))]
pub(crate) async fn paginate_deployments(
    State(state): State<AppState>,
    ApiJson(mut body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let page = super::PageRequest::take(&mut body)?;
    let all = matching(&state, &body).await?;
    let count = all.len() as i64;
    Ok(Json(page.answer(super::page(all, &body), count)))
}

/// Updates a deployment.
#[utoipa::path(patch, path = "/api/deployments/{id}", tag = "Deployments",
    params(("id" = Uuid, Path)), request_body = DeploymentUpdate,
    responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn update_deployment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DeploymentUpdate>,
) -> ApiResult<StatusCode> {
    state.store.update_deployment(id, body).await?;
    state.scheduler_wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a deployment.
#[utoipa::path(delete, path = "/api/deployments/{id}", tag = "Deployments",
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub(crate) async fn delete_deployment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.store.delete_deployment(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a flow run of a deployment (SCHEDULED for now unless a state is given).
#[utoipa::path(post, path = "/api/deployments/{id}/create_flow_run", tag = "Deployments",
    params(("id" = Uuid, Path)), request_body = DeploymentFlowRunCreate,
    responses((status = 201, body = FlowRun), (status = 404), (status = 422)))]
pub(crate) async fn create_flow_run(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    // An empty body is allowed (Prefect answers with a run SCHEDULED for now).
    let request: DeploymentFlowRunCreate = if body.iter().all(u8::is_ascii_whitespace) {
        DeploymentFlowRunCreate::default()
    } else {
        crate::error::parse_json(&body)?
    };
    let (run, created) = state.store.create_deployment_flow_run(id, request).await?;
    if created {
        super::flow_runs::publish_initial_state_event(&state, &run).await;
    }
    Ok((StatusCode::CREATED, Json(run)).into_response())
}

/// A deployment's schedules.
#[utoipa::path(get, path = "/api/deployments/{id}/schedules", tag = "Deployments",
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<DeploymentSchedule>)))]
pub(crate) async fn read_schedules(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<DeploymentSchedule>>> {
    Ok(Json(state.store.read_deployment(id).await?.schedules))
}

/// Adds schedules to a deployment.
#[utoipa::path(post, path = "/api/deployments/{id}/schedules", tag = "Deployments",
    params(("id" = Uuid, Path)), request_body = Vec<DeploymentScheduleCreate>,
    responses((status = 201, body = Vec<DeploymentSchedule>)))]
pub(crate) async fn create_schedules(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Vec<DeploymentScheduleCreate>>,
) -> ApiResult<Response> {
    let added = state.store.add_deployment_schedules(id, body).await?;
    state.scheduler_wake.notify_one();
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

/// Changes a schedule of a deployment.
#[utoipa::path(patch, path = "/api/deployments/{id}/schedules/{schedule_id}", tag = "Deployments",
    params(("id" = Uuid, Path), ("schedule_id" = Uuid, Path)),
    request_body = DeploymentScheduleUpdate, responses((status = 204), (status = 404)))]
pub(crate) async fn update_schedule(
    State(state): State<AppState>,
    ApiPath((id, schedule_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<DeploymentScheduleUpdate>,
) -> ApiResult<StatusCode> {
    state
        .store
        .update_deployment_schedule(id, schedule_id, body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a schedule of a deployment.
#[utoipa::path(delete, path = "/api/deployments/{id}/schedules/{schedule_id}", tag = "Deployments",
    params(("id" = Uuid, Path), ("schedule_id" = Uuid, Path)),
    responses((status = 204), (status = 404)))]
pub(crate) async fn delete_schedule(
    State(state): State<AppState>,
    ApiPath((id, schedule_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_deployment_schedule(id, schedule_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Pauses a deployment.
#[utoipa::path(post, path = "/api/deployments/{id}/pause_deployment", tag = "Deployments",
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub(crate) async fn pause(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.store.set_deployment_paused(id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resumes a deployment.
#[utoipa::path(post, path = "/api/deployments/{id}/resume_deployment", tag = "Deployments",
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.store.set_deployment_paused(id, false).await?;
    state.scheduler_wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// Weir has no automations, so there are none to delete; Prefect's `deploy` calls this anyway.
#[utoipa::path(delete, path = "/api/automations/owned-by/{resource_id}", tag = "Automations",
    params(("resource_id" = String, Path)), responses((status = 202)))]
pub(crate) async fn delete_owned_automations(ApiPath(_): ApiPath<String>) -> StatusCode {
    StatusCode::ACCEPTED
}

/// The worker types Weir runs, with their default base job templates, in the shape Prefect's CLI
/// reads (`prefect work-pool create --type process|kubernetes`).
#[utoipa::path(get, path = "/api/collections/views/aggregate-worker-metadata", tag = "Collections",
    responses((status = 200, body = Object)))]
pub(crate) async fn worker_metadata() -> ApiResult<Json<Value>> {
    let template = |t| serde_json::to_value(t).map_err(|_| ApiError::Internal);
    Ok(Json(json!({
        "prefect": {
            "process": {
                "type": "process",
                "description": "Runs each flow run as a local subprocess.",
                "display_name": "Process",
                "documentation_url": "https://docs.prefect.io/",
                "install_command": "weir worker start --type process",
                "is_beta": false,
                "logo_url": "",
                "default_base_job_configuration": template(default_process_template())?,
            }
        },
        "prefect-kubernetes": {
            "kubernetes": {
                "type": "kubernetes",
                "description": "Runs each flow run as a Kubernetes Job.",
                "display_name": "Kubernetes",
                "documentation_url": "https://docs.prefect.io/integrations/prefect-kubernetes",
                "install_command": "weir worker start --type kubernetes",
                "is_beta": false,
                "logo_url": "",
                "default_base_job_configuration": template(default_kubernetes_template())?,
            }
        }
    })))
}
