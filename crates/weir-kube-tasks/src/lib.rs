//! Kubernetes operations for Weir flows: the Rust counterpart of prefect-kubernetes' blocks,
//! tasks and `run_namespaced_job` flow.
//!
//! - [`KubernetesCredentials`] and [`KubernetesClusterConfig`] hold how to reach a cluster, with
//!   Prefect's block field names, and load from the server's block documents. Without a cluster
//!   config, a client comes from the pod's service account, else from the default kubeconfig.
//! - [`tasks`] are Weir tasks (`#[task]`) for Jobs, Pods (and their logs), Services, Deployments
//!   and custom objects: list, read, create, merge-patch, replace and delete in a namespace, each
//!   taking the credentials first. Inside a flow each call is a task run; `::with_options()` gives
//!   retries and timeouts, `::submit`/`::map` concurrency.
//! - [`KubernetesJob`] runs a Job to completion and returns each pod's logs;
//!   [`run_namespaced_job`] is the same as a flow whose steps are tasks.
//!
//! ```no_run
//! use weir_kube_tasks::{run_namespaced_job, KubernetesCredentials, KubernetesJob};
//!
//! # async fn demo() -> Result<(), weir_kube_tasks::KubeTaskError> {
//! let mut job = KubernetesJob::from_yaml_file("job.yaml")?;
//! job.credentials = KubernetesCredentials::load("k8s-creds").await?;
//! job.timeout_seconds = Some(600);
//! for (pod, logs) in run_namespaced_job(job).await? {
//!     tracing::info!(%pod, %logs, "pod finished");
//! }
//! # Ok(()) }
//! ```
//!
//! Credentials passed as an argument of a *flow* become part of its run's parameters on the
//! server, as in Prefect; load them inside the flow (or rely on the service account) to keep a
//! kubeconfig's secrets off the server.

mod credentials;
mod error;
mod job;
pub mod tasks;

pub use credentials::{KubernetesClusterConfig, KubernetesCredentials};
pub use error::{KubeTaskError, Result};
pub use job::{
    create_job, delete_job, run_namespaced_job, wait_for_job, KubernetesJob, DEFAULT_NAMESPACE,
};
