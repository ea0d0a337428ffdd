//! Work pools, their queues and their workers, in Prefect 3.9.1's wire shapes, and the rules that
//! give each its status.
//!
//! Statuses are computed when read, from the stored facts (paused flags, worker heartbeats, queue
//! polls) and the [`StatusTimeouts`]: a pool is READY as soon as one of its workers heartbeats and
//! NOT_READY once the last one has missed its heartbeats, with nothing to fall behind. The
//! server's foreman service watches these computed statuses and emits an event for each change.

use crate::schemas::{FlowRun, JsonObject};
use crate::time::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long workers, queues and deployments may stay silent before they stop counting as ONLINE or
/// READY; the defaults are Prefect's foreman settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatusTimeouts {
    /// Heartbeats a worker may miss before it counts as OFFLINE (`inactivity_heartbeat_multiple`).
    pub inactivity_heartbeat_multiple: f64,
    /// The heartbeat interval assumed when a worker does not say, in seconds
    /// (`fallback_heartbeat_interval_seconds`).
    pub fallback_heartbeat_interval_seconds: f64,
    /// How recently a queue must have been polled to be READY, in seconds
    /// (`work_queue_last_polled_timeout_seconds`).
    pub work_queue_last_polled_timeout_seconds: f64,
    /// How recently a deployment's queue must have been polled for it to be READY, in seconds
    /// (`deployment_last_polled_timeout_seconds`).
    pub deployment_last_polled_timeout_seconds: f64,
}

impl Default for StatusTimeouts {
    fn default() -> Self {
        StatusTimeouts {
            inactivity_heartbeat_multiple: 3.0,
            fallback_heartbeat_interval_seconds: 30.0,
            work_queue_last_polled_timeout_seconds: 60.0,
            deployment_last_polled_timeout_seconds: 60.0,
        }
    }
}
/// The name of the queue every pool is created with.
pub const DEFAULT_QUEUE: &str = "default";

/// `Some(x)` for a present field (even `null`), `None` when absent: tells "clear it" from "leave it".
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkPoolStatus {
    Ready,
    NotReady,
    Paused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkQueueStatus {
    Ready,
    NotReady,
    Paused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkerStatus {
    Online,
    Offline,
}

/// Where bundles and results of a pool's runs go (kept as given).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageConfiguration {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub bundle_upload_step: Option<JsonObject>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub bundle_execution_step: Option<JsonObject>,
    #[serde(default)]
    pub default_result_storage_block_id: Option<Uuid>,
}

/// A work pool: the infrastructure type, its base job template, and its queues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkPool {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub pool_type: String,
    #[schema(value_type = Object)]
    pub base_job_template: JsonObject,
    pub is_paused: bool,
    pub concurrency_limit: Option<i64>,
    pub status: Option<WorkPoolStatus>,
    pub default_queue_id: Option<Uuid>,
    pub storage_configuration: StorageConfiguration,
}

fn default_pool_type() -> String {
    "prefect-agent".to_owned()
}

/// Body of `POST /work_pools/`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkPoolCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "type", default = "default_pool_type")]
    pub pool_type: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub base_job_template: JsonObject,
    #[serde(default)]
    pub is_paused: bool,
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
    #[serde(default)]
    pub storage_configuration: StorageConfiguration,
}

/// Body of `PATCH /work_pools/{name}`: absent fields stay, `null` clears a limit. Absent fields are
/// also left out when serialized, so a client sends only what it changes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkPoolUpdate {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_paused: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub base_job_template: Option<JsonObject>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>)]
    pub concurrency_limit: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_configuration: Option<StorageConfiguration>,
}

/// A queue of a work pool: runs are picked from higher-priority (lower number) queues first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkQueue {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    pub description: Option<String>,
    pub is_paused: bool,
    pub concurrency_limit: Option<i64>,
    pub priority: i64,
    pub work_pool_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
    pub last_polled: Option<Timestamp>,
    pub work_pool_name: Option<String>,
    pub status: Option<WorkQueueStatus>,
}

