//! The fake kubelet's scenarios as a client sees them: container states, pod conditions, events
//! and logs.

use std::time::Duration;

use futures::AsyncBufReadExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::json;
use weir_kube_sim::Scenario;

use crate::common::{code, create_job, fast, finished, job, wait_for};

async fn only_pod(client: &kube::Client, job_name: &str) -> Pod {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let selector = format!("job-name={job_name}");
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap();
            if let Some(p) = list.items.into_iter().next() {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.expect("the job controller creates a pod")
}

fn waiting_reason(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

fn terminated(p: &Pod) -> Option<(i32, String)> {
    let t = p
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .terminated
        .clone()?;
    Some((t.exit_code, t.reason.unwrap_or_default()))
}

#[tokio::test]
async fn oom_killed() {
    let (_sim, client) = fast(4.0);
    create_job(&client, &job("oom", Some("oom"))).await;
    let pod = only_pod(&client, "oom").await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let done = wait_for(&pods, pod.metadata.name.as_deref().unwrap(), |p| {
        terminated(p).is_some()
    })
    .await;
    assert_eq!(terminated(&done), Some((137, "OOMKilled".into())));
    assert_eq!(done.status.unwrap().phase.as_deref(), Some("Failed"));
}

#[tokio::test]
async fn image_pull_back_off_never_ends_and_blocks_logs() {
    let (sim, client) = fast(4.0);
    sim.set_scenario("registry.example/missing*", Scenario::ImagePullBackOff);
    let mut j = job("pull", None);
    j.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("registry.example/missing:1".into());
    create_job(&client, &j).await;
    let pod = only_pod(&client, "pull").await;
    let name = pod.metadata.name.clone().unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    wait_for(&pods, &name, |p| {
        waiting_reason(p).as_deref() == Some("ErrImagePull")
    })
    .await;
    wait_for(&pods, &name, |p| {
        waiting_reason(p).as_deref() == Some("ImagePullBackOff")
    })
    .await;
    let err = pods.logs(&name, &LogParams::default()).await.unwrap_err();
    assert_eq!(code(&err), 400);
    sim.clock().advance(Duration::from_secs(3600));
    let jobs: Api<Job> = Api::default_namespaced(client);
    let j = jobs.get("pull").await.unwrap();
    assert!(
        !finished(&j),
        "a Job does not fail on its own while its image cannot be pulled"
    );
}

#[tokio::test]
async fn missing_secrets_block_containers_until_created() {
    let (_sim, client) = fast(4.0);
    let mut j = job("needs-secret", None);
    let container = &mut j
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0];
    container.env = Some(vec![serde_json::from_value(
        json!({"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}),
    )
    .unwrap()]);
    create_job(&client, &j).await;
    let pod = only_pod(&client, "needs-secret").await;
    let name = pod.metadata.name.clone().unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let stuck = wait_for(&pods, &name, |p| {
        waiting_reason(p).as_deref() == Some("CreateContainerConfigError")
    })
    .await;
    let message = stuck.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap()
        .message
        .unwrap();
    assert_eq!(message, "secret \"api\" not found");
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "api"}, "stringData": {"token": "t"}}))
            .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    wait_for(&pods, &name, |p| terminated(p).is_some()).await;
}

#[tokio::test]
async fn unschedulable_pods_stay_pending() {
    let (_sim, client) = fast(4.0);
    create_job(&client, &job("nofit", Some("unschedulable"))).await;
    let pod = only_pod(&client, "nofit").await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let p = wait_for(&pods, pod.metadata.name.as_deref().unwrap(), |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "PodScheduled" && c.status == "False")
            })
    })
    .await;
    let cond = p
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
}

#[tokio::test]
async fn eviction_marks_a_disruption_target() {
    let (_sim, client) = fast(4.0);
    create_job(&client, &job("evicted", Some("evict:0.5"))).await;
    let pod = only_pod(&client, "evicted").await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let p = wait_for(&pods, pod.metadata.name.as_deref().unwrap(), |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
    })
    .await;
    let status = p.status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("Evicted"));
    assert!(status
        .conditions
        .unwrap()
        .iter()
        .any(|c| c.type_ == "DisruptionTarget" && c.status == "True"));
}

