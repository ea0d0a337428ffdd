//! `KubernetesJob`: a Job manifest run to completion, returning each pod's logs; and
//! [`run_namespaced_job`], the same as a flow of three tasks.
//!
//! Waiting follows the Job through a watch (re-read every `interval_seconds` as a fall-back),
//! collects the logs of each pod once it has finished, counts the timeout only while the Job has
//! active pods, and ends on the Job's `Complete` or `Failed` condition.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams, PropagationPolicy};
use kube::runtime::{watcher, WatchStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;
use weir_sdk::{flow, task};

use crate::credentials::KubernetesCredentials;
use crate::error::{KubeTaskError, Result};

/// The namespace a [`KubernetesJob`] runs in unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The `api_kwargs` keys passed on to the API.
const SUPPORTED_API_KWARGS: &str = "field_manager, pretty (accepted, no effect)";

/// A Job to run to completion (Prefect's "Kubernetes Job" block, slug `k8s-job`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KubernetesJob {
    /// The `batch/v1` Job manifest.
    pub v1_job: Value,
    /// The namespace to run it in (the manifest's own namespace, if any, must agree).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// How to reach the cluster.
    #[serde(default)]
    pub credentials: KubernetesCredentials,
    /// How often to re-read the Job besides watching it, in seconds (at least 1).
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
    /// How long the Job may have active pods before the wait fails; `None` waits forever.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Delete the Job (and its pods) once it has completed or timed out; a failed Job is kept
    /// for inspection.
    #[serde(default = "yes")]
    pub delete_after_completion: bool,
    /// Extra options for the API calls (see `SUPPORTED_API_KWARGS`); others are an error.
    #[serde(default)]
    pub api_kwargs: Map<String, Value>,
}

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_string()
}

fn default_interval() -> u64 {
    5
}

fn yes() -> bool {
    true
}

impl KubernetesJob {
    /// A job for `v1_job` with the defaults: namespace `default`, credentials from the service
    /// account or kubeconfig, re-read every 5 s, no timeout, deleted after completion.
    pub fn new(v1_job: Value) -> Self {
        KubernetesJob {
            v1_job,
            namespace: default_namespace(),
            credentials: KubernetesCredentials::default(),
            interval_seconds: default_interval(),
            timeout_seconds: None,
            delete_after_completion: true,
            api_kwargs: Map::new(),
        }
    }

