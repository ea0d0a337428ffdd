//! `/block_documents`: create, read, filter, count, update and delete block documents.
//!
//! Secret values are masked (`********`) in every answer unless `include_secrets` is true; an
//! update that sends a mask back keeps the stored secret. A name already used within the type is
//! a 409; a bad name, a malformed or dangling `$ref` and a reference cycle are 422s naming the
//! field.

use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::routes::blocks::checked_page;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;
use weir_core::blocks::filters::{
    document_predicate, BlockDocumentCountBody, BlockDocumentFilterBody,
};
use weir_core::blocks::{BlockDocument, BlockDocumentCreate, BlockDocumentUpdate};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/block_documents/", post(create_block_document))
        .route("/block_documents", post(create_block_document))
        .route("/block_documents/filter", post(filter_block_documents))
        .route("/block_documents/count", post(count_block_documents))
        .route(
            "/block_documents/{id}",
            get(read_block_document)
                .patch(update_block_document)
                .delete(delete_block_document),
        )
}

/// `?include_secrets=`: whether answers show secret values.
#[derive(Deserialize)]
pub(crate) struct SecretsQuery {
    #[serde(default)]
    pub(crate) include_secrets: bool,
}

/// Creates a block document; the answer masks its secrets.
#[utoipa::path(post, path = "/api/block_documents/", tag = "Block documents",
    request_body = BlockDocumentCreate,
    responses((status = 201, body = BlockDocument), (status = 409), (status = 422)))]
pub(crate) async fn create_block_document(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BlockDocumentCreate>,
) -> ApiResult<Response> {
    let document = state.store.create_block_document(body).await?;
    Ok((StatusCode::CREATED, Json(document)).into_response())
}

/// Reads a block document.
#[utoipa::path(get, path = "/api/block_documents/{id}", tag = "Block documents",
    params(("id" = Uuid, Path), ("include_secrets" = Option<bool>, Query)),
    responses((status = 200, body = BlockDocument), (status = 404)))]
pub(crate) async fn read_block_document(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<SecretsQuery>,
) -> ApiResult<Json<BlockDocument>> {
    Ok(Json(
        state
            .store
            .read_block_document(id, query.include_secrets)
            .await?,
    ))
}

/// Block documents matching a filter (named ones only unless `is_anonymous` says otherwise),
/// sorted (`NAME_ASC` by default) and paged (at most 200).
#[utoipa::path(post, path = "/api/block_documents/filter", tag = "Block documents",
    request_body = BlockDocumentFilterBody,
    responses((status = 200, body = Vec<BlockDocument>), (status = 422)))]
pub(crate) async fn filter_block_documents(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BlockDocumentFilterBody>,
) -> ApiResult<Json<Vec<BlockDocument>>> {
    let (limit, offset) = checked_page(body.limit, body.offset)?;
    let predicate = document_predicate(
        body.block_documents.as_ref(),
        body.block_types.as_ref(),
        body.block_schemas.as_ref(),
    );
    Ok(Json(
        state
            .store
            .filter_block_documents(
                &predicate,
                body.sort.unwrap_or_default(),
                Some(limit),
                Some(offset),
                body.include_secrets,
            )
            .await?,
    ))
}

/// How many block documents match a filter.
#[utoipa::path(post, path = "/api/block_documents/count", tag = "Block documents",
    request_body = BlockDocumentCountBody, responses((status = 200, body = i64)))]
pub(crate) async fn count_block_documents(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BlockDocumentCountBody>,
) -> ApiResult<Json<i64>> {
    let predicate = document_predicate(
        body.block_documents.as_ref(),
        body.block_types.as_ref(),
        body.block_schemas.as_ref(),
    );
    Ok(Json(state.store.count_block_documents(predicate).await?))
}

/// Updates a block document's data (merged by default) or moves it to another schema of its type.
#[utoipa::path(patch, path = "/api/block_documents/{id}", tag = "Block documents",
    params(("id" = Uuid, Path)), request_body = BlockDocumentUpdate,
    responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn update_block_document(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<BlockDocumentUpdate>,
) -> ApiResult<StatusCode> {
    state.store.update_block_document(id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a block document; documents referring to it lose the reference.
#[utoipa::path(delete, path = "/api/block_documents/{id}", tag = "Block documents",
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404)))]
pub(crate) async fn delete_block_document(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.store.delete_block_document(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
