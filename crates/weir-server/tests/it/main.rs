//! HTTP and websocket tests of the server, each on SQLite and PostgreSQL, over a real socket on
//! 127.0.0.1.

mod api;
mod api_keys;
mod auth;
mod bad_input;
mod blocks;
mod concurrency_leases;
mod concurrency_limits;
mod deployments;
mod foreman;
mod paginate;
mod prefect_concurrency;
mod services;
mod variables;
mod websockets;
mod work_pools;

use weir_client::{Auth, Client};
use weir_testkit::TestServer;

/// A client of `server` without credentials.
fn client(server: &TestServer) -> Client {
    Client::new(&server.api_url(), Auth::None)
}

/// A JSON request (`null`: no body): the status and the answer, an error answer's too (parsed
/// when it is JSON).
async fn call(
    c: &Client,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let body = (!body.is_null()).then_some(body);
    match c.request(method, path, body.as_ref()).await {
        Ok((status, value)) => (status.as_u16(), value),
        Err(weir_client::Error::Status { status, body, .. }) => (
            status.as_u16(),
            serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        ),
        Err(other) => panic!("{other}"),
    }
}

/// A plain HTTP client for raw requests.
fn http() -> reqwest::Client {
    reqwest::Client::new()
}
