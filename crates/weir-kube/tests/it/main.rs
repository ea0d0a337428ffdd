//! The Kubernetes worker end to end: a Weir server, `KubernetesInfrastructure` in a worker, and
//! the Kubernetes API simulator, whose fake kubelet runs the real Weir flow binary
//! (`examples/kube_test_flows`, the worker crate's test flows) as the pod's process; and cluster
//! access and the RBAC preflight on their own.

mod cluster;
mod prefect;
mod preflight;

use k8s_openapi::api::batch::v1::Job as KubeJob;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::Api;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;
use weir_client::{Auth, Client, Method};
use weir_core::schemas::FlowRun;
use weir_core::{StateCreate, StateType};
use weir_kube::{KubernetesInfrastructure, KubernetesSettings};
use weir_kube_sim::{Rbac, Rule, Scenario, Simulator, User};
use weir_testkit::TestServer;
use weir_worker::{Worker, WorkerConfig};

fn flows_binary() -> PathBuf {
    weir_testkit::example_binary("kube_test_flows")
}

const IMAGE: &str = "registry.local/weir-flows:test";

struct Rig {
    server: TestServer,
    sim: Simulator,
    api: Client,
}

impl Rig {
    async fn new() -> Rig {
        let db = weir_testkit::sqlite_db().await;
        let server = TestServer::start(weir_testkit::open(&db).await).await;
        std::mem::forget(db); // the folder outlives the server
        let sim = Simulator::new();
        sim.set_scenario("registry.local/weir-flows*", Scenario::RunLocal);
        let api = Client::new(&server.api_url(), Auth::None);
        Rig { server, sim, api }
    }

    fn settings(&self) -> KubernetesSettings {
        let mut settings = KubernetesSettings::new(self.server.api_url(), Auth::None);
        settings.reconcile_every = Duration::from_secs(1);
        settings.delete_grace = Duration::from_secs(1);
        settings.orphan_pending_after = Duration::from_secs(2);
        settings
    }

    fn kube(&self) -> kube::Client {
        kube::Client::new(self.sim.router(), "default")
    }

