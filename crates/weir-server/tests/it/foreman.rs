//! The foreman on both backends: statuses of pools, queues and deployments follow workers'
//! heartbeats and polls, and each change is announced once by Prefect's status event, stored and
//! pushed to `/events/out` subscribers.

use super::*;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use weir_testkit::backend_test;

/// A server whose foreman runs every 100 ms, whose workers go OFFLINE after one missed 1 s
/// heartbeat, and whose queues and deployments are NOT_READY 1 s after their last poll.
async fn quick(db: &weir_testkit::TestDb) -> TestServer {
    let config = weir_server::ServerConfig {
        foreman_interval: Duration::from_millis(100),
        status_timeouts: weir_core::work_pools::StatusTimeouts {
            inactivity_heartbeat_multiple: 1.0,
            fallback_heartbeat_interval_seconds: 1.0,
            work_queue_last_polled_timeout_seconds: 1.0,
            deployment_last_polled_timeout_seconds: 1.0,
        },
        ..weir_server::ServerConfig::default()
    };
    TestServer::start_with(weir_testkit::open(db).await, config).await
}

async fn create_pool(c: &Client, name: &str) -> Value {
    let (status, pool) = call(
        c,
        Method::POST,
        "/work_pools/",
        json!({"name": name, "type": "process"}),
    )
    .await;
    assert_eq!(status, 201, "{pool}");
    pool
}

async fn heartbeat(c: &Client, pool: &str, worker: &str) {
    let path = format!("/work_pools/{pool}/workers/heartbeat");
    let body = json!({"name": worker, "heartbeat_interval_seconds": 1});
    let (status, answer) = call(c, Method::POST, &path, body).await;
    assert!(status < 300, "{answer}");
}

