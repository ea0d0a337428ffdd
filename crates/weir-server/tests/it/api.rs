use super::*;
use serde_json::json;
use weir_core::schemas::{FlowRunCreate, LogCreate, SetStateStatus};
use weir_core::{StateCreate, StateType};
use weir_testkit::server_test;

server_test!(health_version_and_csrf_answer_like_prefect, |server| {
    let c = client(&server);
    assert!(c.health().await.unwrap());
    assert_eq!(c.server_version().await.unwrap(), "3.9.1");
    let csrf = http()
        .get(format!("{}/csrf-token?client=x", server.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(csrf.status(), 422);
    assert_eq!(
        csrf.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "CSRF protection is disabled."})
    );
    let ready = http()
        .get(format!("{}/ready", server.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let storage = c
        .request(reqwest::Method::GET, "/admin/storage", None)
        .await
        .unwrap()
        .1;
    assert_eq!(storage, json!({"default_result_storage_block_id": null}));
});

server_test!(a_flow_run_lifecycle_over_http, |server| {
    let c = client(&server);
    let flow = c.create_flow("etl").await.unwrap();
    let (status, _) = c
        .request(
            reqwest::Method::POST,
            "/flows/",
            Some(&json!({"name": "etl"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "an existing flow answers 200");
    let create: FlowRunCreate =
        serde_json::from_value(json!({"flow_id": flow.id, "parameters": {"x": 3}})).unwrap();
    let run = c.create_flow_run(&create).await.unwrap();
    assert_eq!(run.state_type, Some(StateType::Pending));
    assert_eq!(run.parameters["x"], 3);
    let (status, body) = c
        .request(
            reqwest::Method::POST,
            &format!("/flow_runs/{}/set_state", run.id),
            Some(&json!({"state": {"type": "RUNNING", "name": "Running"}, "force": false})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(body["status"], "ACCEPT");
    assert_eq!(body["details"], json!({"type": "accept_details"}));
    // A second PENDING claim is aborted, with 200.
    let (status, body) = c
        .request(
            reqwest::Method::POST,
            &format!("/flow_runs/{}/set_state", run.id),
            Some(&json!({"state": {"type": "PENDING"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        (status.as_u16(), body["status"].as_str()),
        (200, Some("ABORT"))
    );
    let done = c
        .set_flow_run_state(run.id, &StateCreate::of_type(StateType::Completed), false)
        .await
        .unwrap();
    assert_eq!(done.status, SetStateStatus::Accept);
    let patch = json!({"infrastructure_pid": "9573"});
    let (status, _) = c
        .request(
            reqwest::Method::PATCH,
            &format!("/flow_runs/{}", run.id),
            Some(&patch),
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    let labels = json!({"prefect.worker.name": "w1"});
    c.request(
        reqwest::Method::PATCH,
        &format!("/flow_runs/{}/labels", run.id),
        Some(&labels),
    )
    .await
    .unwrap();
    let read = c.read_flow_run(run.id).await.unwrap();
    assert_eq!(read.infrastructure_pid.as_deref(), Some("9573"));
    assert_eq!(read.labels["prefect.worker.name"], "w1");
    assert_eq!(read.state_name.as_deref(), Some("Completed"));
    let states = c.flow_run_states(run.id).await.unwrap();
    assert_eq!(states.len(), 3);
    let completed = c
        .filter_flow_runs(&json!({"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}))
        .await
        .unwrap();
    assert_eq!(completed.len(), 1);
    let (_, count) = c
        .request(reqwest::Method::POST, "/flow_runs/count", Some(&json!({})))
        .await
        .unwrap();
    assert_eq!(count, 1);
    c.create_logs(&[LogCreate {
        name: "n".into(),
        level: 20,
        message: "hello".into(),
        timestamp: weir_core::Timestamp::now(),
        flow_run_id: Some(run.id),
        task_run_id: None,
    }])
    .await
    .unwrap();
    let logs = c
        .filter_logs(&json!({"logs": {"flow_run_id": {"any_": [run.id]}}}))
        .await
        .unwrap();
    assert_eq!(logs[0].message, "hello");
    let (status, _) = c
        .request(
            reqwest::Method::DELETE,
            &format!("/flow_runs/{}", run.id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(
        c.read_flow_run(run.id)
            .await
            .unwrap_err()
            .status()
            .map(|s| s.as_u16()),
        Some(404)
    );
});

server_test!(idempotency_keys_answer_200_with_the_same_run, |server| {
    let c = client(&server);
    let flow = c.create_flow("f").await.unwrap();
    let body = json!({"flow_id": flow.id, "idempotency_key": "k1"});
    let (first, a) = c
        .request(reqwest::Method::POST, "/flow_runs/", Some(&body))
        .await
        .unwrap();
    let (second, b) = c
        .request(reqwest::Method::POST, "/flow_runs/", Some(&body))
        .await
        .unwrap();
    assert_eq!((first.as_u16(), second.as_u16()), (201, 200));
    assert_eq!(a["id"], b["id"]);
});

server_test!(the_openapi_document_and_docs_are_served, |server| {
    let base = format!("http://{}", server.addr);
    let doc: serde_json::Value = http()
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/flow_runs/{id}/set_state",
        "/api/flows/",
        "/api/logs/filter",
        "/api/events/filter",
        "/api/api_keys/",
        "/api/api_keys/filter",
        "/api/api_keys/{id}",
        "/api/api_keys/{id}/revoke",
    ] {
        assert!(paths.contains_key(path), "{path} missing from openapi.json");
    }
    assert!(doc["components"]["schemas"]["FlowRun"]["properties"]["state"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    let docs = http().get(format!("{base}/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "the interactive docs page"
    );
});
