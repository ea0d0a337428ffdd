//! Conformance through the Python `kubernetes` client against the loopback listener: create a Job,
//! watch its pod to completion, read the logs, see the Job complete. The interpreter comes from
//! `WEIR_KUBE_PYTHON` (default `/var/cache/weir/kube-venv/bin/python`); the test fails, never skips,
//! when it or the `kubernetes` package is missing.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use weir_kube_sim::{Config, Simulator};

use crate::common::scratch_dir;

const SCRIPT: &str = r#"
import json, sys
from kubernetes import client, config, watch

config.load_kube_config(sys.argv[1])
batch, core = client.BatchV1Api(), client.CoreV1Api()
scenario = json.dumps({"kind": "succeed", "afterSeconds": 1, "logs": ["alpha", "beta"]})
job = client.V1Job(
    metadata=client.V1ObjectMeta(generate_name="py-"),
    spec=client.V1JobSpec(
        backoff_limit=0,
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(annotations={"weir.dev/scenario": scenario}),
            spec=client.V1PodSpec(
                restart_policy="Never",
                containers=[client.V1Container(name="main", image="python:3.12", command=["python", "-c", "print(1)"])],
            ),
        ),
    ),
)
created = batch.create_namespaced_job("default", job)
name = created.metadata.name
pod_name, phase, events = None, None, []
w = watch.Watch()
for ev in w.stream(core.list_namespaced_pod, "default", label_selector=f"job-name={name}", timeout_seconds=30):
    events.append(ev["type"])
    pod_name, phase = ev["object"].metadata.name, ev["object"].status.phase
    if phase in ("Succeeded", "Failed"):
        w.stop()
logs = core.read_namespaced_pod_log(pod_name, "default")
conditions = []
w = watch.Watch()
for ev in w.stream(batch.list_namespaced_job, "default", field_selector=f"metadata.name={name}", timeout_seconds=30):
    conditions = [c.type for c in (ev["object"].status.conditions or []) if c.status == "True"]
    if "Complete" in conditions or "Failed" in conditions:
        w.stop()
try:
    batch.read_namespaced_job("no-such-job", "default")
    missing = None
except client.exceptions.ApiException as e:
    missing = e.status
batch.delete_namespaced_job(name, "default", propagation_policy="Background")
print(json.dumps({"phase": phase, "logs": logs, "conditions": conditions, "events": events, "missing": missing}))
"#;

fn python() -> PathBuf {
    let path = std::env::var_os("WEIR_KUBE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/weir/kube-venv/bin/python"));
    let ok = std::process::Command::new(&path)
        .args(["-c", "import kubernetes"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the Python kubernetes client is required by the conformance tests but {path:?} cannot import it; create the venv (see crates/weir-kube-sim/README.md) or set WEIR_KUBE_PYTHON"
    );
    path
}

#[tokio::test]
async fn python_client_runs_a_job_and_reads_its_logs() {
    let py = python();
    let sim = Simulator::with_config(Config {
        clock_speed: 2.0,
        ..Config::default()
    });
    let addr = sim.listen(0).await.unwrap();
    let dir = scratch_dir("python");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, Simulator::kubeconfig(addr, "admin")).unwrap();
    let script = dir.join("conformance.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(py)
            .arg(&script)
            .arg(&kubeconfig)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the python client finishes")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("the script prints JSON");
    assert_eq!(result["phase"], "Succeeded");
    assert_eq!(result["logs"], "alpha\nbeta\n");
    assert_eq!(
        result["conditions"],
        serde_json::json!(["SuccessCriteriaMet", "Complete"])
    );
    assert_eq!(result["events"][0], "ADDED");
    assert_eq!(result["missing"], 404);
}
