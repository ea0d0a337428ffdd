//! The same Rust flow against Weir (SQLite and PostgreSQL) and against a real `prefect server
//! start` 3.9.1 records the same flow runs, task-run state histories and logs, read back through
//! each server's API: retries, a timeout, a cache hit, a mapped fan-out of 50 and a subflow.

use super::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;
use weir_sdk::{flow, task, with_api, ApiConfig};
use weir_testkit::prefect::PrefectServer;

static ATTEMPTS: Mutex<Option<HashMap<Uuid, u32>>> = Mutex::new(None);

/// Fails its first attempt for each key.
#[task(retries = 2, retry_delay_seconds = 0)]
async fn flaky_step(key: Uuid) -> anyhow::Result<u32> {
    let attempt = {
        let mut attempts = ATTEMPTS.lock().unwrap();
        let count = attempts
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_insert(0);
        *count += 1;
        *count
    };
    anyhow::ensure!(attempt > 1, "attempt {attempt} fails");
    Ok(attempt)
}

#[task(timeout_seconds = 0.2)]
async fn slow_step() -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(())
}

#[task(cache_policy = "inputs")]
async fn lookup(key: Uuid) -> anyhow::Result<u32> {
    tracing::info!("looking up");
    Ok(key.as_bytes()[0].into())
}

#[task]
async fn double(n: u32) -> u32 {
    n * 2
}

#[flow(name = "parity-child")]
async fn parity_child(n: u32) -> u32 {
    tracing::info!(n, "child starts");
    double(n).await
}

#[flow(name = "parity")]
async fn parity(key: Uuid) -> anyhow::Result<u32> {
    tracing::info!("parity starts");
    let attempts = flaky_step(key).await?;
    let timed_out = slow_step().await.is_err();
    tracing::warn!(timed_out, "slow step done");
    let first = lookup(key).await?;
    let again = lookup(key).await?;
    anyhow::ensure!(first == again, "the cache returned another value");
    let doubled: Vec<u32> = double::map(0..50).await;
    let child = parity_child(4).await;
    Ok(attempts + doubled.iter().sum::<u32>() + child)
}

/// What a server recorded, without ids, names chosen by the server, or times.
#[derive(Debug, PartialEq)]
struct Recorded {
    /// (flow name, state name, run count, is a subflow)
    flow_runs: Vec<(String, String, i64, bool)>,
    /// Task name → the sorted state histories of its runs ("Pending>Running>Completed").
    task_runs: BTreeMap<String, Vec<String>>,
    /// (level, message) of the logs, flow-run names replaced by `<run>`, sorted.
    logs: Vec<(i64, String)>,
}

async fn recorded(api_url: &str, expected_task_runs: usize) -> Recorded {
    let client = weir_client::Client::new(api_url, weir_client::Auth::None);
    // A real Prefect server records task runs from events a few seconds later.
    let mut task_runs = Vec::new();
    for _ in 0..240 {
        task_runs = client.filter_task_runs(&json!({})).await.unwrap();
        if task_runs.len() == expected_task_runs
            && task_runs
                .iter()
                .all(|r| r.state_type.is_some_and(|t| t.is_terminal()))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let flow_runs = client.filter_flow_runs(&json!({})).await.unwrap();
    let mut flows = BTreeMap::new();
    for run in &flow_runs {
        let flow = client.read_flow(run.flow_id).await.unwrap();
        flows.insert(run.id, flow.name);
    }
    let mut summary: Vec<_> = flow_runs
        .iter()
        .map(|r| {
            (
                flows[&r.id].clone(),
                r.state_name.clone().unwrap_or_default(),
                r.run_count,
                r.parent_task_run_id.is_some(),
            )
        })
        .collect();
    summary.sort();
    let mut histories: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for run in &task_runs {
        let states = client.task_run_states(run.id).await.unwrap();
        let path: Vec<&str> = states.iter().map(|s| s.display_name()).collect();
        let task = run
            .name
            .rsplit_once('-')
            .map_or(run.name.as_str(), |(t, _)| t);
        histories
            .entry(task.to_owned())
            .or_default()
            .push(path.join(">"));
    }
    histories.values_mut().for_each(|paths| paths.sort());
    let run_ids: Vec<String> = flow_runs.iter().map(|r| r.id.to_string()).collect();
    let logs = client
        .filter_logs(&json!({"logs": {"flow_run_id": {"any_": run_ids}}}))
        .await
        .unwrap();
    let mut lines: Vec<(i64, String)> = logs
        .iter()
        .map(|l| {
            let text = flow_runs
                .iter()
                .fold(l.message.clone(), |text, r| text.replace(&r.name, "<run>"));
            (l.level, text)
        })
        .collect();
    lines.sort();
    Recorded {
        flow_runs: summary,
        task_runs: histories,
        logs: lines,
    }
}

/// 1 flaky + 1 slow + 2 lookups + 50 doubles + the subflow's parent task run + its double.
const TASK_RUNS: usize = 56;

async fn run_on(api_url: &str) -> Recorded {
    let value = with_api(ApiConfig::new(api_url), parity(Uuid::new_v4()))
        .await
        .unwrap();
    assert_eq!(value, 2 + 2 * (0..50).sum::<u32>() + 8);
    recorded(api_url, TASK_RUNS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_and_prefect_record_the_same_runs_states_and_logs() {
    let storage = std::env::temp_dir().join(format!("weir-parity-{}", Uuid::new_v4()));
    std::env::set_var(weir_core::env::WEIR_LOCAL_STORAGE_PATH, &storage);
    let prefect = PrefectServer::start().await;
    let on_prefect = run_on(&prefect.api_url()).await;

    // The databases live as long as these bindings.
    let sqlite_db = weir_testkit::sqlite_db().await;
    let sqlite = TestServer::start(weir_testkit::open(&sqlite_db).await).await;
    let on_sqlite = run_on(&sqlite.api_url()).await;
    let postgres_db = weir_testkit::postgres_db().await;
    let postgres = TestServer::start(weir_testkit::open(&postgres_db).await).await;
    let on_postgres = run_on(&postgres.api_url()).await;

    // The scenario did what it says, on the reference server.
    assert_eq!(
        on_prefect.flow_runs,
        [
            ("parity".to_owned(), "Completed".to_owned(), 1, false),
            ("parity-child".to_owned(), "Completed".to_owned(), 1, true),
        ]
    );
    let histories = &on_prefect.task_runs;
    assert_eq!(
        histories["flaky_step"],
        ["Pending>Running>AwaitingRetry>Retrying>Completed"]
    );
    assert_eq!(histories["slow_step"], ["Pending>Running>TimedOut"]);
    assert_eq!(
        histories["lookup"],
        ["Pending>Running>Cached", "Pending>Running>Completed"]
    );
    assert_eq!(histories["double"].len(), 51);
    assert_eq!(
        histories["parity-child"],
        ["Pending>Pending>Running>Completed"]
    );
    assert!(on_prefect.logs.contains(&(20, "parity starts".to_owned())));
    assert!(on_prefect
        .logs
        .contains(&(30, "slow step done timed_out=true".to_owned())));

    // And Weir recorded exactly the same.
    assert_eq!(on_sqlite, on_prefect, "Weir on SQLite");
    assert_eq!(on_postgres, on_prefect, "Weir on PostgreSQL");
    std::fs::remove_dir_all(storage).ok();
}
