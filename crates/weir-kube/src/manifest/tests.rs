//! Job manifests from the default Kubernetes template and custom ones: golden files for many
//! variable combinations (`tests/golden/*.json`; `WEIR_UPDATE_GOLDEN=1` rewrites them, to be read
//! in review), the reference manifest prefect-kubernetes 0.8.0 renders, and the refusals.

use super::*;
use serde_json::json;
use std::path::PathBuf;
use weir_core::job_template::{default_kubernetes_template, render, resolve_variables};

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn context() -> RunContext {
    RunContext {
        flow_run_id: id(1),
        flow_run_name: "crimson-otter".into(),
        flow_id: id(2),
        flow_name: Some("My ETL Flow".into()),
        deployment: None,
        work_pool_name: "k8s-pool".into(),
        work_pool_id: Some(id(3)),
        worker_name: "worker-a".into(),
        worker_id: Some(id(4)),
        entrypoint: Some("flows/etl.py:main".into()),
        api_env: vec![EnvVar::value(
            "PREFECT_API_URL",
            "http://prefect-server.prefect.svc:4200/api",
        )],
        version: "0.1.0".into(),
    }
}

/// The default template rendered with `deployment` then `run` job variables, then prepared.
fn prepared(
    deployment: Value,
    run: Value,
    context: &RunContext,
) -> Result<PreparedJob, ManifestError> {
    let template = default_kubernetes_template();
    let variables = resolve_variables(
        &template,
        deployment.as_object().unwrap(),
        run.as_object().unwrap(),
    );
    let rendered = render(&template.job_configuration, &variables, |_| None).unwrap();
    prepare(rendered.as_object().unwrap(), context)
}

fn golden(name: &str, actual: &PreparedJob) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let actual = json!({
        "manifest": actual.manifest,
        "settings": {
            "namespace": actual.settings.namespace,
            "cluster_config": actual.settings.cluster_config,
            "stream_output": actual.settings.stream_output,
            "start_timeout_seconds": actual.settings.start_timeout.map(|d| d.as_secs_f64()),
            "run_timeout_seconds": actual.settings.run_timeout.map(|d| d.as_secs_f64()),
        },
    });
    if std::env::var_os("WEIR_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (WEIR_UPDATE_GOLDEN=1 writes it)", path.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        actual,
        expected,
        "{name}: the manifest differs from {}",
        path.display()
    );
}

fn container(job: &PreparedJob) -> &Value {
    &job.manifest["spec"]["template"]["spec"]["containers"][0]
}

