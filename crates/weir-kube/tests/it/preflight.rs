//! The RBAC preflight against the simulator's RBAC: a full Role passes, gaps are named exactly
//! and printed as the Role rules to add.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, PostParams};
use weir_kube::preflight::{self, Missing};
use weir_kube_sim::{Rbac, Rule, Simulator, User};

fn namespaces(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A client authenticated as a user holding `rules` (static rules of the simulator).
fn worker_with(sim: &Simulator, rules: Vec<Rule>) -> kube::Client {
    sim.set_rbac(
        Rbac::closed()
            .with_token("worker", User::new("worker", rules))
            .with_token("admin", User::admin()),
    );
    kube::Client::new(sim.router_with_token("worker"), "default")
}

fn full_role() -> Vec<Rule> {
    vec![
        Rule::new(
            &["create", "get", "list", "watch", "delete"],
            &["batch"],
            &["jobs"],
        ),
        Rule::new(&["get", "list", "watch"], &[""], &["pods"]),
        Rule::new(&["get"], &[""], &["pods/log"]),
    ]
}

#[tokio::test]
async fn a_full_role_passes() {
    let sim = Simulator::new();
    let client = worker_with(&sim, full_role());
    let report = preflight::check(&client, &namespaces(&["default", "flows"]))
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.missing_rules_yaml(), "");
}

#[tokio::test]
async fn a_role_without_pod_logs_names_exactly_that() {
    let sim = Simulator::new();
    let mut rules = full_role();
    rules.pop();
    let client = worker_with(&sim, rules);
    let report = preflight::check(&client, &namespaces(&["flows"]))
        .await
        .unwrap();
    assert_eq!(
        report
            .missing
            .iter()
            .map(|m| (
                m.namespace.as_str(),
                m.api_group.as_str(),
                m.resource.as_str(),
                m.verb.as_str()
            ))
            .collect::<Vec<_>>(),
        vec![("flows", "", "pods/log", "get")]
    );
    assert_eq!(
        report.summary(),
        "RBAC preflight: the worker lacks 1 permission: get pods/log in namespace \"flows\""
    );
    assert_eq!(
        report.missing_rules_yaml(),
        "# RBAC preflight: the worker lacks 1 permission: get pods/log in namespace \"flows\"\n\
         # add to the rules of the Role bound to the worker in namespace \"flows\":\n\
         - apiGroups: [\"\"]\n  resources: [\"pods/log\"]\n  verbs: [\"get\"]\n"
    );
}

#[tokio::test]
async fn two_namespaces_where_one_lacks_job_deletion() {
    let sim = Simulator::new();
    let client = worker_with(
        &sim,
        vec![
            Rule::new(&["create", "get", "list", "watch"], &["batch"], &["jobs"]),
            Rule::new(&["delete"], &["batch"], &["jobs"]).in_namespaces(&["team-a"]),
            Rule::new(&["get", "list", "watch"], &[""], &["pods"]),
            Rule::new(&["get"], &[""], &["pods/log"]),
        ],
    );
    let report = preflight::check(&client, &namespaces(&["team-a", "team-b", "team-a"]))
        .await
        .unwrap();
    assert_eq!(report.namespaces, namespaces(&["team-a", "team-b"]));
    assert_eq!(report.missing.len(), 1, "{report:?}");
    let Missing {
        namespace,
        api_group,
        resource,
        verb,
        ..
    } = &report.missing[0];
    assert_eq!(
        (
            namespace.as_str(),
            api_group.as_str(),
            resource.as_str(),
            verb.as_str()
        ),
        ("team-b", "batch", "jobs", "delete")
    );
    let yaml = report.missing_rules_yaml();
    assert!(
        yaml.contains("namespace \"team-b\":\n- apiGroups: [\"batch\"]\n  resources: [\"jobs\"]\n  verbs: [\"delete\"]\n"),
        "{yaml}"
    );
    assert!(!yaml.contains("team-a\":"), "{yaml}");
    assert!(report
        .summary()
        .contains("delete jobs.batch in namespace \"team-b\""));
}

#[tokio::test]
async fn gaps_in_one_resource_are_one_rule() {
    let sim = Simulator::new();
    let client = worker_with(
        &sim,
        vec![Rule::new(&["get", "list", "watch"], &["batch"], &["jobs"])],
    );
    let report = preflight::check(&client, &namespaces(&["default"]))
        .await
        .unwrap();
    assert_eq!(report.missing.len(), 2 + 3 + 1);
    let yaml = report.missing_rules_yaml();
    assert!(
        yaml.ends_with(
            "- apiGroups: [\"batch\"]\n  resources: [\"jobs\"]\n  verbs: [\"create\", \"delete\"]\n\
             - apiGroups: [\"\"]\n  resources: [\"pods\"]\n  verbs: [\"get\", \"list\", \"watch\"]\n\
             - apiGroups: [\"\"]\n  resources: [\"pods/log\"]\n  verbs: [\"get\"]\n"
        ),
        "{yaml}"
    );
}

/// The Role the Helm chart renders from `REQUIRED_RULES`, stored and bound to the worker (who has
/// no other permission), passes the preflight in its namespace and only there.
#[tokio::test]
async fn the_rendered_role_passes_its_own_preflight() {
    let sim = Simulator::new();
    let client = worker_with(&sim, vec![]);
    let admin = kube::Client::new(sim.router_with_token("admin"), "default");
    let namespace = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some("flows".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let rules: Vec<PolicyRule> =
        serde_saphyr::from_str(&preflight::role_rules_yaml()).expect("role_rules_yaml is YAML");
    let role = Role {
        metadata: kube::api::ObjectMeta {
            name: Some("weir-worker".into()),
            namespace: Some("flows".into()),
            ..Default::default()
        },
        rules: Some(rules),
    };
    Api::<Role>::namespaced(admin.clone(), "flows")
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some("weir-worker".into()),
            namespace: Some("flows".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "weir-worker".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: "worker".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        }]),
    };
    Api::<RoleBinding>::namespaced(admin, "flows")
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    let report = preflight::check(&client, &namespaces(&["flows"]))
        .await
        .unwrap();
    assert!(report.is_ok(), "{}", report.missing_rules_yaml());
    let elsewhere = preflight::check(&client, &namespaces(&["default"]))
        .await
        .unwrap();
    let required: usize = preflight::REQUIRED_RULES
        .iter()
        .map(|r| r.verbs.len())
        .sum();
    assert_eq!(elsewhere.missing.len(), required);
}
