//! Each kind's tasks (list, read, create, merge patch, replace, delete) against the simulator,
//! pod logs, custom objects by group/version/plural, and a retried task riding out a fault.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::wait::await_condition;
use serde_json::{json, Value};
use weir_kube_sim::{Fault, FaultRule};
use weir_kube_tasks::tasks::{custom_objects, deployments, jobs, pods, services, Deleted};
use weir_kube_tasks::KubeTaskError;

use crate::Cluster;

const NS: &str = "default";

fn ns() -> String {
    NS.to_string()
}

fn labels(object: &kube::api::ObjectMeta) -> BTreeMap<String, String> {
    object.labels.clone().unwrap_or_default()
}

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid object")
}

fn pod_template(scenario: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": "web"}, "annotations": {"weir.dev/scenario": scenario}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox", "command": ["echo", "hi"]}]}
    })
}

#[tokio::test]
async fn jobs_crud() {
    let cluster = Cluster::start().await;
    let creds = || cluster.credentials.clone();
    let new_job: Job = typed(json!({
        "metadata": {"name": "nightly", "labels": {"team": "data"}},
        "spec": {"backoffLimit": 0, "template": pod_template("hang")}
    }));
    let created = jobs::create_namespaced_job(creds(), new_job, ns())
        .await
        .unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("nightly"));

    let listed =
        jobs::list_namespaced_job(creds(), ns(), ListParams::default().labels("team=data"))
            .await
            .unwrap();
    assert_eq!(listed.items.len(), 1);
    let none = jobs::list_namespaced_job(creds(), ns(), ListParams::default().labels("team=web"))
        .await
        .unwrap();
    assert!(none.items.is_empty());

    let read = jobs::read_namespaced_job(creds(), "nightly".into(), ns())
        .await
        .unwrap();
    assert_eq!(read.metadata.uid, created.metadata.uid);
    let status = jobs::read_namespaced_job_status(creds(), "nightly".into(), ns())
        .await
        .unwrap();
    assert!(status.status.is_some());

    let patched = jobs::patch_namespaced_job(
        creds(),
        "nightly".into(),
        json!({"metadata": {"labels": {"tier": "batch"}}}),
        ns(),
    )
    .await
    .unwrap();
    assert_eq!(
        labels(&patched.metadata).get("tier").map(String::as_str),
        Some("batch")
    );
    assert_eq!(
        labels(&patched.metadata).get("team").map(String::as_str),
        Some("data")
    );

    // The Job controller updates the Job's status on its own.
    let replaced = replace_from_fresh(
        || jobs::read_namespaced_job(creds(), "nightly".into(), ns()),
        |next| jobs::replace_namespaced_job(creds(), "nightly".into(), next, ns()),
        |next| {
            next.metadata.labels = Some(BTreeMap::from([("only".to_string(), "this".to_string())]))
        },
    )
    .await;
    assert_eq!(
        labels(&replaced.metadata),
        BTreeMap::from([("only".to_string(), "this".to_string())])
    );

    // A stale resourceVersion is refused.
    let err = jobs::replace_namespaced_job(creds(), "nightly".into(), patched, ns())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, KubeTaskError::Kube(kube::Error::Api(s)) if s.code == 409),
        "{err}"
    );

    let deleted =
        jobs::delete_namespaced_job(creds(), "nightly".into(), ns(), DeleteParams::background())
            .await
            .unwrap();
    assert!(matches!(deleted, Deleted::Gone(_) | Deleted::Deleting(_)));
    let err = jobs::read_namespaced_job(creds(), "nightly".into(), ns())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, KubeTaskError::Kube(kube::Error::Api(s)) if s.code == 404),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("Kubernetes API call failed: "),
        "{err}"
    );
}

