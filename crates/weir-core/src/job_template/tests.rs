//! Tests across the module: template validation, job-variable validation against the bundled
//! templates, the whole path from job variables to a Kubernetes Job manifest, and properties that
//! must hold for any input.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn obj(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

fn template(value: Value) -> BaseJobTemplate {
    serde_json::from_value(value).expect("a template")
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn bundled_templates_are_valid_and_match_prefect() {
    let process = default_process_template();
    process.validate().unwrap();
    assert_eq!(
        process.job_configuration,
        json!({
            "command": "{{ command }}", "env": "{{ env }}", "labels": "{{ labels }}",
            "name": "{{ name }}", "stream_output": "{{ stream_output }}",
            "working_dir": "{{ working_dir }}",
        })
    );
    assert_eq!(
        Value::Object(process.defaults()),
        json!({"stream_output": true})
    );

    let kubernetes = default_kubernetes_template();
    kubernetes.validate().unwrap();
    assert_eq!(
        Value::Object(kubernetes.defaults()),
        json!({"namespace": "default", "image_pull_policy": "IfNotPresent", "backoff_limit": 0,
               "pod_watch_timeout_seconds": 60, "stream_output": true})
    );
    // Serializing loses nothing: the server stores and returns the template as given.
    let reference: Value = serde_json::from_str(KUBERNETES_DEFAULT_JSON).unwrap();
    assert_eq!(serde_json::to_value(&kubernetes).unwrap(), reference);
}

#[test]
fn empty_template_round_trips() {
    let empty: BaseJobTemplate = serde_json::from_str("{}").unwrap();
    assert!(empty.is_empty());
    empty.validate().unwrap();
    assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
}

#[test]
fn template_validation_errors_name_the_field() {
    let vars = json!({"type": "object", "properties": {
        "image": {"type": "string"},
        "env": {"type": "object"},
        "count": {"type": "integer", "default": 1, "minimum": 0},
    }});
    let cases = [
        (
            json!({"job_configuration": {"env": "{{ nope }}"}, "variables": vars}),
            "job_configuration.env: placeholder {{ nope }} is not a declared variable",
        ),
        (
            json!({"job_configuration": {"a": {"b": ["x", "pre-{{nope}}-post"]}}, "variables": vars}),
            "job_configuration.a.b[1]: placeholder {{ nope }} is not a declared variable",
        ),
        (
            json!({"job_configuration": {"x": "{{ image }}"}}),
            "variables: missing or empty; a base job template needs both job_configuration and variables",
        ),
        (
            json!({"job_configuration": {}, "variables": vars}),
            "job_configuration: missing or empty; a base job template needs both job_configuration and variables",
        ),
        (
            json!({"job_configuration": [1], "variables": vars}),
            "job_configuration: expected an object, got [1]",
        ),
        (
            json!({"job_configuration": {"x": 1}, "variables": "schema"}),
            "variables: expected an object, got \"schema\"",
        ),
        (
            json!({"job_configuration": {"x": 1}, "variables": {"type": "array"}}),
            "variables.type: invalid schema: expected \"object\"",
        ),
        (
            json!({"job_configuration": {"x": 1}, "variables": {"properties": []}}),
            "variables.properties: invalid schema: expected an object of schemas",
        ),
        (
            json!({"job_configuration": {"x": 1}, "variables": {"properties": {"a": 3}}}),
            "variables.properties.a: invalid schema: expected a schema (an object or a boolean), got 3",
        ),
        (
            json!({"job_configuration": {"x": 1}, "variables": {"properties": {"a": {"type": "text"}}}}),
            "variables.properties.a.type: invalid schema: unknown type \"text\"; expected string, integer, number, boolean, object, array or null",
        ),
        (
            json!({"job_configuration": {"x": 1}, "variables": {"properties": {"a": {"allOf": [{"$ref": "#/definitions/Gone"}]}}}}),
            "variables.properties.a.allOf[0].$ref: #/definitions/Gone does not resolve within variables",
        ),
        (
            json!({"job_configuration": {"x": 1}, "variables": {"properties": {"a": {"required": "x"}}}}),
            "variables.properties.a.required: invalid schema: expected a list of property names",
        ),
        (
            json!({"job_configuration": {"x": 1}, "variables": {"properties": {"a": {"type": "integer", "default": "one"}}}}),
            "variables.properties.a.default: expected an integer, got \"one\"",
        ),
        (
            json!({"job_configuration": {"x": 1}, "variables": {"properties": {"a": {"type": "integer", "minimum": 0, "default": -1}}}}),
            "variables.properties.a.default: expected at least 0, got -1",
        ),
        (
            json!({"job_configuration": {"t": "{{ prefect.blocks.secret }}"}, "variables": vars}),
            "job_configuration.t: placeholder {{ prefect.blocks.secret }} is malformed: expected prefect.blocks.<block-type-slug>.<block-document-name>[.<path>]",
        ),
    ];
    for (value, want) in cases {
        let err = template(value.clone()).validate().unwrap_err();
        assert_eq!(err.to_string(), want, "template {value}");
    }
}

#[test]
fn template_placeholders_that_are_allowed() {
    let t = template(json!({
        "job_configuration": {
            "a": "{{ image }}", "b": "{{ env.FOO }}", "c": "{{ $HOME }}/x",
            "d": "{{ prefect.blocks.secret.token }}", "e": "{{ prefect.variables.region }}",
            "f": "{{ image }}:{{ tag }}", "g": "{{ not a placeholder }}", "h": "{{ list[0] }}",
        },
        "variables": {"properties": {
            "image": {"type": "string"}, "env": {"type": "object"},
            "tag": {"type": "string", "default": "latest"}, "list": {"type": "array"},
            "blockish": {"default": {"$ref": {"block_document_id": "abc"}}, "type": "string"},
        }},
    }));
    t.validate().unwrap();
}

#[test]
fn job_variables_against_the_kubernetes_template() {
    let t = default_kubernetes_template();
    let dep = JobVariablesCheck::DEPLOYMENT;
    let ok = [
        json!({}),
        json!({"image": "repo/img:1", "namespace": "flows", "cpu_request": "500m"}),
        json!({"env": {"A": "1", "B": null}, "labels": {"team": "data"}}),
        json!({"image_pull_policy": "Always", "backoff_limit": 3, "finished_job_ttl": 60}),
        json!({"image": null, "finished_job_ttl": null, "namespace": null}),
        json!({"backoff_limit": 2.0}),
        json!({"cluster_config": {"config": {}, "context_name": "kind"}}),
        json!({"cluster_config": {"$ref": {"block_document_id": "b0a7a5f2"}}}),
        json!({"cluster_config": {"config": {}}}),
        json!({"env.FOO": "bar", "labels.team": "data"}),
    ];
    for value in ok {
        validate_job_variables(&t, &obj(value.clone()), dep)
            .unwrap_or_else(|e| panic!("{value}: {e}"));
    }
    let bad = [
        (json!({"cpu_request": 3}), "job_variables.cpu_request: expected a string or null, got 3"),
        (json!({"namespace": 1}), "job_variables.namespace: expected a string, got 1"),
        (
            json!({"image_pull_policy": "Sometimes"}),
            "job_variables.image_pull_policy: expected one of \"IfNotPresent\", \"Always\", \"Never\", got \"Sometimes\"",
        ),
        (
            json!({"image_pull_policy": null}),
            "job_variables.image_pull_policy: expected one of \"IfNotPresent\", \"Always\", \"Never\", got null",
        ),
        (json!({"backoff_limit": -1}), "job_variables.backoff_limit: expected at least 0, got -1"),
        (json!({"backoff_limit": 1.5}), "job_variables.backoff_limit: expected an integer, got 1.5"),
        (json!({"env": {"A": 1}}), "job_variables.env.A: expected a string or null, got 1"),
        (json!({"env.A": 1}), "job_variables.env.A: expected a string or null, got 1"),
        (json!({"labels": ["a"]}), "job_variables.labels: expected an object, got [\"a\"]"),
        (json!({"stream_output": "yes"}), "job_variables.stream_output: expected a boolean, got \"yes\""),
        (json!({"cluster_config": "prod"}), "job_variables.cluster_config: expected an object or null, got \"prod\""),
        (
            json!({"cluster_config": {"config": "x", "context_name": "kind"}}),
            "job_variables.cluster_config.config: expected an object, got \"x\"",
        ),
        (
            json!({"nope": 1}),
            "job_variables.nope: not a variable of the work pool's base job template (declared: annotations, \
             backoff_limit, cluster_config, command, cpu_limit, cpu_request, env, finished_job_ttl, image, \
             image_pull_policy, job_watch_timeout_seconds, labels, memory_limit, memory_request, name, \
             namespace, pod_watch_timeout_seconds, service_account_name, stream_output)",
        ),
    ];
    for (value, want) in bad {
        let err = validate_job_variables(&t, &obj(value.clone()), dep).unwrap_err();
        assert_eq!(err.to_string(), want, "job variables {value}");
    }
    // Required is checked only on the merged flow-run variables.
    let partial = obj(json!({"cluster_config": {"config": {}}}));
    validate_job_variables(&t, &partial, JobVariablesCheck::DEPLOYMENT).unwrap();
    let err = validate_job_variables(&t, &partial, JobVariablesCheck::FLOW_RUN).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job_variables.cluster_config.context_name: required but missing"
    );
    // Unknown variables can be let through, as Prefect's own schema check does.
    let lenient = JobVariablesCheck {
        reject_unknown: false,
        ..JobVariablesCheck::DEPLOYMENT
    };
    validate_job_variables(&t, &obj(json!({"nope": 1})), lenient).unwrap();
}

