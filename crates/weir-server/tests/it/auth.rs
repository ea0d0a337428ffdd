//! HTTP Basic auth with the server's auth string, and the websocket auth frame.

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

/// Opens `/api/events/in` with the `prefect` subprotocol and sends an auth frame with `token`;
/// returns the server's first answer (a text frame or a close code).
async fn websocket_auth(server: &TestServer, token: serde_json::Value) -> String {
    let url = format!("ws://{}/api/events/in", server.addr);
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "prefect".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "prefect");
    let frame = serde_json::json!({"type": "auth", "token": token}).to_string();
    socket.send(Message::Text(frame.into())).await.unwrap();
    match socket.next().await {
        Some(Ok(Message::Text(text))) => text.to_string(),
        Some(Ok(Message::Close(Some(close)))) => format!("close {}", u16::from(close.code)),
        other => format!("{other:?}"),
    }
}

backend_test!(
    websockets_require_the_auth_string_in_their_first_frame,
    |db| {
        let server = secured(&db).await;
        assert_eq!(
            websocket_auth(&server, "admin:s3cret".into()).await,
            r#"{"type":"auth_success"}"#
        );
        assert_eq!(
            websocket_auth(&server, "admin:guess".into()).await,
            "close 1008"
        );
        assert_eq!(
            websocket_auth(&server, serde_json::Value::Null).await,
            "close 1008"
        );
    }
);
