//! A flow that runs a Kubernetes Job from a YAML manifest and logs each pod's output.
//!
//! ```sh
//! # against a cluster from ~/.kube/config (or the pod's service account), reporting to a server:
//! WEIR_API_URL=http://127.0.0.1:4200/api \
//!   cargo run -p weir-kube-tasks --example run_job -- run run-job --param manifest=job.yaml
//! # with a stored credentials block and a timeout:
//!   ... --param manifest=job.yaml --param credentials_block=k8s-creds --param timeout_seconds=600
//! ```
//!
//! The manifest is a `batch/v1` Job, e.g. (`generateName` lets the flow run more than once):
//!
//! ```yaml
//! apiVersion: batch/v1
//! kind: Job
//! metadata:
//!   generateName: hello-
//! spec:
//!   backoffLimit: 0
//!   template:
//!     spec:
//!       restartPolicy: Never
//!       containers:
//!       - name: main
//!         image: busybox
//!         command: ["echo", "hello from Kubernetes"]
//! ```

use weir_kube_tasks::{run_namespaced_job, KubernetesCredentials, KubernetesJob};
use weir_sdk::flow;

/// Runs the Job in `manifest` (in `namespace`, default `default`) and returns how many pods ran.
#[flow(
    name = "run-job",
    description = "Runs a Kubernetes Job from a YAML manifest"
)]
async fn run_job(
    manifest: String,
    namespace: Option<String>,
    credentials_block: Option<String>,
    timeout_seconds: Option<u64>,
) -> anyhow::Result<usize> {
    let mut job = KubernetesJob::from_yaml_file(&manifest)?;
    if let Some(namespace) = namespace {
        job.namespace = namespace;
    }
    if let Some(block) = credentials_block {
        // Loaded inside the flow, so the kubeconfig never becomes a run parameter.
        job.credentials = KubernetesCredentials::load(&block).await?;
    }
    job.timeout_seconds = timeout_seconds;
    // A subflow: the Job's create, wait and delete steps are its task runs.
    let logs = run_namespaced_job(job).await?;
    for (pod, text) in &logs {
        tracing::info!(pod = %pod, "{}", text.trim_end());
    }
    Ok(logs.len())
}

weir_sdk::main!(run_job);
