//! Loading the credentials blocks by name from a Weir server's blocks API, nested cluster config
//! included, and using them to reach the simulator.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use serde_json::{json, Value};
use weir_client::{Auth, Client, Method};
use weir_kube_tasks::{KubeTaskError, KubernetesClusterConfig, KubernetesCredentials};
use weir_sdk::ApiConfig;
use weir_testkit::TestServer;

use crate::Cluster;

/// Saves a block document of type `slug` (registered by the server at start) as Prefect's client
/// does, and returns its id.
async fn save(api: &Client, slug: &str, name: &str, data: Value) -> String {
    let (_, block_type) = api
        .request(Method::GET, &format!("/block_types/slug/{slug}"), None)
        .await
        .expect("a built-in block type");
    let filter = json!({"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}});
    let (_, schemas) = api
        .request(Method::POST, "/block_schemas/filter", Some(&filter))
        .await
        .unwrap();
    let create = json!({
        "name": name,
        "data": data,
        "block_schema_id": schemas[0]["id"],
        "block_type_id": block_type["id"],
        "is_anonymous": false
    });
    let (_, document) = api
        .request(Method::POST, "/block_documents/", Some(&create))
        .await
        .expect("the block document is saved");
    document["id"].as_str().expect("an id").to_string()
}

#[tokio::test]
async fn credentials_nesting_a_cluster_config_load_by_name_and_reach_the_cluster() {
    let cluster = Cluster::start().await;
    let db = weir_testkit::sqlite_db().await;
    let server = TestServer::start(weir_testkit::open(&db).await).await;
    let client = Client::new(&server.api_url(), Auth::None);
    let saved = cluster.credentials.cluster_config.clone().unwrap();
    let cluster_id = save(
        &client,
        "kubernetes-cluster-config",
        "sim-cluster",
        serde_json::to_value(&saved).unwrap(),
    )
    .await;
    save(
        &client,
        "kubernetes-credentials",
        "sim-creds",
        json!({"cluster_config": {"$ref": {"block_document_id": cluster_id}}}),
    )
    .await;

    let api = ApiConfig::new(server.api_url());
    let config = KubernetesClusterConfig::load_from(&api, "sim-cluster")
        .await
        .unwrap();
    assert_eq!(config, saved);
    let credentials = KubernetesCredentials::load_from(&api, "sim-creds")
        .await
        .unwrap();
    assert_eq!(credentials.cluster_config.as_ref(), Some(&saved));

    let namespaces: Api<Namespace> = Api::all(credentials.client().await.unwrap());
    let listed = namespaces.list(&Default::default()).await.unwrap();
    assert!(listed
        .items
        .iter()
        .any(|ns| ns.metadata.name.as_deref() == Some("default")));
}

#[tokio::test]
async fn a_missing_block_is_a_clear_error() {
    let db = weir_testkit::sqlite_db().await;
    let server = TestServer::start(weir_testkit::open(&db).await).await;
    let api = ApiConfig::new(server.api_url());
    let err = KubernetesCredentials::load_from(&api, "nope")
        .await
        .unwrap_err();
    assert!(matches!(err, KubeTaskError::LoadBlock { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with("cannot load kubernetes-credentials block \"nope\": "),
        "{text}"
    );
    assert!(text.contains("404"), "{text}");
}
