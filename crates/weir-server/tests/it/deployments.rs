//! Deployments over HTTP on both backends: upsert, lookups, schedules, pause, and the runs
//! created from them (parameters, job variables, queues) as a worker's poll then sees them.

use super::*;
use reqwest::Method;
use serde_json::{json, Value};
use weir_core::Timestamp;
use weir_testkit::server_test;

/// A process pool, a flow and its deployment `nightly` on the pool; returns the deployment.
async fn deployed(c: &Client) -> Value {
    call(
        c,
        Method::POST,
        "/work_pools/",
        json!({"name": "local", "type": "process"}),
    )
    .await;
    let flow = c.create_flow("etl").await.unwrap();
    let body = json!({
        "name": "nightly", "flow_id": flow.id, "work_pool_name": "local",
        "parameters": {"rows": 10, "mode": "full"},
        "parameter_openapi_schema": {"title": "Parameters", "type": "object",
            "properties": {"rows": {"type": "integer"}, "mode": {"type": "string"}},
            "required": ["rows"]},
        "job_variables": {"env": {"FROM_DEPLOYMENT": "1"}},
        "tags": ["etl"], "entrypoint": "etl-bin",
        "schedules": [{"schedule": {"interval": 3600, "anchor_date": "2026-01-01T00:00:00Z"}}],
    });
    let (status, deployment) = call(c, Method::POST, "/deployments/", body).await;
    assert_eq!(status, 201, "{deployment}");
    deployment
}