#[tokio::test]
async fn pods_crud_and_logs() {
    let cluster = Cluster::start().await;
    let creds = || cluster.credentials.clone();
    let mut new_pod: Pod = typed(pod_template("succeed"));
    new_pod.metadata.name = Some("one".into());
    pods::create_namespaced_pod(creds(), new_pod, ns())
        .await
        .unwrap();
    let api: Api<Pod> = Api::namespaced(cluster.client().await, NS);
    await_condition(api, "one", |pod: Option<&Pod>| {
        pod.and_then(|p| p.status.as_ref()?.phase.as_deref()) == Some("Succeeded")
    })
    .await
    .unwrap();

    let log = pods::read_namespaced_pod_log(creds(), "one".into(), Some("main".into()), ns())
        .await
        .unwrap();
    assert_eq!(log.trim_end(), "echo hi");
    let err = pods::read_namespaced_pod_log(creds(), "one".into(), Some("sidecar".into()), ns())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, KubeTaskError::Kube(kube::Error::Api(s)) if s.code == 400),
        "{err}"
    );

    let listed = pods::list_namespaced_pod(creds(), ns(), ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let read = pods::read_namespaced_pod(creds(), "one".into(), ns())
        .await
        .unwrap();
    assert_eq!(
        read.status.and_then(|s| s.phase).as_deref(),
        Some("Succeeded")
    );
    let patched = pods::patch_namespaced_pod(
        creds(),
        "one".into(),
        json!({"metadata": {"labels": {"checked": "yes"}}}),
        ns(),
    )
    .await
    .unwrap();
    assert_eq!(
        labels(&patched.metadata).get("checked").map(String::as_str),
        Some("yes")
    );
    let mut next = patched;
    next.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("note".into(), "kept".into());
    let replaced = pods::replace_namespaced_pod(creds(), "one".into(), next, ns())
        .await
        .unwrap();
    assert_eq!(
        replaced
            .metadata
            .annotations
            .unwrap_or_default()
            .get("note")
            .map(String::as_str),
        Some("kept")
    );
    pods::delete_namespaced_pod(
        creds(),
        "one".into(),
        ns(),
        DeleteParams::default().grace_period(0),
    )
    .await
    .unwrap();
    let api: Api<Pod> = Api::namespaced(cluster.client().await, NS);
    await_condition(api, "one", |pod: Option<&Pod>| pod.is_none())
        .await
        .unwrap();
}

#[tokio::test]
async fn services_crud() {
    let cluster = Cluster::start().await;
    let creds = || cluster.credentials.clone();
    let new_service: Service = typed(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
    }));
    services::create_namespaced_service(creds(), new_service, ns())
        .await
        .unwrap();
    let listed =
        services::list_namespaced_service(creds(), ns(), ListParams::default().labels("app=web"))
            .await
            .unwrap();
    assert_eq!(listed.items.len(), 1);
    let read = services::read_namespaced_service(creds(), "web".into(), ns())
        .await
        .unwrap();
    assert_eq!(
        read.spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .map(|p| p[0].port),
        Some(80)
    );
    let patched = services::patch_namespaced_service(
        creds(),
        "web".into(),
        json!({"metadata": {"labels": {"exposed": "true"}}}),
        ns(),
    )
    .await
    .unwrap();
    assert_eq!(
        labels(&patched.metadata).get("exposed").map(String::as_str),
        Some("true")
    );
    let mut next = patched;
    next.metadata.labels = Some(BTreeMap::from([("app".to_string(), "api".to_string())]));
    let replaced = services::replace_namespaced_service(creds(), "web".into(), next, ns())
        .await
        .unwrap();
    assert_eq!(
        labels(&replaced.metadata).get("app").map(String::as_str),
        Some("api")
    );
    services::delete_namespaced_service(creds(), "web".into(), ns(), DeleteParams::default())
        .await
        .unwrap();
    let left = services::list_namespaced_service(creds(), ns(), ListParams::default())
        .await
        .unwrap();
    assert!(left
        .items
        .iter()
        .all(|s| s.metadata.name.as_deref() != Some("web")));
}

#[tokio::test]
async fn deployments_crud() {
    let cluster = Cluster::start().await;
    let creds = || cluster.credentials.clone();
    let new_deployment: Deployment = typed(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
        }
    }));
    deployments::create_namespaced_deployment(creds(), new_deployment, ns())
        .await
        .unwrap();
    let listed = deployments::list_namespaced_deployment(creds(), ns(), ListParams::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let patched = deployments::patch_namespaced_deployment(
        creds(),
        "web".into(),
        json!({"spec": {"replicas": 3}}),
        ns(),
    )
    .await
    .unwrap();
    assert_eq!(patched.spec.replicas, Some(3));
    // The Deployment controller updates the Deployment's status on its own.
    let replaced = replace_from_fresh(
        || deployments::read_namespaced_deployment(creds(), "web".into(), ns()),
        |next| deployments::replace_namespaced_deployment(creds(), "web".into(), next, ns()),
        |next| next.spec.replicas = Some(0),
    )
    .await;
    assert_eq!(replaced.spec.replicas, Some(0));
    deployments::delete_namespaced_deployment(creds(), "web".into(), ns(), DeleteParams::default())
        .await
        .unwrap();
    let err = deployments::read_namespaced_deployment(creds(), "web".into(), ns())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, KubeTaskError::Kube(kube::Error::Api(s)) if s.code == 404),
        "{err}"
    );
}