fn env_names(job: &PreparedJob) -> Vec<String> {
    container(job)["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

/// prefect-kubernetes 0.8.0's own rendering of a sample run (`tests/reference/`, as the real worker
/// code produced it) is what Weir renders, but
/// for the `managed-by`/`part-of`/version labels, which name Weir, and the API key, which
/// Weir's sample worker does not have.
#[test]
fn the_reference_sample_renders_as_prefect_kubernetes_renders_it() {
    let reference: Value = serde_json::from_str(include_str!(
        "../../tests/reference/prefect-kubernetes-sample-rendered-job.json"
    ))
    .unwrap();
    let job = prepared(
        json!({"image": "myrepo/flow:1", "env": {"FOO": "bar"}, "cpu_request": "500m"}),
        json!({}),
        &context(),
    )
    .unwrap();
    let mut expected = reference.clone();
    for path in ["/metadata/labels", "/spec/template/metadata/labels"] {
        let labels = expected.pointer_mut(path).unwrap();
        labels["prefect.io/version"] = json!("0.1.0");
        labels["app.kubernetes.io/managed-by"] = json!("weir");
        labels["app.kubernetes.io/part-of"] = json!("weir");
        labels["app.kubernetes.io/version"] = json!("0.1.0");
    }
    let env = expected["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array_mut()
        .unwrap();
    env.retain(|e| {
        e["name"] != "PREFECT_API_KEY" && e["name"] != "PREFECT_SERVER_EPHEMERAL_ENABLED"
    });
    // Env order is not part of the contract; compare as sets of entries.
    let sorted = |v: &Value| {
        let mut entries: Vec<String> = v.as_array().unwrap().iter().map(Value::to_string).collect();
        entries.sort();
        entries
    };
    let container_path = |v: &mut Value| v["spec"]["template"]["spec"]["containers"][0].take();
    let mut actual = job.manifest.clone();
    let (actual_container, expected_container) =
        (container_path(&mut actual), container_path(&mut expected));
    assert_eq!(
        sorted(&actual_container["env"]),
        sorted(&expected_container["env"])
    );
    let strip_env = |mut c: Value| {
        c.as_object_mut().unwrap().remove("env");
        c
    };
    assert_eq!(strip_env(actual_container), strip_env(expected_container));
    assert_eq!(actual, expected);
    golden("reference_sample", &job);
}

#[test]
fn defaults_only_for_a_python_deployment() {
    let job = prepared(json!({}), json!({}), &context()).unwrap();
    assert_eq!(container(&job)["image"], DEFAULT_PYTHON_IMAGE);
    assert_eq!(
        container(&job)["args"],
        json!(["prefect", "flow-run", "execute"])
    );
    assert_eq!(job.manifest["metadata"]["generateName"], "crimson-otter-");
    assert_eq!(job.settings.start_timeout, Some(Duration::from_secs(60)));
    assert_eq!(job.settings.run_timeout, None);
    assert!(job.settings.stream_output);
    golden("defaults_python", &job);
}

#[test]
fn a_weir_binary_runs_its_execute_subcommand_in_the_image_given() {
    let mut ctx = context();
    ctx.entrypoint = Some("/app/bin/flows".into());
    let job = prepared(json!({"image": "registry.local/flows:2"}), json!({}), &ctx).unwrap();
    assert_eq!(
        container(&job)["args"],
        json!(["/app/bin/flows", "execute"])
    );
    golden("weir_binary", &job);

    let refused = prepared(json!({}), json!({}), &ctx).unwrap_err();
    assert!(refused.to_string().starts_with("image: "), "{refused}");
    assert!(refused.to_string().contains("--image"), "{refused}");
}

#[test]
fn every_variable_set_at_once() {
    let mut ctx = context();
    ctx.deployment = Some(DeploymentInfo {
        id: id(5),
        name: "nightly etl".into(),
        updated: Some("2026-11-27T10:00:00.123456Z".into()),
    });
    let job = prepared(
        json!({
            "image": "registry.local/flows:3",
            "namespace": "data-jobs",
            "env": {"FOO": "bar", "DROPPED": null, "REGION": "eu"},
            "labels": {"team": "data eng", "cost/center": "A#1"},
            "annotations": {"Example.COM/owner": "alice"},
            "service_account_name": "flow-runner",
            "image_pull_policy": "Always",
            "backoff_limit": 2,
            "finished_job_ttl": 600,
            "cpu_request": "250m", "cpu_limit": "1",
            "memory_request": "256Mi", "memory_limit": "1Gi",
            "pod_watch_timeout_seconds": 120,
            "job_watch_timeout_seconds": 3600,
            "stream_output": false,
        }),
        json!({"env": {"REGION": "us"}, "name": "Nightly ETL (manual)",
               "command": "python -m 'my flows' --flag=\"a b\""}),
        &ctx,
    )
    .unwrap();
    let c = container(&job);
    assert_eq!(c["args"], json!(["python", "-m", "my flows", "--flag=a b"]));
    assert_eq!(job.manifest["metadata"]["namespace"], "data-jobs");
    assert_eq!(
        job.manifest["metadata"]["generateName"],
        "nightly-etl-manual-"
    );
    assert_eq!(job.manifest["metadata"]["labels"]["team"], "data-eng");
    assert_eq!(job.manifest["metadata"]["labels"]["cost/center"], "A-1");
    assert_eq!(
        job.manifest["metadata"]["labels"]["app.kubernetes.io/name"],
        "nightly-etl"
    );
    assert_eq!(
        job.manifest["metadata"]["labels"]["prefect.io/deployment-updated"],
        "2026-11-27T10-00-00.123456Z"
    );
    assert_eq!(
        job.manifest["spec"]["template"]["metadata"]["annotations"]["example.com/owner"],
        "alice"
    );
    let names = env_names(&job);
    assert!(!names.contains(&"DROPPED".to_owned()));
    assert!(c["env"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "REGION", "value": "us"})));
    // Kubernetes retries the pod itself, so the engine must not reschedule on SIGTERM.
    assert!(c["env"].as_array().unwrap().contains(
        &json!({"name": "PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR", "value": "relinquish"})
    ));
    assert_eq!(job.settings.namespace, "data-jobs");
    assert_eq!(job.settings.run_timeout, Some(Duration::from_secs(3600)));
    assert_eq!(job.settings.start_timeout, Some(Duration::from_secs(120)));
    assert!(!job.settings.stream_output);
    golden("every_variable", &job);
}

#[test]
fn credentials_from_a_secret_never_appear_in_plain_text() {
    let mut ctx = context();
    ctx.api_env.push(EnvVar::SecretKey {
        name: "PREFECT_API_KEY".into(),
        secret: "weir-api-key".into(),
        key: "key".into(),
    });
    let job = prepared(json!({"image": "i:1"}), json!({}), &ctx).unwrap();
    let env = container(&job)["env"].as_array().unwrap();
    assert!(env.contains(&json!({"name": "PREFECT_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "weir-api-key", "key": "key"}}})));
    golden("api_key_secret", &job);
}

#[test]
fn a_user_env_list_keeps_its_secret_references() {
    let job = prepared(
        json!({"image": "i:1", "env": [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
            {"name": "PLAIN", "value": "1"},
        ]}),
        json!({}),
        &context(),
    )
    .unwrap();
    let env = container(&job)["env"].as_array().unwrap();
    assert!(env.contains(&json!({"name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}})));
    assert!(env.contains(&json!({"name": "PLAIN", "value": "1"})));
}

fn custom(manifest: Value) -> Map<String, Value> {
    json!({"job_manifest": manifest, "namespace": "jobs"})
        .as_object()
        .unwrap()
        .clone()
}

#[test]
fn a_custom_template_with_its_own_env_list_and_sidecar() {
    let configuration = custom(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"generateName": "custom-"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "image": "proxy:1"},
            {"name": "prefect-job", "image": "flows:1",
             "env": [{"name": "FROM_TEMPLATE", "value": "x"},
                     {"name": "PREFECT__FLOW_RUN_ID", "value": "overridden"}]},
        ]}}},
    }));
    let job = prepare(&configuration, &context()).unwrap();
    let spec = &job.manifest["spec"]["template"]["spec"];
    // The single-pod rules are filled in, not demanded.
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["parallelism"], 1);
    // The sidecar is left alone; the flow container gets the env.
    assert!(spec["containers"][0].get("env").is_none());
    let env = spec["containers"][1]["env"].as_array().unwrap();
    assert!(env.contains(&json!({"name": "FROM_TEMPLATE", "value": "x"})));
    assert!(env.contains(&json!({"name": "PREFECT__FLOW_RUN_ID", "value": id(1).to_string()})));
    assert!(!env.contains(&json!({"name": "PREFECT__FLOW_RUN_ID", "value": "overridden"})));
    assert_eq!(job.manifest["metadata"]["generateName"], "custom-");
    assert_eq!(job.settings.namespace, "jobs");
    golden("custom_template", &job);
}

#[test]
fn refusals_name_the_offending_path() {
    let cases = [
        (
            json!({"apiVersion": "apps/v1", "kind": "Job"}),
            "job_manifest.apiVersion: must be \"batch/v1\"",
        ),
        (
            json!({"apiVersion": "batch/v1", "kind": "Deployment"}),
            "job_manifest.kind: must be \"Job\"",
        ),
        (
            json!({"apiVersion": "batch/v1", "kind": "Job"}),
            "job_manifest.spec: missing",
        ),
        (
            json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": []}}}}),
            "job_manifest.spec.template.spec.containers[0]: missing",
        ),
        (
            json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "prefect-job", "image": "i"}]}}}}),
            "job_manifest.spec.template.spec.restartPolicy: must be \"Never\", found \"OnFailure\"",
        ),
        (
            json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
                "parallelism": 3, "containers": [{"name": "prefect-job", "image": "i"}]}}}}),
            "job_manifest.spec.template.spec.parallelism: must be 1, found 3",
        ),
    ];
    for (manifest, message) in cases {
        let error = prepare(&custom(manifest.clone()), &context()).unwrap_err();
        assert!(
            error.to_string().starts_with(message),
            "{manifest}: {error} does not start with {message}"
        );
    }
    let no_manifest = prepare(&Map::new(), &context()).unwrap_err();
    assert_eq!(
        no_manifest.to_string(),
        "job_manifest: missing; the job manifest needs it"
    );
    let bad_timeout = prepared(
        json!({"image": "i"}),
        json!({"pod_watch_timeout_seconds": 0}),
        &context(),
    );
    // The template's schema refuses it before this would; prepare refuses it too.
    if let Err(error) = bad_timeout {
        assert!(
            error.to_string().starts_with("pod_watch_timeout_seconds"),
            "{error}"
        );
    }
}

