//! The `/api` routes, one module per resource. Paths, status codes and bodies follow Prefect 3's API;
//! each handler is a thin translation between HTTP and `weir_storage::Store`.

pub(crate) mod admin;
pub(crate) mod block_documents;
pub(crate) mod blocks;
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

use crate::AppState;
use axum::Router;

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
        .merge(tag_limits::routes())
        .merge(blocks::routes())
        .merge(block_documents::routes())
}
