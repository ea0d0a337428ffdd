//! The worker Helm chart (`charts/weir-worker`) end to end on the simulator, as users install it:
//! `helm template` with a values file, `kubectl apply` of the output as an admin, and the
//! simulator running the chart's worker Deployment: its pod is the real `weir` binary (the image
//! `ghcr.io/weir-dev/weir` mapped to it) with the chart's env, mounts and service-account token,
//! authorized only by the chart's Role. The worker reconciles its pool from the chart's template
//! and runs a flow as a Job to completion; a Role without `pods/log` makes its preflight name the
//! missing rule in the pod's log.
//!
//! helm comes from `WEIR_HELM`, else `PATH`; kubectl from `WEIR_KUBECTL`, else `PATH`
//! (`bash ../shared/tools/install-helm-kubectl.sh DIR` installs both).

use super::kubernetes_worker::{deploy, run_to_completion, FLOWS_IMAGE};
use super::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use weir_client::Client;
use weir_core::StateType;
use weir_kube_sim::kubectl::Kubectl;
use weir_kube_sim::{Scenario, Simulator};
use weir_testkit::helm_binary;

const IMAGE_REPOSITORY: &str = "ghcr.io/weir-dev/weir";
const IMAGE_TAG: &str = "e2e";
const NAMESPACE: &str = "weir";
/// The server's bootstrap key, as the install guide keeps it in a Secret; the worker gets a key of
/// its own made with `weir api-key create`.
const BOOTSTRAP_KEY: &str = "weir-bootstrap-key-for-the-chart-test";
const RELEASE: &str = "weir-worker";

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/weir-worker")
}