#[test]
fn long_names_fit_kubernetes_limits() {
    let mut ctx = context();
    ctx.flow_run_name = "a".repeat(30) + " " + &"b".repeat(60);
    ctx.flow_name = Some("Ünïcode flow / with: odd*chars".repeat(4));
    let job = prepared(json!({}), json!({}), &ctx).unwrap();
    let generate_name = job.manifest["metadata"]["generateName"].as_str().unwrap();
    assert!(generate_name.len() <= 46, "{generate_name}");
    assert!(generate_name.ends_with('-'));
    for (key, value) in job.manifest["metadata"]["labels"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        assert!(value.len() <= 63, "{key}={value}");
        assert!(
            value.is_empty()
                || (value.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && value.ends_with(|c: char| c.is_ascii_alphanumeric())),
            "{key}={value}"
        );
    }
}

#[test]
fn slugs() {
    for (input, expected) in [
        ("My ETL Flow", "My-ETL-Flow"),
        ("--a--b--", "a--b"),
        ("x:y/z", "x-y-z"),
        ("日本", ""),
        ("2026-11-27T10:00:00Z", "2026-11-27T10-00-00Z"),
    ] {
        assert_eq!(slugify_label_value(input), expected, "{input}");
    }
    assert_eq!(
        slugify_label_key("Example.COM/My Key"),
        "example.com/My-Key"
    );
    assert_eq!(slugify_label_key("plain"), "plain");
}
