//! `/variables`: create, read by id or name, filter, count, update and delete by id or name.
//!
//! Names and values are checked here with Prefect's rules (`weir_core::variables`), so a bad one is
//! a 422 naming `name` or `value`; a name already taken is a 409.

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use uuid::Uuid;
use weir_core::variables::{
    check_name, check_value, Variable, VariableCountBody, VariableCreate, VariableFilterBody,
    VariableUpdate,
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/variables/", post(create_variable))
        .route("/variables", post(create_variable))
        .route("/variables/filter", post(filter_variables))
        .route("/variables/count", post(count_variables))
        .route(
            "/variables/name/{name}",
            get(read_variable_by_name)
                .patch(update_variable_by_name)
                .delete(delete_variable_by_name),
        )
        .route(
            "/variables/{id}",
            get(read_variable)
                .patch(update_variable)
                .delete(delete_variable),
        )
}

fn checked_name(name: &str) -> ApiResult<()> {
    check_name(name).map_err(|msg| ApiError::invalid(&["body", "name"], msg))
}

fn checked_value(value: &serde_json::Value) -> ApiResult<()> {
    check_value(value).map_err(|msg| ApiError::invalid(&["body", "value"], msg))
}

fn checked_update(update: &VariableUpdate) -> ApiResult<()> {
    if let Some(name) = &update.name {
        checked_name(name)?;
    }
    if let Some(value) = &update.value {
        checked_value(value)?;
    }
    Ok(())
}

/// Creates a variable.
#[utoipa::path(post, path = "/api/variables/", tag = "Variables", request_body = VariableCreate,
    responses((status = 201, body = Variable), (status = 409), (status = 422)))]
pub(crate) async fn create_variable(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VariableCreate>,
) -> ApiResult<Response> {
    checked_name(&body.name)?;
    checked_value(&body.value)?;
    let variable = state.store.create_variable(body).await?;
    Ok((StatusCode::CREATED, Json(variable)).into_response())
}

/// Reads a variable.
#[utoipa::path(get, path = "/api/variables/{id}", tag = "Variables", params(("id" = Uuid, Path)),
    responses((status = 200, body = Variable), (status = 404)))]
pub(crate) async fn read_variable(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Variable>> {
    Ok(Json(state.store.read_variable(id).await?))
}

/// Reads a variable by name.
#[utoipa::path(get, path = "/api/variables/name/{name}", tag = "Variables",
    params(("name" = String, Path)), responses((status = 200, body = Variable), (status = 404)))]
pub(crate) async fn read_variable_by_name(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Variable>> {
    Ok(Json(state.store.read_variable_by_name(&name).await?))
}

/// Variables matching a filter, sorted (`NAME_ASC` by default) and paged (at most 200).
#[utoipa::path(post, path = "/api/variables/filter", tag = "Variables",
    request_body = VariableFilterBody,
    responses((status = 200, body = Vec<Variable>), (status = 422)))]
pub(crate) async fn filter_variables(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VariableFilterBody>,
) -> ApiResult<Json<Vec<Variable>>> {
    let (limit, offset) = body
        .page()
        .map_err(|(field, msg)| ApiError::invalid(&["body", field], msg))?;
    Ok(Json(
        state.store.filter_variables(&body, limit, offset).await?,
    ))
}

/// How many variables match a filter.
#[utoipa::path(post, path = "/api/variables/count", tag = "Variables",
    request_body = VariableCountBody, responses((status = 200, body = i64)))]
pub(crate) async fn count_variables(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VariableCountBody>,
) -> ApiResult<Json<i64>> {
    Ok(Json(
        state.store.count_variables(body.variables.as_ref()).await?,
    ))
}

/// Updates a variable's name, value or tags.
#[utoipa::path(patch, path = "/api/variables/{id}", tag = "Variables", params(("id" = Uuid, Path)),
    request_body = VariableUpdate,
    responses((status = 204), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn update_variable(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<VariableUpdate>,
) -> ApiResult<StatusCode> {
    checked_update(&body)?;
    state.store.update_variable(id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Updates a variable found by name.
#[utoipa::path(patch, path = "/api/variables/name/{name}", tag = "Variables",
    params(("name" = String, Path)), request_body = VariableUpdate,
    responses((status = 204), (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn update_variable_by_name(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<VariableUpdate>,
) -> ApiResult<StatusCode> {
    checked_update(&body)?;
    state.store.update_variable_by_name(&name, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a variable.
#[utoipa::path(delete, path = "/api/variables/{id}", tag = "Variables",
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub(crate) async fn delete_variable(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.store.delete_variable(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a variable found by name.
#[utoipa::path(delete, path = "/api/variables/name/{name}", tag = "Variables",
    params(("name" = String, Path)), responses((status = 204), (status = 404)))]
pub(crate) async fn delete_variable_by_name(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.store.delete_variable_by_name(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
