//! Task runs reported by events: retries, timeouts and panics, as the server records them.

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;
use weir_core::StateType;
use weir_sdk::{flow, task, with_api, ApiConfig};
use weir_testkit::server_test;

/// Attempts per `flaky` caller, so concurrent tests do not share a counter.
static ATTEMPTS: Mutex<Option<HashMap<Uuid, u32>>> = Mutex::new(None);

#[task]
async fn extract(n: u32) -> anyhow::Result<u32> {
    Ok(n)
}

/// Fails its first attempt for each `key`.
#[task(retries = 1, retry_delay_seconds = 0.2, tags = ["flaky"])]
async fn flaky(key: Uuid, n: u32) -> anyhow::Result<u32> {
    let attempt = {
        let mut attempts = ATTEMPTS.lock().unwrap();
        let count = attempts
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_insert(0);
        *count += 1;
        *count
    };
    if attempt == 1 {
        anyhow::bail!("first attempt fails");
    }
    Ok(n + 1)
}

#[task(name = "load")]
fn load_rows(n: u32) -> u32 {
    n * 10
}

#[flow(name = "etl", tags = ["test"])]
async fn etl(key: Uuid, start: u32) -> anyhow::Result<u32> {
    let extracted = extract(start).await?;
    let transformed = flaky(key, extracted).await?;
    Ok(load_rows(transformed))
}

fn api(server: &TestServer) -> ApiConfig {
    ApiConfig::new(server.api_url())
}

fn names(states: &[weir_core::State]) -> Vec<&str> {
    states.iter().map(|s| s.display_name()).collect()
}

server_test!(a_retried_task_completes_the_flow, |server| {
    let value = with_api(api(&server), etl(Uuid::new_v4(), 1))
        .await
        .unwrap();
    assert_eq!(value, 20);

    let run = only_flow_run(&server).await;
    assert_eq!(run.state_type, Some(StateType::Completed));
    assert_eq!(run.parameters["start"], 1);
    assert_eq!(run.tags, vec!["test".to_owned()]);
    let flow_states = client(&server).flow_run_states(run.id).await.unwrap();
    assert_eq!(names(&flow_states), ["Pending", "Running", "Completed"]);

    let tasks = finished_task_runs(&server, 3).await;
    for task in &tasks {
        assert_eq!(task.flow_run_id, Some(run.id));
        assert_eq!(task.state_type, Some(StateType::Completed), "{task:#?}");
    }
    assert_eq!(named(&tasks, "extract").run_count, 1);
    assert_eq!(named(&tasks, "load").run_count, 1);
    let flaky = named(&tasks, "flaky");
    assert_eq!(flaky.run_count, 2);
    assert_eq!(flaky.tags, vec!["flaky".to_owned()]);
    assert_eq!(flaky.empirical_policy.retries, Some(1));
    let history = client(&server).task_run_states(flaky.id).await.unwrap();
    assert_eq!(
        names(&history),
        [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "Completed"
        ]
    );
    let awaiting = &history[2];
    assert_eq!(awaiting.state_type, StateType::Scheduled);
    let due = awaiting
        .state_details
        .scheduled_time
        .expect("scheduled_time");
    assert!(due > awaiting.timestamp, "{awaiting:#?}");
});

#[task(timeout_seconds = 0.2)]
async fn slow() -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(())
}

#[flow]
async fn impatient() -> anyhow::Result<()> {
    slow().await
}

server_test!(a_task_past_its_timeout_is_timed_out, |server| {
    let error = with_api(api(&server), impatient()).await.unwrap_err();
    assert!(error.to_string().contains("timed out"), "{error:#}");

    let tasks = finished_task_runs(&server, 1).await;
    assert_eq!(tasks[0].state_type, Some(StateType::Failed));
    assert_eq!(tasks[0].state_name.as_deref(), Some("TimedOut"));
    let run = only_flow_run(&server).await;
    assert_eq!(run.state_type, Some(StateType::Failed));
});

#[task]
async fn boom() -> u32 {
    panic!("boom at the task")
}

#[flow]
async fn explodes() -> anyhow::Result<u32> {
    Ok(boom().await + 1)
}

server_test!(a_panicking_task_fails_the_task_and_the_flow, |server| {
    let error = with_api(api(&server), explodes()).await.unwrap_err();
    assert!(error.to_string().contains("panicked"), "{error:#}");

    let tasks = finished_task_runs(&server, 1).await;
    let state = tasks[0].state.as_ref().unwrap();
    assert_eq!(state.state_type, StateType::Failed);
    let message = state.message.as_deref().unwrap_or_default();
    assert!(message.contains("boom at the task"), "{message}");
    let run = only_flow_run(&server).await;
    assert_eq!(run.state_type, Some(StateType::Failed));
    let flow_message = run.state.unwrap().message.unwrap_or_default();
    assert!(flow_message.contains("boom at the task"), "{flow_message}");
});