/// Body of `POST /work_pools/{name}/queues`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkQueueCreate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_paused: bool,
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

/// Body of `PATCH /work_pools/{name}/queues/{queue}` and `PATCH /work_queues/{id}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkQueueUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_paused: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i64>)]
    pub concurrency_limit: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_polled: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

/// A worker of a pool, known by its heartbeats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Worker {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    pub work_pool_id: Uuid,
    pub last_heartbeat_time: Option<Timestamp>,
    pub heartbeat_interval_seconds: Option<i64>,
    pub status: WorkerStatus,
}

/// Body of `POST /work_pools/{name}/workers/heartbeat`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerHeartbeat {
    pub name: String,
    #[serde(default)]
    pub heartbeat_interval_seconds: Option<i64>,
    #[serde(default)]
    pub get_worker_id: bool,
}

/// Body of `POST /work_pools/{name}/get_scheduled_flow_runs`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledRunsRequest {
    #[serde(default)]
    pub work_queue_names: Option<Vec<String>>,
    #[serde(default)]
    pub scheduled_before: Option<Timestamp>,
    #[serde(default)]
    pub scheduled_after: Option<Timestamp>,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// One run a worker should start, with where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkerFlowRun {
    pub work_pool_id: Uuid,
    pub work_queue_id: Uuid,
    pub flow_run: FlowRun,
}

/// Whether a worker last heard from at `last_heartbeat` is ONLINE at `now`.
pub fn worker_status(
    last_heartbeat: Option<Timestamp>,
    interval_seconds: Option<i64>,
    now: Timestamp,
    timeouts: &StatusTimeouts,
) -> WorkerStatus {
    let interval = interval_seconds.map_or(timeouts.fallback_heartbeat_interval_seconds, |s| {
        s.max(1) as f64
    });
    match last_heartbeat {
        Some(at) if now.seconds_since(&at) <= interval * timeouts.inactivity_heartbeat_multiple => {
            WorkerStatus::Online
        }
        _ => WorkerStatus::Offline,
    }
}

/// A pool's status: PAUSED when paused, READY with an online worker, else NOT_READY.
pub fn pool_status(is_paused: bool, any_worker_online: bool) -> WorkPoolStatus {
    match (is_paused, any_worker_online) {
        (true, _) => WorkPoolStatus::Paused,
        (false, true) => WorkPoolStatus::Ready,
        (false, false) => WorkPoolStatus::NotReady,
    }
}

/// A queue's status: PAUSED when it or its pool is paused, READY when polled recently.
pub fn queue_status(
    is_paused: bool,
    pool_paused: bool,
    last_polled: Option<Timestamp>,
    now: Timestamp,
    timeouts: &StatusTimeouts,
) -> WorkQueueStatus {
    if is_paused || pool_paused {
        return WorkQueueStatus::Paused;
    }
    let window = timeouts.work_queue_last_polled_timeout_seconds;
    match last_polled {
        Some(at) if now.seconds_since(&at) <= window => WorkQueueStatus::Ready,
        _ => WorkQueueStatus::NotReady,
    }
}

