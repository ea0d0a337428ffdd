//! The events Prefect's server emits when a work pool, work queue or deployment changes status
//! (`prefect.work-pool.ready`, `prefect.work-queue.not-ready`, `prefect.deployment.ready`, ...),
//! with Prefect's names, resources and related resources, built from Weir's objects. The server's
//! foreman service emits them.

use crate::deployments::Deployment;
use crate::events::{resource, Event, Resource};
use crate::time::Timestamp;
use crate::work_pools::{WorkPool, WorkQueue};
use serde::Serialize;
use serde_json::Map;
use uuid::Uuid;

/// A status's wire name, as stored and shown: `READY`, `NOT_READY`, `PAUSED`.
pub fn status_name<S: Serialize>(status: &S) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// The event name's last part for a status: `NOT_READY` → `not-ready`.
fn kebab(status_name: &str) -> String {
    status_name.to_lowercase().replace('_', "-")
}

/// A work pool as a related resource.
fn pool_resource(pool: &WorkPool) -> Resource {
    resource(&[
        (
            "prefect.resource.id",
            format!("prefect.work-pool.{}", pool.id),
        ),
        ("prefect.resource.name", pool.name.clone()),
        ("prefect.work-pool.type", pool.pool_type.clone()),
        ("prefect.resource.role", "work-pool".into()),
    ])
}

fn event(name: String, resource: Resource, related: Vec<Resource>, follows: Option<Uuid>) -> Event {
    let now = Timestamp::now();
    Event {
        occurred: now,
        event: name,
        resource,
        related,
        payload: Map::new(),
        id: Uuid::now_v7(),
        follows,
        received: Some(now),
    }
}

/// `prefect.work-pool.<status>` for `pool` now at `status` (e.g. `NOT_READY`); `follows` is the
/// pool's previous status event when that was recent.
pub fn work_pool_status_event(pool: &WorkPool, status: &str, follows: Option<Uuid>) -> Event {
    let resource = resource(&[
        (
            "prefect.resource.id",
            format!("prefect.work-pool.{}", pool.id),
        ),
        ("prefect.resource.name", pool.name.clone()),
        ("prefect.work-pool.type", pool.pool_type.clone()),
    ]);
    let name = format!("prefect.work-pool.{}", kebab(status));
    event(name, resource, Vec::new(), follows)
}

/// `prefect.work-queue.<status>` for `queue` of `pool`, now at `status`.
pub fn work_queue_status_event(queue: &WorkQueue, pool: Option<&WorkPool>, status: &str) -> Event {
    let resource = resource(&[
        (
            "prefect.resource.id",
            format!("prefect.work-queue.{}", queue.id),
        ),
        ("prefect.resource.name", queue.name.clone()),
        ("prefect.resource.role", "work-queue".into()),
    ]);
    let related = pool.map(pool_resource).into_iter().collect();
    let name = format!("prefect.work-queue.{}", kebab(status));
    event(name, resource, related, None)
}

/// `prefect.deployment.<status>` for `deployment` of the flow `flow_name`, served by `queue` of
/// `pool`, now at `status`.
pub fn deployment_status_event(
    deployment: &Deployment,
    flow_name: Option<&str>,
    queue: Option<&WorkQueue>,
    pool: Option<&WorkPool>,
    status: &str,
) -> Event {
    let mut related = Vec::new();
    if let Some(flow_name) = flow_name {
        related.push(resource(&[
            (
                "prefect.resource.id",
                format!("prefect.flow.{}", deployment.flow_id),
            ),
            ("prefect.resource.name", flow_name.into()),
            ("prefect.resource.role", "flow".into()),
        ]));
    }
    if let Some(queue) = queue {
        related.push(resource(&[
            (
                "prefect.resource.id",
                format!("prefect.work-queue.{}", queue.id),
            ),
            ("prefect.resource.name", queue.name.clone()),
            ("prefect.resource.role", "work-queue".into()),
        ]));
    }
    related.extend(pool.map(pool_resource));
    let resource = resource(&[
        (
            "prefect.resource.id",
            format!("prefect.deployment.{}", deployment.id),
        ),
        ("prefect.resource.name", deployment.name.clone()),
    ]);
    let name = format!("prefect.deployment.{}", kebab(status));
    event(name, resource, related, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work_pools::WorkPoolStatus;
    use serde_json::json;

    fn pool() -> WorkPool {
        serde_json::from_value(json!({
            "id": Uuid::nil(), "created": "2026-11-27T12:00:00Z", "updated": "2026-11-27T12:00:00Z",
            "name": "k8s", "description": null, "type": "kubernetes", "base_job_template": {},
            "is_paused": false, "concurrency_limit": null, "status": null,
            "default_queue_id": null, "storage_configuration": {}
        }))
        .unwrap()
    }

    #[test]
    fn pool_events_are_named_and_labelled_as_prefect_s() {
        let status = status_name(&WorkPoolStatus::NotReady);
        assert_eq!(status, "NOT_READY");
        let event = work_pool_status_event(&pool(), &status, None);
        assert_eq!(event.event, "prefect.work-pool.not-ready");
        assert_eq!(
            event.resource_id(),
            "prefect.work-pool.00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(event.resource["prefect.work-pool.type"], "kubernetes");
        assert!(event.related.is_empty());
    }
}
