//! The worker's health endpoint, `GET /health` → `{"message": "OK"}` (Prefect's worker answers
//! the same), for liveness and readiness probes.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) async fn serve(address: std::net::SocketAddr) {
    let app = Router::new().route(
        "/health",
        get(|| async { Json::<Value>(json!({"message": "OK"})) }),
    );
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the health endpoint stopped");
            }
        }
        Err(error) => tracing::error!(%error, %address, "cannot serve the health endpoint"),
    }
}