async fn get(c: &Client, path: &str) -> Value {
    let (status, answer) = call(c, Method::GET, path, json!(null)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The stored events about `resource_id` (e.g. `prefect.work-pool.<id>`), oldest first.
async fn events_of(c: &Client, resource_id: &str) -> Vec<Value> {
    let filter = json!({
        "filter": {"resource": {"id": [resource_id]}, "order": "ASC"},
        "limit": 100,
    });
    let (status, page) = call(c, Method::POST, "/events/filter", filter).await;
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

/// The names of the events about `resource_id`, oldest first.
async fn event_names(c: &Client, resource_id: &str) -> Vec<String> {
    let mut names: Vec<(String, String)> = events_of(c, resource_id)
        .await
        .iter()
        .map(|e| {
            let occurred = e["occurred"].as_str().unwrap().to_owned();
            (occurred, e["event"].as_str().unwrap().to_owned())
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, name)| name).collect()
}

/// Polls every 50 ms, for up to 8 s, until the events about `resource_id` are `want`.
async fn wait_for_events(c: &Client, resource_id: &str, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let names = event_names(c, resource_id).await;
        if names == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{resource_id}: {names:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Repeats `act` every 50 ms, for up to 8 s, until the events about each resource are `want`
/// (a worker keeps beating, or polling, until the foreman has seen it).
async fn keep_doing_until<F, Fut>(c: &Client, resources: &[&str], want: &[&str], act: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        act().await;
        let mut done = true;
        for resource in resources {
            done &= event_names(c, resource).await == want;
        }
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "{resources:?}: no {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A few foreman passes.
async fn several_passes() {
    tokio::time::sleep(Duration::from_millis(600)).await;
}

backend_test!(
    a_pool_is_ready_while_a_worker_beats_and_not_ready_once_it_stops,
    |db| {
        let server = quick(&db).await;
        let c = client(&server);
        let pool = create_pool(&c, "local").await;
        assert_eq!(pool["status"], "NOT_READY");
        let pool_id = format!("prefect.work-pool.{}", pool["id"].as_str().unwrap());
        several_passes().await;
        assert!(
            event_names(&c, &pool_id).await.is_empty(),
            "a new pool starts NOT_READY: nothing to announce"
        );

        let mut subscriber = super::websockets::open(&server, "events/out").await;
        let filter =
            json!({"type": "filter", "filter": {"event": {"name": ["prefect.work-pool.ready"]}}});
        subscriber
            .send(Message::Text(filter.to_string().into()))
            .await
            .unwrap();
        heartbeat(&c, "local", "w1").await;
        assert_eq!(get(&c, "/work_pools/local").await["status"], "READY");
        let ready = ["prefect.work-pool.ready"];
        keep_doing_until(&c, &[&pool_id], &ready, || heartbeat(&c, "local", "w1")).await;
        let frame = tokio::time::timeout(Duration::from_secs(10), subscriber.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let frame: Value = serde_json::from_str(frame.into_text().unwrap().as_str()).unwrap();
        assert_eq!(
            frame["event"]["event"], "prefect.work-pool.ready",
            "{frame}"
        );
        assert_eq!(
            frame["event"]["resource"]["prefect.resource.id"],
            pool_id.as_str()
        );

        // The heartbeats stop: after the timeout the worker is OFFLINE and the pool NOT_READY.
        wait_for_events(
            &c,
            &pool_id,
            &["prefect.work-pool.ready", "prefect.work-pool.not-ready"],
        )
        .await;
        let (_, workers) = call(
            &c,
            Method::POST,
            "/work_pools/local/workers/filter",
            json!({}),
        )
        .await;
        assert_eq!(workers[0]["status"], "OFFLINE", "{workers}");
        assert_eq!(get(&c, "/work_pools/local").await["status"], "NOT_READY");
        several_passes().await;
        let events = events_of(&c, &pool_id).await;
        assert_eq!(events.len(), 2, "each change is announced once: {events:?}");
        let (ready, not_ready) = if events[0]["event"] == "prefect.work-pool.ready" {
            (&events[0], &events[1])
        } else {
            (&events[1], &events[0])
        };
        assert_eq!(ready["resource"]["prefect.resource.name"], "local");
        assert_eq!(ready["resource"]["prefect.work-pool.type"], "process");
        assert_eq!(
            not_ready["follows"], ready["id"],
            "a recent previous status event is followed"
        );

        // A worker comes back: READY again, announced once more.
        let again = [
            "prefect.work-pool.ready",
            "prefect.work-pool.not-ready",
            "prefect.work-pool.ready",
        ];
        keep_doing_until(&c, &[&pool_id], &again, || heartbeat(&c, "local", "w2")).await;
    }
);

backend_test!(queues_and_deployments_not_polled_become_not_ready, |db| {
    let server = quick(&db).await;
    let c = client(&server);
    let pool = create_pool(&c, "local").await;
    let flow = c.create_flow("etl").await.unwrap();
    let body = json!({"name": "nightly", "flow_id": flow.id, "work_pool_name": "local"});
    let (status, deployment) = call(&c, Method::POST, "/deployments/", body).await;
    assert_eq!(status, 201, "{deployment}");
    let queue_id = deployment["work_queue_id"].as_str().unwrap().to_owned();
    let queue_resource = format!("prefect.work-queue.{queue_id}");
    let deployment_resource = format!("prefect.deployment.{}", deployment["id"].as_str().unwrap());

    let poll = || async {
        let path = "/work_pools/local/get_scheduled_flow_runs";
        let (status, answer) = call(&c, Method::POST, path, json!({})).await;
        assert_eq!(status, 200, "{answer}");
    };
    poll().await;
    let queue_path = format!("/work_queues/{queue_id}");
    assert_eq!(get(&c, &queue_path).await["status"], "READY");
    let deployment_path = format!("/deployments/{}", deployment["id"].as_str().unwrap());
    assert_eq!(get(&c, &deployment_path).await["status"], "READY");
    let queue_ready = ["prefect.work-queue.ready"];
    keep_doing_until(&c, &[&queue_resource], &queue_ready, poll).await;
    let deployment_ready = ["prefect.deployment.ready"];
    keep_doing_until(&c, &[&deployment_resource], &deployment_ready, poll).await;

    // Nobody polls again: both go NOT_READY after 1 s, each change announced once.
    wait_for_events(
        &c,
        &queue_resource,
        &["prefect.work-queue.ready", "prefect.work-queue.not-ready"],
    )
    .await;
    wait_for_events(
        &c,
        &deployment_resource,
        &["prefect.deployment.ready", "prefect.deployment.not-ready"],
    )
    .await;
    assert_eq!(
        get(&c, &format!("/work_queues/{queue_id}")).await["status"],
        "NOT_READY"
    );
    assert_eq!(get(&c, &deployment_path).await["status"], "NOT_READY");
    several_passes().await;
    assert_eq!(events_of(&c, &queue_resource).await.len(), 2);

    let pool_id = pool["id"].as_str().unwrap();
    let queue_event = &events_of(&c, &queue_resource).await[0];
    assert_eq!(queue_event["resource"]["prefect.resource.name"], "default");
    assert_eq!(
        queue_event["resource"]["prefect.resource.role"],
        "work-queue"
    );
    assert_eq!(
        queue_event["related"][0]["prefect.resource.id"],
        format!("prefect.work-pool.{pool_id}")
    );
    assert_eq!(
        queue_event["related"][0]["prefect.resource.role"],
        "work-pool"
    );
    let deployment_event = &events_of(&c, &deployment_resource).await[0];
    assert_eq!(
        deployment_event["resource"]["prefect.resource.name"],
        "nightly"
    );
    let related: Vec<(&str, &str)> = deployment_event["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["prefect.resource.role"].as_str().unwrap(),
                r["prefect.resource.name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        related,
        [
            ("flow", "etl"),
            ("work-queue", "default"),
            ("work-pool", "local")
        ]
    );
});

backend_test!(a_paused_pool_stays_paused_and_announces_nothing, |db| {
    let server = quick(&db).await;
    let c = client(&server);
    let pool = create_pool(&c, "held").await;
    let pool_id = format!("prefect.work-pool.{}", pool["id"].as_str().unwrap());
    let (status, answer) = call(
        &c,
        Method::PATCH,
        "/work_pools/held",
        json!({"is_paused": true}),
    )
    .await;
    assert!(status < 300, "{answer}");
    let (_, queues) = call(
        &c,
        Method::POST,
        "/work_pools/held/queues/filter",
        json!({}),
    )
    .await;
    let queue_resource = format!("prefect.work-queue.{}", queues[0]["id"].as_str().unwrap());

    for _ in 0..6 {
        heartbeat(&c, "held", "w1").await;
        call(
            &c,
            Method::POST,
            "/work_pools/held/get_scheduled_flow_runs",
            json!({}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&c, "/work_pools/held").await["status"], "PAUSED");
    assert_eq!(queues[0]["status"], "PAUSED");
    // The worker goes OFFLINE; the pool stays PAUSED.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(get(&c, "/work_pools/held").await["status"], "PAUSED");
    assert!(event_names(&c, &pool_id).await.is_empty());
    assert!(event_names(&c, &queue_resource).await.is_empty());
});

backend_test!(
    a_heartbeat_or_a_poll_is_announced_without_waiting_for_a_pass,
    |db| {
        // The foreman's own passes are an hour apart: only the wake-ups can announce these.
        let config = weir_server::ServerConfig {
            foreman_interval: Duration::from_secs(3600),
            ..weir_server::ServerConfig::default()
        };
        let server = TestServer::start_with(weir_testkit::open(&db).await, config).await;
        let c = client(&server);
        let pool = create_pool(&c, "local").await;
        let pool_id = format!("prefect.work-pool.{}", pool["id"].as_str().unwrap());
        heartbeat(&c, "local", "w1").await;
        wait_for_events(&c, &pool_id, &["prefect.work-pool.ready"]).await;

        let (_, queues) = call(
            &c,
            Method::POST,
            "/work_pools/local/queues/filter",
            json!({}),
        )
        .await;
        let queue_id = format!("prefect.work-queue.{}", queues[0]["id"].as_str().unwrap());
        let path = "/work_pools/local/get_scheduled_flow_runs";
        let (status, answer) = call(&c, Method::POST, path, json!({})).await;
        assert_eq!(status, 200, "{answer}");
        wait_for_events(&c, &queue_id, &["prefect.work-queue.ready"]).await;
    }
);
