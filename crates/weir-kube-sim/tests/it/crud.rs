//! Create, read, update, patch, delete: defaults, Status errors, generateName, selectors, paging,
//! dryRun, deletion propagation, finalizers and namespaces.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use weir_kube_sim::{Config, GenerateNameMode};

use crate::common::{code, create_job, fast, job, start, wait_for, wait_gone};

#[tokio::test]
async fn job_create_fills_in_server_fields_and_defaults() {
    let (_sim, client) = start(Config::default());
    let created = create_job(&client, &job("defaults", Some("hang"))).await;
    let meta = &created.metadata;
    assert!(meta.uid.is_some());
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    assert!(meta
        .resource_version
        .as_deref()
        .is_some_and(|rv| rv.parse::<u64>().is_ok()));
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.backoff_limit, Some(0));
    assert_eq!(spec.parallelism, Some(1));
    assert_eq!(spec.completions, Some(1));
    assert_eq!(spec.completion_mode.as_deref(), Some("NonIndexed"));
    let uid = meta.uid.clone().unwrap();
    let selector = spec
        .selector
        .as_ref()
        .unwrap()
        .match_labels
        .clone()
        .unwrap();
    assert_eq!(
        selector.get("batch.kubernetes.io/controller-uid"),
        Some(&uid)
    );
    let labels = spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .clone()
        .unwrap();
    assert_eq!(
        labels
            .get("batch.kubernetes.io/job-name")
            .map(String::as_str),
        Some("defaults")
    );
    assert_eq!(labels.get("job-name").map(String::as_str), Some("defaults"));
    assert_eq!(labels.get("controller-uid"), Some(&uid));
}

#[tokio::test]
async fn status_errors_have_the_apiserver_shape() {
    let (_sim, client) = start(Config::default());
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let err = jobs.get("missing").await.unwrap_err();
    assert_eq!(code(&err), 404);
    let kube::Error::Api(status) = err else {
        unreachable!()
    };
    assert_eq!(status.reason, "NotFound");
    assert_eq!(status.message, "jobs.batch \"missing\" not found");

    create_job(&client, &job("dup", Some("hang"))).await;
    let err = jobs
        .create(&PostParams::default(), &job("dup", None))
        .await
        .unwrap_err();
    assert_eq!(code(&err), 409);

    let mut stale = jobs.get("dup").await.unwrap();
    jobs.patch(
        "dup",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
    )
    .await
    .unwrap();
    stale.metadata.labels = Some([("c".to_string(), "d".to_string())].into());
    let err = jobs
        .replace("dup", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected API error")
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(status.message.contains("the object has been modified"));

    let mut bad = job("bad", None);
    bad.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = Some("Always".into());
    let err = jobs.create(&PostParams::default(), &bad).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected API error")
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status
            .message
            .contains("spec.template.spec.restartPolicy: Unsupported value: \"Always\""),
        "{}",
        status.message
    );

    let mut nameless = job("x", None);
    nameless.metadata.name = Some("Not_A_Name".into());
    assert_eq!(
        code(
            &jobs
                .create(&PostParams::default(), &nameless)
                .await
                .unwrap_err()
        ),
        422
    );

    let mut too_long = job("x", None);
    too_long.metadata.name = Some("a".repeat(64));
    assert_eq!(
        code(
            &jobs
                .create(&PostParams::default(), &too_long)
                .await
                .unwrap_err()
        ),
        422
    );

    let bad_quantity: Job = serde_json::from_value(json!({
        "metadata": {"name": "q"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "12x"}}}]}}}
    }))
    .unwrap();
    let err = jobs.create(&PostParams::default(), &bad_quantity).await;
    assert!(err.is_err(), "a bad quantity must be refused");

    let no_containers: Job = serde_json::from_value(json!({"metadata": {"name": "nc"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": []}}}})).unwrap();
    let err = jobs
        .create(&PostParams::default(), &no_containers)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected API error")
    };
    assert!(
        status
            .message
            .contains("spec.template.spec.containers: Required value"),
        "{}",
        status.message
    );

    let elsewhere: Api<Job> = Api::namespaced(client, "nowhere");
    let err = elsewhere
        .create(&PostParams::default(), &job("x", None))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected API error")
    };
    assert_eq!(status.message, "namespaces \"nowhere\" not found");
}

#[tokio::test]
async fn job_template_is_immutable() {
    let (_sim, client) = start(Config::default());
    create_job(&client, &job("immutable", Some("hang"))).await;
    let jobs: Api<Job> = Api::default_namespaced(client);
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "other"}]}}}});
    let err = jobs
        .patch(
            "immutable",
            &PatchParams::default(),
            &Patch::Strategic(patch),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422);
}