/// Leases stand in for a custom resource: the tasks address them only by group, version and
/// plural, as they would a CRD's objects.
#[tokio::test]
async fn custom_objects_crud() {
    let cluster = Cluster::start().await;
    let creds = || cluster.credentials.clone();
    let gvp = || {
        (
            "coordination.k8s.io".to_string(),
            "v1".to_string(),
            "leases".to_string(),
        )
    };
    let (g, v, p) = gvp();
    let body = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "leader", "labels": {"app": "weir"}},
        "spec": {"holderIdentity": "worker-a", "leaseDurationSeconds": 15}
    });
    let created = custom_objects::create_namespaced_custom_object(creds(), g, v, p, body, ns())
        .await
        .unwrap();
    assert_eq!(created.data["spec"]["holderIdentity"], "worker-a");

    let (g, v, p) = gvp();
    let listed = custom_objects::list_namespaced_custom_object(
        creds(),
        g,
        v,
        p,
        ns(),
        ListParams::default().labels("app=weir"),
    )
    .await
    .unwrap();
    assert_eq!(listed.items.len(), 1);
    let (g, v, p) = gvp();
    let read =
        custom_objects::get_namespaced_custom_object(creds(), g, v, p, "leader".into(), ns())
            .await
            .unwrap();
    assert_eq!(read.metadata.uid, created.metadata.uid);

    let (g, v, p) = gvp();
    let patched = custom_objects::patch_namespaced_custom_object(
        creds(),
        g,
        v,
        p,
        "leader".into(),
        json!({"spec": {"holderIdentity": "worker-b"}}),
        ns(),
    )
    .await
    .unwrap();
    assert_eq!(patched.data["spec"]["holderIdentity"], "worker-b");
    assert_eq!(patched.data["spec"]["leaseDurationSeconds"], 15);

    let mut next = serde_json::to_value(&patched).unwrap();
    next["spec"] = json!({"holderIdentity": "worker-c"});
    let (g, v, p) = gvp();
    let replaced = custom_objects::replace_namespaced_custom_object(
        creds(),
        g,
        v,
        p,
        "leader".into(),
        next,
        ns(),
    )
    .await
    .unwrap();
    assert_eq!(replaced.data["spec"], json!({"holderIdentity": "worker-c"}));

    let (g, v, p) = gvp();
    let err = custom_objects::create_namespaced_custom_object(creds(), g, v, p, json!([1]), ns())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid manifest: not a Kubernetes object"),
        "{err}"
    );

    let (g, v, p) = gvp();
    custom_objects::delete_namespaced_custom_object(
        creds(),
        g,
        v,
        p,
        "leader".into(),
        ns(),
        DeleteParams::default(),
    )
    .await
    .unwrap();
    let (g, v, p) = gvp();
    let err = custom_objects::get_namespaced_custom_object(creds(), g, v, p, "leader".into(), ns())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, KubeTaskError::Kube(kube::Error::Api(s)) if s.code == 404),
        "{err}"
    );
}

/// One 500 from the API server fails a plain call; `with_options().retries(1)` rides it out.
#[tokio::test]
async fn a_task_with_retries_rides_out_a_server_error() {
    let cluster = Cluster::start().await;
    let creds = || cluster.credentials.clone();
    let new_service: Service =
        typed(json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}));
    services::create_namespaced_service(creds(), new_service, ns())
        .await
        .unwrap();
    let fault = || {
        FaultRule::new(Fault::ServerError, 1)
            .method("GET")
            .path_contains("/services/web")
    };

    cluster.sim.faults().add(fault());
    let err = services::read_namespaced_service(creds(), "web".into(), ns())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, KubeTaskError::Kube(kube::Error::Api(s)) if s.code == 500),
        "{err}"
    );

    cluster.sim.faults().add(fault());
    let read = services::read_namespaced_service::with_options()
        .retries(1)
        .call((creds(), "web".into(), ns()))
        .await
        .unwrap();
    assert_eq!(read.metadata.name.as_deref(), Some("web"));
}

/// Replaces an object with `change` applied to a fresh read, reading again when a controller
/// updated it in between (a 409), as any client of a live object must.
async fn replace_from_fresh<T, Read, ReadFut, Replace, ReplaceFut>(
    read: Read,
    replace: Replace,
    change: impl Fn(&mut T),
) -> T
where
    Read: Fn() -> ReadFut,
    ReadFut: std::future::Future<Output = Result<T, KubeTaskError>>,
    Replace: Fn(T) -> ReplaceFut,
    ReplaceFut: std::future::Future<Output = Result<T, KubeTaskError>>,
{
    for _ in 0..5 {
        let mut next = read().await.expect("the object reads");
        change(&mut next);
        match replace(next).await {
            Ok(replaced) => return replaced,
            Err(KubeTaskError::Kube(kube::Error::Api(status))) if status.code == 409 => {}
            Err(error) => panic!("replace failed: {error}"),
        }
    }
    panic!("the object kept changing under five replaces");
}
