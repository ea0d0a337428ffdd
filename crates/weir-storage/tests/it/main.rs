//! Storage tests. Every test runs twice, on SQLite and on PostgreSQL (`storage_test!`).

mod api_keys;
mod blocks;
mod concurrency_limits;
mod flow_runs;
mod flows;
mod logs_events;
mod scheduled_runs;
mod task_runs;

use weir_core::schemas::{FlowCreate, FlowRunCreate};
use weir_storage::Store;

/// Creates (or finds) a flow named `name` and returns its id.
async fn flow(store: &Store, name: &str) -> uuid::Uuid {
    let create = FlowCreate {
        name: name.into(),
        tags: vec![],
        labels: None,
    };
    store.upsert_flow(create).await.unwrap().0.id
}

/// A flow-run creation body for `flow_id` with defaults.
fn run_create(flow_id: uuid::Uuid) -> FlowRunCreate {
    serde_json::from_value(serde_json::json!({ "flow_id": flow_id })).unwrap()
}
