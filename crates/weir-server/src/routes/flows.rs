//! `/flows`: upsert by name, read, read by name, filter, count, patch, delete.

use crate::error::{ApiJson, ApiPath, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use uuid::Uuid;
use weir_core::filters::RunFilterBody;
use weir_core::schemas::{Flow, FlowCreate, FlowUpdate};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/flows/", post(create_flow))
        .route("/flows", post(create_flow))
        .route("/flows/filter", post(filter_flows))
        .route("/flows/count", post(count_flows))
        .route("/flows/paginate", post(paginate_flows))
        .route("/flows/name/{name}", get(read_flow_by_name))
        .route(
            "/flows/{id}",
            get(read_flow).patch(update_flow).delete(delete_flow),
        )
}

/// Creates a flow, or returns the flow of that name (200) if it exists.
#[utoipa::path(post, path = "/api/flows/", tag = "Flows", request_body = FlowCreate,
    responses((status = 201, body = Flow), (status = 200, body = Flow, description = "Existing flow")))]
pub(crate) async fn create_flow(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<FlowCreate>,
) -> ApiResult<Response> {
    if body.name.trim().is_empty() {
        return Err(crate::error::ApiError::invalid(
            &["body", "name"],
            "name must not be empty",
        ));
    }
    let (flow, created) = state.store.upsert_flow(body).await?;
    Ok(crate::error::created_or_found(created, flow))
}

/// Reads a flow.
#[utoipa::path(get, path = "/api/flows/{id}", tag = "Flows", params(("id" = Uuid, Path)),
    responses((status = 200, body = Flow), (status = 404)))]
pub(crate) async fn read_flow(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Flow>> {
    Ok(Json(state.store.read_flow(id).await?))
}

/// Reads a flow by name.
#[utoipa::path(get, path = "/api/flows/name/{name}", tag = "Flows", params(("name" = String, Path)),
    responses((status = 200, body = Flow), (status = 404)))]
pub(crate) async fn read_flow_by_name(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Flow>> {
    let flow = state.store.read_flow_by_name(&name).await?;
    flow.map(Json)
        .ok_or_else(|| crate::error::ApiError::NotFound("Flow not found".into()))
}

/// Flows matching a filter.
#[utoipa::path(post, path = "/api/flows/filter", tag = "Flows", request_body = RunFilterBody,
    responses((status = 200, body = Vec<Flow>)))]
pub(crate) async fn filter_flows(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RunFilterBody>,
) -> ApiResult<Json<Vec<Flow>>> {
    Ok(Json(state.store.filter_flows(&body).await?))
}

/// How many flows match a filter.
#[utoipa::path(post, path = "/api/flows/count", tag = "Flows", request_body = RunFilterBody,
    responses((status = 200, body = i64)))]
pub(crate) async fn count_flows(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RunFilterBody>,
) -> ApiResult<Json<i64>> {
    Ok(Json(state.store.count_flows(&body).await?))
}

/// A page of the flows matching a filter, with how many match and how many pages they fill.
#[utoipa::path(post, path = "/api/flows/paginate", tag = "Flows", request_body = Object,
    responses((status = 200, body = Object, description = "`{results, count, limit, pages, page}`")))]
pub(crate) async fn paginate_flows(
    State(state): State<AppState>,
    ApiJson(mut body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<serde_json::Value>> {
    let page = super::PageRequest::take(&mut body)?;
    let filter: RunFilterBody = crate::error::parse_json(body.to_string().as_bytes())?;
    let count = state.store.count_flows(&filter).await?;
    let results = state.store.filter_flows(&filter).await?;
    Ok(Json(page.answer(results, count)))
}

/// Updates a flow's tags and labels.
#[utoipa::path(patch, path = "/api/flows/{id}", tag = "Flows", params(("id" = Uuid, Path)),
    request_body = FlowUpdate, responses((status = 204), (status = 404)))]
pub(crate) async fn update_flow(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<FlowUpdate>,
) -> ApiResult<StatusCode> {
    state.store.update_flow(id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a flow and its runs.
#[utoipa::path(delete, path = "/api/flows/{id}", tag = "Flows", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404)))]
pub(crate) async fn delete_flow(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.store.delete_flow(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
