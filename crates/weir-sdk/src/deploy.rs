//! Deploying a binary's flows, for [`crate::main!`]'s `deploy` and `serve` subcommands.
//!
//! `deploy --pool P` registers one deployment per flow whose entrypoint is this binary, so a
//! worker of pool P starts `<binary> execute` for each run. `serve` registers deployments without
//! a pool and runs their flow runs inside this process, like Prefect's `flow.serve()`: it polls
//! for due runs of its deployments, claims each (PENDING), and executes it with the run's
//! parameters.

use crate::options::{CallError, Options};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;
use weir_client::{Client, Method};
use weir_core::schemas::{FlowRun, SetStateStatus};
use weir_core::{StateCreate, StateType, Timestamp};

/// What `deploy` and `serve` were asked for.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct DeploySpec {
    /// The deployments' name (default: `default`).
    pub name: Option<String>,
    pub pool: Option<String>,
    pub queue: Option<String>,
    pub image: Option<String>,
    pub job_variables: Map<String, Value>,
    /// Default parameters of the deployments' runs.
    pub parameters: Map<String, Value>,
    /// A cron expression, in `timezone` (UTC when absent).
    pub cron: Option<String>,
    pub timezone: Option<String>,
    /// An interval in seconds.
    pub interval: Option<f64>,
    pub tags: Vec<String>,
    /// Only these flows (all of the binary's when empty).
    pub flows: Vec<String>,
}

/// One flow to deploy: its options and parameter schema.
pub(crate) struct DeployedFlow<'a> {
    pub options: &'a Options,
    pub schema: Value,
}

impl DeploySpec {
    fn schedules(&self) -> Vec<Value> {
        let mut schedules = Vec::new();
        if let Some(cron) = &self.cron {
            let timezone = self.timezone.clone().unwrap_or_else(|| "UTC".to_owned());
            schedules
                .push(json!({"schedule": {"cron": cron, "timezone": timezone}, "active": true}));
        }
        if let Some(seconds) = self.interval {
            schedules.push(json!({"schedule": {
                "interval": seconds,
                "anchor_date": Timestamp::now(),
                "timezone": self.timezone.clone().unwrap_or_else(|| "UTC".to_owned()),
            }, "active": true}));
        }
        schedules
    }
}

/// Registers a deployment per flow; returns (flow name, deployment id).
pub(crate) async fn register(
    client: &Client,
    flows: &[DeployedFlow<'_>],
    spec: &DeploySpec,
    entrypoint: &str,
) -> Result<Vec<(String, Uuid)>, String> {
    let mut job_variables = spec.job_variables.clone();
    if let Some(image) = &spec.image {
        job_variables.insert("image".into(), Value::from(image.clone()));
    }
    let mut registered = Vec::new();
    for flow in flows {
        let name = &flow.options.name;
        let created = client
            .create_flow(name)
            .await
            .map_err(|e| format!("cannot register flow {name}: {e}"))?;
        let body = json!({
            "name": spec.name.clone().unwrap_or_else(|| "default".to_owned()),
            "flow_id": created.id,
            "work_pool_name": spec.pool,
            "work_queue_name": spec.queue,
            "entrypoint": entrypoint,
            "description": flow.options.description,
            "version": flow.options.version,
            "tags": spec.tags,
            "job_variables": job_variables,
            "parameters": spec.parameters,
            "parameter_openapi_schema": flow.schema,
            "enforce_parameter_schema": true,
            "schedules": spec.schedules(),
        });
        let (_, deployment) = client
            .request(Method::POST, "/deployments/", Some(&body))
            .await
            .map_err(|e| format!("cannot deploy flow {name}: {e}"))?;
        let id = deployment
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| format!("the server answered a deployment without id: {deployment}"))?;
        registered.push((name.to_string(), id));
    }
    Ok(registered)
}

/// How `serve` runs one flow with JSON parameters.
pub(crate) type RunJson = fn(
    Cow<'static, Options>,
    Map<String, Value>,
) -> futures::future::LocalBoxFuture<'static, Result<Value, CallError>>;

/// Serves deployments in this process until the process is stopped: polls every
/// `poll_seconds` for their due runs, claims and executes each, one after the other.
pub(crate) async fn serve(
    client: &Client,
    deployments: HashMap<Uuid, (&'static Options, RunJson)>,
    poll_seconds: f64,
) -> Result<(), String> {
    let ids: Vec<String> = deployments.keys().map(Uuid::to_string).collect();
    loop {
        let filter = json!({
            "flow_runs": {
                "deployment_id": {"any_": ids},
                "state": {"type": {"any_": ["SCHEDULED"]}},
                "next_scheduled_start_time": {"before_": Timestamp::now()},
            },
            "sort": "NEXT_SCHEDULED_START_TIME_ASC",
            "limit": 50,
        });
        let due: Vec<FlowRun> = client
            .filter_flow_runs(&filter)
            .await
            .map_err(|e| format!("cannot poll for runs: {e}"))?;
        for run in due {
            let Some((options, run_json)) = run.deployment_id.and_then(|d| deployments.get(&d))
            else {
                continue;
            };
            let claim = client
                .set_flow_run_state(run.id, &StateCreate::of_type(StateType::Pending), false)
                .await;
            if !matches!(claim, Ok(ref r) if r.status == SetStateStatus::Accept) {
                continue;
            }
            let outcome = crate::flow::adopting(
                run.id,
                run_json(Cow::Borrowed(*options), run.parameters.clone()),
            )
            .await;
            match outcome {
                Ok(_) => tracing::info!(flow_run = %run.name, "served flow run completed"),
                Err(error) => {
                    tracing::warn!(flow_run = %run.name, %error, "served flow run failed")
                }
            }
        }
        tokio::time::sleep(Duration::from_secs_f64(poll_seconds.max(0.1))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_the_flags() {
        let spec = DeploySpec {
            cron: Some("0 3 * * *".into()),
            timezone: Some("Europe/Paris".into()),
            interval: Some(600.0),
            ..DeploySpec::default()
        };
        let schedules = spec.schedules();
        assert_eq!(
            schedules[0]["schedule"],
            json!({"cron": "0 3 * * *", "timezone": "Europe/Paris"})
        );
        assert_eq!(schedules[1]["schedule"]["interval"], 600.0);
        assert!(DeploySpec::default().schedules().is_empty());
    }
}
