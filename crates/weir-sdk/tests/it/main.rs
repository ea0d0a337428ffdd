//! The SDK against real Weir servers on SQLite and PostgreSQL: flows and tasks called as Rust
//! functions, their runs read back through the API.

mod blocks;
mod entry;
mod features;
mod flows;
mod orchestration;
mod prefect_parity;

use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;
use weir_client::{Auth, Client};
use weir_core::schemas::{FlowRun, TaskRun};
use weir_testkit::TestServer;

/// Polls `check` every 25 ms for up to 10 s and returns its first `Some`.
async fn eventually<T, F, Fut>(mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(found) = check().await {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

fn client(server: &TestServer) -> Client {
    Client::new(&server.api_url(), Auth::None)
}

/// The only flow run of a fresh server.
async fn only_flow_run(server: &TestServer) -> FlowRun {
    let mut runs = client(server).filter_flow_runs(&json!({})).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    runs.remove(0)
}

/// Waits until the server has `count` task runs, all in a terminal state, and returns them.
async fn finished_task_runs(server: &TestServer, count: usize) -> Vec<TaskRun> {
    let client = client(server);
    let found = eventually(|| async {
        let runs = client.filter_task_runs(&json!({})).await.ok()?;
        let done = runs.len() == count
            && runs
                .iter()
                .all(|r| r.state_type.is_some_and(|t| t.is_terminal()));
        done.then_some(runs)
    })
    .await;
    found.unwrap_or_else(|| panic!("the server never showed {count} finished task runs"))
}

/// The task run whose name starts with `task`-.
fn named<'a>(runs: &'a [TaskRun], task: &str) -> &'a TaskRun {
    runs.iter()
        .find(|r| {
            r.name
                .rsplit_once('-')
                .is_some_and(|(name, _)| name == task)
        })
        .unwrap_or_else(|| panic!("no task run of {task} in {runs:#?}"))
}
