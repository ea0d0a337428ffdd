//! Loading the credentials blocks from a server's block documents. The Weir server does not serve
//! blocks yet, so a stub answers with the document shape Prefect 3.9.1's server returns.

use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use weir_kube_tasks::{KubeTaskError, KubernetesClusterConfig, KubernetesCredentials};
use weir_sdk::ApiConfig;

fn kubeconfig() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://10.1.2.3:6443"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
        "users": [{"name": "u", "user": {"token": "abc"}}]
    })
}

/// Serves block documents `my-cluster` (cluster config) and `my-creds` (credentials nesting it),
/// with secrets only when asked and only to the right API key.
async fn stub() -> String {
    async fn document(
        Path((slug, name)): Path<(String, String)>,
        Query(query): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> Result<Json<Value>, (axum::http::StatusCode, Json<Value>)> {
        let authorized = headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer pnu_key");
        if !authorized {
            return Err((
                axum::http::StatusCode::UNAUTHORIZED,
                Json(json!({"detail": "no"})),
            ));
        }
        assert_eq!(
            query.get("include_secrets").map(String::as_str),
            Some("true")
        );
        let cluster = json!({"config": kubeconfig(), "context_name": "ctx"});
        let data = match (slug.as_str(), name.as_str()) {
            ("kubernetes-cluster-config", "my cluster") => cluster,
            ("kubernetes-credentials", "my-creds") => json!({"cluster_config": cluster}),
            _ => {
                return Err((
                    axum::http::StatusCode::NOT_FOUND,
                    Json(json!({"detail": "Block document not found"})),
                ))
            }
        };
        Ok(Json(json!({
            "id": "868018c6-3973-4c41-ab40-c694caf17662",
            "name": name,
            "data": data,
            "block_type_name": "Kubernetes Credentials",
            "is_anonymous": false
        })))
    }
    let app = Router::new().route(
        "/api/block_types/slug/{slug}/block_documents/name/{name}",
        get(document),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api")
}

#[tokio::test]
async fn credentials_and_cluster_config_load_by_name() {
    let api = ApiConfig::new(stub().await).with_api_key("pnu_key");
    let credentials = KubernetesCredentials::load_from(&api, "my-creds")
        .await
        .unwrap();
    let cluster = credentials.cluster_config.expect("a cluster config");
    assert_eq!(cluster.context_name, "ctx");
    assert_eq!(cluster.config, kubeconfig());

    // The name is one path segment, spaces and all.
    let cluster = KubernetesClusterConfig::load_from(&api, "my cluster")
        .await
        .unwrap();
    assert_eq!(
        cluster.config["clusters"][0]["cluster"]["server"],
        "https://10.1.2.3:6443"
    );
}

#[tokio::test]
async fn a_missing_block_or_refused_key_is_a_clear_error() {
    let url = stub().await;
    let api = ApiConfig::new(url.clone()).with_api_key("pnu_key");
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

    let err = KubernetesCredentials::load_from(&ApiConfig::new(url), "my-creds")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
}
