//! The process worker against real Weir servers (SQLite and PostgreSQL): deployments of a Rust
//! flow binary (`examples/test_flows.rs`, built with these tests) run to COMPLETED, Failed,
//! Crashed and Cancelled, two workers sharing one pool run 500 flow runs, each exactly once, and a
//! worker holding an API key serves a server that requires keys.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use weir_client::{Auth, Client};
use weir_core::schemas::FlowRun;
use weir_core::{StateCreate, StateType};
use weir_testkit::{server_test, TestServer};
use weir_worker::process::ProcessInfrastructure;
use weir_worker::{Worker, WorkerConfig};

/// The example binary holding the test flows.
fn flows_binary() -> PathBuf {
    weir_testkit::example_binary("test_flows")
}

fn client(server: &TestServer) -> Client {
    Client::new(&server.api_url(), Auth::None)
}

/// A worker for `pool`, polling often, once it has set the pool up; stops when the returned
/// sender is dropped.
async fn start_worker(
    server: &TestServer,
    pool: &str,
    name: &str,
) -> tokio::sync::oneshot::Sender<()> {
    run_worker(server, worker_config(server, pool, name)).await
}

/// A worker for `pool` with these credentials (also given to its flow processes), polling every
/// `poll_seconds` (and whenever `/events/out` tells it of a new run).
async fn start_worker_as(
    server: &TestServer,
    pool: &str,
    name: &str,
    auth: Auth,
    poll_seconds: f64,
) -> tokio::sync::oneshot::Sender<()> {
    let mut config = worker_config(server, pool, name);
    config.auth = auth;
    config.poll_seconds = poll_seconds;
    run_worker(server, config).await
}

fn worker_config(server: &TestServer, pool: &str, name: &str) -> WorkerConfig {
    let mut config = WorkerConfig::new(server.api_url(), pool);
    config.name = name.to_owned();
    config.poll_seconds = 1.0;
    config.heartbeat_seconds = 5;
    config.cancel_grace = Duration::from_secs(2);
    config
}