#[test]
fn job_variables_schema_keywords() {
    let t = template(json!({
        "job_configuration": {"x": 1},
        "variables": {
            "type": "object",
            "required": ["must"],
            "properties": {
                "must": {"type": "string"},
                "strict": {"type": "object", "additionalProperties": false,
                           "properties": {"a": {"type": "integer"}}},
                "list": {"type": "array", "items": {"type": "string"}},
                "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                "either": {"type": ["string", "integer"]},
                "policy": {"allOf": [{"$ref": "#/definitions/Policy"}], "default": "A"},
                "defs": {"$ref": "#/$defs/Small"},
                "fixed": {"const": "v1"},
                "never": false,
                "mixed": {"anyOf": [{"type": "object", "properties": {"n": {"type": "integer"}}},
                                    {"type": "array", "items": {"type": "integer"}}]},
            },
            "definitions": {"Policy": {"enum": ["A", "B"], "type": "string"}},
            "$defs": {"Small": {"type": "integer", "maximum": 9}},
        },
    }));
    t.validate().unwrap();
    let check = JobVariablesCheck::DEPLOYMENT;
    let ok = [
        json!({"must": "x", "strict": {"a": 1}, "list": ["a"], "pair": ["a", 1], "either": 2}),
        json!({"policy": "B", "defs": 9, "fixed": "v1", "mixed": {"n": 1}}),
        json!({"mixed": [1, 2], "either": "s", "strict": null}),
    ];
    for value in ok {
        validate_job_variables(&t, &obj(value.clone()), check)
            .unwrap_or_else(|e| panic!("{value}: {e}"));
    }
    let bad = [
        (
            json!({"strict": {"b": 1}}),
            "job_variables.strict.b: not allowed here",
        ),
        (
            json!({"strict": {"a": "1"}}),
            "job_variables.strict.a: expected an integer, got \"1\"",
        ),
        (
            json!({"list": ["a", 2]}),
            "job_variables.list[1]: expected a string, got 2",
        ),
        (
            json!({"pair": [1, 1]}),
            "job_variables.pair[0]: expected a string, got 1",
        ),
        (
            json!({"either": true}),
            "job_variables.either: expected a string or an integer, got true",
        ),
        (
            json!({"policy": "C"}),
            "job_variables.policy: expected one of \"A\", \"B\", got \"C\"",
        ),
        (
            json!({"defs": 10}),
            "job_variables.defs: expected at most 9, got 10",
        ),
        (
            json!({"fixed": "v2"}),
            "job_variables.fixed: expected \"v1\", got \"v2\"",
        ),
        (json!({"never": 1}), "job_variables.never: not allowed here"),
        (
            json!({"mixed": {"n": "x"}}),
            "job_variables.mixed.n: expected an integer, got \"x\"",
        ),
        (
            json!({"mixed": "s"}),
            "job_variables.mixed: expected an object or an array, got \"s\"",
        ),
        (
            json!({"must": null}),
            "job_variables.must: expected a string, got null",
        ),
    ];
    for (value, want) in bad {
        let err = validate_job_variables(&t, &obj(value.clone()), check).unwrap_err();
        assert_eq!(err.to_string(), want, "job variables {value}");
    }
    let err = validate_job_variables(&t, &obj(json!({})), JobVariablesCheck::FLOW_RUN).unwrap_err();
    assert_eq!(err.to_string(), "job_variables.must: required but missing");
}

