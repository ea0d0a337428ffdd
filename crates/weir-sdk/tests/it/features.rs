//! Concurrency (`submit`, `map`), `with_options`, caching, run logs and subflows, read back
//! from real servers on both backends.

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;
use weir_core::StateType;
use weir_sdk::{flow, task, with_api, ApiConfig};
use weir_testkit::server_test;

fn api(server: &TestServer) -> ApiConfig {
    ApiConfig::new(server.api_url())
}

/// Points persisted results at a fresh folder (each test runs in its own process).
fn fresh_result_storage() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-sdk-results-{}", Uuid::new_v4()));
    std::env::set_var(weir_core::env::WEIR_LOCAL_STORAGE_PATH, &dir);
    dir
}

#[task]
async fn square(n: u64) -> u64 {
    n * n
}

#[task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[flow]
async fn fan_out(count: u64) -> anyhow::Result<u64> {
    let squares: Vec<u64> = square::map(0..count).await;
    let sum = add::submit(1, 2);
    let renamed = square::with_options()
        .name("square-renamed")
        .retries(2)
        .call(7)
        .await;
    let pairs: Vec<u64> = add::map([(1, 1), (2, 2)]).await;
    Ok(squares.iter().sum::<u64>() + sum.await + renamed + pairs.iter().sum::<u64>())
}

server_test!(
    mapped_and_submitted_tasks_run_concurrently_and_are_all_recorded,
    |server| {
        let value = with_api(api(&server), fan_out(50)).await.unwrap();
        let squares: u64 = (0..50u64).map(|n| n * n).sum();
        assert_eq!(value, squares + 3 + 49 + 6);

        let flow_run = only_flow_run(&server).await;
        assert_eq!(flow_run.state_type, Some(StateType::Completed));
        let runs = finished_task_runs(&server, 54).await;
        assert!(runs
            .iter()
            .all(|r| r.state_type == Some(StateType::Completed)));
        assert!(runs.iter().all(|r| r.flow_run_id == Some(flow_run.id)));
        let squares: Vec<_> = runs
            .iter()
            .filter(|r| r.task_key.ends_with("::square"))
            .collect();
        assert_eq!(squares.len(), 51, "50 mapped calls and the renamed one");
        let mut keys: Vec<&str> = squares.iter().map(|r| r.dynamic_key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 51, "each call has its own dynamic key");
        let renamed = named(&runs, "square-renamed");
        assert_eq!(renamed.empirical_policy.retries, Some(2));
        assert_eq!(
            runs.iter()
                .filter(|r| r.task_key.ends_with("::add"))
                .count(),
            3
        );
    }
);

/// Body calls per key, so the two backends' tests never share a count.
static EXPENSIVE_CALLS: Mutex<Option<HashMap<Uuid, u32>>> = Mutex::new(None);

#[task(cache_policy = "inputs", cache_expiration = 3600)]
async fn expensive(key: Uuid, n: u32) -> anyhow::Result<u32> {
    *EXPENSIVE_CALLS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_insert(0) += 1;
    Ok(n * 3)
}

#[flow]
async fn cached_twice(key: Uuid) -> anyhow::Result<(u32, u32, u32)> {
    let first = expensive(key, 2).await?;
    let again = expensive(key, 2).await?;
    let other_input = expensive(key, 5).await?;
    Ok((first, again, other_input))
}

server_test!(
    a_cache_hit_is_completed_as_cached_without_running_the_body,
    |server| {
        let storage = fresh_result_storage();
        let key = Uuid::new_v4();
        let values = with_api(api(&server), cached_twice(key)).await.unwrap();
        assert_eq!(values, (6, 6, 15));
        let calls = EXPENSIVE_CALLS.lock().unwrap().as_ref().unwrap()[&key];
        assert_eq!(
            calls, 2,
            "the second call with the same inputs came from the cache"
        );

        let runs = finished_task_runs(&server, 3).await;
        let mut names: Vec<&str> = runs
            .iter()
            .map(|r| r.state_name.as_deref().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["Cached", "Completed", "Completed"]);
        let cached = runs
            .iter()
            .find(|r| r.state_name.as_deref() == Some("Cached"))
            .unwrap();
        assert_eq!(cached.state_type, Some(StateType::Completed));
        let data = cached.state.as_ref().and_then(|s| s.data.clone()).unwrap();
        let stored = data["storage_key"].as_str().unwrap();
        assert!(stored.starts_with(storage.to_str().unwrap()), "{data}");
        assert!(data["expiration"].is_string(), "{data}");
        let states = client(&server).task_run_states(cached.id).await.unwrap();
        let path: Vec<&str> = states.iter().map(|s| s.display_name()).collect();
        assert_eq!(path, ["Pending", "Running", "Cached"]);
        std::fs::remove_dir_all(storage).ok();
    }
);

