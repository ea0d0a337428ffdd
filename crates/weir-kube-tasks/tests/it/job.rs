//! `KubernetesJob::run` and the `run_namespaced_job` flow against the simulator: pods' logs for
//! a succeeding Job, a clear error for a failing one, a timeout for one that hangs.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;
use serde_json::json;
use weir_client::{Auth, Client};
use weir_kube_tasks::{run_namespaced_job, KubeTaskError, KubernetesJob};
use weir_sdk::{with_api, ApiConfig};
use weir_testkit::TestServer;

use crate::Cluster;

/// A Job manifest as YAML: `completions` pods running `echo hello weir` under `scenario`.
fn manifest(scenario: &str, completions: u32) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  generateName: hello-
spec:
  backoffLimit: 0
  completions: {completions}
  parallelism: {completions}
  template:
    metadata:
      annotations:
        weir.dev/scenario: '{scenario}'
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["echo", "hello", "weir"]
"#
    )
}

/// The job of `manifest(..)`, read from a YAML file, with the cluster's credentials.
fn job_from_file(cluster: &Cluster, scenario: &str, completions: u32) -> KubernetesJob {
    let path = std::env::temp_dir().join(format!("weir-job-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&path, manifest(scenario, completions)).unwrap();
    let mut job = KubernetesJob::from_yaml_file(&path).unwrap();
    std::fs::remove_file(&path).ok();
    job.credentials = cluster.credentials.clone();
    job.interval_seconds = 1;
    job
}

async fn jobs_left(cluster: &Cluster) -> Vec<Job> {
    Api::<Job>::namespaced(cluster.client().await, "default")
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|job| job.metadata.deletion_timestamp.is_none())
        .collect()
}

#[tokio::test]
async fn a_succeeding_job_returns_each_pods_logs_and_is_deleted() {
    let cluster = Cluster::start().await;
    let job = job_from_file(&cluster, "succeed", 2);
    let logs = job.run().await.unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    for (pod, text) in &logs {
        assert!(pod.starts_with("hello-"), "{pod}");
        assert_eq!(text.trim_end(), "echo hello weir");
    }
    assert!(jobs_left(&cluster).await.is_empty());
}

#[tokio::test]
async fn scenario_log_lines_come_back_and_the_job_can_be_kept() {
    let cluster = Cluster::start().await;
    let scenario = json!({"kind": "succeed", "afterSeconds": 2, "logs": ["extracting", "done"]});
    let mut job = job_from_file(&cluster, &scenario.to_string(), 1);
    job.delete_after_completion = false;
    let logs = job.run().await.unwrap();
    let text = logs.values().next().expect("one pod");
    assert_eq!(text.lines().collect::<Vec<_>>(), ["extracting", "done"]);
    assert_eq!(jobs_left(&cluster).await.len(), 1);
}

#[tokio::test]
async fn a_failing_job_names_the_job_and_its_condition() {
    let cluster = Cluster::start().await;
    let job = job_from_file(&cluster, "exit:1", 1);
    let err = job.run().await.unwrap_err();
    let KubeTaskError::JobFailed {
        job: name, reasons, ..
    } = &err
    else {
        panic!("expected JobFailed, got {err}");
    };
    assert!(name.starts_with("hello-"));
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].starts_with("BackoffLimitExceeded"),
        "{reasons:?}"
    );
    assert!(
        err.to_string().contains(&format!(
            "Job {name:?} in namespace \"default\" failed: BackoffLimitExceeded"
        )),
        "{err}"
    );
    // A failed Job is kept for inspection.
    assert_eq!(jobs_left(&cluster).await.len(), 1);
}

#[tokio::test]
async fn a_hanging_job_times_out_and_is_deleted() {
    let cluster = Cluster::start().await;
    let mut job = job_from_file(&cluster, "hang", 1);
    job.timeout_seconds = Some(1);
    let started = std::time::Instant::now();
    let err = job.run().await.unwrap_err();
    assert!(
        matches!(err, KubeTaskError::JobTimedOut { seconds: 1, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("did not finish within 1 s of running"),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(jobs_left(&cluster).await.is_empty());
}

#[tokio::test]
async fn a_manifest_that_is_not_a_job_is_refused_before_any_call() {
    let cluster = Cluster::start().await;
    let mut job = KubernetesJob::from_yaml_str("kind: Job\nspec: 3\n").unwrap();
    job.credentials = cluster.credentials.clone();
    let err = job.run().await.unwrap_err().to_string();
    assert!(
        err.starts_with("invalid manifest: not a batch/v1 Job: "),
        "{err}"
    );
}

/// Polls `check` every 25 ms for up to 10 s.
async fn eventually<T, F, Fut>(mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(found) = check().await {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// Inside a flow run, the Job's steps are task runs reported to the server.
#[tokio::test]
async fn run_namespaced_job_is_a_flow_of_three_tasks() {
    let cluster = Cluster::start().await;
    let db = weir_testkit::sqlite_db().await;
    let server = TestServer::start(weir_testkit::open(&db).await).await;
    let job = job_from_file(&cluster, "succeed", 1);
    let logs = with_api(ApiConfig::new(server.api_url()), run_namespaced_job(job))
        .await
        .unwrap();
    assert_eq!(
        logs.values().next().map(|l| l.trim_end()),
        Some("echo hello weir")
    );

    let api = Client::new(&server.api_url(), Auth::None);
    let runs = api.filter_flow_runs(&json!({})).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].state_type, Some(weir_core::StateType::Completed));
    let mut names = eventually(|| async {
        let runs = api.filter_task_runs(&json!({})).await.ok()?;
        let done = runs.len() == 3
            && runs
                .iter()
                .all(|r| r.state_type.is_some_and(|t| t.is_terminal()));
        done.then(|| {
            runs.iter()
                .map(|r| {
                    r.name
                        .rsplit_once('-')
                        .map_or(r.name.clone(), |(n, _)| n.to_string())
                })
                .collect::<Vec<_>>()
        })
    })
    .await
    .expect("three finished task runs");
    names.sort();
    assert_eq!(names, ["create_job", "delete_job", "wait_for_job"]);
    assert!(jobs_left(&cluster).await.is_empty());
}