#[test]
fn recursive_schemas_stop() {
    let t = template(json!({
        "job_configuration": {"x": "{{ a }}"},
        "variables": {"properties": {"a": {"$ref": "#/definitions/Loop"}},
                      "definitions": {"Loop": {"anyOf": [{"$ref": "#/definitions/Loop"},
                                                         {"$ref": "#/definitions/Loop"}]}}},
    }));
    t.validate().unwrap();
    let err = validate_job_variables(&t, &obj(json!({"a": 1})), JobVariablesCheck::DEPLOYMENT)
        .unwrap_err();
    assert!(matches!(err, JobVariablesError::TooComplex { .. }), "{err}");
}

#[test]
fn templates_without_a_schema_accept_any_job_variables() {
    for t in [
        BaseJobTemplate::default(),
        template(json!({"job_configuration": {"x": 1}, "variables": {"type": "object"}})),
    ] {
        validate_job_variables(
            &t,
            &obj(json!({"anything": [1]})),
            JobVariablesCheck::FLOW_RUN,
        )
        .unwrap();
    }
}

/// From a deployment's and a flow run's job variables to the Job manifest a worker submits.
#[test]
fn kubernetes_template_renders_a_job_manifest() {
    let t = default_kubernetes_template();
    let deployment = obj(json!({
        "image": "registry.local/flows:1.2",
        "env": {"LOG_LEVEL": "INFO", "REGION": "eu"},
        "labels": {"team": "data"},
        "cpu_request": "500m",
        "memory_limit": "1Gi",
    }));
    let flow_run = obj(json!({
        "env": {"LOG_LEVEL": "DEBUG"},
        "name": "nightly-etl",
        "finished_job_ttl": 300,
        "command": "prefect flow-run execute",
    }));
    validate_job_variables(&t, &deployment, JobVariablesCheck::DEPLOYMENT).unwrap();
    let variables = resolve_variables(&t, &deployment, &flow_run);
    validate_job_variables(&t, &variables, JobVariablesCheck::FLOW_RUN).unwrap();
    let rendered = render(&t.job_configuration, &variables, no_env).unwrap();
    assert!(external_references(&rendered).unwrap().is_empty());
    assert_eq!(
        rendered,
        json!({
            "command": "prefect flow-run execute",
            "env": {"LOG_LEVEL": "DEBUG", "REGION": "eu"},
            "labels": {"team": "data"},
            "name": "nightly-etl",
            "namespace": "default",
            "job_manifest": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "generateName": "nightly-etl-",
                    "labels": {"team": "data"},
                    "namespace": "default",
                },
                "spec": {
                    "backoffLimit": 0,
                    "ttlSecondsAfterFinished": 300,
                    "template": {"spec": {
                        "completions": 1,
                        "parallelism": 1,
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": "prefect-job",
                            "args": "prefect flow-run execute",
                            "env": {"LOG_LEVEL": "DEBUG", "REGION": "eu"},
                            "image": "registry.local/flows:1.2",
                            "imagePullPolicy": "IfNotPresent",
                            "resources": {
                                "limits": {"memory": "1Gi"},
                                "requests": {"cpu": "500m"},
                            },
                        }],
                    }},
                },
            },
            "pod_watch_timeout_seconds": 60,
            "stream_output": true,
        })
    );
}

