//! The `weir-worker` chart: RBAC equal to the preflight's rules in every job namespace, the worker's
//! arguments and credentials, and a base job template that is Weir's with the chart's defaults.

use serde_json::{json, Value};
use weir_core::job_template::{default_kubernetes_template, BaseJobTemplate};
use weir_kube::preflight::{role_rules_yaml, REQUIRED_RULES};

use crate::helm::{chart_dir, ci_file, manifests, render, Manifests, NAMESPACE};

const CHART: &str = "weir-worker";
const FULLNAME: &str = "r-weir-worker";

/// [`REQUIRED_RULES`] as the `rules` of a Role.
fn required_rules() -> Value {
    REQUIRED_RULES
        .iter()
        .map(|rule| {
            json!({
                "apiGroups": [rule.api_group],
                "resources": [rule.resource_name()],
                "verbs": rule.verbs,
            })
        })
        .collect()
}

fn namespaces_of(manifests: &[&Value]) -> Vec<String> {
    manifests
        .iter()
        .map(|m| m["metadata"]["namespace"].as_str().unwrap().to_owned())
        .collect()
}

fn worker_subject(service_account: &str) -> Value {
    json!([{"kind": "ServiceAccount", "name": service_account, "namespace": NAMESPACE}])
}

#[test]
fn the_chart_rules_file_is_the_preflight_rules() {
    let file = std::fs::read_to_string(chart_dir(CHART).join("files/role-rules.yaml")).unwrap();
    assert_eq!(
        file,
        role_rules_yaml(),
        "charts/weir-worker/files/role-rules.yaml must be weir_kube::preflight::role_rules_yaml()"
    );
}

