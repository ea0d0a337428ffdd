//! HTTP Basic auth with the server's auth string, and the websocket auth frame (API keys: `api_keys`).

use super::*;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
use weir_testkit::backend_test;

async fn secured(db: &weir_testkit::TestDb) -> TestServer {
    let config = weir_server::ServerConfig {
        auth_string: Some("admin:s3cret".into()),
        ..weir_server::ServerConfig::default()
    };
    TestServer::start_with(weir_testkit::open(db).await, config).await
}

backend_test!(basic_auth_guards_every_endpoint_but_health, |db| {
    let server = secured(&db).await;
    let anonymous = client(&server);
    assert!(anonymous.health().await.unwrap(), "health stays open");
    let err = anonymous.server_version().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert!(err.to_string().contains("Unauthorized"), "{err}");
    let wrong = Client::new(&server.api_url(), Auth::Basic("admin:guess".into()));
    assert_eq!(
        wrong
            .create_flow("f")
            .await
            .unwrap_err()
            .status()
            .map(|s| s.as_u16()),
        Some(401)
    );
    let right = Client::new(&server.api_url(), Auth::Basic("admin:s3cret".into()));
    assert_eq!(right.server_version().await.unwrap(), "3.9.1");
    right.create_flow("f").await.unwrap();
    let ready = http()
        .get(format!("{}/ready", server.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
});

/// Opens `/api/{path}` with the `prefect` subprotocol (and `authorization` as the upgrade's
/// `Authorization` header, if given) and sends an auth frame with `token`; returns the server's
/// first answer: a text frame, `close CODE: REASON`, or `http STATUS` when the upgrade is refused.
pub(super) async fn websocket_auth(
    server: &TestServer,
    path: &str,
    authorization: Option<&str>,
    token: serde_json::Value,
) -> String {
    let url = format!("ws://{}/api/{path}", server.addr);
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "prefect".parse().unwrap());
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("Authorization", value.parse().unwrap());
    }
    let (mut socket, response) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            return format!("http {}", response.status().as_u16())
        }
        Err(other) => panic!("{other}"),
    };
    assert_eq!(response.headers()["sec-websocket-protocol"], "prefect");
    let frame = serde_json::json!({"type": "auth", "token": token}).to_string();
    socket.send(Message::Text(frame.into())).await.unwrap();
    match socket.next().await {
        Some(Ok(Message::Text(text))) => text.to_string(),
        Some(Ok(Message::Close(Some(close)))) => {
            format!("close {}: {}", u16::from(close.code), close.reason.as_str())
        }
        other => format!("{other:?}"),
    }
}

backend_test!(
    websockets_require_the_auth_string_in_their_first_frame,
    |db| {
        let server = secured(&db).await;
        assert_eq!(
            websocket_auth(&server, "events/in", None, "admin:s3cret".into()).await,
            r#"{"type":"auth_success"}"#
        );
        assert_eq!(
            websocket_auth(&server, "events/in", None, "admin:guess".into()).await,
            "close 1008: Invalid credentials"
        );
        assert!(
            websocket_auth(&server, "events/in", None, serde_json::Value::Null)
                .await
                .starts_with("close 1008: Missing credentials")
        );
    }
);