/// Runs a process worker with `config` once it has registered with the pool (its first
/// heartbeat, sent after the pool is set up); stops when the returned sender is dropped.
async fn run_worker(server: &TestServer, config: WorkerConfig) -> tokio::sync::oneshot::Sender<()> {
    let (pool, name, auth) = (
        config.pool.clone(),
        config.name.clone(),
        config.auth.clone(),
    );
    let worker = Worker::new(
        config,
        ProcessInfrastructure::new(server.api_url(), auth.clone()),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = worker
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    let c = Client::new(&server.api_url(), auth);
    for _ in 0..100 {
        let workers = c.filter_workers(&pool).await.unwrap_or_default();
        if workers.iter().any(|w| w.name == name) {
            return stop;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("worker {name} never set up pool {pool}");
}

/// A deployment of the flow `flow` of the test binary on `pool`; returns its id.
async fn deploy(c: &Client, pool: &str, flow: &str) -> String {
    let flow = c.create_flow(flow).await.unwrap();
    let body = json!({
        "name": "test", "flow_id": flow.id, "work_pool_name": pool,
        "entrypoint": flows_binary().display().to_string(),
    });
    let (_, deployment) = c
        .request(reqwest::Method::POST, "/deployments/", Some(&body))
        .await
        .unwrap();
    deployment["id"].as_str().unwrap().to_owned()
}

async fn run_deployment(c: &Client, deployment: &str, parameters: Value) -> FlowRun {
    let body = json!({"parameters": parameters});
    let (_, run) = c
        .request(
            reqwest::Method::POST,
            &format!("/deployments/{deployment}/create_flow_run"),
            Some(&body),
        )
        .await
        .unwrap();
    serde_json::from_value(run).unwrap()
}

/// Waits (up to 60 s) until the run is in `state`.
async fn wait_for(c: &Client, id: Uuid, state: StateType) -> FlowRun {
    for _ in 0..600 {
        let run = c.read_flow_run(id).await.unwrap();
        if run.state_type == Some(state) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = c.read_flow_run(id).await.unwrap();
    panic!("flow run never reached {state:?}: {run:#?}");
}

server_test!(
    deployments_of_a_rust_binary_complete_fail_and_crash,
    |server| {
        let c = client(&server);
        let _worker = start_worker(&server, "local", "w1").await;
        let ok = deploy(&c, "local", "ok-flow").await;
        let failing = deploy(&c, "local", "failing-flow").await;
        let dying = deploy(&c, "local", "dying-flow").await;

        let run = run_deployment(&c, &ok, json!({"n": 41})).await;
        let done = wait_for(&c, run.id, StateType::Completed).await;
        assert!(
            done.infrastructure_pid
                .as_deref()
                .is_some_and(|p| p.contains(':')),
            "{done:?}"
        );
        assert_eq!(done.run_count, 1);
        assert_eq!(done.labels["prefect.worker.name"], "w1");
        let tasks = c
            .filter_task_runs(&json!({"flow_runs": {"id": {"any_": [run.id]}}}))
            .await
            .unwrap();
        assert_eq!(tasks.len(), 1, "the binary reported its task run");

        let run = run_deployment(&c, &failing, json!({})).await;
        let failed = wait_for(&c, run.id, StateType::Failed).await;
        assert!(failed.state.unwrap().message.unwrap().contains("boom"));

        let run = run_deployment(&c, &dying, json!({"code": 3})).await;
        let crashed = wait_for(&c, run.id, StateType::Crashed).await;
        let message = crashed.state.unwrap().message.unwrap();
        assert!(message.contains("non-zero status code 3"), "{message}");
    }
);

server_test!(
    a_cancelled_run_ends_cancelled_and_its_process_is_gone,
    |server| {
        let c = client(&server);
        let _worker = start_worker(&server, "local", "w1").await;
        let sleepy = deploy(&c, "local", "sleepy-flow").await;
        let run = run_deployment(&c, &sleepy, json!({"seconds": 60})).await;
        let running = wait_for(&c, run.id, StateType::Running).await;
        let pid = running.infrastructure_pid.unwrap();
        let pid = pid.rsplit(':').next().unwrap().to_owned();
        let cancelling = StateCreate::of_type(StateType::Cancelling);
        c.set_flow_run_state(run.id, &cancelling, false)
            .await
            .unwrap();
        let cancelled = wait_for(&c, run.id, StateType::Cancelled).await;
        assert_eq!(
            cancelled.state.unwrap().message.as_deref(),
            Some("Flow run was cancelled successfully.")
        );
        let alive = std::process::Command::new("kill")
            .args(["-0", &pid])
            .status()
            .unwrap()
            .success();
        assert!(!alive, "process {pid} is gone");
    }
);

server_test!(
    two_workers_on_one_pool_run_500_flow_runs_each_exactly_once,
    |server| {
        let c = Arc::new(client(&server));
        let _first = start_worker(&server, "shared", "w1").await;
        let _second = start_worker(&server, "shared", "w2").await;
        let ok = deploy(&c, "shared", "ok-flow").await;
        let mut ids = Vec::new();
        for n in 0..500 {
            ids.push(run_deployment(&c, &ok, json!({"n": n})).await.id);
        }
        let mut workers = std::collections::HashSet::new();
        for id in &ids {
            let run = wait_for(&c, *id, StateType::Completed).await;
            assert_eq!(run.run_count, 1, "{run:?}");
            workers.insert(
                run.labels["prefect.worker.name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            let states = c.flow_run_states(*id).await.unwrap();
            let running = states
                .iter()
                .filter(|s| s.state_type == StateType::Running)
                .count();
            assert_eq!(running, 1, "one execution per run: {states:#?}");
        }
        assert_eq!(ids.len(), 500);
        assert_eq!(workers.len(), 2, "both workers took runs: {workers:?}");
    }
);

// On a server that requires API keys, a worker holding a stored key serves its pool, and the
// flow process it starts reports with the key too: the run completes and its task run, sent over
// `/events/in`, is recorded. (The worker's `/events/out` follower sends the same token; a refused
// follower would only fall back to reconnect-and-poll, so websocket auth is asserted in
// weir-server's `api_keys` tests, not here.)
weir_testkit::backend_test!(
    a_worker_with_an_api_key_serves_a_server_requiring_keys,
    |db| {
        let config = weir_server::ServerConfig {
            require_api_key: true,
            ..weir_server::ServerConfig::default()
        };
        let store = weir_testkit::open(&db).await;
        let (_, key) = store.issue_api_key("worker", None).await.unwrap();
        let server = TestServer::start_with(store, config).await;
        let c = Client::new(&server.api_url(), Auth::Bearer(key.clone()));
        assert_eq!(
            client(&server)
                .create_flow("anonymous")
                .await
                .unwrap_err()
                .status()
                .map(|s| s.as_u16()),
            Some(401)
        );
        let _worker = start_worker_as(&server, "keyed", "w1", Auth::Bearer(key), 1.0).await;
        let ok = deploy(&c, "keyed", "ok-flow").await;
        let run = run_deployment(&c, &ok, json!({"n": 1})).await;
        wait_for(&c, run.id, StateType::Completed).await;
        // Task runs are recorded from events shortly after the flow process reported them.
        let mut tasks = Vec::new();
        for _ in 0..100 {
            tasks = c
                .filter_task_runs(&json!({"flow_runs": {"id": {"any_": [run.id]}}}))
                .await
                .unwrap();
            if !tasks.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            tasks.len(),
            1,
            "the flow process reported its task run with the key"
        );
    }
);

/// Weir's process worker against a real `prefect server start` 3.9.1: a Weir deployment of the
/// Rust flow binary runs to COMPLETED there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weirs_worker_runs_a_weir_deployment_on_a_real_prefect_server() {
    let prefect = weir_testkit::prefect::PrefectServer::start().await;
    let c = Client::new(&prefect.api_url(), Auth::None);
    let mut config = WorkerConfig::new(prefect.api_url(), "weir-pool");
    config.poll_seconds = 1.0;
    let worker = Worker::new(
        config,
        ProcessInfrastructure::new(prefect.api_url(), Auth::None),
    );
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = worker
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    for _ in 0..200 {
        if c.read_work_pool("weir-pool").await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deployment = deploy(&c, "weir-pool", "ok-flow").await;
    let run = run_deployment(&c, &deployment, json!({"n": 1})).await;
    let done = wait_for(&c, run.id, StateType::Completed).await;
    assert!(done.infrastructure_pid.is_some(), "{done:?}");
}

/// Runs the flow binary with `args` against `server`; its exit status and stdout.
fn flows_command(server: &TestServer, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(flows_binary())
        .args(args)
        .env("WEIR_API_URL", server.api_url())
        .output()
        .expect("run the flow binary");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

server_test!(a_binary_deploys_its_flows_for_a_worker_to_run, |server| {
    let c = client(&server);
    let _worker = start_worker(&server, "local", "w1").await;
    let (ok, stdout) = tokio::task::spawn_blocking({
        let url = server.api_url();
        move || {
            let output = std::process::Command::new(flows_binary())
                .args([
                    "deploy", "--pool", "local", "--name", "prod", "--flow", "ok-flow",
                ])
                .env("WEIR_API_URL", url)
                .output()
                .unwrap();
            (
                output.status.success(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{stdout}");
    assert!(stdout.contains("deployed ok-flow/prod"), "{stdout}");
    let (_, deployment) = c
        .request(reqwest::Method::GET, "/deployments/name/ok-flow/prod", None)
        .await
        .unwrap();
    assert_eq!(deployment["work_pool_name"], "local");
    assert_eq!(
        deployment["parameter_openapi_schema"]["required"],
        json!(["n"])
    );
    let id = deployment["id"].as_str().unwrap();
    let run = run_deployment(&c, id, json!({"n": 2})).await;
    wait_for(&c, run.id, StateType::Completed).await;
    let (status, body) = c
        .request(
            reqwest::Method::POST,
            &format!("/deployments/{id}/create_flow_run"),
            Some(&json!({"parameters": {"n": "two"}})),
        )
        .await
        .map(|(s, b)| (s.as_u16(), b))
        .unwrap_or_else(|e| match e {
            weir_client::Error::Status { status, body, .. } => (status.as_u16(), json!(body)),
            other => panic!("{other}"),
        });
    assert_eq!(status, 422, "the schema from schemars is enforced: {body}");
    let (usage_ok, _) = flows_command(&server, &["deploy", "--name", "x"]);
    assert!(!usage_ok, "deploy without a pool is a usage error");
});

server_test!(
    serve_runs_the_runs_of_its_deployments_in_process,
    |server| {
        let c = client(&server);
        let mut serving = std::process::Command::new(flows_binary())
            .args(["serve", "--flow", "ok-flow", "--name", "served"])
            .env("WEIR_API_URL", server.api_url())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut deployment = Value::Null;
        for _ in 0..100 {
            if let Ok((_, found)) = c
                .request(
                    reqwest::Method::GET,
                    "/deployments/name/ok-flow/served",
                    None,
                )
                .await
            {
                deployment = found;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let id = deployment["id"]
            .as_str()
            .expect("serve registered its deployment")
            .to_owned();
        assert_eq!(deployment["work_pool_name"], Value::Null);
        let run = run_deployment(&c, &id, json!({"n": 5})).await;
        let done = wait_for(&c, run.id, StateType::Completed).await;
        assert_eq!(done.run_count, 1);
        serving.kill().unwrap();
        let _ = serving.wait();
    }
);

/// A deployment on a cron schedule: the server's scheduler materialises its runs and the worker
/// runs the first one to COMPLETED when its minute comes (so this test takes up to a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_on_a_cron_schedule_runs_when_its_time_comes() {
    let db = weir_testkit::sqlite_db().await;
    let server = TestServer::start(weir_testkit::open(&db).await).await;
    let c = client(&server);
    let _worker = start_worker(&server, "cron-pool", "w1").await;
    let url = server.api_url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(flows_binary())
            .args([
                "deploy",
                "--pool",
                "cron-pool",
                "--flow",
                "ok-flow",
                "--cron",
                "* * * * *",
            ])
            .args(["--param", "n=7"])
            .env("WEIR_API_URL", url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let (_, deployment) = c
        .request(
            reqwest::Method::GET,
            "/deployments/name/ok-flow/default",
            None,
        )
        .await
        .unwrap();
    assert_eq!(deployment["schedules"][0]["schedule"]["cron"], "* * * * *");
    let id = deployment["id"].as_str().unwrap();
    let filter = json!({"flow_runs": {"deployment_id": {"any_": [id]},
        "state": {"type": {"any_": ["COMPLETED"]}}}});
    for _ in 0..900 {
        let done = c.filter_flow_runs(&filter).await.unwrap();
        if let Some(run) = done.first() {
            assert_eq!(run.parameters["n"], 7);
            assert!(run.tags.contains(&"auto-scheduled".to_owned()));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no scheduled run completed within 90 s");
}

server_test!(
    a_worker_given_a_base_job_template_creates_its_pool_with_it_and_repairs_drift,
    |server| {
        let c = client(&server);
        let mut template =
            serde_json::to_value(weir_core::job_template::default_process_template()).unwrap();
        template["variables"]["properties"]["env"]["default"] = json!({"FROM_CHART": "1"});
        let template = template.as_object().unwrap().clone();
        let mut config = worker_config(&server, "charted", "w1");
        config.base_job_template = Some(template.clone());

        let stop = run_worker(&server, config.clone()).await;
        let pool = c.read_work_pool("charted").await.unwrap();
        assert_eq!(pool.pool_type, "process");
        assert_eq!(
            pool.base_job_template, template,
            "created with the given template"
        );
        drop(stop);

        // Someone edits the pool; the next start puts the configured template back.
        let mut edited = template.clone();
        edited["variables"]["properties"]["env"]["default"] = json!({});
        let update = weir_core::work_pools::WorkPoolUpdate {
            base_job_template: Some(edited.clone()),
            ..Default::default()
        };
        c.update_work_pool("charted", &update).await.unwrap();
        assert_eq!(
            c.read_work_pool("charted").await.unwrap().base_job_template,
            edited
        );
        config.name = "w2".to_owned();
        let _worker = run_worker(&server, config).await;
        assert_eq!(
            c.read_work_pool("charted").await.unwrap().base_job_template,
            template,
            "the drifted template was replaced"
        );
    }
);