/// `helm template` of the worker chart into namespace [`NAMESPACE`] with `values`.
fn render(values: &Value) -> String {
    let dir = std::env::temp_dir().join(format!("weir-chart-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let values_file = dir.join("values.json");
    std::fs::write(&values_file, values.to_string()).unwrap();
    let out = Command::new(helm_binary())
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--namespace", NAMESPACE, "--values"])
        .arg(&values_file)
        .env("HOME", &dir)
        .output()
        .expect("helm runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("helm prints UTF-8")
}

/// A free loopback port for the worker's health endpoint (which binds 0.0.0.0 on the host).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A Weir server requiring API keys, a simulator over HTTPS mapping the chart's image to the
/// `weir` binary and the flows image to the flows binary, an admin kubectl, and the namespace with
/// the worker's API key in a Secret, made as the install guide has users make them.
struct Rig {
    server: WeirServer,
    client: Client,
    _sim: Simulator,
    kubectl: Kubectl,
}

async fn rig() -> Rig {
    let server = start_server(&[], &[("WEIR_SERVER_BOOTSTRAP_API_KEY", BOOTSTRAP_KEY)]);
    let client = Client::new(
        &server.api_url,
        weir_client::Auth::Bearer(BOOTSTRAP_KEY.into()),
    );
    let created = super::cli_verbs::command(
        &server.api_url,
        &[
            "api-key",
            "create",
            "--name",
            "k8s-worker",
            "--expires-in",
            "1d",
        ],
    )
    .env("WEIR_API_KEY", BOOTSTRAP_KEY)
    .output()
    .expect("weir api-key create runs");
    assert!(created.status.success(), "{created:?}");
    let worker_key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let sim = Simulator::new();
    sim.set_scenario(
        &format!("{IMAGE_REPOSITORY}:{IMAGE_TAG}"),
        Scenario::local_image("/usr/local/bin/weir", env!("CARGO_BIN_EXE_weir")),
    );
    sim.set_scenario("registry.local/weir-flows*", Scenario::RunLocal);
    let kubectl = Kubectl::start_tls(&sim, "admin").await;
    kubectl.ok(&["create", "namespace", NAMESPACE]).await;
    let literal = format!("--from-literal=key={worker_key}");
    kubectl
        .ok(&[
            "create",
            "secret",
            "generic",
            "weir-api-key",
            "-n",
            NAMESPACE,
            &literal,
        ])
        .await;
    Rig {
        server,
        client,
        _sim: sim,
        kubectl,
    }
}

impl Rig {
    /// The chart's values: this server, `pool`, jobs in [`NAMESPACE`], the mapped image.
    fn values(&self, pool: &str) -> Value {
        json!({
            "api": {
                "url": self.server.api_url,
                "apiKeySecret": {"name": "weir-api-key", "key": "key"},
            },
            "image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG},
            "worker": {"pool": pool, "healthPort": free_port(), "pollSeconds": 0.5},
            "jobNamespaces": [NAMESPACE],
        })
    }

    async fn apply(&self, manifest: &str) {
        let dir = self.kubectl.kubeconfig.parent().expect("kubeconfig folder");
        let file = dir.join(format!("{}.yaml", uuid::Uuid::new_v4()));
        std::fs::write(&file, manifest).unwrap();
        let out = self
            .kubectl
            .ok(&["apply", "-f", file.to_str().unwrap()])
            .await;
        assert!(out.contains("deployment.apps/weir-worker created"), "{out}");
    }

    /// The worker Deployment's pod once its log contains `text`: (pod JSON, log).
    async fn worker_pod_logging(&self, text: &str) -> (Value, String) {
        let selector = "app.kubernetes.io/name=weir-worker";
        let mut last = String::new();
        for _ in 0..600 {
            let out = self
                .kubectl
                .ok(&["get", "pods", "-n", NAMESPACE, "-l", selector, "-o", "json"])
                .await;
            let pods: Value = serde_json::from_str(&out).unwrap();
            if let Some(pod) = pods["items"].as_array().and_then(|p| p.first()) {
                let name = pod["metadata"]["name"].as_str().unwrap_or_default();
                last = self.kubectl.run(&["logs", "-n", NAMESPACE, name]).await.1;
                if last.contains(text) {
                    return (self.pod_past_pending(name).await, last);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the worker pod never logged {text:?}; its log:\n{last}");
    }

    /// The pod `name` once the kubelet has moved it past Pending (its process may log before
    /// the pod's status is written).
    async fn pod_past_pending(&self, name: &str) -> Value {
        let mut pod = Value::Null;
        for _ in 0..100 {
            let out = self
                .kubectl
                .ok(&["get", "pod", name, "-n", NAMESPACE, "-o", "json"])
                .await;
            pod = serde_json::from_str(&out).unwrap();
            if pod["status"]["phase"] != "Pending" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        pod
    }

    /// The names of the pool's workers once one has sent its first heartbeat (which follows
    /// the preflight).
    async fn workers_of(&self, pool: &str) -> Vec<String> {
        for _ in 0..100 {
            let workers = self.client.filter_workers(pool).await.unwrap();
            if !workers.is_empty() {
                return workers.into_iter().map(|w| w.name).collect();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no worker of {pool} ever sent a heartbeat");
    }
}

/// The rendered manifest without the Role rule granting `pods/log`.
fn without_pod_logs(manifest: &str) -> String {
    let lines: Vec<&str> = manifest.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("resources:") && l.contains("pods/log"))
        .expect("the chart's Role grants pods/log");
    let start = (0..=at)
        .rev()
        .find(|&i| lines[i].trim_start().starts_with("- "))
        .expect("the rule's first line");
    let indent = lines[start].len() - lines[start].trim_start().len();
    let end = (at + 1..lines.len())
        .find(|&i| {
            let line = lines[i];
            let own = line.len() - line.trim_start().len();
            own < indent || (own == indent && line.trim_start().starts_with("- "))
        })
        .unwrap_or(lines.len());
    let mut kept: Vec<&str> = lines[..start].to_vec();
    kept.extend_from_slice(&lines[end..]);
    kept.join("\n") + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_chart_runs_a_flow_on_the_simulator() {
    let rig = rig().await;
    let manifest = render(&rig.values("chart-pool"));
    rig.apply(&manifest).await;

    // The Deployment's pod is a local `weir worker` named after the pod ($(WEIR_POD_NAME)),
    // reaching the simulator in-cluster with its service-account token.
    let (pod, log) = rig.worker_pod_logging("RBAC preflight passed").await;
    let pod_name = pod["metadata"]["name"].as_str().unwrap().to_owned();
    assert_eq!(pod["status"]["phase"], "Running", "{pod}");
    assert!(!log.contains("lacks"), "{log}");
    assert_eq!(rig.workers_of("chart-pool").await, [pod_name]);

    // The pool carries the chart's base job template, as its ConfigMap holds it.
    let configmaps: Value = serde_json::from_str(
        &rig.kubectl
            .ok(&["get", "configmaps", "-n", NAMESPACE, "-o", "json"])
            .await,
    )
    .unwrap();
    let chart_template: Value = configmaps["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|cm| cm["data"]["base-job-template.json"].as_str())
        .map(|text| serde_json::from_str(text).expect("the template is JSON"))
        .expect("the chart's template ConfigMap");
    let pool = rig.client.read_work_pool("chart-pool").await.unwrap();
    assert_eq!(
        Value::Object(pool.base_job_template.clone()),
        chart_template
    );
    assert_eq!(
        chart_template["variables"]["properties"]["namespace"]["default"],
        NAMESPACE
    );

    // A flow run of the pool becomes a Job in the job namespace and completes.
    let deployment = deploy(&rig.client, "chart-pool", json!({"image": FLOWS_IMAGE})).await;
    let run = run_to_completion(&rig.client, &deployment).await;
    assert_eq!(
        run.state_type,
        Some(StateType::Completed),
        "{:?}",
        run.state
    );
    let pid = run.infrastructure_pid.clone().unwrap_or_default();
    let job_name = pid
        .strip_prefix(&format!("{NAMESPACE}:"))
        .unwrap_or_else(|| panic!("the run's Job is in {NAMESPACE}: {pid}"));
    let job: Value = serde_json::from_str(
        &rig.kubectl
            .ok(&["get", "job", job_name, "-n", NAMESPACE, "-o", "json"])
            .await,
    )
    .unwrap();
    assert_eq!(job["status"]["succeeded"], 1, "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_pod_logs_is_named_by_the_worker_preflight() {
    let rig = rig().await;
    let manifest = without_pod_logs(&render(&rig.values("chart-no-logs")));
    assert!(!manifest.contains("pods/log"), "{manifest}");
    rig.apply(&manifest).await;
    let (_, log) = rig.worker_pod_logging("RBAC preflight").await;
    assert!(
        log.contains(&format!(
            "the worker lacks 1 permission: get pods/log in namespace \"{NAMESPACE}\""
        )),
        "{log}"
    );
    assert!(
        log.contains("Add these rules to the worker's Role"),
        "{log}"
    );
}

#[test]
fn removing_the_pod_log_rule_keeps_the_other_rules() {
    let role = "rules:\n  - apiGroups: [\"\"]\n    resources: [\"pods\"]\n    verbs: [\"get\"]\n  - apiGroups: [\"\"]\n    resources: [\"pods/log\"]\n    verbs: [\"get\"]\n---\nkind: RoleBinding\n";
    assert_eq!(
        without_pod_logs(role),
        "rules:\n  - apiGroups: [\"\"]\n    resources: [\"pods\"]\n    verbs: [\"get\"]\n---\nkind: RoleBinding\n"
    );
}
