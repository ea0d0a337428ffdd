//! Prefect 3's wire shapes for the core resources: flows, flow runs, task runs, logs and the result of
//! a `set_state` call. Field names and defaults match what the Prefect 3.9.1 client sends and reads;
//! every field of a response is present, `null` when unset, because the client's models read them.

use crate::state::{State, StateCreate, StateType};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// A JSON object (`{}` by default).
pub type JsonObject = Map<String, Value>;

/// A flow: the named function whose runs are orchestrated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Flow {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub labels: JsonObject,
}

/// Body of `POST /flows/`: creates the flow or returns the one with that name.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowCreate {
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<JsonObject>,
}

/// Body of `PATCH /flows/{id}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowUpdate {
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<JsonObject>,
}

/// A flow run's retry and pause settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct FlowRunPolicy {
    pub max_retries: i64,
    pub retry_delay_seconds: f64,
    pub retries: Option<i64>,
    pub retry_delay: Option<i64>,
    pub pause_keys: Option<Vec<String>>,
    pub resuming: Option<bool>,
    pub retry_type: Option<String>,
}

impl Default for FlowRunPolicy {
    fn default() -> Self {
        Self {
            max_retries: 0,
            retry_delay_seconds: 0.0,
            retries: None,
            retry_delay: None,
            pause_keys: Some(Vec::new()),
            resuming: Some(false),
            retry_type: None,
        }
    }
}

/// A flow run: one execution of a flow, with its current state denormalised onto it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FlowRun {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    pub flow_id: Uuid,
    pub state_id: Option<Uuid>,
    pub deployment_id: Option<Uuid>,
    pub deployment_version: Option<String>,
    pub work_queue_id: Option<Uuid>,
    pub work_queue_name: Option<String>,
    pub flow_version: Option<String>,
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    pub idempotency_key: Option<String>,
    #[schema(value_type = Object)]
    pub context: JsonObject,
    pub empirical_policy: FlowRunPolicy,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub labels: JsonObject,
    pub parent_task_run_id: Option<Uuid>,
    pub state_type: Option<StateType>,
    pub state_name: Option<String>,
    pub run_count: i64,
    pub expected_start_time: Option<Timestamp>,
    pub next_scheduled_start_time: Option<Timestamp>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub total_run_time: f64,
    pub estimated_run_time: f64,
    pub estimated_start_time_delta: f64,
    pub auto_scheduled: bool,
    pub infrastructure_document_id: Option<Uuid>,
    pub infrastructure_pid: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub created_by: Option<Value>,
    pub work_pool_id: Option<Uuid>,
    pub work_pool_name: Option<String>,
    pub state: Option<State>,
    #[schema(value_type = Object)]
    pub job_variables: JsonObject,
}

impl FlowRun {
    /// Recomputes the fields Prefect derives at read time from the clock: how long the run has
    /// been running and how late it started (or is).
    pub fn refresh_estimates(&mut self, now: Timestamp) {
        (self.estimated_run_time, self.estimated_start_time_delta) = estimates(
            self.total_run_time,
            self.state.as_ref(),
            self.start_time,
            self.expected_start_time,
            now,
        );
    }
}

/// `(estimated_run_time, estimated_start_time_delta)` of a run at `now`: the run time so far
/// (counting the current RUNNING stretch) and how late the run started, or is.
fn estimates(
    total_run_time: f64,
    state: Option<&State>,
    start_time: Option<Timestamp>,
    expected_start_time: Option<Timestamp>,
    now: Timestamp,
) -> (f64, f64) {
    let running_for = match state {
        Some(s) if s.state_type == StateType::Running => now.seconds_since(&s.timestamp).max(0.0),
        _ => 0.0,
    };
    let lateness = match (start_time, expected_start_time) {
        (Some(start), Some(expected)) => start.seconds_since(&expected).max(0.0),
        (None, Some(expected)) => now.seconds_since(&expected).max(0.0),
        _ => 0.0,
    };
    (total_run_time + running_for, lateness)
}

/// Body of `POST /flow_runs/`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FlowRunCreate {
    pub flow_id: Uuid,
    #[serde(default)]
    pub state: Option<StateCreate>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub flow_version: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: JsonObject,
    #[serde(default)]
    pub parent_task_run_id: Option<Uuid>,
    #[serde(default)]
    pub infrastructure_document_id: Option<Uuid>,
    #[serde(default)]
    pub empirical_policy: FlowRunPolicy,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<JsonObject>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub work_pool_name: Option<String>,
    #[serde(default)]
    pub work_queue_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub job_variables: Option<JsonObject>,
    #[serde(default)]
    pub deployment_id: Option<Uuid>,
}

impl FlowRunCreate {
    /// A run of `flow_id` with everything else left to the server's defaults (PENDING).
    pub fn for_flow(flow_id: Uuid) -> FlowRunCreate {
        FlowRunCreate {
            flow_id,
            state: None,
            name: None,
            flow_version: None,
            parameters: JsonObject::new(),
            context: JsonObject::new(),
            parent_task_run_id: None,
            infrastructure_document_id: None,
            empirical_policy: FlowRunPolicy::default(),
            tags: Vec::new(),
            labels: None,
            idempotency_key: None,
            work_pool_name: None,
            work_queue_name: None,
            job_variables: None,
            deployment_id: None,
        }
    }
}

/// Body of `PATCH /flow_runs/{id}`: only the fields present are changed.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowRunUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub flow_version: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<JsonObject>,
    #[serde(default)]
    pub empirical_policy: Option<FlowRunPolicy>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub infrastructure_pid: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub job_variables: Option<JsonObject>,
}

