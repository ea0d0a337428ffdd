//! Flow-run states go through `set_state`, and the client obeys the answer. A proxy in front of a
//! real server forges the answers the server's rules only give in rare situations.

use super::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use weir_core::StateType;
use weir_sdk::{flow, with_api, ApiConfig, Error};
use weir_testkit::server_test;

type Forged = Arc<Mutex<VecDeque<serde_json::Value>>>;

/// Forwards every request to `upstream`, except that the first `set_state` calls are answered
/// with the `forged` answers, in order.
async fn forging_proxy(upstream: String, forged: Vec<serde_json::Value>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let forged: Forged = Arc::new(Mutex::new(forged.into()));
    let state = (upstream, forged, reqwest::Client::new());
    let app = axum::Router::new()
        .fallback(
            |State((upstream, forged, http)): State<(String, Forged, reqwest::Client)>,
             method: Method,
             uri: Uri,
             body: Bytes| async move {
                if uri.path().ends_with("/set_state") {
                    let answer = forged.lock().unwrap().pop_front();
                    if let Some(answer) = answer {
                        return (StatusCode::OK, axum::Json(answer)).into_response();
                    }
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
    let proxy = forging_proxy(server.api_url(), vec![abort]).await;
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

#[flow]
async fn patient() -> Result<u32, Error> {
    Ok(7)
}

server_test!(a_flow_told_to_wait_proposes_again_later, |server| {
    let wait = json!({
        "state": null, "status": "WAIT",
        "details": {"type": "wait_details", "delay_seconds": 0.3, "reason": "not yet"},
    });
    let proxy = forging_proxy(server.api_url(), vec![wait]).await;
    let started = Instant::now();
    let value = with_api(ApiConfig::new(proxy), patient()).await.unwrap();
    assert_eq!(value, 7);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let run = only_flow_run(&server).await;
    assert_eq!(run.state_type, Some(StateType::Completed));
});

server_test!(a_flow_rejected_into_a_terminal_state_stops, |server| {
    let reject = json!({
        "state": {
            "id": uuid::Uuid::now_v7(), "type": "CANCELLED", "name": "Cancelled",
            "timestamp": weir_core::Timestamp::now(), "message": null, "data": null,
            "state_details": {},
        },
        "status": "REJECT",
        "details": {"type": "reject_details", "reason": "cancelled meanwhile"},
    });
    let proxy = forging_proxy(server.api_url(), vec![reject]).await;
    let error = with_api(ApiConfig::new(proxy), patient())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Rejected { state, reason }
            if state == "Cancelled" && reason == "cancelled meanwhile"),
        "{error:?}"
    );
});
