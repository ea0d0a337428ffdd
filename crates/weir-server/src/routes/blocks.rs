//! `/block_types`, `/block_schemas` and `/block_capabilities`: block types (create, read by id or
//! slug, filter, update, delete, and their documents by slug), block schemas (create, read by id
//! or checksum, filter, delete) and the capabilities schemas declare.
//!
//! Slugs and names are checked here with Prefect's rules (`weir_core::blocks`), so a bad one is a
//! 422 naming the field; a taken name or slug is a 409, and protected types (and their schemas)
//! refuse deletion with a 403. Creating a schema is idempotent: the same checksum and version
//! answer the existing schema with 200.

use crate::error::{created_or_found, ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::routes::block_documents::SecretsQuery;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;
use weir_core::blocks::filters::{
    document_predicate, page, type_predicate, BlockDocumentFilter, BlockDocumentSort,
    BlockSchemaFilterBody, BlockTypeFilterBody, IdAny,
};
use weir_core::blocks::{
    check_slug, check_type_name, is_reserved_type_name, BlockDocument, BlockSchema,
    BlockSchemaCreate, BlockType, BlockTypeCreate, BlockTypeUpdate,
};
use weir_core::filters::Predicate;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/block_types/", post(create_block_type))
        .route("/block_types", post(create_block_type))
        .route("/block_types/filter", post(filter_block_types))
        .route("/block_types/slug/{slug}", get(read_block_type_by_slug))
        .route(
            "/block_types/slug/{slug}/block_documents",
            get(read_block_documents_of_type),
        )
        .route(
            "/block_types/slug/{slug}/block_documents/name/{name}",
            get(read_block_document_by_name),
        )
        .route(
            "/block_types/{id}",
            get(read_block_type)
                .patch(update_block_type)
                .delete(delete_block_type),
        )
        .route("/block_schemas/", post(create_block_schema))
        .route("/block_schemas", post(create_block_schema))
        .route("/block_schemas/filter", post(filter_block_schemas))
        .route(
            "/block_schemas/checksum/{checksum}",
            get(read_block_schema_by_checksum),
        )
        .route(
            "/block_schemas/{id}",
            get(read_block_schema).delete(delete_block_schema),
        )
        .route("/block_capabilities/", get(read_block_capabilities))
        .route("/block_capabilities", get(read_block_capabilities))
}

/// Creates a block type.
#[utoipa::path(post, path = "/api/block_types/", tag = "Block types",
    request_body = BlockTypeCreate,
    responses((status = 201, body = BlockType), (status = 403), (status = 409), (status = 422)))]
pub(crate) async fn create_block_type(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BlockTypeCreate>,
) -> ApiResult<Response> {
    check_type_name(&body.name).map_err(|msg| ApiError::invalid(&["body", "name"], msg))?;
    check_slug(&body.slug).map_err(|msg| ApiError::invalid(&["body", "slug"], msg))?;
    if is_reserved_type_name(&body.name) {
        return Err(ApiError::Forbidden(
            "Block type names beginning with 'Prefect' are reserved.".into(),
        ));
    }
    let block_type = state.store.create_block_type(body, false).await?;
    Ok((StatusCode::CREATED, Json(block_type)).into_response())
}

/// Reads a block type.
#[utoipa::path(get, path = "/api/block_types/{id}", tag = "Block types",
    params(("id" = Uuid, Path)), responses((status = 200, body = BlockType), (status = 404)))]
pub(crate) async fn read_block_type(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<BlockType>> {
    Ok(Json(state.store.read_block_type(id).await?))
}

/// Reads a block type by slug.
#[utoipa::path(get, path = "/api/block_types/slug/{slug}", tag = "Block types",
    params(("slug" = String, Path)), responses((status = 200, body = BlockType), (status = 404)))]
pub(crate) async fn read_block_type_by_slug(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<BlockType>> {
    Ok(Json(state.store.read_block_type_by_slug(&slug).await?))
}

/// Block types matching a filter (and having a schema matching `block_schemas`), by name.
#[utoipa::path(post, path = "/api/block_types/filter", tag = "Block types",
    request_body = BlockTypeFilterBody,
    responses((status = 200, body = Vec<BlockType>), (status = 422)))]
pub(crate) async fn filter_block_types(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BlockTypeFilterBody>,
) -> ApiResult<Json<Vec<BlockType>>> {
    let (limit, offset) = checked_page(body.limit, body.offset)?;
    let predicate = type_predicate(body.block_types.as_ref(), body.block_schemas.as_ref());
    Ok(Json(
        state
            .store
            .filter_block_types(&predicate, Some(limit), Some(offset))
            .await?,
    ))
}

/// Updates a block type's logo, documentation URL, description or code example.
#[utoipa::path(patch, path = "/api/block_types/{id}", tag = "Block types",
    params(("id" = Uuid, Path)), request_body = BlockTypeUpdate,
    responses((status = 204), (status = 404), (status = 422)))]
pub(crate) async fn update_block_type(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<BlockTypeUpdate>,
) -> ApiResult<StatusCode> {
    state.store.update_block_type(id, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a block type with its schemas and documents; protected types refuse.
#[utoipa::path(delete, path = "/api/block_types/{id}", tag = "Block types",
    params(("id" = Uuid, Path)), responses((status = 204), (status = 403), (status = 404)))]