#[task]
async fn chatty(n: u32) -> u32 {
    tracing::info!(n, "inside the task");
    n
}

#[flow(log_prints = true)]
async fn talkative() -> u32 {
    tracing::warn!("inside the flow");
    weir_sdk::log_print!("printed {}", 1);
    tracing::debug!("too quiet to ship");
    chatty(5).await
}

server_test!(
    tracing_events_become_run_logs_with_their_run_ids,
    |server| {
        assert_eq!(with_api(api(&server), talkative()).await, 5);
        let flow_run = only_flow_run(&server).await;
        let task_run = finished_task_runs(&server, 1).await.remove(0);
        // The flow flushes its logs before returning: no waiting needed.
        let logs = client(&server)
            .filter_logs(&json!({"logs": {"flow_run_id": {"any_": [flow_run.id]}}}))
            .await
            .unwrap();
        let find = |text: &str| {
            logs.iter()
                .find(|l| l.message.contains(text))
                .unwrap_or_else(|| panic!("no log containing {text:?} in {logs:#?}"))
        };
        let flow_line = find("inside the flow");
        assert_eq!((flow_line.level, flow_line.task_run_id), (30, None));
        let task_line = find("inside the task");
        assert_eq!(task_line.message, "inside the task n=5");
        assert_eq!(task_line.task_run_id, Some(task_run.id));
        assert_eq!(task_line.level, 20);
        assert_eq!(find("printed 1").task_run_id, None);
        assert!(find(&format!("Beginning flow run '{}'", flow_run.name)).level == 20);
        assert_eq!(
            find("Finished in state Completed()").task_run_id,
            Some(task_run.id),
            "the task's own final line comes first"
        );
        assert!(logs.iter().all(|l| !l.message.contains("too quiet")));
    }
);

#[flow]
async fn child(n: u64) -> u64 {
    square(n).await
}

#[flow]
async fn parent() -> u64 {
    child(3).await + 1
}

server_test!(
    a_subflow_is_a_child_flow_run_linked_to_a_parent_task_run,
    |server| {
        assert_eq!(with_api(api(&server), parent()).await, 10);
        let runs = client(&server).filter_flow_runs(&json!({})).await.unwrap();
        assert_eq!(runs.len(), 2);
        let child = runs
            .iter()
            .find(|r| r.parent_task_run_id.is_some())
            .unwrap();
        let parent = runs
            .iter()
            .find(|r| r.parent_task_run_id.is_none())
            .unwrap();
        assert!(runs
            .iter()
            .all(|r| r.state_type == Some(StateType::Completed)));
        let tasks = finished_task_runs(&server, 2).await;
        let link = tasks
            .iter()
            .find(|t| Some(t.id) == child.parent_task_run_id)
            .unwrap();
        assert_eq!(link.flow_run_id, Some(parent.id));
        assert_eq!(link.name, "child-0");
        assert_eq!(link.state_type, Some(StateType::Completed));
        let states = client(&server).task_run_states(link.id).await.unwrap();
        let path: Vec<&str> = states.iter().map(|s| s.display_name()).collect();
        assert_eq!(path, ["Pending", "Pending", "Running", "Completed"]);
        assert!(states[1..]
            .iter()
            .all(|s| s.state_details.child_flow_run_id == Some(child.id)));
        let square = tasks.iter().find(|t| t.id != link.id).unwrap();
        assert_eq!(square.flow_run_id, Some(child.id));
    }
);

server_test!(
    a_flow_with_options_is_renamed_and_retried_as_asked,
    |server| {
        let renamed = child::with_options()
            .name("renamed-child")
            .retries(1)
            .tags(["adhoc"])
            .call(2);
        assert_eq!(with_api(api(&server), renamed).await, 4);
        let run = only_flow_run(&server).await;
        let flow = client(&server).read_flow(run.flow_id).await.unwrap();
        assert_eq!(flow.name, "renamed-child");
        assert_eq!(run.empirical_policy.retries, Some(1));
        assert_eq!(run.tags, ["adhoc"]);
        assert_eq!(run.state_type, Some(StateType::Completed));
    }
);

/// Fails its first two calls; declared without retries.
#[task]
async fn flaky_echo(text: String) -> anyhow::Result<String> {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    anyhow::ensure!(call >= 2, "call {} fails", call + 1);
    Ok(text)
}

/// Retries chosen at run time work for a task whose attribute has none: each attempt gets its
/// own copy of the (`Clone`) arguments.
#[tokio::test]
async fn with_options_retries_a_task_declared_without_retries() {
    let value = flaky_echo::with_options()
        .retries(2)
        .call("hello".to_string())
        .await
        .unwrap();
    assert_eq!(value, "hello");
}
