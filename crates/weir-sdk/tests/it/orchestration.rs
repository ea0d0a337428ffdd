//! Flow-run states go through `set_state`, and the client obeys the answer. A proxy in front of a
//! real server forges the answers the server's rules only give in rare situations.

use super::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use std::sync::atomic::{AtomicBool, Ordering};
use weir_core::StateType;
use weir_sdk::{flow, with_api, ApiConfig, Error};
use weir_testkit::server_test;

/// Forwards every request to `upstream`, except that `set_state` is answered with `forged`.
async fn forging_proxy(upstream: String, forged: serde_json::Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = (upstream, forged, reqwest::Client::new());
    let app = axum::Router::new()
        .fallback(
            |State((upstream, forged, http)): State<(
                String,
                serde_json::Value,
                reqwest::Client,
            )>,
             method: Method,
             uri: Uri,
             body: Bytes| async move {
                if uri.path().ends_with("/set_state") {
                    return (StatusCode::OK, axum::Json(forged)).into_response();
                }
                let path = uri.path_and_query().map_or("", |p| p.as_str());
                let path = path.strip_prefix("/api").unwrap_or(path);
                let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
                let answer = http
                    .request(method, format!("{upstream}{path}"))
                    .header("content-type", "application/json")
                    .body(body.to_vec())
                    .send()
                    .await
                    .unwrap();
                let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
                let bytes = answer.bytes().await.unwrap();
                (
                    status,
                    [("content-type", "application/json")],
                    bytes.to_vec(),
                )
                    .into_response()
            },
        )
        .with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/api")
}

static BODY_RAN: AtomicBool = AtomicBool::new(false);

#[flow]
async fn never_runs() -> Result<(), Error> {
    BODY_RAN.store(true, Ordering::SeqCst);
    Ok(())
}

server_test!(an_aborted_flow_does_not_run_its_body, |server| {
    let abort = json!({
        "state": null, "status": "ABORT",
        "details": {"type": "abort_details", "reason": "the test says stop"},
    });
    let proxy = forging_proxy(server.api_url(), abort).await;
    let error = with_api(ApiConfig::new(proxy), never_runs())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Aborted { reason } if reason == "the test says stop"),
        "{error:?}"
    );
    assert!(!BODY_RAN.load(Ordering::SeqCst));
    let run = only_flow_run(&server).await;
    assert_eq!(run.state_type, Some(StateType::Pending));
});
