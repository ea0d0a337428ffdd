//! Push-driven pickup: a subscription to the server's `/events/out` that wakes the worker's poll
//! the moment a flow run becomes SCHEDULED or CANCELLING. The subscription reconnects on its
//! own; while it is down, the timed poll still finds everything, only later.

use crate::WorkerConfig;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Pause before reconnecting a broken subscription.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Follows flow-run events forever, calling `wake` for each one that may concern a worker.
pub(crate) async fn follow(config: &WorkerConfig, wake: impl Fn()) {
    let url = weir_client::websocket_url(&config.api_url, "/events/out");
    let token = config.auth.websocket_token();
    loop {
        match subscribe(&url, token.as_deref(), &wake).await {
            Ok(()) => tracing::debug!("event subscription closed; reconnecting"),
            Err(error) => tracing::debug!(%error, "event subscription failed; reconnecting"),
        }
        // Anything may have happened while disconnected.
        wake();
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

async fn subscribe(url: &str, token: Option<&str>, wake: &impl Fn()) -> Result<(), String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("prefect"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let auth = json!({"type": "auth", "token": token}).to_string();
    socket
        .send(Message::Text(auth.into()))
        .await
        .map_err(|e| e.to_string())?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("auth_success") => {}
        other => return Err(format!("unexpected answer to the auth frame: {other:?}")),
    }
    let filter = json!({
        "type": "filter",
        "filter": {"event": {"name": ["prefect.flow-run.Scheduled", "prefect.flow-run.Cancelling"]}},
    });
    socket
        .send(Message::Text(filter.to_string().into()))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(message) = socket.next().await {
        match message.map_err(|e| e.to_string())? {
            Message::Text(text) => {
                let frame: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if frame.get("type").and_then(Value::as_str) == Some("event") {
                    wake();
                }
            }
            Message::Close(_) => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}