    /// A worker on its own runtime, so that stopping it kills everything it runs, as a killed
    /// process would.
    fn worker(&self, pool: &str, name: &str, kube: kube::Client) -> WorkerProcess {
        let mut config = WorkerConfig::new(self.server.api_url(), pool);
        config.name = name.to_owned();
        config.poll_seconds = 0.5;
        config.heartbeat_seconds = 2;
        config.cancel_grace = Duration::from_secs(1);
        let infrastructure = KubernetesInfrastructure::with_client(self.settings(), kube);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.spawn(async move {
                let worker = Worker::new(config, infrastructure);
                let _ = worker.run(std::future::pending()).await;
            });
            let _ = stopped.recv();
            runtime.shutdown_background();
        });
        WorkerProcess {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    async fn wait_for_pool(&self, pool: &str) {
        for _ in 0..200 {
            if self.api.read_work_pool(pool).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the worker never created pool {pool}");
    }

    /// A deployment of `flow` of the test binary on `pool`.
    async fn deploy(&self, pool: &str, flow: &str, job_variables: Value) -> String {
        let flow = self.api.create_flow(flow).await.unwrap();
        let mut variables = json!({"image": IMAGE});
        for (k, v) in job_variables.as_object().unwrap() {
            variables[k] = v.clone();
        }
        let body = json!({
            "name": "k8s", "flow_id": flow.id, "work_pool_name": pool,
            "entrypoint": flows_binary().display().to_string(),
            "job_variables": variables,
        });
        let (_, deployment) = self
            .api
            .request(Method::POST, "/deployments/", Some(&body))
            .await
            .unwrap();
        deployment["id"].as_str().unwrap().to_owned()
    }

    async fn run(&self, deployment: &str, parameters: Value) -> FlowRun {
        let body = json!({"parameters": parameters});
        let (_, run) = self
            .api
            .request(
                Method::POST,
                &format!("/deployments/{deployment}/create_flow_run"),
                Some(&body),
            )
            .await
            .unwrap();
        serde_json::from_value(run).unwrap()
    }

    async fn wait_for(&self, id: Uuid, state: StateType) -> FlowRun {
        for _ in 0..600 {
            let run = self.api.read_flow_run(id).await.unwrap();
            if run.state_type == Some(state) {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let run = self.api.read_flow_run(id).await.unwrap();
        panic!(
            "flow run never reached {state:?}: {:?} {:?}",
            run.state_type, run.state
        );
    }

    async fn jobs_of(&self, run: Uuid) -> Vec<KubeJob> {
        let jobs: Api<KubeJob> = Api::all(self.kube());
        jobs.list(&ListParams::default().labels(&format!("prefect.io/flow-run-id={run}")))
            .await
            .unwrap()
            .items
    }

    async fn pods_of(&self, run: Uuid) -> Vec<Pod> {
        let pods: Api<Pod> = Api::all(self.kube());
        pods.list(&ListParams::default().labels(&format!("prefect.io/flow-run-id={run}")))
            .await
            .unwrap()
            .items
    }

    /// Waits (up to 10 s) until the run has neither Job nor pod left.
    async fn wait_until_gone(&self, run: Uuid) {
        for _ in 0..100 {
            if self.jobs_of(run).await.is_empty() && self.pods_of(run).await.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn logs_of(&self, run: Uuid) -> Vec<Value> {
        let filter = json!({"logs": {"flow_run_id": {"any_": [run]}}, "limit": 200});
        let (_, logs) = self
            .api
            .request(Method::POST, "/logs/filter", Some(&filter))
            .await
            .unwrap();
        logs.as_array().unwrap().clone()
    }
}

struct WorkerProcess {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerProcess {
    fn kill(mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.stop.take();
    }
}

fn message(run: &FlowRun) -> String {
    run.state
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_run_becomes_a_job_and_completes_with_its_task_runs_and_logs() {
    let rig = Rig::new().await;
    let _worker = rig.worker("k8s", "kw1", rig.kube());
    rig.wait_for_pool("k8s").await;
    let pool = rig.api.read_work_pool("k8s").await.unwrap();
    assert_eq!(pool.pool_type, "kubernetes");
    let ok = rig.deploy("k8s", "ok-flow", json!({})).await;
    let run = rig.run(&ok, json!({"n": 41})).await;
    let done = rig.wait_for(run.id, StateType::Completed).await;

    let jobs = rig.jobs_of(run.id).await;
    assert_eq!(jobs.len(), 1, "one Job per run");
    let job = &jobs[0];
    let name = job.metadata.name.clone().unwrap();
    assert_eq!(
        done.infrastructure_pid.as_deref(),
        Some(format!("default:{name}").as_str())
    );
    let labels = job.metadata.labels.clone().unwrap();
    assert_eq!(labels["prefect.io/work-pool-name"], "k8s");
    assert_eq!(labels["prefect.io/worker-name"], "kw1");
    assert_eq!(labels["prefect.io/flow-name"], "ok-flow");
    assert!(name.starts_with(&format!("{}-", done.name)), "{name}");

    let tasks = rig
        .api
        .filter_task_runs(&json!({"flow_runs": {"id": {"any_": [run.id]}}}))
        .await
        .unwrap();
    assert_eq!(
        tasks.len(),
        1,
        "the flow binary in the pod reported its task run"
    );
    // The container's output was streamed into the run's log.
    let mut streamed = 0;
    for _ in 0..50 {
        streamed = rig
            .logs_of(run.id)
            .await
            .iter()
            .filter(|l| l["name"] == "weir.kubernetes.pod")
            .count();
        if streamed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(streamed > 0, "container output becomes flow-run log lines");
    let states: Vec<String> = rig
        .api
        .flow_run_states(run.id)
        .await
        .unwrap()
        .iter()
        .filter_map(|s| s.name.clone())
        .collect();
    assert!(states.contains(&"Pending".to_owned()), "{states:?}");
    assert!(states.contains(&"Running".to_owned()), "{states:?}");
    // The pod's phases were reported as events related to the run.
    let mut names = Vec::new();
    for _ in 0..50 {
        let filter =
            json!({"filter": {"event": {"prefix": ["prefect.kubernetes.pod."]}}, "limit": 50});
        let (_, page) = rig
            .api
            .request(Method::POST, "/events/filter", Some(&filter))
            .await
            .unwrap();
        names = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["related"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["prefect.resource.id"] == format!("prefect.flow-run.{}", run.id))
            })
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect();
        if names.contains(&"prefect.kubernetes.pod.succeeded".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        names.contains(&"prefect.kubernetes.pod.succeeded".to_owned()),
        "pod events: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_timeout_stops_a_flow_that_runs_too_long() {
    let rig = Rig::new().await;
    let _worker = rig.worker("k8s", "kw1", rig.kube());
    rig.wait_for_pool("k8s").await;
    let sleepy = rig
        .deploy(
            "k8s",
            "sleepy-flow",
            json!({"job_watch_timeout_seconds": 2}),
        )
        .await;
    let run = rig.run(&sleepy, json!({"seconds": 120})).await;
    rig.wait_for(run.id, StateType::Running).await;
    let crashed = rig.wait_for(run.id, StateType::Crashed).await;
    let text = message(&crashed);
    assert!(text.contains("exceeded its run timeout of 2s"), "{text}");
    rig.wait_until_gone(run.id).await;
    assert!(rig.pods_of(run.id).await.is_empty(), "its pod is gone");
}

/// An unschedulable pod is not crashed at the start timeout while the autoscaler reports a
/// scale-up for it; without one it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_timeout_waits_for_a_scale_up_but_not_for_nothing() {
    let rig = Rig::new().await;
    rig.sim
        .set_scenario("registry.local/big*", Scenario::Unschedulable);
    let _worker = rig.worker("k8s", "kw1", rig.kube());
    rig.wait_for_pool("k8s").await;
    let deployment = rig
        .deploy(
            "k8s",
            "ok-flow",
            json!({"image": "registry.local/big:1", "pod_watch_timeout_seconds": 2}),
        )
        .await;
    let hopeless = rig.run(&deployment, json!({"n": 1})).await;
    let scaling = rig.run(&deployment, json!({"n": 2})).await;
    let mut pod_name = None;
    for _ in 0..100 {
        if let Some(pod) = rig.pods_of(scaling.id).await.first() {
            pod_name = pod.metadata.name.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pod_name = pod_name.expect("the pod was created");
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(rig.kube(), "default");
    let scale_up: k8s_openapi::api::core::v1::Event = serde_json::from_value(json!({
        "metadata": {"name": format!("{pod_name}.scaleup"), "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": "default"},
        "reason": "TriggeredScaleUp",
        "message": "pod triggered scale-up: [{pool-a 1->2 (max: 5)}]",
        "type": "Normal",
    }))
    .unwrap();
    events
        .create(&kube::api::PostParams::default(), &scale_up)
        .await
        .unwrap();
    let crashed = rig.wait_for(hopeless.id, StateType::Crashed).await;
    assert!(
        message(&crashed).contains("Unschedulable"),
        "{}",
        message(&crashed)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = rig.api.read_flow_run(scaling.id).await.unwrap();
    assert_eq!(
        waiting.state_type,
        Some(StateType::Pending),
        "{:?}",
        waiting.state
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_flow_ends_failed_and_oom_killed_pods_crash_with_the_diagnosis() {
    let rig = Rig::new().await;
    let _worker = rig.worker("k8s", "kw1", rig.kube());
    rig.wait_for_pool("k8s").await;
    let failing = rig.deploy("k8s", "failing-flow", json!({})).await;
    let run = rig.run(&failing, json!({})).await;
    let failed = rig.wait_for(run.id, StateType::Failed).await;
    assert!(message(&failed).contains("boom"), "{}", message(&failed));

    let oom = rig
        .deploy(
            "k8s",
            "ok-flow",
            json!({"annotations": {"weir.dev/scenario": "oom:1"}}),
        )
        .await;
    let run = rig.run(&oom, json!({"n": 1})).await;
    let crashed = rig.wait_for(run.id, StateType::Crashed).await;
    let text = message(&crashed);
    assert!(text.contains("OOMKilled"), "{text}");
    assert!(
        text.contains("memory_limit"),
        "the resolution is given: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_be_pulled_crashes_after_the_start_timeout_and_its_job_goes() {
    let rig = Rig::new().await;
    rig.sim
        .set_scenario("registry.local/missing*", Scenario::ImagePullBackOff);
    let _worker = rig.worker("k8s", "kw1", rig.kube());
    rig.wait_for_pool("k8s").await;
    let deployment = rig
        .deploy(
            "k8s",
            "ok-flow",
            json!({"image": "registry.local/missing:1", "pod_watch_timeout_seconds": 2}),
        )
        .await;
    let run = rig.run(&deployment, json!({"n": 1})).await;
    let pending = rig.wait_for(run.id, StateType::Pending).await;
    let _ = pending;
    let crashed = rig.wait_for(run.id, StateType::Crashed).await;
    let text = message(&crashed);
    assert!(text.contains("did not start within 2s"), "{text}");
    assert!(text.contains("ImagePullError"), "{text}");
    let states: Vec<String> = rig
        .api
        .flow_run_states(run.id)
        .await
        .unwrap()
        .iter()
        .filter_map(|s| s.name.clone())
        .collect();
    assert!(
        states.contains(&"InfrastructurePending".to_owned()),
        "{states:?}"
    );
    rig.wait_until_gone(run.id).await;
    assert!(rig.jobs_of(run.id).await.is_empty(), "the Job was deleted");
    assert!(rig.pods_of(run.id).await.is_empty(), "its pod too");
    let logs = rig.logs_of(run.id).await;
    assert!(
        logs.iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .contains("ImagePullError")),
        "the diagnosis is in the run's log: {logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_deletes_its_job_and_pods_and_ends_cancelled() {
    let rig = Rig::new().await;
    let _worker = rig.worker("k8s", "kw1", rig.kube());
    rig.wait_for_pool("k8s").await;
    let sleepy = rig.deploy("k8s", "sleepy-flow", json!({})).await;
    let run = rig.run(&sleepy, json!({"seconds": 120})).await;
    rig.wait_for(run.id, StateType::Running).await;
    assert_eq!(rig.pods_of(run.id).await.len(), 1);
    rig.api
        .set_flow_run_state(run.id, &StateCreate::of_type(StateType::Cancelling), false)
        .await
        .unwrap();
    rig.wait_for(run.id, StateType::Cancelled).await;
    assert!(rig.jobs_of(run.id).await.is_empty(), "the Job is gone");
    assert!(rig.pods_of(run.id).await.is_empty(), "no pod is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_and_restarted_adopts_the_job_and_the_run_completes() {
    let rig = Rig::new().await;
    let first = rig.worker("k8s", "kw1", rig.kube());
    rig.wait_for_pool("k8s").await;
    let sleepy = rig.deploy("k8s", "sleepy-flow", json!({})).await;
    let run = rig.run(&sleepy, json!({"seconds": 4})).await;
    rig.wait_for(run.id, StateType::Running).await;
    first.kill();
    let _second = rig.worker("k8s", "kw1", rig.kube());
    let done = rig.wait_for(run.id, StateType::Completed).await;
    assert_eq!(rig.jobs_of(run.id).await.len(), 1, "one Job only");
    assert_eq!(done.run_count, 1);

    // A run whose Job vanished while no worker watched crashes when a worker comes back.
    let second_run = rig.run(&sleepy, json!({"seconds": 60})).await;
    rig.wait_for(second_run.id, StateType::Running).await;
    drop(_second);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let jobs: Api<KubeJob> = Api::namespaced(rig.kube(), "default");
    for job in rig.jobs_of(second_run.id).await {
        let params = kube::api::DeleteParams::foreground();
        jobs.delete(job.metadata.name.as_deref().unwrap(), &params)
            .await
            .unwrap();
    }
    rig.wait_until_gone(second_run.id).await;
    let _third = rig.worker("k8s", "kw1", rig.kube());
    let crashed = rig.wait_for(second_run.id, StateType::Crashed).await;
    assert!(
        message(&crashed).contains("no longer exists"),
        "{}",
        message(&crashed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_permission_to_create_jobs_gets_a_clear_message() {
    let rig = Rig::new().await;
    let read_only = User::new(
        "system:serviceaccount:default:weir-worker",
        vec![Rule::new(
            &["get", "list", "watch"],
            &["", "batch"],
            &["pods", "jobs"],
        )],
    );
    rig.sim
        .set_rbac(Rbac::closed().with_token("worker-token", read_only));
    let kube = kube::Client::new(rig.sim.router_with_token("worker-token"), "default");
    let _worker = rig.worker("k8s", "kw1", kube);
    rig.wait_for_pool("k8s").await;
    let ok = rig.deploy("k8s", "ok-flow", json!({})).await;
    let run = rig.run(&ok, json!({"n": 1})).await;
    let crashed = rig.wait_for(run.id, StateType::Crashed).await;
    let text = message(&crashed);
    assert!(
        text.contains("refused to create the Job in namespace default"),
        "{text}"
    );
    assert!(
        text.contains("resources: [\"jobs\"]"),
        "the rule to add is named: {text}"
    );
}

/// A Job still running for a run that ended while no worker watched (cancelled, crashed by hand)
/// is deleted by the reconciler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_deletes_active_jobs_of_finished_runs() {
    let rig = Rig::new().await;
    let first = rig.worker("k8s", "kw1", rig.kube());
    rig.wait_for_pool("k8s").await;
    let sleepy = rig.deploy("k8s", "sleepy-flow", json!({})).await;
    let run = rig.run(&sleepy, json!({"seconds": 120})).await;
    rig.wait_for(run.id, StateType::Running).await;
    first.kill();
    let mut crashed = StateCreate::of_type(StateType::Crashed);
    crashed.message = Some("marked crashed while no worker ran".into());
    rig.api
        .set_flow_run_state(run.id, &crashed, true)
        .await
        .unwrap();
    assert_eq!(rig.jobs_of(run.id).await.len(), 1);
    let _second = rig.worker("k8s", "kw2", rig.kube());
    rig.wait_until_gone(run.id).await;
    assert!(
        rig.jobs_of(run.id).await.is_empty(),
        "the reconciler deleted the Job"
    );
    assert!(rig.pods_of(run.id).await.is_empty(), "and its pod");
}

/// Submitting a run whose Job exists already (a worker died between creating it and recording
/// it) adopts that Job instead of creating a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitting_twice_creates_one_job() {
    let rig = Rig::new().await;
    let run = Uuid::new_v4();
    let manifest = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"generateName": "twice-", "namespace": "default",
                     "labels": {"prefect.io/flow-run-id": run.to_string()}},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "prefect-job", "image": "busybox:1"}]}}},
    });
    let prepared = weir_kube::manifest::PreparedJob {
        manifest,
        settings: weir_kube::manifest::JobSettings {
            namespace: "default".into(),
            cluster_config: None,
            stream_output: false,
            start_timeout: None,
            run_timeout: None,
        },
    };
    let first = weir_kube::submit::submit(&rig.kube(), &prepared, run)
        .await
        .unwrap();
    let second = weir_kube::submit::submit(&rig.kube(), &prepared, run)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(rig.jobs_of(run).await.len(), 1);
    // A transient failure is retried; the retry still finds no Job and creates exactly one.
    let other = Uuid::new_v4();
    let mut prepared = prepared;
    prepared.manifest["metadata"]["labels"]["prefect.io/flow-run-id"] = json!(other.to_string());
    rig.sim.faults().throttle(1, 0);
    weir_kube::submit::submit(&rig.kube(), &prepared, other)
        .await
        .unwrap();
    assert_eq!(rig.jobs_of(other).await.len(), 1);
}

/// Watches that break, and come back too late for the server's history (410 Gone, then a
/// relist), lose no run and duplicate no Job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_watches_and_expired_resource_versions_lose_nothing() {
    let rig = Rig::new().await;
    let _worker = rig.worker("k8s", "kw1", rig.kube());
    rig.wait_for_pool("k8s").await;
    let sleepy = rig.deploy("k8s", "sleepy-flow", json!({})).await;
    let run = rig.run(&sleepy, json!({"seconds": 2})).await;
    rig.wait_for(run.id, StateType::Running).await;
    rig.sim.set_history_window(1);
    rig.sim.faults().drop_watches();
    let done = rig.wait_for(run.id, StateType::Completed).await;
    assert_eq!(done.run_count, 1);
    assert_eq!(rig.jobs_of(run.id).await.len(), 1);
    rig.sim.faults().drop_watches();
    let again = rig.run(&sleepy, json!({"seconds": 0.1})).await;
    rig.wait_for(again.id, StateType::Completed).await;
    assert_eq!(rig.jobs_of(again.id).await.len(), 1);
}