#[tokio::test]
async fn generate_name_retries_or_collides() {
    let (sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "cfg-"}})).unwrap();
    sim.store()
        .force_name_suffixes(&["aaaaa", "aaaaa", "bbbbb"]);
    let first = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("cfg-aaaaa"));
    let second = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert_eq!(second.metadata.name.as_deref(), Some("cfg-bbbbb"));

    sim.set_generate_name_mode(GenerateNameMode::Collide);
    sim.store().force_name_suffixes(&["aaaaa"]);
    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected API error")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );
}

#[tokio::test]
async fn selectors_paging_and_dry_run() {
    let (sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    for i in 0..5 {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}"), "labels": {"parity": if i % 2 == 0 { "even" } else { "odd" }}}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let even = cms
        .list(&ListParams::default().labels("parity=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 3);
    let set = cms
        .list(&ListParams::default().labels("parity in (odd),parity!=even"))
        .await
        .unwrap();
    assert_eq!(set.items.len(), 2);
    let named = cms
        .list(&ListParams::default().fields("metadata.name=cm-4"))
        .await
        .unwrap();
    assert_eq!(named.items.len(), 1);
    assert_eq!(
        code(
            &cms.list(&ListParams::default().fields("data.x=1"))
                .await
                .unwrap_err()
        ),
        400
    );

    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().unwrap();
    // Objects created after the first page do not show up in later pages: the list is a snapshot.
    let late: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cm-late"}})).unwrap();
    cms.create(&PostParams::default(), &late).await.unwrap();
    let second = cms
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 3);
    assert!(second
        .metadata
        .continue_
        .as_deref()
        .is_none_or(str::is_empty));
    assert_eq!(
        first.metadata.resource_version,
        second.metadata.resource_version
    );

    let again = cms.list(&ListParams::default().limit(2)).await.unwrap();
    sim.clock().advance(Duration::from_secs(600));
    let err = cms
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(again.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), 410);

    let dry: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dry"}})).unwrap();
    let created = cms
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &dry,
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("dry"));
    assert!(cms.get_opt("dry").await.unwrap().is_none());
}