#[test]
fn every_job_namespace_gets_a_role_with_exactly_the_preflight_rules() {
    for (values, namespaces) in [
        ("defaults", vec![NAMESPACE]),
        ("namespaces", vec!["flows-a", "flows-b"]),
        ("template-defaults", vec!["flows"]),
    ] {
        let rendered = manifests(CHART, values);
        let roles = rendered.of_kind("Role");
        let bindings = rendered.of_kind("RoleBinding");
        assert_eq!(namespaces_of(&roles), namespaces, "{values}: Roles");
        assert_eq!(
            namespaces_of(&bindings),
            namespaces,
            "{values}: RoleBindings"
        );
        for role in &roles {
            assert_eq!(role["metadata"]["name"], FULLNAME);
            assert_eq!(role["rules"], required_rules(), "{values}: {role}");
        }
        for binding in &bindings {
            assert_eq!(
                binding["roleRef"],
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": FULLNAME})
            );
            assert_eq!(binding["subjects"], worker_subject(FULLNAME), "{values}");
        }
        assert!(rendered.of_kind("ClusterRole").is_empty());
        let worker_accounts: Vec<&Value> = rendered
            .of_kind("ServiceAccount")
            .into_iter()
            .filter(|a| a["metadata"]["name"] == FULLNAME)
            .collect();
        assert_eq!(namespaces_of(&worker_accounts), [NAMESPACE], "{values}");
        let pod = &rendered.one("Deployment")["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], FULLNAME);
    }
}

#[test]
fn the_cluster_role_holds_the_same_rules_and_binds_the_named_account() {
    let rendered = manifests(CHART, "cluster-role");
    assert!(rendered.of_kind("Role").is_empty());
    assert!(rendered.of_kind("RoleBinding").is_empty());
    let role = rendered.one("ClusterRole");
    assert_eq!(role["rules"], required_rules());
    let binding = rendered.one("ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"], worker_subject("weir-worker-sa"));
    assert_eq!(
        rendered.one("ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/weir-worker"
    );
}

#[test]
fn no_rbac_and_an_existing_account_render_no_rbac_objects() {
    let rendered = manifests(CHART, "no-reconcile");
    for kind in [
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ServiceAccount",
        "ConfigMap",
    ] {
        assert!(rendered.of_kind(kind).is_empty(), "{kind} rendered");
    }
    let pod = &rendered.one("Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "existing-worker");
    assert!(!rendered.args().contains(&"--base-job-template".to_owned()));
}

#[test]
fn the_worker_gets_its_pool_queues_namespaces_and_a_key_by_reference() {
    let rendered = manifests(CHART, "namespaces");
    let deployment = rendered.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert!(
        deployment["spec"].get("strategy").is_none(),
        "rolling updates by default"
    );
    let container = rendered.container();
    assert_eq!(container["command"], json!(["/usr/local/bin/weir"]));
    assert_eq!(
        container["image"],
        format!("ghcr.io/weir-dev/weir:{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        rendered.args(),
        [
            "worker",
            "start",
            "--type",
            "kubernetes",
            "--pool",
            "kubernetes",
            "--work-queue",
            "default",
            "--work-queue",
            "high",
            "--limit",
            "20",
            "--name",
            "$(WEIR_POD_NAME)",
            "--health-port",
            "8080",
            "--poll-seconds",
            "2.5",
            "--heartbeat-seconds",
            "15",
            "--namespace",
            "flows-a",
            "--namespace",
            "flows-b",
            "--api-key-secret",
            "weir-api-key:api-key",
            "--base-job-template",
            "/etc/weir/base-job-template/base-job-template.json",
        ]
    );
    // Each replica is named after its pod, so several replicas serve one pool.
    assert_eq!(
        rendered.env("WEIR_POD_NAME").unwrap()["valueFrom"],
        json!({"fieldRef": {"fieldPath": "metadata.name"}})
    );
    assert_eq!(
        rendered.env("WEIR_API_URL").unwrap()["value"],
        "http://weir-server.weir.svc.cluster.local:4200/api"
    );
    assert_eq!(
        rendered.env("WEIR_API_KEY").unwrap(),
        &json!({"name": "WEIR_API_KEY", "valueFrom": {"secretKeyRef": {"name": "weir-api-key", "key": "api-key"}}})
    );
    assert!(rendered.env("WEIR_API_AUTH_STRING").is_none());
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            container[probe]["httpGet"],
            json!({"path": "/health", "port": "health"})
        );
    }
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
}

#[test]
fn basic_auth_and_a_fixed_name_are_passed_through() {
    let rendered = manifests(CHART, "cluster-role");
    assert_eq!(
        rendered.env("WEIR_API_AUTH_STRING").unwrap()["valueFrom"],
        json!({"secretKeyRef": {"name": "weir-auth", "key": "auth-string"}})
    );
    assert!(rendered.env("WEIR_API_KEY").is_none());
    let args = rendered.args();
    let at = args
        .iter()
        .position(|a| a == "--auth-string-secret")
        .unwrap();
    assert_eq!(args[at + 1], "weir-auth:auth-string");

    let rendered = manifests(CHART, "inline-template");
    let args = rendered.args();
    assert!(
        !args.contains(&"--api-key-secret".to_owned()),
        "secretRefInJobs is false: {args:?}"
    );
    let at = args.iter().position(|a| a == "--name").unwrap();
    assert_eq!(args[at + 1], "worker-one");
    let deployment = rendered.one("Deployment");
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert!(!args.contains(&"--limit".to_owned()));
}

#[test]
fn no_value_of_any_rendering_holds_a_credential_in_plain_text() {
    for values in crate::helm::ci_values(CHART) {
        let text = render(CHART, &[&values], &[]).unwrap();
        for manifest in Manifests::parse(&text).of_kind("Deployment") {
            let env = &manifest["spec"]["template"]["spec"]["containers"][0]["env"];
            for entry in env.as_array().unwrap() {
                if matches!(
                    entry["name"].as_str(),
                    Some("WEIR_API_KEY" | "WEIR_API_AUTH_STRING")
                ) {
                    assert!(
                        entry.get("value").is_none(),
                        "{}: {entry}",
                        values.display()
                    );
                    assert!(entry["valueFrom"]["secretKeyRef"].is_object());
                }
            }
        }
    }
}

/// The template in the chart's ConfigMap, and the path the worker is told to read it from.
fn template_of(rendered: &Manifests) -> (BaseJobTemplate, Value) {
    let config_map = rendered.one("ConfigMap");
    assert_eq!(
        config_map["metadata"]["name"],
        format!("{FULLNAME}-base-job-template")
    );
    let text = config_map["data"]["base-job-template.json"]
        .as_str()
        .unwrap();
    let raw: Value = serde_json::from_str(text).expect("the ConfigMap holds JSON");
    let template: BaseJobTemplate = serde_json::from_value(raw.clone()).unwrap();
    template
        .validate()
        .expect("the chart's template is one the server accepts");
    let args = rendered.args();
    let at = args
        .iter()
        .position(|a| a == "--base-job-template")
        .unwrap();
    assert_eq!(
        args[at + 1],
        "/etc/weir/base-job-template/base-job-template.json"
    );
    let pod = &rendered.one("Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"][1],
        json!({"name": "base-job-template", "configMap": {"name": config_map["metadata"]["name"],
            "items": [{"key": "base-job-template.json", "path": "base-job-template.json"}]}})
    );
    (template, raw)
}

/// Weir's Kubernetes template (what `weir work-pool get-default-base-job-template --type
/// kubernetes` prints: the server serves this constant) with these variable defaults set.
fn weirs_template_with(defaults: Value) -> Value {
    let mut expected = serde_json::to_value(default_kubernetes_template()).unwrap();
    for (variable, default) in defaults.as_object().unwrap() {
        expected["variables"]["properties"][variable]["default"] = default.clone();
    }
    expected
}

