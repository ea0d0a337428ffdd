//! Tasks for `batch/v1` Jobs.

use k8s_openapi::api::batch::v1::Job;

use crate::tasks::namespaced_tasks;
use crate::{KubernetesCredentials, Result};

namespaced_tasks! {
    kind: Job,
    noun: "Job",
    list: list_namespaced_job,
    read: read_namespaced_job,
    create: create_namespaced_job(new_job),
    patch: patch_namespaced_job(job_name, job_updates),
    replace: replace_namespaced_job,
    delete: delete_namespaced_job,
}

/// Reads the Job `job_name` in `namespace` through its `status` subresource.
#[weir_sdk::task]
pub async fn read_namespaced_job_status(
    credentials: KubernetesCredentials,
    job_name: String,
    namespace: String,
) -> Result<Job> {
    let api = crate::tasks::api::<Job>(&credentials, &namespace).await?;
    Ok(api.get_status(&job_name).await?)
}
