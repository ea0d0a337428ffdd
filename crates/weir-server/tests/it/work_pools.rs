//! Work pools, queues, worker heartbeats and the worker poll, over HTTP on both backends.

use super::*;
use reqwest::Method;
use serde_json::{json, Value};
use weir_core::schemas::FlowRunCreate;
use weir_core::{StateCreate, StateType, Timestamp};
use weir_testkit::server_test;

/// A SCHEDULED run of a new flow sent to `pool` (and `queue`), due `in_seconds` from now.
async fn scheduled_run(c: &Client, pool: &str, queue: Option<&str>, in_seconds: f64) -> Value {
    let flow = c.create_flow("work").await.unwrap();
    let mut state = StateCreate::of_type(StateType::Scheduled);
    state.state_details.scheduled_time = Some(Timestamp::now().plus_seconds(in_seconds));
    let create = FlowRunCreate {
        state: Some(state),
        work_pool_name: Some(pool.to_owned()),
        work_queue_name: queue.map(str::to_owned),
        ..FlowRunCreate::for_flow(flow.id)
    };
    let (status, run) = call(
        c,
        Method::POST,
        "/flow_runs/",
        serde_json::to_value(create).unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    run
}

server_test!(
    a_process_pool_gets_its_default_template_and_queue,
    |server| {
        let c = client(&server);
        let (status, pool) = call(
            &c,
            Method::POST,
            "/work_pools/",
            json!({"name": "local", "type": "process"}),
        )
        .await;
        assert_eq!(status, 201, "{pool}");
        assert_eq!(pool["status"], "NOT_READY");
        assert_eq!(pool["is_paused"], false);
        let template = &pool["base_job_template"];
        assert_eq!(template["job_configuration"]["command"], "{{ command }}");
        assert!(template["variables"]["properties"]["working_dir"].is_object());
        let (status, again) =
            call(&c, Method::POST, "/work_pools/", json!({"name": "local"})).await;
        assert_eq!(status, 409, "{again}");

        let (_, queues) = call(
            &c,
            Method::POST,
            "/work_pools/local/queues/filter",
            json!({}),
        )
        .await;
        assert_eq!(queues.as_array().unwrap().len(), 1);
        assert_eq!(queues[0]["name"], "default");
        assert_eq!(queues[0]["id"], pool["default_queue_id"]);
        assert_eq!(queues[0]["work_pool_name"], "local");
        let (status, _) = call(
            &c,
            Method::DELETE,
            "/work_pools/local/queues/default",
            json!(null),
        )
        .await;
        assert_eq!(status, 422, "the default queue stays");

        let (status, body) = call(&c, Method::GET, "/work_pools/nowhere", json!(null)).await;
        assert_eq!(status, 404, "{body}");
        let bad = json!({"name": "bad", "base_job_template": {
        "job_configuration": {"command": "{{ nope }}"},
        "variables": {"type": "object", "properties": {}}}});
        let (status, body) = call(&c, Method::POST, "/work_pools/", bad).await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("nope"), "{body}");
    }
);

server_test!(
    heartbeats_make_a_pool_ready_and_list_its_workers,
    |server| {
        let c = client(&server);
        call(
            &c,
            Method::POST,
            "/work_pools/",
            json!({"name": "p", "type": "process"}),
        )
        .await;
        let (status, id) = call(
            &c,
            Method::POST,
            "/work_pools/p/workers/heartbeat",
            json!({"name": "w1", "heartbeat_interval_seconds": 30, "get_worker_id": true}),
        )
        .await;
        assert_eq!(status, 200);
        assert!(id.as_str().unwrap().parse::<uuid::Uuid>().is_ok());
        let (status, _) = call(
            &c,
            Method::POST,
            "/work_pools/p/workers/heartbeat",
            json!({"name": "w1"}),
        )
        .await;
        assert_eq!(status, 204);
        let (_, pool) = call(&c, Method::GET, "/work_pools/p", json!(null)).await;
        assert_eq!(pool["status"], "READY");
        let (_, online) = call(
            &c,
            Method::POST,
            "/work_pools/p/workers/filter",
            json!({"workers": {"status": {"any_": ["ONLINE"]}}}),
        )
        .await;
        assert_eq!(online.as_array().unwrap().len(), 1, "{online}");
        assert_eq!(online[0]["name"], "w1");
        let (status, _) = call(
            &c,
            Method::PATCH,
            "/work_pools/p",
            json!({"is_paused": true}),
        )
        .await;
        assert_eq!(status, 204);
        let (_, pool) = call(&c, Method::GET, "/work_pools/p", json!(null)).await;
        assert_eq!(pool["status"], "PAUSED");
        let (status, _) = call(&c, Method::DELETE, "/work_pools/p/workers/w1", json!(null)).await;
        assert_eq!(status, 204);
    }
);

