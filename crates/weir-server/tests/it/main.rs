//! HTTP and websocket tests of the server, each on SQLite and PostgreSQL, over a real socket on
//! 127.0.0.1.

mod api;
mod auth;
mod bad_input;
mod deployments;
mod variables;
mod websockets;
mod work_pools;

use weir_client::{Auth, Client};
use weir_testkit::TestServer;

/// A client of `server` without credentials.
fn client(server: &TestServer) -> Client {
    Client::new(&server.api_url(), Auth::None)
}

/// A plain HTTP client for raw requests.
fn http() -> reqwest::Client {
    reqwest::Client::new()
}
