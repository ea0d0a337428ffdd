//! Weir's Kubernetes worker against a real `prefect server start` 3.9.1, on a work pool created by
//! Prefect's own CLI (`prefect work-pool create --type kubernetes`, with prefect-kubernetes 0.8.0
//! installed): the template Prefect writes is the one Weir's worker renders, and the run of a Weir
//! deployment reaches COMPLETED on the Prefect server.

use super::*;
use weir_testkit::prefect::{prefect_venv, PrefectServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weirs_kubernetes_worker_serves_a_pool_made_by_prefects_cli_on_a_prefect_server() {
    let prefect = PrefectServer::start().await;
    let venv = prefect_venv();
    let created = tokio::task::spawn_blocking({
        let url = prefect.api_url();
        move || {
            std::process::Command::new(venv.join("bin/prefect"))
                .args(["work-pool", "create", "cli-made", "--type", "kubernetes"])
                .env("PREFECT_API_URL", url)
                .env(
                    "PREFECT_HOME",
                    std::env::temp_dir().join(format!("pfx-{}", Uuid::new_v4())),
                )
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        created.status.success(),
        "prefect work-pool create: {} {}",
        String::from_utf8_lossy(&created.stdout),
        String::from_utf8_lossy(&created.stderr)
    );
    let api = Client::new(&prefect.api_url(), Auth::None);
    let pool = api.read_work_pool("cli-made").await.unwrap();
    assert_eq!(pool.pool_type, "kubernetes");
    let reference: Value =
        serde_json::from_str(weir_core::job_template::KUBERNETES_DEFAULT_JSON).unwrap();
    assert_eq!(
        Value::Object(pool.base_job_template.clone()),
        reference,
        "Prefect's CLI writes the template Weir ships"
    );

    let sim = Simulator::new();
    sim.set_scenario("registry.local/weir-flows*", Scenario::RunLocal);
    let mut settings = KubernetesSettings::new(prefect.api_url(), Auth::None);
    settings.delete_grace = Duration::from_secs(1);
    let mut config = WorkerConfig::new(prefect.api_url(), "cli-made");
    config.poll_seconds = 1.0;
    let worker = Worker::new(
        config,
        KubernetesInfrastructure::with_client(settings, kube::Client::new(sim.router(), "default")),
    );
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = worker
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    let flow = api.create_flow("ok-flow").await.unwrap();
    let body = json!({
        "name": "k8s", "flow_id": flow.id, "work_pool_name": "cli-made",
        "entrypoint": flows_binary().display().to_string(),
        "job_variables": {"image": IMAGE},
    });
    let (_, deployment) = api
        .request(Method::POST, "/deployments/", Some(&body))
        .await
        .unwrap();
    let (_, run) = api
        .request(
            Method::POST,
            &format!(
                "/deployments/{}/create_flow_run",
                deployment["id"].as_str().unwrap()
            ),
            Some(&json!({"parameters": {"n": 1}})),
        )
        .await
        .unwrap();
    let id: Uuid = run["id"].as_str().unwrap().parse().unwrap();
    let mut last = None;
    for _ in 0..900 {
        let run = api.read_flow_run(id).await.unwrap();
        if run.state_type.is_some_and(|t| t.is_terminal()) {
            last = Some(run);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = last.expect("the run ended");
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
}
