//! Conformance through the real kubectl against the loopback listener: create job, get -o json,
//! get -w, logs -f, wait, patch, delete, auth can-i. kubectl must be installed (or named by
//! `WEIR_KUBECTL`); the test fails, never skips, when it is missing.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use weir_kube_sim::kubectl::{kubectl_binary, Kubectl};
use weir_kube_sim::{Config, Rbac, Rule, Simulator, User};

use crate::common::scratch_dir;

#[tokio::test]
async fn kubectl_runs_a_job_end_to_end() {
    let sim = Simulator::with_config(Config {
        clock_speed: 4.0,
        ..Config::default()
    });
    let k = Kubectl::start(&sim, "admin").await;

    let out = k
        .ok(&[
            "create",
            "job",
            "hello",
            "--image=busybox:1.36",
            "--",
            "echo",
            "hi",
        ])
        .await;
    assert_eq!(out.trim(), "job.batch/hello created");

    let json: Value = serde_json::from_str(&k.ok(&["get", "jobs", "-o", "json"]).await).unwrap();
    assert_eq!(json["items"][0]["metadata"]["name"], "hello");
    assert_eq!(json["items"][0]["spec"]["backoffLimit"], 6);

    k.ok(&[
        "wait",
        "--for=condition=complete",
        "job/hello",
        "--timeout=30s",
    ])
    .await;
    let logs = k.ok(&["logs", "-f", "job/hello"]).await;
    assert_eq!(logs, "echo hi\n");

    let table = k.ok(&["get", "pods"]).await;
    assert!(
        table.starts_with("NAME") && table.contains("Completed"),
        "{table}"
    );
    let jobs_table = k.ok(&["get", "jobs"]).await;
    assert!(
        jobs_table.contains("Complete") && jobs_table.contains("1/1"),
        "{jobs_table}"
    );

    let deleted = k.ok(&["delete", "job", "hello"]).await;
    assert_eq!(deleted.trim(), "job.batch \"hello\" deleted");
    let (found, _, err) = k.run(&["get", "job", "hello"]).await;
    assert!(!found && err.contains("NotFound"), "{err}");
}

#[tokio::test]
async fn kubectl_watches_pods_and_follows_logs() {
    let sim = Simulator::with_config(Config {
        clock_speed: 2.0,
        ..Config::default()
    });
    let k = Kubectl::start(&sim, "admin").await;
    let mut watch = k
        .command(&[
            "get",
            "pods",
            "-w",
            "-o",
            "jsonpath={.metadata.name} {.status.phase}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w starts");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    // A first pod proves the watch is established before the Job is created.
    k.ok(&[
        "run",
        "marker",
        "--image=busybox:1.36",
        "--restart=Never",
        "--annotations=weir.dev/scenario=hang",
    ])
    .await;
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the watch prints the marker pod");
    assert!(first.unwrap().unwrap().starts_with("marker "));
    k.ok(&[
        "create",
        "job",
        "talk",
        "--image=busybox:1.36",
        "--",
        "sh",
        "-c",
        "echo hi",
    ])
    .await;
    let phases = tokio::time::timeout(Duration::from_secs(30), async {
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if !line.starts_with("talk-") {
                continue;
            }
            seen.push(line.clone());
            if line.ends_with("Succeeded") {
                break;
            }
        }
        seen
    })
    .await
    .expect("the watch reports the pod reaching Succeeded");
    assert!(
        phases.iter().any(|l| l.ends_with("Pending"))
            && phases.last().is_some_and(|l| l.ends_with("Succeeded")),
        "{phases:?}"
    );
    watch.kill().await.ok();

    k.ok(&["create", "configmap", "cfg", "--from-literal=a=b"])
        .await;
    k.ok(&[
        "patch",
        "configmap",
        "cfg",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/c","value":"d"}]"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "configmap",
        "cfg",
        "--type=merge",
        "-p",
        r#"{"data":{"a":null}}"#,
    ])
    .await;
    let cm: Value =
        serde_json::from_str(&k.ok(&["get", "configmap", "cfg", "-o", "json"]).await).unwrap();
    assert_eq!(cm["data"], serde_json::json!({"c": "d"}));

    let dir = k.kubeconfig.parent().unwrap().to_path_buf();
    let manifest = dir.join("applied.yaml");
    for value in ["1", "2"] {
        let yaml = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  x: \"{value}\"\n");
        std::fs::write(&manifest, yaml).unwrap();
        k.ok(&["apply", "-f", manifest.to_str().unwrap()]).await;
    }
    let applied = k
        .ok(&["get", "configmap", "applied", "-o", "jsonpath={.data.x}"])
        .await;
    assert_eq!(applied, "2");
}

#[tokio::test]
async fn kubectl_auth_can_i_follows_the_rule_table() {
    let sim = Simulator::new();
    let worker = User::new(
        "worker",
        vec![Rule::new(&["create", "get"], &["batch"], &["jobs"])],
    );
    sim.set_rbac(Rbac::closed().with_token("worker-token", worker));
    let k = Kubectl::start_tls(&sim, "worker-token").await;
    assert_eq!(
        k.ok(&[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}"
        ])
        .await,
        "worker"
    );
    assert_eq!(
        k.ok(&["auth", "can-i", "create", "jobs"]).await.trim(),
        "yes"
    );
    let (allowed, out, _) = k.run(&["auth", "can-i", "delete", "jobs"]).await;
    assert!(!allowed && out.trim() == "no", "{out}");
    let (allowed, out, _) = k
        .run(&["auth", "can-i", "get", "pods", "--subresource=log"])
        .await;
    assert!(!allowed && out.trim() == "no", "{out}");
    let (listed, _, err) = k.run(&["get", "pods"]).await;
    assert!(!listed && err.contains("forbidden"), "{err}");

    // Over plain HTTP kubectl sends no token at all: anonymous is refused unless configured.
    let plain = Kubectl::start(&sim, "worker-token").await;
    let (listed, _, err) = plain.run(&["get", "jobs"]).await;
    assert!(!listed && err.contains("Unauthorized"), "{err}");
    sim.set_rbac(Rbac::closed().with_anonymous(User::new(
        "anon",
        vec![Rule::new(&["list"], &["batch"], &["jobs"])],
    )));
    plain.ok(&["get", "jobs"]).await;
}

#[tokio::test]
async fn the_binary_serves_and_writes_a_kubeconfig() {
    let dir = scratch_dir("binary");
    let kubeconfig = dir.join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_weir-kube-sim"))
        .args([
            "--port",
            "0",
            "--clock-speed",
            "4",
            "--scenario",
            "busybox*=exit:3:0.1",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the simulator binary starts");
    let written = tokio::time::timeout(Duration::from_secs(30), async {
        while !kubeconfig.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(written.is_ok(), "the binary writes its kubeconfig");
    let k = Kubectl {
        bin: kubectl_binary(),
        kubeconfig,
    };
    k.ok(&[
        "create",
        "job",
        "doomed",
        "--image=busybox:1.36",
        "--",
        "false",
    ])
    .await;
    // kubectl create job leaves backoffLimit at 6, so wait for the first failed pod only.
    k.ok(&[
        "wait",
        "--for=jsonpath={.status.failed}=1",
        "job/doomed",
        "--timeout=30s",
    ])
    .await;
    child.kill().await.ok();
}
