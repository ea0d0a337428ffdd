//! Deployments in Prefect 3.9.1's wire shapes: a flow made runnable by name, with default
//! parameters and job variables, a work pool and queue, and schedules.

use crate::schemas::{FlowRunPolicy, JsonObject};
use crate::state::StateCreate;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    Ready,
    NotReady,
}

/// One schedule of a deployment. `schedule` is an interval, cron or rrule schedule as Prefect
/// sends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentSchedule {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deployment_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub schedule: Value,
    pub active: bool,
    pub max_scheduled_runs: Option<i64>,
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    pub slug: Option<String>,
}

/// A schedule as sent in a deployment create or in `POST /deployments/{id}/schedules`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentScheduleCreate {
    #[schema(value_type = Object)]
    pub schedule: Value,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub max_scheduled_runs: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    #[serde(default)]
    pub slug: Option<String>,
}

/// Body of `PATCH /deployments/{id}/schedules/{schedule_id}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentScheduleUpdate {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<Value>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub max_scheduled_runs: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<JsonObject>,
    #[serde(default)]
    pub slug: Option<String>,
}

/// A deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Deployment {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    pub version: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub version_info: Option<Value>,
    pub description: Option<String>,
    pub flow_id: Uuid,
    pub paused: bool,
    pub status: Option<DeploymentStatus>,
    pub schedules: Vec<DeploymentSchedule>,
    pub concurrency_limit: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub global_concurrency_limit: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub concurrency_options: Option<Value>,
    #[schema(value_type = Object)]
    pub job_variables: JsonObject,
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub labels: JsonObject,
    pub work_queue_name: Option<String>,
    pub work_queue_id: Option<Uuid>,
    pub work_pool_name: Option<String>,
    pub last_polled: Option<Timestamp>,
    #[schema(value_type = Option<Object>)]
    pub parameter_openapi_schema: Option<Value>,
    pub path: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub pull_steps: Option<Vec<Value>>,
    pub entrypoint: Option<String>,
    pub storage_document_id: Option<Uuid>,
    pub infrastructure_document_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub created_by: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub updated_by: Option<Value>,
    pub enforce_parameter_schema: bool,
}

/// Body of `POST /deployments/`: creates the deployment, or replaces the flow's deployment of
/// that name.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentCreate {
    pub name: String,
    pub flow_id: Uuid,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub schedules: Vec<DeploymentScheduleCreate>,
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub concurrency_options: Option<Value>,
    #[serde(default)]
    pub global_concurrency_limit_id: Option<Uuid>,
    #[serde(default = "yes")]
    pub enforce_parameter_schema: bool,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameter_openapi_schema: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<JsonObject>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub pull_steps: Option<Vec<Value>>,
    #[serde(default)]
    pub work_queue_name: Option<String>,
    #[serde(default)]
    pub work_pool_name: Option<String>,
    #[serde(default)]
    pub storage_document_id: Option<Uuid>,
    #[serde(default)]
    pub infrastructure_document_id: Option<Uuid>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub entrypoint: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub job_variables: JsonObject,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub version_info: Option<Value>,
}

/// Body of `PATCH /deployments/{id}`: absent fields stay as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentUpdate {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub paused: Option<bool>,
    #[serde(default)]
    pub schedules: Option<Vec<DeploymentScheduleCreate>>,
    #[serde(default)]
    pub concurrency_limit: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub concurrency_options: Option<Value>,
    #[serde(default)]
    pub global_concurrency_limit_id: Option<Uuid>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<JsonObject>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameter_openapi_schema: Option<Value>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub work_queue_name: Option<String>,
    #[serde(default)]
    pub work_pool_name: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub job_variables: Option<JsonObject>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub pull_steps: Option<Vec<Value>>,
    #[serde(default)]
    pub entrypoint: Option<String>,
    #[serde(default)]
    pub storage_document_id: Option<Uuid>,
    #[serde(default)]
    pub infrastructure_document_id: Option<Uuid>,
    #[serde(default)]
    pub enforce_parameter_schema: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub version_info: Option<Value>,
}

/// Body of `POST /deployments/{id}/create_flow_run`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentFlowRunCreate {
    #[serde(default)]
    pub state: Option<StateCreate>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    #[serde(default)]
    pub enforce_parameter_schema: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: JsonObject,
    #[serde(default)]
    pub infrastructure_document_id: Option<Uuid>,
    #[serde(default)]
    pub empirical_policy: Option<FlowRunPolicy>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<JsonObject>,
    #[serde(default)]
    pub parent_task_run_id: Option<Uuid>,
    #[serde(default)]
    pub work_queue_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub job_variables: Option<JsonObject>,
}