#[tokio::test]
async fn node_loss_fails_and_removes_the_pod() {
    let (sim, client) = fast(4.0);
    create_job(&client, &job("lost", Some("node-lost:0.5"))).await;
    let pod = only_pod(&client, "lost").await;
    let name = pod.metadata.name.clone().unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    wait_for(&pods, &name, |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Ready" && c.reason.as_deref() == Some("NodeLost"))
            })
    })
    .await;
    sim.clock().advance(Duration::from_secs(60));
    crate::common::wait_gone(&pods, &name).await;
    let jobs: Api<Job> = Api::default_namespaced(client);
    wait_for(&jobs, "lost", |j| {
        j.status.as_ref().and_then(|s| s.failed) == Some(1)
    })
    .await;
}

#[tokio::test]
async fn logs_follow_until_the_container_ends() {
    let (_sim, client) = fast(4.0);
    let scenario = r#"{"kind":"succeed","afterSeconds":2,"logs":["one","two","three"]}"#;
    create_job(&client, &job("talker", Some(scenario))).await;
    let pod = only_pod(&client, "talker").await;
    let name = pod.metadata.name.clone().unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    wait_for(&pods, &name, |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    let stream = pods
        .log_stream(
            &name,
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let lines: Vec<String> =
        tokio::time::timeout(Duration::from_secs(10), stream.lines().try_collect_lines())
            .await
            .expect("stream ends when the container ends");
    assert_eq!(lines, vec!["one", "two", "three"]);
    let tail = pods
        .logs(
            &name,
            &LogParams {
                tail_lines: Some(1),
                timestamps: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(tail.ends_with(" three\n") && tail.contains('T'), "{tail}");
}

trait CollectLines {
    async fn try_collect_lines(self) -> Vec<String>;
}

impl<S: futures::Stream<Item = std::io::Result<String>> + Unpin> CollectLines for S {
    async fn try_collect_lines(mut self) -> Vec<String> {
        use futures::StreamExt;
        let mut out = Vec::new();
        while let Some(line) = self.next().await {
            out.push(line.expect("log line"));
        }
        out
    }
}

#[tokio::test]
async fn run_local_runs_the_command_with_the_pod_env() {
    let (_sim, client) = fast(1.0);
    let mut j = job("local", Some("run-local"));
    let container = &mut j
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0];
    container.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo \"$GREETING from $POD\"; exit 3".into(),
    ]);
    container.env = Some(vec![
        serde_json::from_value(json!({"name": "GREETING", "value": "hello"})).unwrap(),
        serde_json::from_value(
            json!({"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        )
        .unwrap(),
    ]);
    create_job(&client, &j).await;
    let pod = only_pod(&client, "local").await;
    let name = pod.metadata.name.clone().unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let done = wait_for(&pods, &name, |p| terminated(p).is_some()).await;
    assert_eq!(terminated(&done), Some((3, "Error".into())));
    assert_eq!(
        pods.logs(&name, &LogParams::default()).await.unwrap(),
        format!("hello from {name}\n")
    );
}

#[tokio::test]
async fn deleting_a_run_local_pod_sends_sigterm_first() {
    use kube::api::DeleteParams;
    let (_sim, client) = fast(1.0);
    let script = "trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.05; done";
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "graceful", "annotations": {"weir.dev/scenario": "run-local"}},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 20,
                 "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}]}
    }))
    .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    wait_for(&pods, "graceful", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    let started = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if pods
                .logs("graceful", &LogParams::default())
                .await
                .unwrap()
                .contains("started")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(started.is_ok(), "the process starts");
    let mut logs = pods
        .log_stream(
            "graceful",
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .lines();
    let answer = pods
        .delete("graceful", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        answer.left().unwrap().metadata.deletion_timestamp.is_some(),
        "a running pod terminates gracefully"
    );
    let mut seen = Vec::new();
    while let Ok(Some(Ok(line))) =
        tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut logs)).await
    {
        seen.push(line);
    }
    assert_eq!(seen, vec!["started", "got TERM"]);
    crate::common::wait_gone(&pods, "graceful").await;
}

