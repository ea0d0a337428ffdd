//! Deployments applied with the real `kubectl apply`: the controller keeps their pods (replicas,
//! replacement, rollout, garbage collection), and a pod run as a local image gets its volumes, its
//! service-account token (authorized by the applied Role and RoleBinding, revoked with the pod)
//! and in-cluster access to the HTTPS listener.

use std::time::Duration;

use serde_json::Value;
use weir_kube_sim::kubectl::Kubectl;
use weir_kube_sim::{Scenario, Simulator};

use crate::common::scratch_dir;

/// A ServiceAccount allowed to read pods (not their logs) in `apps`, a ConfigMap, and a
/// Deployment of `replicas` pods whose container is `/probe` in the image, with `args`.
fn manifest(replicas: u32, image: &str, args: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: prober
  namespace: apps
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-reader
  namespace: apps
rules:
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: prober-reads-pods
  namespace: apps
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: pod-reader
subjects:
  - kind: ServiceAccount
    name: prober
    namespace: apps
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: probe-config
  namespace: apps
data:
  greeting.txt: hello from a ConfigMap
---
apiVersion: v1
kind: Secret
metadata:
  name: probe-secret
  namespace: apps
data:
  password: czNjcmV0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: probe
  namespace: apps
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: probe
  template:
    metadata:
      labels:
        app: probe
    spec:
      serviceAccountName: prober
      containers:
        - name: probe
          image: {image}
          args: {args}
          env:
            - name: KUBECTL
              value: {kubectl}
          volumeMounts:
            - name: config
              mountPath: /etc/probe
            - name: scratch
              mountPath: /tmp
            - name: secret
              mountPath: /etc/secret/password
              subPath: password
      volumes:
        - name: secret
          secret:
            secretName: probe-secret
        - name: config
          configMap:
            name: probe-config
        - name: scratch
          emptyDir: {{}}
"#,
        kubectl = weir_kube_sim::kubectl::kubectl_binary().display(),
    )
}

/// The probe: prints the mounted files (their paths are arguments, rewritten to the pod's folder),
/// then asks the API server, in-cluster, who it is and what it may do.
const PROBE: &str = r#"["-c", "cat \"$1\"; echo; echo secret=$(cat \"$2\"); D=$WEIR_KUBERNETES_SERVICE_ACCOUNT_DIR; echo token=$(cat $D/token); echo namespace=$(cat $D/namespace); K=\"$KUBECTL --server=https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT --certificate-authority=$D/ca.crt --token=$(cat $D/token)\"; echo whoami=$($K auth whoami -o jsonpath={.status.userInfo.username}); echo list-pods=$($K auth can-i list pods -n apps); echo pod-logs=$($K auth can-i get pods --subresource=log -n apps); exec sleep 300", "probe", "/etc/probe/greeting.txt", "/etc/secret/password"]"#;

