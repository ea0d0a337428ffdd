//! `weir worker start --type kubernetes` as users run it: the `weir` binary against a `weir server
//! start`, reaching the Kubernetes API simulator on a loopback port through a kubeconfig, or through
//! a `KubernetesClusterConfig` block the pool's `cluster_config` variable names; the simulator's
//! kubelet runs the real Weir flow binary (`examples/cli_test_flows`) as each pod's process.

use super::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use weir_client::{Client, Method};
use weir_core::StateType;
use weir_kube_sim::{Scenario, Simulator};

/// The flows image; the simulator runs its pods' commands as local processes.
pub(super) const FLOWS_IMAGE: &str = "registry.local/weir-flows:cli";

fn flows_binary() -> PathBuf {
    weir_testkit::example_binary("cli_test_flows")
}

/// A `weir worker start` process, killed when dropped.
struct WorkerProcess(Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_worker(api_url: &str, pool: &str, envs: &[(&str, &str)]) -> WorkerProcess {
    let home = std::env::temp_dir().join(format!("weir-worker-home-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .args(["worker", "start", "--pool", pool, "--type", "kubernetes"])
        .args(["--poll-seconds", "0.5", "--name", "cli-kube-worker"])
        .env("WEIR_API_URL", api_url)
        .env("HOME", &home)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in envs {
        command.env(key, value);
    }
    WorkerProcess(command.spawn().expect("spawn weir worker"))
}

/// A deployment of the test flows binary in `pool` with `job_variables`; returns its id.
pub(super) async fn deploy(client: &Client, pool: &str, job_variables: Value) -> String {
    let flow = client.create_flow("ok-flow").await.unwrap();
    let body = json!({
        "name": "k8s", "flow_id": flow.id, "work_pool_name": pool,
        "entrypoint": flows_binary().display().to_string(),
        "job_variables": job_variables,
    });
    let (_, deployment) = client
        .request(Method::POST, "/deployments/", Some(&body))
        .await
        .unwrap();
    deployment["id"].as_str().unwrap().to_owned()
}

/// Creates a run of `deployment` and waits for it to end.
pub(super) async fn run_to_completion(
    client: &Client,
    deployment: &str,
) -> weir_core::schemas::FlowRun {
    let (_, run) = client
        .request(
            Method::POST,
            &format!("/deployments/{deployment}/create_flow_run"),
            Some(&json!({"parameters": {"n": 1}})),
        )
        .await
        .unwrap();
    let id: uuid::Uuid = run["id"].as_str().unwrap().parse().unwrap();
    for _ in 0..600 {
        let run = client.read_flow_run(id).await.unwrap();
        if run.state_type.is_some_and(|t| t.is_terminal()) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("flow run {id} never ended");
}

async fn wait_for_pool(client: &Client, pool: &str) {
    for _ in 0..300 {
        if client.read_work_pool(pool).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the worker never created pool {pool}");
}

async fn simulator() -> (Simulator, String) {
    let sim = Simulator::new();
    sim.set_scenario("registry.local/weir-flows*", Scenario::RunLocal);
    let addr = sim.listen(0).await.unwrap();
    let kubeconfig = Simulator::kubeconfig(addr, "admin");
    (sim, kubeconfig)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_worker_binary_runs_a_flow_as_a_job_through_a_kubeconfig() {
    let server = start_server(&[], &[]);
    let client = Client::new(&server.api_url, weir_client::Auth::None);
    let (_sim, kubeconfig) = simulator().await;
    let path = std::env::temp_dir().join(format!("weir-sim-{}.kubeconfig", uuid::Uuid::new_v4()));
    std::fs::write(&path, kubeconfig).unwrap();
    let _worker = start_worker(
        &server.api_url,
        "k8s",
        &[("KUBECONFIG", path.to_str().unwrap())],
    );
    wait_for_pool(&client, "k8s").await;
    let deployment = deploy(&client, "k8s", json!({"image": FLOWS_IMAGE})).await;
    let run = run_to_completion(&client, &deployment).await;
    assert_eq!(
        run.state_type,
        Some(StateType::Completed),
        "{:?}",
        run.state
    );
    assert!(run
        .infrastructure_pid
        .as_deref()
        .is_some_and(|p| p.starts_with("default:")));
    let _ = std::fs::remove_file(path);
}

/// No kubeconfig and no service account: the run reaches the cluster through the block its pool's
/// `cluster_config` job variable refers to (`{"$ref": {"block_document_id": ...}}`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_config_block_names_the_cluster() {
    let server = start_server(&[], &[]);
    let client = Client::new(&server.api_url, weir_client::Auth::None);
    let (_sim, kubeconfig) = simulator().await;
    let parsed = kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap();
    let context = parsed.current_context.clone().unwrap();
    let (_, block_type) = client
        .request(
            Method::GET,
            "/block_types/slug/kubernetes-cluster-config",
            None,
        )
        .await
        .unwrap();
    let (_, schemas) = client
        .request(
            Method::POST,
            "/block_schemas/filter",
            Some(&json!({"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}})),
        )
        .await
        .unwrap();
    let (_, document) = client
        .request(
            Method::POST,
            "/block_documents/",
            Some(&json!({
                "name": "sim",
                "block_type_id": block_type["id"],
                "block_schema_id": schemas[0]["id"],
                "data": {"config": serde_json::to_value(&parsed).unwrap(), "context_name": context},
            })),
        )
        .await
        .unwrap();
    let _worker = start_worker(&server.api_url, "k8s-block", &[]);
    wait_for_pool(&client, "k8s-block").await;
    let deployment = deploy(
        &client,
        "k8s-block",
        json!({"image": FLOWS_IMAGE, "cluster_config": {"$ref": {"block_document_id": document["id"]}}}),
    )
    .await;
    let run = run_to_completion(&client, &deployment).await;
    assert_eq!(
        run.state_type,
        Some(StateType::Completed),
        "{:?}",
        run.state
    );
}