/// A deployment's status: READY while its queue, unpaused, was polled within the deployment
/// timeout, else NOT_READY.
pub fn deployment_status(
    queue_status: Option<WorkQueueStatus>,
    last_polled: Option<Timestamp>,
    now: Timestamp,
    timeouts: &StatusTimeouts,
) -> crate::deployments::DeploymentStatus {
    use crate::deployments::DeploymentStatus;
    let window = timeouts.deployment_last_polled_timeout_seconds;
    match (queue_status, last_polled) {
        (Some(status), Some(at))
            if status != WorkQueueStatus::Paused && now.seconds_since(&at) <= window =>
        {
            DeploymentStatus::Ready
        }
        _ => DeploymentStatus::NotReady,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: f64) -> Timestamp {
        "2026-11-27T12:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .plus_seconds(seconds)
    }

    const PREFECT: StatusTimeouts = StatusTimeouts {
        inactivity_heartbeat_multiple: 3.0,
        fallback_heartbeat_interval_seconds: 30.0,
        work_queue_last_polled_timeout_seconds: 60.0,
        deployment_last_polled_timeout_seconds: 60.0,
    };

    #[test]
    fn a_worker_is_online_until_it_misses_three_heartbeats() {
        assert_eq!(StatusTimeouts::default(), PREFECT);
        let status = |last, interval, now| worker_status(last, interval, now, &PREFECT);
        assert_eq!(
            status(Some(at(0.0)), Some(10), at(30.0)),
            WorkerStatus::Online
        );
        assert_eq!(
            status(Some(at(0.0)), Some(10), at(31.0)),
            WorkerStatus::Offline
        );
        assert_eq!(status(Some(at(0.0)), None, at(89.0)), WorkerStatus::Online);
        assert_eq!(status(None, Some(10), at(0.0)), WorkerStatus::Offline);
        let quick = StatusTimeouts {
            fallback_heartbeat_interval_seconds: 1.0,
            ..PREFECT
        };
        assert_eq!(
            worker_status(Some(at(0.0)), None, at(4.0), &quick),
            WorkerStatus::Offline
        );
    }

    #[test]
    fn a_deployment_is_ready_while_its_unpaused_queue_is_polled() {
        use crate::deployments::DeploymentStatus;
        let now = at(100.0);
        let status = |queue, polled| deployment_status(queue, polled, now, &PREFECT);
        let ready = Some(WorkQueueStatus::Ready);
        assert_eq!(status(ready, Some(at(41.0))), DeploymentStatus::Ready);
        assert_eq!(status(ready, Some(at(39.0))), DeploymentStatus::NotReady);
        assert_eq!(
            status(Some(WorkQueueStatus::Paused), Some(now)),
            DeploymentStatus::NotReady
        );
        assert_eq!(status(None, Some(now)), DeploymentStatus::NotReady);
    }

    #[test]
    fn statuses_follow_pauses_workers_and_polls() {
        assert_eq!(pool_status(true, true), WorkPoolStatus::Paused);
        assert_eq!(pool_status(false, true), WorkPoolStatus::Ready);
        assert_eq!(pool_status(false, false), WorkPoolStatus::NotReady);
        let now = at(100.0);
        let status =
            |paused, pool_paused, polled| queue_status(paused, pool_paused, polled, now, &PREFECT);
        assert_eq!(status(false, true, Some(now)), WorkQueueStatus::Paused);
        assert_eq!(status(false, false, Some(at(50.0))), WorkQueueStatus::Ready);
        assert_eq!(
            status(false, false, Some(at(0.0))),
            WorkQueueStatus::NotReady
        );
        assert_eq!(status(false, false, None), WorkQueueStatus::NotReady);
    }

    #[test]
    fn updates_serialize_only_what_they_change() {
        let update = WorkQueueUpdate {
            is_paused: Some(true),
            concurrency_limit: Some(None),
            ..WorkQueueUpdate::default()
        };
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            serde_json::json!({"is_paused": true, "concurrency_limit": null})
        );
        let pool = WorkPoolUpdate::default();
        assert_eq!(serde_json::to_value(&pool).unwrap(), serde_json::json!({}));
    }

    #[test]
    fn updates_tell_a_cleared_limit_from_an_absent_one() {
        let cleared: WorkPoolUpdate =
            serde_json::from_str(r#"{"concurrency_limit": null}"#).unwrap();
        assert_eq!(cleared.concurrency_limit, Some(None));
        let absent: WorkPoolUpdate = serde_json::from_str(r#"{"is_paused": true}"#).unwrap();
        assert_eq!(absent.concurrency_limit, None);
        let create: WorkPoolCreate = serde_json::from_str(r#"{"name": "p"}"#).unwrap();
        assert_eq!(create.pool_type, "prefect-agent");
        assert!(serde_json::from_str::<WorkPoolCreate>(r#"{"name": "p", "colour": 1}"#).is_err());
    }
}