pub(crate) async fn delete_block_type(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    if state.store.read_block_type(id).await?.is_protected {
        return Err(ApiError::Forbidden(
            "protected block types cannot be deleted.".into(),
        ));
    }
    state.store.delete_block_type(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The named documents of a block type, by name.
#[utoipa::path(get, path = "/api/block_types/slug/{slug}/block_documents", tag = "Block types",
    params(("slug" = String, Path), ("include_secrets" = Option<bool>, Query)),
    responses((status = 200, body = Vec<BlockDocument>), (status = 404)))]
pub(crate) async fn read_block_documents_of_type(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(query): ApiQuery<SecretsQuery>,
) -> ApiResult<Json<Vec<BlockDocument>>> {
    let block_type = state.store.read_block_type_by_slug(&slug).await?;
    let filter = BlockDocumentFilter {
        block_type_id: Some(IdAny {
            any_: Some(vec![block_type.id]),
        }),
        ..Default::default()
    };
    let predicate = document_predicate(Some(&filter), None, None);
    Ok(Json(
        state
            .store
            .filter_block_documents(
                &predicate,
                BlockDocumentSort::NameAsc,
                None,
                None,
                query.include_secrets,
            )
            .await?,
    ))
}

/// Reads a block document by its type's slug and its name (how clients load blocks).
#[utoipa::path(get, path = "/api/block_types/slug/{slug}/block_documents/name/{name}",
    tag = "Block types",
    params(("slug" = String, Path), ("name" = String, Path), ("include_secrets" = Option<bool>, Query)),
    responses((status = 200, body = BlockDocument), (status = 404)))]
pub(crate) async fn read_block_document_by_name(
    State(state): State<AppState>,
    ApiPath((slug, name)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<SecretsQuery>,
) -> ApiResult<Json<BlockDocument>> {
    Ok(Json(
        state
            .store
            .read_block_document_by_name(&slug, &name, query.include_secrets)
            .await?,
    ))
}

/// Creates a block schema (and the schemas it nests), or answers the existing one with the same
/// checksum and version (200).
#[utoipa::path(post, path = "/api/block_schemas/", tag = "Block schemas",
    request_body = BlockSchemaCreate,
    responses((status = 201, body = BlockSchema), (status = 200, body = BlockSchema),
        (status = 404), (status = 409), (status = 422)))]
pub(crate) async fn create_block_schema(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BlockSchemaCreate>,
) -> ApiResult<Response> {
    let type_id = body.block_type_id;
    let (schema, created) =
        state
            .store
            .create_block_schema(body)
            .await
            .map_err(|err| match err {
                weir_storage::Error::NotFound { .. } => {
                    ApiError::NotFound(format!("Block type {type_id} not found."))
                }
                other => other.into(),
            })?;
    Ok(created_or_found(created, schema))
}

/// Reads a block schema.
#[utoipa::path(get, path = "/api/block_schemas/{id}", tag = "Block schemas",
    params(("id" = Uuid, Path)), responses((status = 200, body = BlockSchema), (status = 404)))]
pub(crate) async fn read_block_schema(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<BlockSchema>> {
    Ok(Json(state.store.read_block_schema(id).await?))
}

#[derive(Deserialize)]
pub(crate) struct VersionQuery {
    version: Option<String>,
}

/// Reads the newest block schema with a checksum (and version, if given).
#[utoipa::path(get, path = "/api/block_schemas/checksum/{checksum}", tag = "Block schemas",
    params(("checksum" = String, Path), ("version" = Option<String>, Query)),
    responses((status = 200, body = BlockSchema), (status = 404)))]
pub(crate) async fn read_block_schema_by_checksum(
    State(state): State<AppState>,
    ApiPath(checksum): ApiPath<String>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> ApiResult<Json<BlockSchema>> {
    Ok(Json(
        state
            .store
            .read_block_schema_by_checksum(&checksum, query.version.as_deref())
            .await?,
    ))
}

/// Block schemas matching a filter, newest first.
#[utoipa::path(post, path = "/api/block_schemas/filter", tag = "Block schemas",
    request_body = BlockSchemaFilterBody,
    responses((status = 200, body = Vec<BlockSchema>), (status = 422)))]
pub(crate) async fn filter_block_schemas(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BlockSchemaFilterBody>,
) -> ApiResult<Json<Vec<BlockSchema>>> {
    let (limit, offset) = checked_page(body.limit, body.offset)?;
    let predicate = body
        .block_schemas
        .as_ref()
        .map_or(Predicate::True, |f| f.predicate());
    Ok(Json(
        state
            .store
            .filter_block_schemas(&predicate, Some(limit), Some(offset))
            .await?,
    ))
}

/// Deletes a block schema and its documents; schemas of protected types refuse.
#[utoipa::path(delete, path = "/api/block_schemas/{id}", tag = "Block schemas",
    params(("id" = Uuid, Path)), responses((status = 204), (status = 403), (status = 404)))]
pub(crate) async fn delete_block_schema(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let schema = state.store.read_block_schema(id).await?;
    if schema.block_type.is_some_and(|t| t.is_protected) {
        return Err(ApiError::Forbidden(
            "Block schemas for protected block types cannot be deleted.".into(),
        ));
    }
    state.store.delete_block_schema(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every capability some block schema declares.
#[utoipa::path(get, path = "/api/block_capabilities/", tag = "Block capabilities",
    responses((status = 200, body = Vec<String>)))]
pub(crate) async fn read_block_capabilities(
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(state.store.block_capabilities().await?))
}

/// A checked `(limit, offset)`, or a 422 naming the field.
pub(crate) fn checked_page(limit: Option<i64>, offset: Option<i64>) -> ApiResult<(i64, i64)> {
    page(limit, offset).map_err(|(field, msg)| ApiError::invalid(&["body", field], msg))
}