#[test]
fn kubernetes_template_with_defaults_only() {
    let t = default_kubernetes_template();
    let variables = resolve_variables(&t, &Map::new(), &Map::new());
    let rendered = render(&t.job_configuration, &variables, no_env).unwrap();
    let manifest = &rendered["job_manifest"];
    // Missing name: the text placeholder is dropped, leaving "-" for the worker to replace.
    assert_eq!(
        manifest["metadata"],
        json!({"generateName": "-", "namespace": "default"})
    );
    let container = &manifest["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container,
        &json!({"name": "prefect-job", "imagePullPolicy": "IfNotPresent",
                "resources": {"limits": {}, "requests": {}}})
    );
    assert_eq!(manifest["spec"]["backoffLimit"], json!(0));
    assert!(manifest["spec"].get("ttlSecondsAfterFinished").is_none());
    assert!(manifest["spec"]["template"]["spec"]
        .get("serviceAccountName")
        .is_none());
}

#[test]
fn process_template_renders() {
    let t = default_process_template();
    let deployment = obj(json!({"working_dir": "/srv/flows", "env": {"A": "1"}}));
    let flow_run = obj(json!({"env.B": "2", "stream_output": false}));
    validate_job_variables(&t, &deployment, JobVariablesCheck::DEPLOYMENT).unwrap();
    validate_job_variables(&t, &flow_run, JobVariablesCheck::DEPLOYMENT).unwrap();
    let variables = resolve_variables(&t, &deployment, &flow_run);
    let rendered = render(&t.job_configuration, &variables, no_env).unwrap();
    assert_eq!(
        rendered,
        json!({"env": {"A": "1", "B": "2"}, "stream_output": false, "working_dir": "/srv/flows"})
    );
}

