//! The `/api` routes, one module per resource. Paths, status codes and bodies follow Prefect 3's API;
//! each handler is a thin translation between HTTP and `weir_storage::Store`.

pub(crate) mod admin;
pub(crate) mod block_documents;
pub(crate) mod blocks;
pub(crate) mod concurrency_leases;
pub(crate) mod concurrency_limits;
pub(crate) mod deployments;
pub(crate) mod events;
pub(crate) mod flow_runs;
pub(crate) mod flows;
pub(crate) mod logs;
pub(crate) mod tag_limits;
pub(crate) mod task_runs;
pub(crate) mod variables;
pub(crate) mod work_pools;

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::Router;
use serde_json::{json, Value};

/// Filter bodies of the small resources (pools, queues, workers, deployments) are applied in
/// memory; these read their common parts.
///
/// The `any_` list at `body[section][field]`, if given (UUIDs and other non-strings as JSON text).
pub(crate) fn any_of(body: &serde_json::Value, section: &str, field: &str) -> Option<Vec<String>> {
    let values = body.get(section)?.get(field)?.get("any_")?.as_array()?;
    Some(
        values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect(),
    )
}

/// `offset` and `limit` of a filter body applied to a list.
pub(crate) fn page<T>(items: Vec<T>, body: &serde_json::Value) -> Vec<T> {
    let offset = body
        .get("offset")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as usize;
    let limit = body
        .get("limit")
        .and_then(serde_json::Value::as_u64)
        .map_or(usize::MAX, |l| l as usize);
    items.into_iter().skip(offset).take(limit).collect()
}

/// The page a `/paginate` body asks for. Prefect's `/paginate` bodies are the `/filter` bodies with
/// `page` (from 1) in place of `offset`; `limit` defaults to the server's default limit.
pub(crate) struct PageRequest {
    pub page: i64,
    pub limit: i64,
}

impl PageRequest {
    /// Prefect's `PREFECT_SERVER_API_DEFAULT_LIMIT`.
    pub(crate) const DEFAULT_LIMIT: i64 = 200;

    /// Reads `page` and `limit` from `body` and turns it into the equivalent `/filter` body: `page`
    /// removed, `limit` and `offset` set. A non-object body (none sent) reads as `{}`.
    pub(crate) fn take(body: &mut Value) -> ApiResult<PageRequest> {
        if !body.is_object() {
            *body = json!({});
        }
        let fields = body.as_object_mut().expect("an object");
        let page = match fields.remove("page") {
            None | Some(Value::Null) => 1,
            Some(v) => v.as_i64().filter(|p| *p >= 1).ok_or_else(|| {
                ApiError::invalid(
                    &["body", "page"],
                    "Input should be greater than or equal to 1",
                )
            })?,
        };
        let limit = match fields.get("limit") {
            None | Some(Value::Null) => Self::DEFAULT_LIMIT,
            Some(v) => v.as_i64().filter(|l| *l >= 0).ok_or_else(|| {
                ApiError::invalid(
                    &["body", "limit"],
                    "Input should be greater than or equal to 0",
                )
            })?,
        };
        if fields.contains_key("offset") {
            return Err(ApiError::invalid(
                &["body", "offset"],
                "Extra inputs are not permitted",
            ));
        }
        fields.insert("limit".into(), json!(limit));
        fields.insert("offset".into(), json!((page - 1).saturating_mul(limit)));
        Ok(PageRequest { page, limit })
    }

    /// The answer: `{results, count, limit, pages, page}`, `pages` rounded up.
    pub(crate) fn answer<T: serde::Serialize>(&self, results: Vec<T>, count: i64) -> Value {
        let pages = if self.limit == 0 {
            0
        } else {
            (count + self.limit - 1) / self.limit
        };
        json!({"results": results, "count": count, "limit": self.limit, "pages": pages, "page": self.page})
    }
}

/// Every `/api` route.
pub fn api() -> Router<AppState> {
    Router::new()
        .merge(admin::routes())
        .merge(flows::routes())
        .merge(flow_runs::routes())
        .merge(task_runs::routes())
        .merge(logs::routes())
        .merge(events::routes())
        .merge(work_pools::routes())
        .merge(deployments::routes())
        .merge(variables::routes())
        .merge(concurrency_limits::routes())
        .merge(concurrency_leases::routes())
        .merge(tag_limits::routes())
        .merge(blocks::routes())
        .merge(block_documents::routes())
}