async fn pods(k: &Kubectl) -> Vec<Value> {
    let out = k
        .ok(&["get", "pods", "-n", "apps", "-l", "app=probe", "-o", "json"])
        .await;
    let list: Value = serde_json::from_str(&out).unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

fn live_names(pods: &[Value]) -> Vec<String> {
    pods.iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Polls `kubectl` until `check` holds (the apiserver-facing view, as a user would look).
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn log_of(k: &Kubectl, pod: &str) -> String {
    k.run(&["logs", "-n", "apps", pod]).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_runs_a_local_image_with_its_service_account_and_volumes() {
    let sim = Simulator::new();
    sim.set_scenario(
        "registry.local/probe*",
        Scenario::local_image("/probe", "/bin/sh"),
    );
    let k = Kubectl::start_tls(&sim, "admin").await;
    k.ok(&["create", "namespace", "apps"]).await;
    let file = scratch_dir("deployment").join("probe.yaml");
    std::fs::write(&file, manifest(1, "registry.local/probe:1", PROBE)).unwrap();
    let applied = k.ok(&["apply", "-f", file.to_str().unwrap()]).await;
    assert!(
        applied.contains("deployment.apps/probe created"),
        "{applied}"
    );

    let pod = eventually("the probe pod's report", async || {
        let names = live_names(&pods(&k).await);
        let name = names.first()?.clone();
        log_of(&k, &name)
            .await
            .contains("pod-logs=")
            .then_some(name)
    })
    .await;
    assert!(pod.starts_with("probe-"), "{pod}");
    let log = log_of(&k, &pod).await;
    assert!(log.starts_with("hello from a ConfigMap\n"), "{log}");
    assert!(log.contains("secret=s3cret\n"), "{log}");
    assert!(log.contains("namespace=apps\n"), "{log}");
    assert!(
        log.contains("whoami=system:serviceaccount:apps:prober\n"),
        "{log}"
    );
    assert!(log.contains("list-pods=yes\n"), "{log}");
    assert!(log.contains("pod-logs=no\n"), "{log}");
    let token = log
        .lines()
        .find_map(|l| l.strip_prefix("token="))
        .expect("the token was printed")
        .to_string();
    // The token is the service account's, whatever the admin kubeconfig may do.
    let as_pod = |args: &[&str]| {
        let mut all = vec!["--token", token.as_str()];
        all.extend_from_slice(args);
        all.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let args = as_pod(&["auth", "can-i", "delete", "deployments", "-n", "apps"]);
    let (allowed, out, _) = k
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert!(!allowed && out.trim() == "no", "{out}");

    let status = eventually("the Deployment's readiness", async || {
        let out = k
            .ok(&["get", "deployment", "probe", "-n", "apps", "-o", "json"])
            .await;
        let d: Value = serde_json::from_str(&out).ok()?;
        (d["status"]["readyReplicas"] == 1).then_some(d["status"].clone())
    })
    .await;
    assert_eq!(status["updatedReplicas"], 1, "{status}");
    assert_eq!(status["conditions"][0]["type"], "Available", "{status}");
    assert_eq!(status["conditions"][0]["status"], "True", "{status}");

    // A deleted pod is replaced, and its token stops working once it is gone.
    k.ok(&["delete", "pod", "-n", "apps", &pod, "--wait=true"])
        .await;
    let replacement = eventually("a replacement pod", async || {
        live_names(&pods(&k).await).into_iter().find(|n| *n != pod)
    })
    .await;
    let args = as_pod(&["auth", "whoami"]);
    let (ok, _, err) = k
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert!(!ok && err.contains("Unauthorized"), "{err}");

    // Scaling up adds pods of the same template; a new template replaces them all.
    let replicas = r#"{"spec":{"replicas":2}}"#;
    k.ok(&[
        "patch",
        "deployment",
        "probe",
        "-n",
        "apps",
        "--type=merge",
        "-p",
        replicas,
    ])
    .await;
    eventually("two pods", async || {
        (live_names(&pods(&k).await).len() == 2).then_some(())
    })
    .await;
    std::fs::write(&file, manifest(2, "registry.local/probe:2", PROBE)).unwrap();
    k.ok(&["apply", "-f", file.to_str().unwrap()]).await;
    let rolled = eventually("the rollout", async || {
        let all = pods(&k).await;
        let live: Vec<&Value> = all
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        let done = live.len() == 2
            && live
                .iter()
                .all(|p| p["spec"]["containers"][0]["image"] == "registry.local/probe:2");
        done.then(|| live_names(&all))
    })
    .await;
    assert!(!rolled.contains(&replacement), "{rolled:?}");

    // Deleting the Deployment collects its pods.
    k.ok(&["delete", "deployment", "probe", "-n", "apps"]).await;
    eventually("the pods' collection", async || {
        pods(&k).await.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_deployment_whose_selector_misses_its_labels_is_refused() {
    let sim = Simulator::new();
    let k = Kubectl::start_tls(&sim, "admin").await;
    let file = scratch_dir("bad-deployment").join("bad.yaml");
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  selector:\n    matchLabels:\n      app: a\n  template:\n    metadata:\n      labels:\n        app: b\n    spec:\n      containers:\n        - name: c\n          image: busybox\n";
    std::fs::write(&file, yaml).unwrap();
    let (ok, _, err) = k.run(&["apply", "-f", file.to_str().unwrap()]).await;
    assert!(!ok, "the apply should fail");
    assert!(
        err.contains("`selector` does not match template `labels`"),
        "{err}"
    );
}

/// Under the Recreate strategy a new template's pod starts only once the old pod is gone; under
/// the default it starts at once, while the old one is still terminating.
#[tokio::test]
async fn the_recreate_strategy_waits_for_old_pods_to_go() {
    use weir_kube_sim::store::EventType;
    for (strategy, waits) in [("Recreate", true), ("RollingUpdate", false)] {
        let (sim, client) = crate::common::fast(1.0);
        let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::default_namespaced(client);
        let deployment = |image: &str| -> k8s_openapi::api::apps::v1::Deployment {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "app"},
                "spec": {
                    "strategy": {"type": strategy},
                    "selector": {"matchLabels": {"app": "a"}},
                    "template": {
                        "metadata": {"labels": {"app": "a"}, "annotations": {"weir.dev/scenario": "run-local"}},
                        "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
                            "name": "c", "image": image,
                            "command": ["sh", "-c", "trap 'sleep 0.3; exit 0' TERM; while true; do sleep 0.05; done"],
                        }]},
                    },
                },
            }))
            .unwrap()
        };
        let (_, _, mut changes) = sim
            .store()
            .snapshot_and_watch(weir_kube_sim::resources::known::pods());
        let pp = kube::api::PostParams::default();
        deployments.create(&pp, &deployment("one")).await.unwrap();
        let first = loop {
            let change = changes.recv().await.unwrap();
            if change.resource.plural == "pods" && change.kind == EventType::Added {
                break change.object["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string();
            }
        };
        // Let the first pod's process start, so its deletion is graceful.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut next = deployments.get("app").await.unwrap();
        next.spec.template = deployment("two").spec.template;
        deployments.replace("app", &pp, &next).await.unwrap();
        let mut old_gone = false;
        let started_while_old_present = loop {
            let change = changes.recv().await.unwrap();
            if change.resource.plural != "pods" {
                continue;
            }
            let name = change.object["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            match change.kind {
                EventType::Deleted if name == first => old_gone = true,
                EventType::Added if name != first => break !old_gone,
                _ => {}
            }
        };
        assert_eq!(started_while_old_present, !waits, "{strategy}");
    }
}