/// Any JSON value, nested a few levels, with strings likely to hold placeholders.
fn arb_json() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        any::<String>(),
        "[a-z$.\\[\\]{} -]{0,12}",
        "\\{\\{ ?[a-z$.\\[\\]0-9-]{0,10} ?\\}\\}",
        Just("{{ prefect.blocks.secret.tok }}".to_owned()),
        Just("{{ prefect.variables. }}".to_owned()),
        // Schema words, so generated variables schemas sometimes mean something.
        Just("object".to_owned()),
        Just("string".to_owned()),
        Just("#".to_owned()),
        Just("#/properties/a".to_owned()),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        let key = prop_oneof![
            "[a-z$._-]{0,8}",
            Just("env".to_owned()),
            Just("type".to_owned()),
            Just("properties".to_owned()),
            Just("$ref".to_owned()),
            Just("anyOf".to_owned()),
            Just("a".to_owned()),
            Just("additionalProperties".to_owned())
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn as_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => Map::from_iter([("v".to_owned(), other)]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rendering_never_panics(config in arb_json(), variables in arb_json(), text in any::<String>()) {
        let variables = as_map(variables);
        let _ = render(&config, &variables, |name| (name.len() % 2 == 0).then(|| text.clone()));
        let _ = render(&Value::String(text.clone()), &variables, |_| None);
        let _ = render_with(&config, |name| (name.len() % 3 == 0).then(|| variables.get("v").cloned().unwrap_or_default()));
        let _ = external_references(&config);
        let _ = placeholders(&text).count();
    }

    #[test]
    fn validation_never_panics(job_configuration in arb_json(), variables in arb_json(), job_variables in arb_json()) {
        let t = BaseJobTemplate { job_configuration, variables };
        let _ = t.validate();
        let job_variables = as_map(job_variables);
        let _ = validate_job_variables(&t, &job_variables, JobVariablesCheck::FLOW_RUN);
        let _ = resolve_variables(&t, &job_variables, &job_variables);
        let _ = expand_dotted_keys(&job_variables);
    }

    /// Rendering with nothing known keeps text without placeholders as it was.
    #[test]
    fn text_without_placeholders_is_unchanged(text in "[^{}]*") {
        let rendered = render(&Value::String(text.clone()), &Map::new(), |_| None).unwrap();
        prop_assert_eq!(rendered, Value::String(text));
    }

    /// A placeholder whose value is a string renders that string, whatever it holds.
    #[test]
    fn inserted_strings_are_verbatim(value in any::<String>(), prefix in "[a-z ]{0,4}") {
        let variables = obj(json!({"v": value.clone()}));
        let whole = render(&json!("{{ v }}"), &variables, |_| None).unwrap();
        prop_assert_eq!(whole, Value::String(value.clone()));
        let inline = render(&json!(format!("{prefix}{{{{ v }}}}")), &variables, |_| None).unwrap();
        prop_assert_eq!(inline, Value::String(format!("{prefix}{value}")));
    }

    /// Validation accepts what the bundled templates' own defaults produce plus valid strings.
    #[test]
    fn valid_kubernetes_variables_pass(image in "[a-z0-9./:-]{1,20}", cpu in "[0-9]{1,3}m", ttl in 0i64..100_000) {
        let t = default_kubernetes_template();
        let vars = obj(json!({"image": image, "cpu_request": cpu, "finished_job_ttl": ttl}));
        prop_assert!(validate_job_variables(&t, &vars, JobVariablesCheck::DEPLOYMENT).is_ok());
        let resolved = resolve_variables(&t, &vars, &Map::new());
        prop_assert!(validate_job_variables(&t, &resolved, JobVariablesCheck::FLOW_RUN).is_ok());
        prop_assert!(render(&t.job_configuration, &resolved, |_| None).is_ok());
    }
}
