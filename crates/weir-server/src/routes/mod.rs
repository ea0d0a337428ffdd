//! The `/api` routes, one module per resource. Paths, status codes and bodies follow Prefect 3's API;
//! each handler is a thin translation between HTTP and `weir_storage::Store`.

pub(crate) mod admin;
pub(crate) mod deployments;
pub(crate) mod events;
pub(crate) mod flow_runs;
pub(crate) mod flows;
pub(crate) mod logs;
pub(crate) mod task_runs;
pub(crate) mod variables;
pub(crate) mod work_pools;

use crate::AppState;
use axum::Router;

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
}