#[tokio::test]
async fn pod_active_deadline_fails_the_pod() {
    let (sim, client) = fast(1.0);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "bounded", "annotations": {"weir.dev/scenario": "hang"}},
        "spec": {"restartPolicy": "Never", "activeDeadlineSeconds": 30,
                 "containers": [{"name": "main", "image": "busybox"}]}
    }))
    .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    wait_for(&pods, "bounded", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    sim.clock().advance(Duration::from_secs(31));
    let failed = wait_for(&pods, "bounded", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
    })
    .await;
    assert_eq!(
        failed.status.unwrap().reason.as_deref(),
        Some("DeadlineExceeded")
    );
}

#[tokio::test]
async fn on_failure_pods_crash_loop() {
    let (sim, client) = fast(4.0);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "crasher", "annotations": {"weir.dev/scenario": "exit:2:0.2"}},
        "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "main", "image": "busybox"}]}
    }))
    .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let looping = wait_for(&pods, "crasher", |p| {
        waiting_reason(p).as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    let status = looping
        .status
        .unwrap()
        .container_statuses
        .unwrap()
        .remove(0);
    assert_eq!(status.restart_count, 1);
    assert_eq!(status.last_state.unwrap().terminated.unwrap().exit_code, 2);
    sim.clock().advance(Duration::from_secs(11));
    wait_for(&pods, "crasher", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|c| c[0].restart_count == 2)
    })
    .await;
    let previous = LogParams {
        previous: true,
        ..Default::default()
    };
    assert_eq!(pods.logs("crasher", &previous).await.unwrap(), "busybox\n");
    let never: Pod = serde_json::from_value(json!({
        "metadata": {"name": "once", "annotations": {"weir.dev/scenario": "hang"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &never).await.unwrap();
    wait_for(&pods, "once", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    assert_eq!(code(&pods.logs("once", &previous).await.unwrap_err()), 400);
}

#[tokio::test]
async fn create_container_error_and_init_containers() {
    let (_sim, client) = fast(4.0);
    let pods: Api<Pod> = Api::default_namespaced(client);
    let broken: Pod = serde_json::from_value(json!({
        "metadata": {"name": "broken", "annotations": {"weir.dev/scenario": "create-container-error"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &broken).await.unwrap();
    wait_for(&pods, "broken", |p| {
        waiting_reason(p).as_deref() == Some("CreateContainerError")
    })
    .await;

    let with_init: Pod = serde_json::from_value(json!({
        "metadata": {"name": "init"},
        "spec": {"restartPolicy": "Never",
                 "initContainers": [{"name": "setup", "image": "busybox"}],
                 "containers": [{"name": "main", "image": "busybox"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &with_init)
        .await
        .unwrap();
    let done = wait_for(&pods, "init", |p| terminated(p).is_some()).await;
    let inits = done.status.unwrap().init_container_statuses.unwrap();
    assert_eq!(
        inits[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
}

#[tokio::test]
async fn eviction_api_sends_sigterm_and_fails_the_job() {
    use kube::api::EvictParams;
    let (_sim, client) = fast(1.0);
    let mut j = job("evictee", Some("run-local"));
    let container = &mut j
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0];
    let script =
        "trap 'echo rescheduling; exit 143' TERM; echo running; while true; do sleep 0.05; done";
    container.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
    create_job(&client, &j).await;
    let pod = only_pod(&client, "evictee").await;
    let name = pod.metadata.name.clone().unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    wait_for(&pods, &name, |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    let running = tokio::time::timeout(Duration::from_secs(10), async {
        while !pods
            .logs(&name, &LogParams::default())
            .await
            .unwrap()
            .contains("running")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(running.is_ok());
    let mut logs = pods
        .log_stream(
            &name,
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .lines();
    pods.evict(&name, &EvictParams::default()).await.unwrap();
    let marked = pods.get(&name).await.unwrap();
    let conds = marked.status.unwrap().conditions.unwrap();
    assert!(conds
        .iter()
        .any(|c| c.type_ == "DisruptionTarget"
            && c.reason.as_deref() == Some("EvictionByEvictionAPI")));
    let mut seen = Vec::new();
    while let Ok(Some(Ok(line))) =
        tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut logs)).await
    {
        seen.push(line);
    }
    assert_eq!(seen, vec!["running", "rescheduling"]);
    let jobs: Api<Job> = Api::default_namespaced(client);
    let failed = wait_for(&jobs, "evictee", finished).await;
    assert_eq!(failed.status.unwrap().failed, Some(1));
}