#[test]
fn the_default_template_is_weirs_with_the_release_namespace() {
    let (_, raw) = template_of(&manifests(CHART, "defaults"));
    assert_eq!(raw, weirs_template_with(json!({"namespace": NAMESPACE})));
}

#[test]
fn the_template_follows_the_job_namespaces_and_the_job_service_account() {
    let rendered = manifests(CHART, "namespaces");
    let (template, raw) = template_of(&rendered);
    assert_eq!(
        raw,
        weirs_template_with(
            json!({"namespace": "flows-a", "service_account_name": "r-weir-worker-job"})
        )
    );
    assert_eq!(template.defaults()["namespace"], "flows-a");
    let job_accounts: Vec<&Value> = rendered
        .of_kind("ServiceAccount")
        .into_iter()
        .filter(|a| a["metadata"]["name"] == "r-weir-worker-job")
        .collect();
    assert_eq!(namespaces_of(&job_accounts), ["flows-a", "flows-b"]);
    for account in job_accounts {
        assert_eq!(account["automountServiceAccountToken"], false);
    }
}

#[test]
fn template_defaults_from_values_land_in_the_template() {
    let (_, raw) = template_of(&manifests(CHART, "template-defaults"));
    assert_eq!(
        raw,
        weirs_template_with(json!({
            "namespace": "flows",
            "service_account_name": "flow-runner",
            "image": "registry.example.com/flows:2",
            "finished_job_ttl": 3600,
            "cpu_request": "500m",
            "memory_limit": "1Gi",
            "env": {"TZ": "UTC"},
        }))
    );
}

#[test]
fn an_inline_template_is_written_as_given() {
    let rendered = manifests(CHART, "inline-template");
    let (template, raw) = template_of(&rendered);
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(ci_file(CHART, "inline-template")).unwrap(),
    )
    .unwrap();
    assert_eq!(raw, values["baseJobTemplate"]["inline"]);
    assert_eq!(template.defaults()["namespace"], "flows");
}

#[test]
fn an_existing_config_map_is_mounted_and_named_in_the_args() {
    let rendered = manifests(CHART, "configmap-template");
    assert!(rendered.of_kind("ConfigMap").is_empty());
    let args = rendered.args();
    let at = args
        .iter()
        .position(|a| a == "--base-job-template")
        .unwrap();
    assert_eq!(args[at + 1], "/etc/weir/base-job-template/template.json");
    let pod = &rendered.one("Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"][1]["configMap"],
        json!({"name": "weir-pool-template", "items": [{"key": "template.json", "path": "template.json"}]})
    );
    assert_eq!(
        rendered.container()["image"],
        "ghcr.io/weir-dev/weir:0.1.0-debug"
    );
    assert!(rendered.container().get("livenessProbe").is_none());
}

#[test]
fn the_schema_accepts_defaults_for_exactly_the_template_variables() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir(CHART).join("values.schema.json")).unwrap(),
    )
    .unwrap();
    let mut allowed: Vec<&String> = schema["properties"]["baseJobTemplate"]["properties"]
        ["defaults"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let template = default_kubernetes_template();
    let mut variables: Vec<&String> = template.properties().unwrap().keys().collect();
    allowed.sort();
    variables.sort();
    assert_eq!(allowed, variables);
}

#[test]
fn the_chart_template_file_is_weirs_kubernetes_template() {
    let text =
        std::fs::read_to_string(chart_dir(CHART).join("files/kubernetes-default.json")).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        file,
        serde_json::to_value(default_kubernetes_template()).unwrap(),
        "charts/weir-worker/files/kubernetes-default.json must equal \
         crates/weir-core/src/job_template/kubernetes-default.json"
    );
}

#[test]
fn numbers_reach_the_args_as_written() {
    // A values file, since `--set` passes 0.5 as a string.
    let numbers = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("worker-numbers-{}.yaml", std::process::id()));
    std::fs::write(
        &numbers,
        "worker:\n  limit: 1000000\n  pollSeconds: 0.5\n  healthPort: 9000\n",
    )
    .unwrap();
    let rendered = render(CHART, &[&ci_file(CHART, "defaults"), &numbers], &[]);
    let _ = std::fs::remove_file(&numbers);
    let text = rendered.unwrap();
    let args = Manifests::parse(&text).args();
    let after = |flag: &str| {
        let at = args.iter().position(|a| a == flag).unwrap();
        args[at + 1].clone()
    };
    assert_eq!(after("--limit"), "1000000");
    assert_eq!(after("--poll-seconds"), "0.5");
    assert_eq!(after("--health-port"), "9000");
}