server_test!(
    the_poll_hands_out_due_runs_by_queue_priority_within_limits,
    |server| {
        let c = client(&server);
        call(
            &c,
            Method::POST,
            "/work_pools/",
            json!({"name": "p", "type": "process"}),
        )
        .await;
        let (status, urgent) = call(
            &c,
            Method::POST,
            "/work_pools/p/queues",
            json!({"name": "urgent", "priority": 1}),
        )
        .await;
        assert_eq!(status, 201, "{urgent}");
        let late = scheduled_run(&c, "p", None, -60.0).await;
        let first = scheduled_run(&c, "p", Some("urgent"), -1.0).await;
        let future = scheduled_run(&c, "p", None, 3600.0).await;
        assert_eq!(first["work_queue_id"], urgent["id"]);
        assert_eq!(late["work_queue_name"], "default");

        let poll = json!({"scheduled_before": Timestamp::now().plus_seconds(10.0)});
        let (status, runs) = call(
            &c,
            Method::POST,
            "/work_pools/p/get_scheduled_flow_runs",
            poll.clone(),
        )
        .await;
        assert_eq!(status, 200, "{runs}");
        let ids: Vec<&Value> = runs
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["flow_run"]["id"])
            .collect();
        assert_eq!(
            ids,
            [&first["id"], &late["id"]],
            "urgent queue first; the future run waits"
        );
        assert!(!ids.contains(&&future["id"]));
        let (_, queue) = call(
            &c,
            Method::GET,
            &format!("/work_queues/{}", urgent["id"].as_str().unwrap()),
            json!(null),
        )
        .await;
        assert_eq!(queue["status"], "READY", "a polled queue is ready");

        // One run of the default queue takes the pool's only slot: nothing more is handed out.
        call(
            &c,
            Method::PATCH,
            "/work_pools/p",
            json!({"concurrency_limit": 1}),
        )
        .await;
        let pending = json!({"state": {"type": "PENDING"}});
        let path = format!("/flow_runs/{}/set_state", late["id"].as_str().unwrap());
        let (status, _) = call(&c, Method::POST, &path, pending).await;
        assert_eq!(status, 201);
        let (_, runs) = call(
            &c,
            Method::POST,
            "/work_pools/p/get_scheduled_flow_runs",
            poll.clone(),
        )
        .await;
        assert_eq!(runs, json!([]));
        call(
            &c,
            Method::PATCH,
            "/work_pools/p",
            json!({"concurrency_limit": null}),
        )
        .await;
        let only_default = json!({"scheduled_before": Timestamp::now().plus_seconds(10.0), "work_queue_names": ["default"]});
        let (_, runs) = call(
            &c,
            Method::POST,
            "/work_pools/p/get_scheduled_flow_runs",
            only_default,
        )
        .await;
        assert_eq!(
            runs,
            json!([]),
            "the default queue's only due run is pending now"
        );
        let (_, runs) = call(
            &c,
            Method::POST,
            "/work_pools/p/get_scheduled_flow_runs",
            poll,
        )
        .await;
        assert_eq!(runs.as_array().unwrap().len(), 1);

        let (status, body) = call(
            &c,
            Method::POST,
            "/flow_runs/",
            json!({
        "flow_id": first["flow_id"], "work_pool_name": "nowhere"}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("work_pool_name"), "{body}");
    }
);

server_test!(
    a_run_nobody_picks_up_is_marked_late_and_can_still_be_claimed,
    |server| {
        let c = client(&server);
        call(
            &c,
            Method::POST,
            "/work_pools/",
            json!({"name": "p", "type": "process"}),
        )
        .await;
        let run = scheduled_run(&c, "p", None, -60.0).await;
        let id = run["id"].as_str().unwrap().to_owned();
        let mut name = Value::Null;
        for _ in 0..200 {
            let (_, current) =
                call(&c, Method::GET, &format!("/flow_runs/{id}"), json!(null)).await;
            name = current["state_name"].clone();
            if name == "Late" {
                assert_eq!(current["state_type"], "SCHEDULED");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            name, "Late",
            "the late-runs service marks it within a loop or two"
        );
        let poll = json!({"scheduled_before": Timestamp::now()});
        let (_, due) = call(
            &c,
            Method::POST,
            "/work_pools/p/get_scheduled_flow_runs",
            poll,
        )
        .await;
        assert_eq!(
            due[0]["flow_run"]["id"], run["id"],
            "a Late run is still handed to workers"
        );
        let pending = json!({"state": {"type": "PENDING"}});
        let (status, answer) = call(
            &c,
            Method::POST,
            &format!("/flow_runs/{id}/set_state"),
            pending,
        )
        .await;
        assert_eq!((status, answer["status"].clone()), (201, json!("ACCEPT")));
    }
);
