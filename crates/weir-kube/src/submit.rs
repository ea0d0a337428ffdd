//! Creating a flow run's Job exactly once, and deleting it.
//!
//! Before each attempt the Job is looked up by the run's label, so a worker that crashed between
//! creating a Job and recording it, or a create whose answer was lost, never leads to a second
//! Job. Only transient failures are retried (429, 5xx, timeouts, broken connections); a 403, 404 or
//! 422 fails at once with a message that says what to fix.

use crate::manifest::{PreparedJob, FLOW_RUN_ID_LABEL};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};
use kube::{Api, ResourceExt};
use std::time::Duration;
use uuid::Uuid;

/// Create attempts before giving up on transient errors.
const ATTEMPTS: u32 = 4;

/// Why a Job could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The worker may not create Jobs there.
    #[error("Kubernetes refused to create the Job in namespace {namespace}: {message}. The worker's service account needs a Role in {namespace} with: - apiGroups: [\"batch\"], resources: [\"jobs\"], verbs: [\"create\", \"get\", \"list\", \"watch\", \"delete\"]")]
    Forbidden { namespace: String, message: String },
    /// The namespace does not exist.
    #[error("namespace {namespace} does not exist: create it, or set the namespace job variable to one that does ({message})")]
    NoNamespace { namespace: String, message: String },
    /// Kubernetes found the manifest invalid.
    #[error("Kubernetes refused the Job manifest: {message}")]
    Invalid { message: String },
    /// The manifest could not be turned into a Job.
    #[error("the job manifest is not a valid Job: {0}")]
    Manifest(String),
    /// Transient failures outlasted the retries, or another error.
    #[error("could not create the Job in namespace {namespace}: {message}")]
    Other { namespace: String, message: String },
}

fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            matches!(status.code, 408 | 429 | 500 | 502 | 503 | 504)
                || (status.code == 409 && status.reason == "AlreadyExists")
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The name of the run's Job in `namespace`, if one exists and is not being deleted.
pub async fn find_job(jobs: &Api<Job>, run: Uuid) -> Result<Option<Job>, kube::Error> {
    let existing = jobs
        .list(&ListParams::default().labels(&format!("{FLOW_RUN_ID_LABEL}={run}")))
        .await?;
    Ok(existing
        .items
        .into_iter()
        .find(|job| job.metadata.deletion_timestamp.is_none()))
}

/// Creates the run's Job unless it exists; its name.
pub async fn submit(
    client: &kube::Client,
    prepared: &PreparedJob,
    run: Uuid,
) -> Result<String, SubmitError> {
    let namespace = prepared.settings.namespace.clone();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let job: Job = serde_json::from_value(prepared.manifest.clone())
        .map_err(|e| SubmitError::Manifest(e.to_string()))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = async {
            if let Some(existing) = find_job(&jobs, run).await? {
                tracing::info!(flow_run = %run, job = %existing.name_any(), "the run's Job exists already");
                return Ok(existing);
            }
            jobs.create(&PostParams::default(), &job).await
        }
        .await;
        match outcome {
            Ok(created) => return Ok(created.name_any()),
            Err(error) if is_transient(&error) && attempt < ATTEMPTS => {
                let delay = retry_delay(&error, attempt);
                tracing::warn!(flow_run = %run, %error, ?delay, "creating the Job failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(error) => return Err(classify(error, &namespace)),
        }
    }
}

fn retry_delay(error: &kube::Error, attempt: u32) -> Duration {
    let base = Duration::from_millis(250 * 2u64.pow(attempt.min(5)));
    // A 429's Retry-After travels in the Status details, when the server says.
    if let kube::Error::Api(status) = error {
        if let Some(seconds) = status
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0)
        {
            return Duration::from_secs(u64::from(seconds).min(30));
        }
    }
    base
}

fn classify(error: kube::Error, namespace: &str) -> SubmitError {
    let namespace = namespace.to_owned();
    match error {
        kube::Error::Api(status) => match status.code {
            403 => SubmitError::Forbidden {
                namespace,
                message: status.message,
            },
            404 => SubmitError::NoNamespace {
                namespace,
                message: status.message,
            },
            422 | 400 => SubmitError::Invalid {
                message: status.message,
            },
            _ => SubmitError::Other {
                namespace,
                message: status.message,
            },
        },
        other => SubmitError::Other {
            namespace,
            message: other.to_string(),
        },
    }
}

/// Deletes a Job and, before it goes, its pods (Foreground propagation); pods get `grace` to stop.
/// A Job already gone is fine.
pub async fn delete_job(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    grace: Duration,
) -> Result<(), kube::Error> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(grace.as_secs().min(u64::from(u32::MAX)) as u32),
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..DeleteParams::default()
    };
    match jobs.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// `<namespace>:<job>`, the infrastructure pid prefect-kubernetes writes.
pub fn pid(namespace: &str, job: &str) -> String {
    format!("{namespace}:{job}")
}

/// The namespace and Job name of an infrastructure pid.
pub fn parse_pid(pid: &str) -> Option<(&str, &str)> {
    let (namespace, name) = pid.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_round_trip_and_reject_other_shapes() {
        assert_eq!(
            parse_pid(&pid("data", "etl-x1z2q")),
            Some(("data", "etl-x1z2q"))
        );
        assert_eq!(parse_pid("host:1234:extra"), None);
        assert_eq!(parse_pid("nocolon"), None);
        assert_eq!(parse_pid(":name"), None);
    }
}