#[tokio::test]
async fn patch_formats() {
    let (_sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "p", "labels": {"a": "1"}}, "data": {"k": "v"}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let pp = PatchParams::default();
    let merged = cms
        .patch(
            "p",
            &pp,
            &Patch::Merge(json!({"data": {"k": null, "n": "m"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.data.unwrap().into_iter().collect::<Vec<_>>(),
        vec![("n".to_string(), "m".to_string())]
    );
    let patched = cms
        .patch(
            "p",
            &pp,
            &Patch::Strategic(json!({"metadata": {"labels": {"b": "2"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap().len(), 2);
    let applied = cms
        .patch("applied", &PatchParams::apply("test"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"x": "y"}})))
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["x"], "y");
}

#[tokio::test]
async fn deleting_a_job_orphans_its_pods_by_default() {
    let (_sim, client) = fast(10.0);
    create_job(&client, &job("orphaner", Some("hang"))).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    wait_for(&jobs, "orphaner", |j| {
        j.status.as_ref().and_then(|s| s.active) == Some(1)
    })
    .await;
    jobs.delete("orphaner", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&jobs, "orphaner").await;
    let left = pods
        .list(&ListParams::default().labels("job-name=orphaner"))
        .await
        .unwrap();
    assert_eq!(left.items.len(), 1, "the pod is orphaned, not deleted");
    assert!(left.items[0]
        .metadata
        .owner_references
        .as_ref()
        .is_none_or(Vec::is_empty));

    create_job(&client, &job("cascader", Some("hang"))).await;
    wait_for(&jobs, "cascader", |j| {
        j.status.as_ref().and_then(|s| s.active) == Some(1)
    })
    .await;
    let pod_name = pods
        .list(&ListParams::default().labels("job-name=cascader"))
        .await
        .unwrap()
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    jobs.delete("cascader", &DeleteParams::background())
        .await
        .unwrap();
    wait_gone(&pods, &pod_name).await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents() {
    let (_sim, client) = fast(10.0);
    create_job(&client, &job("fg", Some("hang"))).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    wait_for(&jobs, "fg", |j| {
        j.status.as_ref().and_then(|s| s.active) == Some(1)
    })
    .await;
    let answer = jobs
        .delete("fg", &DeleteParams::foreground())
        .await
        .unwrap();
    let still = answer
        .left()
        .expect("foreground deletion answers with the object");
    assert!(still.metadata.deletion_timestamp.is_some());
    assert!(still
        .metadata
        .finalizers
        .unwrap()
        .contains(&"foregroundDeletion".to_string()));
    wait_gone(&jobs, "fg").await;
}

#[tokio::test]
async fn finalizers_hold_objects_until_removed() {
    let (_sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let answer = cms.delete("held", &DeleteParams::default()).await.unwrap();
    assert!(answer.left().unwrap().metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());
    let gone = cms
        .delete("held", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(code(&gone), 404);
}

#[tokio::test]
async fn terminating_namespaces_refuse_new_content() {
    let (_sim, client) = start(Config {
        namespaces_stuck: true,
        ..Config::default()
    });
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    nss.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let status = nss.get("doomed").await.unwrap().status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Terminating"));
    let cms: Api<ConfigMap> = Api::namespaced(client, "doomed");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap();
    assert_eq!(
        code(&cms.create(&PostParams::default(), &cm).await.unwrap_err()),
        403
    );
}

#[tokio::test]
async fn deleted_namespaces_are_emptied_and_removed() {
    let (_sim, client) = start(Config::default());
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "temp"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "temp");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    nss.delete("temp", &DeleteParams::default()).await.unwrap();
    wait_gone(&nss, "temp").await;
}

#[tokio::test]
async fn unknown_fields_are_dropped_or_refused_when_strict() {
    let (_sim, client) = start(Config::default());
    // The shape of Prefect's default Job template: `completions`/`parallelism` inside the pod spec.
    let manifest = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": "crimson-otter-", "labels": {"prefect.io/flow-run-name": "crimson-otter"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "completions": 1, "parallelism": 1, "restartPolicy": "Never",
            "containers": [{"name": "prefect-job", "image": "myrepo/flow:1", "args": ["prefect", "flow-run", "execute"],
                            "resources": {"limits": {}, "requests": {"cpu": "500m"}}}]
        }}}
    });
    let post = |query: &str| {
        http::Request::post(format!("/apis/batch/v1/namespaces/default/jobs{query}"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&manifest).unwrap())
            .unwrap()
    };
    let created: serde_json::Value = client.request(post("")).await.unwrap();
    assert!(created["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("crimson-otter-"));
    assert_eq!(created["spec"]["template"]["spec"].get("completions"), None);
    assert_eq!(
        created["spec"]["completions"], 1,
        "the Job's own completions is defaulted"
    );
    let err = client
        .request::<serde_json::Value>(post("?fieldValidation=Strict"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert_eq!(status.code, 400);
    assert!(
        status
            .message
            .contains("unknown field \"spec.template.spec.completions\""),
        "{}",
        status.message
    );
}