    /// A job for the manifest in the YAML (or JSON) file at `path`.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KubeTaskError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml_str(&text)
            .map_err(|err| KubeTaskError::InvalidManifest(format!("{}: {err}", path.display())))
    }

    /// A job for the manifest in `text` (YAML or JSON).
    pub fn from_yaml_str(text: &str) -> Result<Self> {
        let manifest: Value = serde_saphyr::from_str(text)
            .map_err(|err| KubeTaskError::InvalidManifest(first_line(&err.to_string())))?;
        if !manifest.is_object() {
            return Err(KubeTaskError::InvalidManifest(
                "expected a Job manifest (a mapping), found something else".into(),
            ));
        }
        Ok(Self::new(manifest))
    }

    /// Creates the Job, waits for it and returns each pod's logs, deleting the Job afterwards
    /// when `delete_after_completion`. A client comes from `credentials`.
    pub async fn run(&self) -> Result<BTreeMap<String, String>> {
        let client = self.credentials.client().await?;
        Box::pin(self.run_with(&client)).await
    }

    /// [`KubernetesJob::run`] with a given client (the credentials are not used).
    pub async fn run_with(&self, client: &kube::Client) -> Result<BTreeMap<String, String>> {
        let name = self.create(client).await?;
        let outcome = Box::pin(self.wait(client, &name)).await;
        if self.should_delete(&outcome) {
            let deleted = self.delete(client, &name).await;
            return match (outcome, deleted) {
                (Ok(logs), Ok(())) => Ok(logs),
                (Ok(_), Err(err)) => Err(err),
                // The wait's error matters more than the clean-up's.
                (Err(err), deleted) => {
                    if let Err(delete_err) = deleted {
                        tracing::warn!(%delete_err, job = %name, "deleting the Job failed");
                    }
                    Err(err)
                }
            };
        }
        outcome
    }

    /// Creates the Job and returns its name (the manifest may use `generateName`).
    pub async fn create(&self, client: &kube::Client) -> Result<String> {
        let params = self.post_params()?;
        let mut job: Job = serde_json::from_value(self.v1_job.clone())
            .map_err(|err| KubeTaskError::InvalidManifest(format!("not a batch/v1 Job: {err}")))?;
        if job.metadata.namespace.is_none() {
            job.metadata.namespace = Some(self.namespace.clone());
        }
        let created = self.jobs(client).create(&params, &job).await?;
        created.metadata.name.ok_or_else(|| {
            KubeTaskError::InvalidManifest("the API server returned a Job without a name".into())
        })
    }

    /// Waits until Job `name` completes and returns each of its pods' logs. Fails when the Job
    /// fails, is deleted, or has had active pods for longer than `timeout_seconds`.
    pub async fn wait(
        &self,
        client: &kube::Client,
        name: &str,
    ) -> Result<BTreeMap<String, String>> {
        let jobs = self.jobs(client);
        let pods: Api<Pod> = Api::namespaced(client.clone(), &self.namespace);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut events = watcher(jobs.clone(), config).default_backoff().boxed();
        let interval = Duration::from_secs(self.interval_seconds.max(1));
        let timeout = self.timeout_seconds.map(Duration::from_secs);
        let mut clock = ActiveClock::default();
        let mut logs = BTreeMap::new();
        let mut job = Some(jobs.get(name).await?);
        loop {
            if let Some(current) = job.take() {
                clock.observe(active_pods(&current) > 0);
                match outcome(&current) {
                    Some(Outcome::Complete) => {
                        collect_logs(&pods, &current, name, &mut logs, true).await?;
                        return Ok(logs);
                    }
                    Some(Outcome::Failed(reasons)) => {
                        return Err(KubeTaskError::JobFailed {
                            job: name.to_string(),
                            namespace: self.namespace.clone(),
                            reasons,
                        })
                    }
                    None => collect_logs(&pods, &current, name, &mut logs, false).await?,
                }
            }
            let mut wake = interval;
            if let (Some(limit), true) = (timeout, clock.is_running()) {
                let spent = clock.spent();
                if spent >= limit {
                    return Err(KubeTaskError::JobTimedOut {
                        job: name.to_string(),
                        namespace: self.namespace.clone(),
                        seconds: limit.as_secs(),
                    });
                }
                wake = wake.min(limit - spent);
            }
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(watcher::Event::Apply(next) | watcher::Event::InitApply(next))) => {
                        job = Some(next);
                    }
                    Some(Ok(watcher::Event::Delete(_))) => {
                        return Err(KubeTaskError::JobDeleted {
                            job: name.to_string(),
                            namespace: self.namespace.clone(),
                        })
                    }
                    Some(Ok(_)) => {}
                    // The watch backs off and resumes; the timed re-read covers the gap.
                    Some(Err(err)) => tracing::debug!(%err, job = name, "watching the Job failed"),
                    // The watch never ends by itself; if it did, the timed re-reads carry on.
                    None => events = futures::stream::pending().boxed(),
                },
                _ = tokio::time::sleep(wake) => {
                    job = match jobs.get_opt(name).await? {
                        Some(current) => Some(current),
                        None => return Err(KubeTaskError::JobDeleted {
                            job: name.to_string(),
                            namespace: self.namespace.clone(),
                        }),
                    };
                }
            }
        }
    }

    /// Deletes Job `name` and, through foreground propagation, its pods.
    pub async fn delete(&self, client: &kube::Client, name: &str) -> Result<()> {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..DeleteParams::default()
        };
        match self.jobs(client).delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Whether the Job is to be deleted after a wait that ended with `outcome`: when it
    /// completed or timed out and `delete_after_completion` is set.
    fn should_delete<T>(&self, outcome: &Result<T>) -> bool {
        self.delete_after_completion
            && matches!(outcome, Ok(_) | Err(KubeTaskError::JobTimedOut { .. }))
    }

    fn jobs(&self, client: &kube::Client) -> Api<Job> {
        Api::namespaced(client.clone(), &self.namespace)
    }

    fn post_params(&self) -> Result<PostParams> {
        let mut params = PostParams::default();
        for (key, value) in &self.api_kwargs {
            match (key.as_str(), value) {
                ("field_manager", Value::String(manager)) => {
                    params.field_manager = Some(manager.clone())
                }
                ("pretty", _) => {}
                _ => {
                    return Err(KubeTaskError::UnsupportedApiKwarg {
                        key: key.clone(),
                        supported: SUPPORTED_API_KWARGS,
                    })
                }
            }
        }
        Ok(params)
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// Time spent with active pods, across the spells of activity.
#[derive(Default)]
struct ActiveClock {
    before: Duration,
    since: Option<Instant>,
}

impl ActiveClock {
    fn observe(&mut self, active: bool) {
        match (active, self.since) {
            (true, None) => self.since = Some(Instant::now()),
            (false, Some(since)) => {
                self.before += since.elapsed();
                self.since = None;
            }
            _ => {}
        }
    }

    fn is_running(&self) -> bool {
        self.since.is_some()
    }

    fn spent(&self) -> Duration {
        self.before + self.since.map_or(Duration::ZERO, |since| since.elapsed())
    }
}

fn active_pods(job: &Job) -> i32 {
    job.status.as_ref().and_then(|s| s.active).unwrap_or(0)
}

enum Outcome {
    Complete,
    Failed(Vec<String>),
}

/// How the Job ended, from its conditions; `None` while it runs.
fn outcome(job: &Job) -> Option<Outcome> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let is_set = |c: &&JobCondition, kind: &str| c.type_ == kind && c.status == "True";
    let failed: Vec<String> = conditions
        .iter()
        .filter(|c| is_set(c, "Failed"))
        .map(|c| match (c.reason.as_deref(), c.message.as_deref()) {
            (Some(reason), Some(message)) => format!("{reason}: {message}"),
            (Some(text), None) | (None, Some(text)) => text.to_string(),
            (None, None) => "Failed".to_string(),
        })
        .collect();
    if !failed.is_empty() {
        return Some(Outcome::Failed(failed));
    }
    conditions
        .iter()
        .any(|c| is_set(&c, "Complete"))
        .then_some(Outcome::Complete)
}

