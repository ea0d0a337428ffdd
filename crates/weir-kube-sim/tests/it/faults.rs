//! Fault injection as clients see it.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use weir_kube_sim::{Config, Fault, FaultRule};

use crate::common::{code, start};

#[tokio::test]
async fn throttling_server_errors_delays_and_conflicts() {
    let (sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);

    sim.faults().throttle(1, 7);
    let err = cms.list(&ListParams::default()).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (429, "TooManyRequests")
    );
    cms.list(&ListParams::default()).await.unwrap();

    sim.faults()
        .add(FaultRule::new(Fault::ServerError, 1).method("POST"));
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "f"}})).unwrap();
    assert_eq!(
        code(&cms.create(&PostParams::default(), &cm).await.unwrap_err()),
        500
    );
    cms.create(&PostParams::default(), &cm).await.unwrap();

    sim.faults()
        .add(FaultRule::new(Fault::Delay { millis: 300 }, 1).path_contains("/configmaps"));
    let started = Instant::now();
    cms.get("f").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    sim.faults().conflict_next_write();
    let read = cms.get("f").await.unwrap();
    let patch = Patch::Merge(json!({"data": {"a": "b"}}));
    assert_eq!(
        code(
            &cms.patch("f", &PatchParams::default(), &patch)
                .await
                .unwrap_err()
        ),
        409
    );
    // The object moved on: replaying the stale read conflicts for real; a fresh read succeeds.
    let err = cms
        .replace("f", &PostParams::default(), &read)
        .await
        .unwrap_err();
    assert_eq!(code(&err), 409);
    let fresh = cms.get("f").await.unwrap();
    cms.replace("f", &PostParams::default(), &fresh)
        .await
        .unwrap();
    cms.patch("f", &PatchParams::default(), &patch)
        .await
        .unwrap();
}

#[tokio::test]
async fn retry_after_header_is_sent() {
    let (sim, _client) = start(Config::default());
    let addr = sim.listen(0).await.unwrap();
    sim.faults().throttle(1, 3);
    let response = reqwest_free_get(addr, "/api/v1/namespaces/default/configmaps").await;
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("retry-after: 3"),
        "{response}"
    );
}

/// A minimal HTTP/1.1 POST of a JSON body.
async fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

/// A minimal HTTP/1.1 GET over a TCP socket, so the test needs no HTTP client dependency.
pub async fn reqwest_free_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn faults_can_be_injected_over_http() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (sim, _client) = start(Config::default());
    let addr = sim.listen(0).await.unwrap();
    let body =
        r#"{"fault":{"kind":"serverError"},"method":"GET","pathContains":"/secrets","times":1}"#;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /_sim/faults HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let failed = reqwest_free_get(addr, "/api/v1/namespaces/default/secrets").await;
    assert!(failed.starts_with("HTTP/1.1 500"), "{failed}");
    let fine = reqwest_free_get(addr, "/api/v1/namespaces/default/secrets").await;
    assert!(fine.starts_with("HTTP/1.1 200"), "{fine}");

    for (path, body) in [
        (
            "/_sim/scenarios",
            r#"{"image":"busybox*","scenario":"exit:4"}"#,
        ),
        ("/_sim/advance", r#"{"seconds":60}"#),
        ("/_sim/drop-watches", "{}"),
    ] {
        let answer = post(addr, path, body).await;
        assert!(answer.starts_with("HTTP/1.1 20"), "{path}: {answer}");
    }
    let bad = post(
        addr,
        "/_sim/scenarios",
        r#"{"image":"x","scenario":"nonsense"}"#,
    )
    .await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
}