/// A task run's retry settings. `retry_delay` is a number of seconds or a list, one per retry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct TaskRunPolicy {
    pub max_retries: i64,
    pub retry_delay_seconds: f64,
    pub retries: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub retry_delay: Option<Value>,
    pub retry_jitter_factor: Option<f64>,
}

impl Default for TaskRunPolicy {
    fn default() -> Self {
        Self {
            max_retries: 0,
            retry_delay_seconds: 0.0,
            retries: None,
            retry_delay: None,
            retry_jitter_factor: None,
        }
    }
}

impl TaskRunPolicy {
    /// The delay before retry number `attempt` (1-based): the list entry for that attempt (the last
    /// entry once the list runs out) or the single number.
    pub fn delay_for_attempt(&self, attempt: i64) -> f64 {
        match &self.retry_delay {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(Value::Array(list)) if !list.is_empty() => {
                let index = usize::try_from(attempt.max(1) - 1)
                    .unwrap_or(0)
                    .min(list.len() - 1);
                list[index].as_f64().unwrap_or(0.0)
            }
            _ => self.retry_delay_seconds,
        }
    }
}

/// A task run: one call of a task inside a flow run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskRun {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    pub flow_run_id: Option<Uuid>,
    pub task_key: String,
    pub dynamic_key: String,
    pub cache_key: Option<String>,
    pub cache_expiration: Option<Timestamp>,
    pub task_version: Option<String>,
    pub empirical_policy: TaskRunPolicy,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub labels: JsonObject,
    pub state_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub task_inputs: JsonObject,
    pub state_type: Option<StateType>,
    pub state_name: Option<String>,
    pub run_count: i64,
    pub flow_run_run_count: i64,
    pub expected_start_time: Option<Timestamp>,
    pub next_scheduled_start_time: Option<Timestamp>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub total_run_time: f64,
    pub estimated_run_time: f64,
    pub estimated_start_time_delta: f64,
    pub state: Option<State>,
}

impl TaskRun {
    /// Recomputes the clock-derived estimates, as [`FlowRun::refresh_estimates`] does.
    pub fn refresh_estimates(&mut self, now: Timestamp) {
        (self.estimated_run_time, self.estimated_start_time_delta) = estimates(
            self.total_run_time,
            self.state.as_ref(),
            self.start_time,
            self.expected_start_time,
            now,
        );
    }
}

/// Body of `POST /task_runs/`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskRunCreate {
    #[serde(default)]
    pub id: Option<Uuid>,
    #[serde(default)]
    pub state: Option<StateCreate>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub flow_run_id: Option<Uuid>,
    pub task_key: String,
    pub dynamic_key: String,
    #[serde(default)]
    pub cache_key: Option<String>,
    #[serde(default)]
    pub cache_expiration: Option<Timestamp>,
    #[serde(default)]
    pub task_version: Option<String>,
    #[serde(default)]
    pub empirical_policy: TaskRunPolicy,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<JsonObject>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub task_inputs: JsonObject,
}

/// A log line attached to a flow run and optionally a task run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Log {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    pub level: i64,
    pub message: String,
    pub timestamp: Timestamp,
    pub flow_run_id: Option<Uuid>,
    pub task_run_id: Option<Uuid>,
}

/// One element of the body of `POST /logs/`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LogCreate {
    pub name: String,
    pub level: i64,
    pub message: String,
    pub timestamp: Timestamp,
    #[serde(default)]
    pub flow_run_id: Option<Uuid>,
    #[serde(default)]
    pub task_run_id: Option<Uuid>,
}

/// Body of `POST /flow_runs/{id}/set_state` and `POST /task_runs/{id}/set_state`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SetStateRequest {
    pub state: StateCreate,
    #[serde(default)]
    pub force: bool,
}

/// What the orchestration policy answered to a proposed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SetStateStatus {
    Accept,
    Reject,
    Wait,
    Abort,
}

/// The `details` of an orchestration result, tagged by `type` as Prefect does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrchestrationDetails {
    AcceptDetails,
    RejectDetails {
        reason: Option<String>,
    },
    WaitDetails {
        delay_seconds: f64,
        reason: Option<String>,
    },
    AbortDetails {
        reason: Option<String>,
    },
}

/// Response body of `set_state`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrchestrationResult {
    pub state: Option<State>,
    pub status: SetStateStatus,
    pub details: OrchestrationDetails,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_retry_delay_accepts_a_number_or_a_list() {
        let mut policy = TaskRunPolicy {
            retry_delay: Some(serde_json::json!(3)),
            ..TaskRunPolicy::default()
        };
        assert_eq!(policy.delay_for_attempt(1), 3.0);
        policy.retry_delay = Some(serde_json::json!([1, 10, 100]));
        assert_eq!(policy.delay_for_attempt(1), 1.0);
        assert_eq!(policy.delay_for_attempt(3), 100.0);
        assert_eq!(policy.delay_for_attempt(7), 100.0);
    }

    #[test]
    fn orchestration_details_are_tagged_like_prefect() {
        let wait = OrchestrationDetails::WaitDetails {
            delay_seconds: 2.0,
            reason: None,
        };
        let json = serde_json::to_value(&wait).unwrap();
        assert_eq!(json["type"], "wait_details");
        assert_eq!(json["delay_seconds"], 2.0);
        let accept = serde_json::to_value(OrchestrationDetails::AcceptDetails).unwrap();
        assert_eq!(accept, serde_json::json!({"type": "accept_details"}));
    }
}