/// Reads the logs of the Job's pods that have finished (with `all`, of every pod that started)
/// and are not in `logs` yet. The first container's log is a pod's log.
async fn collect_logs(
    pods: &Api<Pod>,
    job: &Job,
    name: &str,
    logs: &mut BTreeMap<String, String>,
    all: bool,
) -> Result<()> {
    let selector = job
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .and_then(|s| s.match_labels.as_ref())
        .filter(|labels| !labels.is_empty())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| format!("job-name={name}"));
    let listed = pods.list(&ListParams::default().labels(&selector)).await?;
    let wanted = listed.items.into_iter().filter(|pod| {
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Pending");
        let finished = matches!(phase, "Succeeded" | "Failed");
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        !logs.contains_key(pod_name) && (finished || (all && phase != "Pending"))
    });
    let reads: Vec<(String, Option<String>)> = futures::stream::iter(wanted)
        .map(|pod| async move {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let container = pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .map(|c| c.name.clone());
            let params = LogParams {
                container,
                ..LogParams::default()
            };
            match pods.logs(&pod_name, &params).await {
                Ok(text) => Ok((pod_name, Some(text))),
                // Not readable (yet or any more): try again on the next pass.
                Err(kube::Error::Api(status)) if matches!(status.code, 400 | 404) => {
                    tracing::debug!(pod = pod_name, reason = %status.message, "pod logs not readable");
                    Ok((pod_name, None))
                }
                Err(err) => Err(err),
            }
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    for (pod_name, text) in reads {
        if let Some(text) = text {
            logs.insert(pod_name, text);
        }
    }
    Ok(())
}

/// Creates `job`'s Job and returns its name: the first step of [`run_namespaced_job`].
#[task]
pub async fn create_job(job: KubernetesJob) -> Result<String> {
    let client = job.credentials.client().await?;
    Box::pin(job.create(&client)).await
}

/// Waits for Job `job_name` of `job` and returns its pods' logs: the second step of
/// [`run_namespaced_job`].
#[task]
pub async fn wait_for_job(
    job: KubernetesJob,
    job_name: String,
) -> Result<BTreeMap<String, String>> {
    let client = job.credentials.client().await?;
    // Boxed, like every step: a watch and a select in one future is large, and a flow's future
    // lives on the caller's stack.
    Box::pin(job.wait(&client, &job_name)).await
}

/// Deletes Job `job_name` and its pods (foreground propagation): the last step of
/// [`run_namespaced_job`] when `delete_after_completion`.
#[task]
pub async fn delete_job(job: KubernetesJob, job_name: String) -> Result<()> {
    let client = job.credentials.client().await?;
    Box::pin(job.delete(&client, &job_name)).await
}

/// Runs `kubernetes_job` to completion as a flow: creates the Job, waits for it and deletes it
/// afterwards (each step a task run), returning each pod's logs by pod name. Fails when the Job
/// fails or times out.
#[flow]
pub async fn run_namespaced_job(kubernetes_job: KubernetesJob) -> Result<BTreeMap<String, String>> {
    let name = Box::pin(create_job(kubernetes_job.clone())).await?;
    let outcome = Box::pin(wait_for_job(kubernetes_job.clone(), name.clone())).await;
    if kubernetes_job.should_delete(&outcome) {
        let deleted = Box::pin(delete_job(kubernetes_job, name)).await;
        // The wait's error matters more than the clean-up's (which its task run records).
        if outcome.is_ok() {
            deleted?;
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_job_reads_from_yaml_with_prefect_defaults() {
        let job = KubernetesJob::from_yaml_str(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: hi\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: busybox\n        command: [echo, hi]\n",
        )
        .unwrap();
        assert_eq!(job.v1_job["metadata"]["name"], "hi");
        assert_eq!(
            job.v1_job["spec"]["template"]["spec"]["containers"][0]["command"],
            json!(["echo", "hi"])
        );
        assert_eq!(job.namespace, "default");
        assert_eq!(job.interval_seconds, 5);
        assert!(job.delete_after_completion);
        assert_eq!(job.timeout_seconds, None);
    }

    #[test]
    fn bad_manifests_are_readable_errors() {
        let err = KubernetesJob::from_yaml_str("- a\n- b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid manifest: expected a Job manifest (a mapping), found something else"
        );
        let err = KubernetesJob::from_yaml_str("a: [\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid manifest: "), "{err}");
        let err = KubernetesJob::from_yaml_file("/nonexistent/job.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read /nonexistent/job.yaml: "),
            "{err}"
        );
    }

    #[test]
    fn the_block_shape_deserializes_with_defaults() {
        let job: KubernetesJob =
            serde_json::from_value(json!({"v1_job": {"kind": "Job"}, "timeout_seconds": 60}))
                .unwrap();
        assert_eq!(job.timeout_seconds, Some(60));
        assert_eq!(job.interval_seconds, 5);
        assert_eq!(job.namespace, "default");
        assert!(job.delete_after_completion);
    }

    #[test]
    fn unknown_api_kwargs_are_refused() {
        let mut job = KubernetesJob::new(json!({}));
        job.api_kwargs.insert("pretty".into(), json!("true"));
        job.api_kwargs.insert("field_manager".into(), json!("me"));
        assert_eq!(
            job.post_params().unwrap().field_manager.as_deref(),
            Some("me")
        );
        job.api_kwargs.insert("async_req".into(), json!(true));
        assert_eq!(
            job.post_params().unwrap_err().to_string(),
            "unsupported api_kwargs key \"async_req\": supported are field_manager, pretty (accepted, no effect)"
        );
    }

    #[test]
    fn failed_conditions_name_reason_and_message() {
        let job: Job = serde_json::from_value(json!({
            "status": {"conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
            ]}
        }))
        .unwrap();
        match outcome(&job) {
            Some(Outcome::Failed(reasons)) => assert_eq!(
                reasons,
                vec!["BackoffLimitExceeded: Job has reached the specified backoff limit"]
            ),
            _ => panic!("not failed"),
        }
        let running: Job = serde_json::from_value(json!({"status": {"active": 1}})).unwrap();
        assert!(outcome(&running).is_none());
    }
}
