//! The background services that repair runs, on both backends: zombies (RUNNING runs whose
//! heartbeats stopped become CRASHED) and cancellation cleanup.

use super::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;
use weir_testkit::backend_test;

/// A server whose repair services run every 100 ms and treat 1 s as "too long".
async fn quick(db: &weir_testkit::TestDb) -> TestServer {
    let config = weir_server::ServerConfig {
        zombies_interval: Duration::from_millis(100),
        zombies_after: Duration::from_secs(1),
        cancellation_cleanup_interval: Duration::from_millis(100),
        cancelling_without_infrastructure_after: Duration::from_secs(1),
        ..weir_server::ServerConfig::default()
    };
    TestServer::start_with(weir_testkit::open(db).await, config).await
}

/// A new flow run of flow `flow`, set RUNNING; returns its id.
async fn running_run(c: &Client, flow: Uuid) -> String {
    let (_, run) = call(c, Method::POST, "/flow_runs/", json!({"flow_id": flow})).await;
    let id = run["id"].as_str().unwrap().to_owned();
    set_state(c, &id, json!({"type": "RUNNING"})).await;
    id
}

async fn set_state(c: &Client, id: &str, state: Value) {
    let path = format!("/flow_runs/{id}/set_state");
    let body = json!({"state": state, "force": true});
    let (status, answer) = call(c, Method::POST, &path, body).await;
    assert_eq!(status, 201, "{answer}");
}

async fn heartbeat(c: &Client, id: &str, flow: Uuid) {
    let event = weir_core::events::flow_run_heartbeat_event(
        id.parse().unwrap(),
        "run",
        flow,
        "etl",
        weir_core::Timestamp::now(),
        Uuid::new_v4(),
    );
    let (status, answer) = call(c, Method::POST, "/events", json!([event])).await;
    assert!(status < 300, "{answer}");
}

async fn read(c: &Client, id: &str) -> Value {
    call(c, Method::GET, &format!("/flow_runs/{id}"), json!(null))
        .await
        .1
}

backend_test!(
    a_run_whose_heartbeats_stop_crashes_and_a_beating_one_does_not,
    |db| {
        let server = quick(&db).await;
        let c = client(&server);
        let flow = c.create_flow("etl").await.unwrap().id;
        let silent = running_run(&c, flow).await;
        let beating = running_run(&c, flow).await;
        let never_beat = running_run(&c, flow).await;
        heartbeat(&c, &silent, flow).await;

        let mut crashed = Value::Null;
        for _ in 0..60 {
            heartbeat(&c, &beating, flow).await;
            let run = read(&c, &silent).await;
            if run["state_type"] == "CRASHED" {
                crashed = run;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            crashed["state_type"], "CRASHED",
            "within 6 s of a 1 s threshold"
        );
        let message = crashed["state"]["message"].as_str().unwrap();
        assert!(message.contains("heartbeat"), "{message}");
        // Another threshold's worth of beats: the beating run stays RUNNING.
        for _ in 0..15 {
            heartbeat(&c, &beating, flow).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(read(&c, &beating).await["state_type"], "RUNNING");
        assert_eq!(
            read(&c, &never_beat).await["state_type"],
            "RUNNING",
            "a run that never heartbeated is not judged by its silence"
        );
    }
);

/// Polls flow run `id` every 50 ms for up to 6 s until its state type is `want`; its last reading.
async fn wait_for(c: &Client, id: &str, want: &str) -> Value {
    let mut run = Value::Null;
    for _ in 0..120 {
        run = read(c, id).await;
        if run["state_type"] == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run
}

/// A subflow run of `parent`: the parent's task run standing for the call, and the child run
/// pointing at it, set to `state`.
async fn subflow(c: &Client, parent: &str, flow: Uuid, key: &str, state: &str) -> String {
    let task = json!({"flow_run_id": parent, "task_key": key, "dynamic_key": "0", "name": key});
    let (status, task) = call(c, Method::POST, "/task_runs/", task).await;
    assert!(status < 300, "{task}");
    let child = json!({"flow_id": flow, "parent_task_run_id": task["id"]});
    let (_, child) = call(c, Method::POST, "/flow_runs/", child).await;
    let id = child["id"].as_str().unwrap().to_owned();
    set_state(c, &id, json!({"type": state})).await;
    id
}

backend_test!(
    subflows_of_a_cancelled_run_are_cancelled_but_finished_ones_kept,
    |db| {
        let server = quick(&db).await;
        let c = client(&server);
        let flow = c.create_flow("etl").await.unwrap().id;
        let parent = running_run(&c, flow).await;
        let going = subflow(&c, &parent, flow, "going", "RUNNING").await;
        let done = subflow(&c, &parent, flow, "done", "COMPLETED").await;
        let other_parent = running_run(&c, flow).await;
        let unrelated = subflow(&c, &other_parent, flow, "unrelated", "RUNNING").await;

        set_state(&c, &parent, json!({"type": "CANCELLED"})).await;
        let child = wait_for(&c, &going, "CANCELLED").await;
        assert_eq!(child["state_type"], "CANCELLED", "{child}");
        assert_eq!(
            child["state"]["message"],
            "The parent flow run was cancelled."
        );
        assert_eq!(read(&c, &done).await["state_type"], "COMPLETED");
        assert_eq!(read(&c, &unrelated).await["state_type"], "RUNNING");
    }
);

backend_test!(
    a_run_left_cancelling_with_nobody_to_stop_it_is_cancelled,
    |db| {
        let server = quick(&db).await;
        let c = client(&server);
        let flow = c.create_flow("etl").await.unwrap().id;
        let orphan = running_run(&c, flow).await;
        let held = running_run(&c, flow).await;
        let path = format!("/flow_runs/{held}");
        let (status, answer) = call(
            &c,
            Method::PATCH,
            &path,
            json!({"infrastructure_pid": "4242"}),
        )
        .await;
        assert_eq!(status, 204, "{answer}");
        set_state(&c, &orphan, json!({"type": "CANCELLING"})).await;
        set_state(&c, &held, json!({"type": "CANCELLING"})).await;

        let run = wait_for(&c, &orphan, "CANCELLED").await;
        assert_eq!(run["state_type"], "CANCELLED", "{run}");
        assert!(
            run["state"]["message"]
                .as_str()
                .unwrap()
                .contains("no worker"),
            "{run}"
        );
        assert_eq!(
            read(&c, &held).await["state_type"],
            "CANCELLING",
            "its infrastructure's owner confirms the cancellation"
        );
    }
);