server_test!(a_deployment_is_upserted_by_flow_and_name, |server| {
    let c = client(&server);
    let deployment = deployed(&c).await;
    assert_eq!(deployment["work_queue_name"], "default");
    assert_eq!(deployment["status"], "NOT_READY");
    assert_eq!(deployment["schedules"][0]["active"], true);
    assert_eq!(
        deployment["schedules"][0]["schedule"]["interval"], 3600.0,
        "seconds, as Prefect sends them"
    );
    let id = deployment["id"].as_str().unwrap();

    let again = json!({"name": "nightly", "flow_id": deployment["flow_id"],
        "work_pool_name": "local", "description": "replaced"});
    let (status, replaced) = call(&c, Method::POST, "/deployments/", again).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        replaced["id"], deployment["id"],
        "same flow and name: same deployment"
    );
    assert_eq!(replaced["description"], "replaced");
    assert_eq!(replaced["schedules"], json!([]));

    let (status, by_name) = call(
        &c,
        Method::GET,
        "/deployments/name/etl/nightly",
        json!(null),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_name["id"], deployment["id"]);
    let (status, _) = call(&c, Method::GET, "/deployments/name/etl/nope", json!(null)).await;
    assert_eq!(status, 404);
    let (_, found) = call(
        &c,
        Method::POST,
        "/deployments/filter",
        json!({"flows": {"name": {"any_": ["etl"]}}, "work_pools": {"name": {"any_": ["local"]}}}),
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (_, count) = call(
        &c,
        Method::POST,
        "/deployments/count",
        json!({"deployments": {"name": {"any_": ["other"]}}}),
    )
    .await;
    assert_eq!(count, 0);

    let (status, _) = call(
        &c,
        Method::POST,
        &format!("/deployments/{id}/pause_deployment"),
        json!(null),
    )
    .await;
    assert_eq!(status, 204);
    let (_, paused) = call(&c, Method::GET, &format!("/deployments/{id}"), json!(null)).await;
    assert_eq!(paused["paused"], true);
    let (status, added) = call(
        &c,
        Method::POST,
        &format!("/deployments/{id}/schedules"),
        json!([{"schedule": {"cron": "0 3 * * *", "timezone": "Europe/Paris"}, "active": false}]),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    let schedule = added[0]["id"].as_str().unwrap();
    let path = format!("/deployments/{id}/schedules/{schedule}");
    assert_eq!(
        call(&c, Method::PATCH, &path, json!({"active": true}))
            .await
            .0,
        204
    );
    let (_, schedules) = call(
        &c,
        Method::GET,
        &format!("/deployments/{id}/schedules"),
        json!(null),
    )
    .await;
    assert_eq!(schedules[0]["active"], true);
    assert_eq!(call(&c, Method::DELETE, &path, json!(null)).await.0, 204);
    assert_eq!(call(&c, Method::DELETE, &path, json!(null)).await.0, 404);
    let (status, _) = call(
        &c,
        Method::DELETE,
        &format!("/automations/owned-by/prefect.deployment.{id}"),
        json!(null),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        call(
            &c,
            Method::DELETE,
            &format!("/deployments/{id}"),
            json!(null)
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(&c, Method::GET, &format!("/deployments/{id}"), json!(null))
            .await
            .0,
        404
    );
});

server_test!(
    runs_of_a_deployment_merge_its_defaults_and_reach_the_worker_poll,
    |server| {
        let c = client(&server);
        let deployment = deployed(&c).await;
        let id = deployment["id"].as_str().unwrap();
        let path = format!("/deployments/{id}/create_flow_run");
        let (status, run) = call(
            &c,
            Method::POST,
            &path,
            json!({
        "parameters": {"mode": "delta"}, "job_variables": {"env": {"FROM_RUN": "1"}},
        "tags": ["adhoc"]}),
        )
        .await;
        assert_eq!(status, 201, "{run}");
        assert_eq!(run["parameters"], json!({"rows": 10, "mode": "delta"}));
        assert_eq!(run["state_type"], "SCHEDULED");
        assert_eq!(run["deployment_id"], deployment["id"]);
        assert_eq!(run["work_queue_name"], "default");
        assert_eq!(run["work_pool_name"], "local");
        assert_eq!(run["tags"], json!(["etl", "adhoc"]));
        assert_eq!(run["job_variables"], json!({"env": {"FROM_RUN": "1"}}));

        let (status, empty_body) = c
            .request(Method::POST, &path, None)
            .await
            .map(|(s, v)| (s.as_u16(), v))
            .unwrap();
        assert_eq!(status, 201, "an empty body makes a run too: {empty_body}");

        let poll = json!({"scheduled_before": Timestamp::now().plus_seconds(5.0)});
        let (_, due) = call(
            &c,
            Method::POST,
            "/work_pools/local/get_scheduled_flow_runs",
            poll,
        )
        .await;
        // The deployment's hourly schedule may have a run due too, near an hour mark: not counted.
        let requested = due
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["flow_run"]["tags"].to_string().contains("auto-scheduled"))
            .count();
        assert_eq!(requested, 2, "{due}");
        let (_, ready) = call(&c, Method::GET, &format!("/deployments/{id}"), json!(null)).await;
        assert_eq!(ready["status"], "READY", "its queue was just polled");

        let (status, body) = call(
            &c,
            Method::POST,
            &path,
            json!({"parameters": {"rows": "many"}}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("parameters.rows"), "{body}");
        let (status, body) = call(
            &c,
            Method::POST,
            &path,
            json!({"job_variables": {"colour": "red"}}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("colour"), "{body}");
        let (status, body) = call(
            &c,
            Method::POST,
            &path,
            json!({"job_variables": {"stream_output": "yes"}}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("stream_output"), "{body}");
        let (status, lenient) = call(
            &c,
            Method::POST,
            &path,
            json!({"parameters": {"rows": "many"}, "enforce_parameter_schema": false}),
        )
        .await;
        assert_eq!(status, 201, "{lenient}");

        let (_, metadata) = call(
            &c,
            Method::GET,
            "/collections/views/aggregate-worker-metadata",
            json!(null),
        )
        .await;
        let process = &metadata["prefect"]["process"]["default_base_job_configuration"];
        assert_eq!(process["job_configuration"]["command"], "{{ command }}");
        let kubernetes =
            &metadata["prefect-kubernetes"]["kubernetes"]["default_base_job_configuration"];
        assert_eq!(
            kubernetes["job_configuration"]["job_manifest"]["kind"],
            "Job"
        );
    }
);

server_test!(
    the_scheduler_keeps_runs_ahead_and_rejects_bad_schedules,
    |server| {
        let c = client(&server);
        let flow = c.create_flow("ticker").await.unwrap();
        let bad = json!({"name": "bad", "flow_id": flow.id,
        "schedules": [{"schedule": {"cron": "61 * * * *"}}]});
        let (status, body) = call(&c, Method::POST, "/deployments/", bad).await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body.to_string().contains("schedules.0.schedule.cron"),
            "{body}"
        );

        let body = json!({"name": "every-minute", "flow_id": flow.id,
        "schedules": [{"schedule": {"interval": 60, "timezone": "UTC"}}]});
        let (status, deployment) = call(&c, Method::POST, "/deployments/", body).await;
        assert_eq!(status, 201, "{deployment}");
        assert!(
            deployment["schedules"][0]["schedule"]["anchor_date"].is_string(),
            "anchored on create"
        );
        let id = deployment["id"].as_str().unwrap();
        let filter = json!({"flow_runs": {"deployment_id": {"any_": [id]}}});
        let mut count = 0;
        for _ in 0..100 {
            let (_, runs) = call(&c, Method::POST, "/flow_runs/filter", filter.clone()).await;
            count = runs.as_array().unwrap().len();
            if count >= 60 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // At least an hour ahead: a run a minute for the next hour (Prefect's rule), at most 100.
        assert!((60..=100).contains(&count), "{count} runs");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (_, runs) = call(&c, Method::POST, "/flow_runs/filter", filter.clone()).await;
        assert_eq!(
            runs.as_array().unwrap().len(),
            count,
            "a second pass adds nothing"
        );
        assert!(runs
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state_type"] == "SCHEDULED"));
        let (_, paused) = call(
            &c,
            Method::POST,
            &format!("/deployments/{id}/pause_deployment"),
            json!(null),
        )
        .await;
        assert_eq!(paused, Value::Null);
    }
);

server_test!(
    run_and_flow_filters_apply_their_deployments_and_work_pools_sections,
    |server| {
        let c = client(&server);
        let deployment = deployed(&c).await;
        let id = deployment["id"].as_str().unwrap();
        let path = format!("/deployments/{id}/create_flow_run");
        let (_, run) = call(&c, Method::POST, &path, json!({})).await;
        let other_flow = c.create_flow("other").await.unwrap();
        let (status, _) = call(
            &c,
            Method::POST,
            "/flow_runs/",
            json!({"flow_id": other_flow.id, "state": {"type": "PENDING"}}),
        )
        .await;
        assert_eq!(status, 201);

        let count = |body: Value| {
            let c = &c;
            async move { call(c, Method::POST, "/flow_runs/count", body).await.1 }
        };
        // The deployment's own schedule adds runs too (every run but the other flow's is the
        // deployment's): wait until the scheduler is done.
        let mut all = count(json!({})).await.as_i64().unwrap();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let now = count(json!({})).await.as_i64().unwrap();
            if now == all {
                break;
            }
            all = now;
        }
        let of_deployment = json!(all - 1);
        assert_eq!(
            count(json!({"deployments": {"id": {"any_": [id]}}})).await,
            of_deployment
        );
        assert_eq!(
            count(json!({"deployments": {"name": {"any_": ["nightly"]}}})).await,
            of_deployment
        );
        assert_eq!(
            count(json!({"deployments": {"name": {"any_": ["nope"]}}})).await,
            0
        );
        assert_eq!(
            count(json!({"work_pools": {"name": {"any_": ["local"]}}})).await,
            of_deployment
        );
        let (_, runs) = call(
            &c,
            Method::POST,
            "/flow_runs/filter",
            json!({"deployments": {"id": {"any_": [id]}, "paused": {"eq_": false}}}),
        )
        .await;
        let ids: Vec<&Value> = runs.as_array().unwrap().iter().map(|r| &r["id"]).collect();
        assert!(
            ids.contains(&&run["id"]),
            "unknown deployment fields are accepted and ignored"
        );
        assert!(runs
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["deployment_id"] == deployment["id"]));
        let (_, flows) = call(
            &c,
            Method::POST,
            "/flows/filter",
            json!({"deployments": {"id": {"any_": [id]}}}),
        )
        .await;
        let names: Vec<&str> = flows
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["etl"]);
    }
);
