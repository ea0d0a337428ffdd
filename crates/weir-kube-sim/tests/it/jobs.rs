//! The Job controller: pods, labels, owner references, finalizers, back-off, deadlines, condition
//! order and TTL.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use weir_kube_sim::{Config, JobConditionOrder};

use crate::common::{condition_types, create_job, fast, finished, job, start, wait_for, wait_gone};

#[tokio::test]
async fn a_job_with_no_scenario_completes_with_its_command_as_log() {
    let (_sim, client) = fast(4.0);
    create_job(&client, &job("hello", None)).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let done = wait_for(&jobs, "hello", finished).await;
    assert_eq!(
        condition_types(&done),
        vec!["SuccessCriteriaMet", "Complete"]
    );
    let status = done.status.unwrap();
    assert_eq!(status.succeeded, Some(1));
    assert!(status.completion_time.is_some() && status.start_time.is_some());

    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let list = pods
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=hello"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    let pod = &list.items[0];
    let name = pod.metadata.name.clone().unwrap();
    assert!(
        name.starts_with("hello-") && name.len() == "hello-".len() + 5,
        "{name}"
    );
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.controller,
            owner.block_owner_deletion
        ),
        ("Job", Some(true), Some(true))
    );
    let labels = pod.metadata.labels.clone().unwrap();
    assert!(
        labels.contains_key("batch.kubernetes.io/controller-uid")
            && labels.contains_key("controller-uid")
    );
    assert!(
        pod.metadata.finalizers.as_ref().is_none_or(Vec::is_empty),
        "job-tracking finalizer released"
    );
    let state = pod
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .state
        .clone()
        .unwrap();
    let term = state.terminated.unwrap();
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );
    assert_eq!(
        pods.logs(&name, &Default::default()).await.unwrap(),
        "echo hi\n"
    );

    let events: Api<Event> = Api::default_namespaced(client);
    let job_events = events
        .list(&ListParams::default().fields("involvedObject.name=hello"))
        .await
        .unwrap();
    let reasons: Vec<_> = job_events
        .items
        .iter()
        .filter_map(|e| e.reason.clone())
        .collect();
    assert!(
        reasons.contains(&"SuccessfulCreate".to_string())
            && reasons.contains(&"Completed".to_string()),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn failures_are_retried_until_the_backoff_limit() {
    let (sim, client) = fast(4.0);
    let mut j = job("flaky", Some("exit:3:0.2"));
    j.spec.as_mut().unwrap().backoff_limit = Some(1);
    create_job(&client, &j).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    wait_for(&jobs, "flaky", |j| {
        j.status.as_ref().and_then(|s| s.failed) == Some(1)
    })
    .await;
    // The back-off before the second pod is 10 s of simulated time.
    sim.clock().advance(Duration::from_secs(15));
    let failed = wait_for(&jobs, "flaky", finished).await;
    assert_eq!(condition_types(&failed), vec!["FailureTarget", "Failed"]);
    let status = failed.status.unwrap();
    assert_eq!(status.failed, Some(2));
    let cond = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .unwrap();
    assert_eq!(cond.reason.as_deref(), Some("BackoffLimitExceeded"));
    let pods: Api<Pod> = Api::default_namespaced(client);
    let list = pods
        .list(&ListParams::default().labels("job-name=flaky"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 2);
}

#[tokio::test]
async fn active_deadline_fails_the_job_after_its_pods_stop() {
    let (sim, client) = start(Config::default());
    let mut j = job("slow", Some("hang"));
    j.spec.as_mut().unwrap().active_deadline_seconds = Some(60);
    create_job(&client, &j).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    wait_for(&jobs, "slow", |j| {
        j.status.as_ref().and_then(|s| s.ready) == Some(1)
    })
    .await;
    sim.clock().advance(Duration::from_secs(61));
    let failed = wait_for(&jobs, "slow", finished).await;
    assert_eq!(condition_types(&failed), vec!["FailureTarget", "Failed"]);
    let cond = failed
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .unwrap();
    assert_eq!(cond.reason.as_deref(), Some("DeadlineExceeded"));
}

#[tokio::test]
async fn legacy_order_adds_the_terminal_condition_at_once() {
    let (_sim, client) = start(Config {
        clock_speed: 4.0,
        job_conditions: JobConditionOrder::Legacy,
        ..Config::default()
    });
    create_job(&client, &job("old", None)).await;
    let jobs: Api<Job> = Api::default_namespaced(client);
    let done = wait_for(&jobs, "old", finished).await;
    assert_eq!(condition_types(&done), vec!["Complete"]);
}

#[tokio::test]
async fn finished_jobs_are_deleted_after_their_ttl() {
    let (sim, client) = fast(4.0);
    let mut j = job("short-lived", None);
    j.spec.as_mut().unwrap().ttl_seconds_after_finished = Some(30);
    create_job(&client, &j).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    wait_for(&jobs, "short-lived", finished).await;
    sim.clock().advance(Duration::from_secs(31));
    wait_gone(&jobs, "short-lived").await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if pods
                .list(&ListParams::default().labels("job-name=short-lived"))
                .await
                .unwrap()
                .items
                .is_empty()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the TTL deletion cascades to pods");
}

#[tokio::test]
async fn suspended_jobs_create_no_pods_until_resumed() {
    use kube::api::{Patch, PatchParams};
    let (_sim, client) = fast(4.0);
    let mut j = job("paused", None);
    j.spec.as_mut().unwrap().suspend = Some(true);
    create_job(&client, &j).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let suspended = wait_for(&jobs, "paused", |j| {
        condition_types(j).contains(&"Suspended".to_string())
    })
    .await;
    assert!(suspended.status.unwrap().start_time.is_none());
    let pods: Api<Pod> = Api::default_namespaced(client);
    assert!(pods
        .list(&ListParams::default().labels("job-name=paused"))
        .await
        .unwrap()
        .items
        .is_empty());
    let resume = Patch::Merge(serde_json::json!({"spec": {"suspend": false}}));
    jobs.patch("paused", &PatchParams::default(), &resume)
        .await
        .unwrap();
    let done = wait_for(&jobs, "paused", finished).await;
    assert_eq!(
        condition_types(&done),
        vec!["SuccessCriteriaMet", "Complete"]
    );
}

#[tokio::test]
async fn many_jobs_run_side_by_side() {
    let (_sim, client) = fast(10.0);
    let started = std::time::Instant::now();
    for i in 0..100 {
        create_job(&client, &job(&format!("bulk-{i}"), None)).await;
    }
    let jobs: Api<Job> = Api::default_namespaced(client);
    for i in 0..100 {
        wait_for(&jobs, &format!("bulk-{i}"), finished).await;
    }
    let elapsed = started.elapsed();
    assert!(
        // About a second on a quiet machine; the bound only catches runaway (quadratic) passes.
        elapsed < Duration::from_secs(60),
        "100 jobs took {elapsed:?}"
    );
}
