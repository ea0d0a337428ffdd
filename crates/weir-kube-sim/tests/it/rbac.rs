//! RBAC: one rule table answers both real requests and SelfSubjectAccessReviews.

use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use kube::Client;
use serde_json::json;
use weir_kube_sim::{Rbac, Rule, Simulator, User};

use crate::common::{code, job};

async fn can(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    sub: &str,
    ns: &str,
) -> bool {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review: SelfSubjectAccessReview = serde_json::from_value(json!({
        "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource, "subresource": sub, "namespace": ns}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
}

#[tokio::test]
async fn rules_drive_both_forbidden_answers_and_access_reviews() {
    let sim = Simulator::new();
    let worker = User::new(
        "system:serviceaccount:default:worker",
        vec![
            Rule::new(
                &["create", "get", "list", "watch", "delete"],
                &["batch"],
                &["jobs"],
            )
            .in_namespaces(&["default"]),
            Rule::new(&["get", "list", "watch"], &[""], &["pods"]),
        ],
    );
    sim.set_rbac(
        Rbac::closed()
            .with_token("admin", User::admin())
            .with_token("worker", worker),
    );
    let client = Client::new(sim.router_with_token("worker"), "default");

    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    jobs.create(&PostParams::default(), &job("allowed", Some("hang")))
        .await
        .unwrap();
    assert!(can(&client, "create", "batch", "jobs", "", "default").await);

    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.list(&ListParams::default()).await.unwrap();
    let err = pods.logs("any", &Default::default()).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        "pods \"any\" is forbidden: User \"system:serviceaccount:default:worker\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"default\""
    );
    assert!(!can(&client, "get", "", "pods", "log", "default").await);

    let other: Api<Job> = Api::namespaced(client.clone(), "kube-system");
    assert_eq!(
        code(&other.list(&ListParams::default()).await.unwrap_err()),
        403
    );
    assert!(!can(&client, "list", "batch", "jobs", "", "kube-system").await);

    let stranger = Client::new(sim.router_with_token("nobody"), "default");
    let api: Api<Job> = Api::default_namespaced(stranger);
    assert_eq!(
        code(&api.list(&ListParams::default()).await.unwrap_err()),
        401
    );

    // A RoleBinding created by the admin grants the log access.
    let admin = Client::new(sim.router_with_token("admin"), "default");
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "logs"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}]})).unwrap();
    Api::<Role>::default_namespaced(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "logs"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "logs"},
        "subjects": [{"kind": "ServiceAccount", "name": "worker", "namespace": "default"}]
    }))
    .unwrap();
    Api::<RoleBinding>::default_namespaced(admin)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    assert!(can(&client, "get", "", "pods", "log", "default").await);
    assert_eq!(
        code(&pods.logs("any", &Default::default()).await.unwrap_err()),
        404
    );
}

#[tokio::test]
async fn kube_rs_reads_the_generated_kubeconfig_and_sends_its_token() {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let sim = Simulator::new();
    let reader = User::new("reader", vec![Rule::new(&["list"], &["batch"], &["jobs"])]);
    sim.set_rbac(Rbac::closed().with_token("reader-token", reader));
    let addr = sim.listen(0).await.unwrap();
    for (token, expected) in [("reader-token", None), ("wrong", Some(401))] {
        let kubeconfig = Kubeconfig::from_yaml(&Simulator::kubeconfig(addr, token)).unwrap();
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap();
        assert_eq!(config.default_namespace, "default");
        let client = Client::try_from(config).unwrap();
        let jobs: Api<Job> = Api::default_namespaced(client);
        let listed = jobs.list(&ListParams::default()).await;
        assert_eq!(listed.err().map(|e| code(&e)), expected);
    }
}
