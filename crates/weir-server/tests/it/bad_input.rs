//! A batch of bad requests to every endpoint: each gets a 4xx whose JSON body names the problem,
//! never a 5xx, and nothing is written.

use super::*;
use serde_json::{json, Value};
use weir_testkit::server_test;

struct Case {
    method: &'static str,
    path: String,
    body: Option<String>,
    status: u16,
    /// A fragment the error body must contain (the offending field or the reason).
    mentions: &'static str,
}

fn case(
    method: &'static str,
    path: impl Into<String>,
    body: Option<&str>,
    status: u16,
    mentions: &'static str,
) -> Case {
    Case {
        method,
        path: path.into(),
        body: body.map(str::to_owned),
        status,
        mentions,
    }
}

fn cases(flow: &str, run: &str) -> Vec<Case> {
    let missing = uuid::Uuid::new_v4().to_string();
    let m = missing.as_str();
    vec![
        case("POST", "/flows/", Some("{"), 422, "JSON decode error"),
        case("POST", "/flows/", Some(r#"{"name": 5}"#), 422, "name"),
        case("POST", "/flows/", Some("{}"), 422, "name"),
        case("POST", "/flows/", Some(r#"{"name": ""}"#), 422, "name"),
        case("POST", "/flows/", Some("[]"), 422, "body"),
        case("GET", "/flows/not-a-uuid", None, 422, "UUID"),
        case("GET", format!("/flows/{m}"), None, 404, "Flow not found"),
        case("GET", "/flows/name/nope", None, 404, "Flow not found"),
        case(
            "PATCH",
            format!("/flows/{m}"),
            Some("{}"),
            404,
            "Flow not found",
        ),
        case(
            "PATCH",
            format!("/flows/{flow}"),
            Some(r#"{"tags": "x"}"#),
            422,
            "tags",
        ),
        case(
            "PATCH",
            format!("/flows/{flow}"),
            Some(r#"{"colour": 1}"#),
            422,
            "colour",
        ),
        case("DELETE", format!("/flows/{m}"), None, 404, "Flow not found"),
        case(
            "POST",
            "/flows/filter",
            Some(r#"{"flows": {"colour": 1}}"#),
            422,
            "colour",
        ),
        case(
            "POST",
            "/flows/filter",
            Some(r#"{"limit": "ten"}"#),
            422,
            "limit",
        ),
        case(
            "POST",
            "/flows/count",
            Some(r#"{"sort": "SIDEWAYS"}"#),
            422,
            "sort",
        ),
        case(
            "POST",
            "/flow_runs/",
            Some(r#"{"flow_id": "nope"}"#),
            422,
            "flow_id",
        ),
        case(
            "POST",
            "/flow_runs/",
            Some(&format!(r#"{{"flow_id": "{m}"}}"#)),
            422,
            "flow_id",
        ),
        case(
            "POST",
            "/flow_runs/",
            Some(&format!(
                r#"{{"flow_id": "{flow}", "state": {{"type": "SLEEPING"}}}}"#
            )),
            422,
            "state.type",
        ),
        case(
            "POST",
            "/flow_runs/",
            Some(&format!(r#"{{"flow_id": "{flow}", "parameters": []}}"#)),
            422,
            "parameters",
        ),
        case(
            "GET",
            format!("/flow_runs/{m}"),
            None,
            404,
            "Flow run not found",
        ),
        case("GET", "/flow_runs/xyz", None, 422, "UUID"),
        case(
            "PATCH",
            format!("/flow_runs/{m}"),
            Some("{}"),
            404,
            "Flow run not found",
        ),
        case(
            "PATCH",
            format!("/flow_runs/{run}"),
            Some(r#"{"infrastructure_pid": 5}"#),
            422,
            "infrastructure_pid",
        ),
        case(
            "PATCH",
            format!("/flow_runs/{run}/labels"),
            Some("[]"),
            422,
            "body",
        ),
        case(
            "DELETE",
            format!("/flow_runs/{m}"),
            None,
            404,
            "Flow run not found",
        ),
        case(
            "POST",
            "/flow_runs/filter",
            Some(r#"{"flow_runs": {"state": {"type": {"any_": ["NOPE"]}}}}"#),
            422,
            "flow_runs.state.type.any_",
        ),
        case(
            "POST",
            "/flow_runs/count",
            Some(r#"{"flow_runs": {"expected_start_time": {"before_": "soon"}}}"#),
            422,
            "before_",
        ),
        case(
            "POST",
            format!("/flow_runs/{run}/set_state"),
            Some("{}"),
            422,
            "state",
        ),
        case(
            "POST",
            format!("/flow_runs/{run}/set_state"),
            Some(r#"{"state": {"type": "SLEEPING"}}"#),
            422,
            "state.type",
        ),
        case(
            "POST",
            format!("/flow_runs/{run}/set_state"),
            Some(
                r#"{"state": {"type": "RUNNING", "state_details": {"scheduled_time": "yesterday"}}}"#,
            ),
            422,
            "scheduled_time",
        ),
        case(
            "POST",
            format!("/flow_runs/{m}/set_state"),
            Some(r#"{"state": {"type": "RUNNING"}}"#),
            404,
            "Flow run not found",
        ),
        case("GET", "/flow_run_states/", None, 422, "flow_run_id"),
        case(
            "GET",
            "/flow_run_states/?flow_run_id=abc",
            None,
            422,
            "flow_run_id",
        ),
        case(
            "GET",
            format!("/flow_run_states/{m}"),
            None,
            404,
            "State not found",
        ),
        case("POST", "/task_runs/", Some("{}"), 422, "task_key"),
        case(
            "POST",
            "/task_runs/",
            Some(&format!(
                r#"{{"task_key": "k", "dynamic_key": "0", "flow_run_id": "{m}"}}"#
            )),
            422,
            "flow_run_id",
        ),
        case(
            "GET",
            format!("/task_runs/{m}"),
            None,
            404,
            "Task run not found",
        ),
        case(
            "POST",
            format!("/task_runs/{m}/set_state"),
            Some(r#"{"state": {"type": "RUNNING"}}"#),
            404,
            "Task run not found",
        ),
        case(
            "POST",
            "/task_runs/filter",
            Some(r#"{"task_runs": {"flow_run_id": {"any_": ["x"]}}}"#),
            422,
            "any_",
        ),
        case("POST", "/task_runs/count", Some("null"), 422, "body"),
        case("GET", "/task_run_states/", None, 422, "task_run_id"),
        case("POST", "/logs/", Some("{}"), 422, "body"),
        case("POST", "/logs/", Some(r#"[{"name": "n"}]"#), 422, "level"),
        case(
            "POST",
            "/logs/",
            Some(
                r#"[{"name": "n", "level": "high", "message": "m", "timestamp": "2026-01-01T00:00:00Z"}]"#,
            ),
            422,
            "level",
        ),
        case(
            "POST",
            "/logs/filter",
            Some(r#"{"logs": {"level": {"ge_": "x"}}}"#),
            422,
            "ge_",
        ),
        case("POST", "/events", Some(r#"[{"event": "x"}]"#), 422, "body"),
        case(
            "POST",
            "/events/filter",
            Some(r#"{"filter": {"occurred": {"since": "never"}}}"#),
            422,
            "since",
        ),
    ]
}

async fn counts(c: &Client) -> Value {
    let post = |path: &'static str| async move {
        c.request(reqwest::Method::POST, path, Some(&json!({})))
            .await
            .unwrap()
            .1
    };
    let logs = c.filter_logs(&json!({})).await.unwrap().len();
    json!([
        post("/flows/count").await,
        post("/flow_runs/count").await,
        post("/task_runs/count").await,
        logs
    ])
}

server_test!(
    every_endpoint_answers_bad_input_with_a_clear_4xx,
    |server| {
        let c = client(&server);
        let flow = c.create_flow("f").await.unwrap();
        let create: weir_core::schemas::FlowRunCreate =
            serde_json::from_value(json!({"flow_id": flow.id})).unwrap();
        let run = c.create_flow_run(&create).await.unwrap();
        let before = counts(&c).await;
        let http = http();
        for case in cases(&flow.id.to_string(), &run.id.to_string()) {
            let url = format!("{}{}", server.api_url(), case.path);
            let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
            let mut request = http
                .request(method, &url)
                .header("content-type", "application/json");
            if let Some(body) = &case.body {
                request = request.body(body.clone());
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let label = format!("{} {} {:?}", case.method, case.path, case.body);
            assert_eq!(status, case.status, "{label}: {text}");
            let body: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{label}: body is not JSON: {text}"));
            assert!(
                text.contains(case.mentions),
                "{label}: the error should mention {:?}: {body}",
                case.mentions
            );
        }
        assert_eq!(counts(&c).await, before, "bad requests wrote nothing");
    }
);

server_test!(
    oversized_bodies_get_413_and_half_bad_batches_write_nothing,
    |server| {
        let c = client(&server);
        let huge = format!(
            "[{}]",
            "1,".repeat(weir_server::MAX_BODY_BYTES / 2 + 10) + "1"
        );
        let response = http()
            .post(format!("{}/logs/", server.api_url()))
            .body(huge)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
        let bad_third = json!([
            {"name": "n", "level": 20, "message": "a", "timestamp": "2026-01-01T00:00:00Z"},
            {"name": "n", "level": 20, "message": "b", "timestamp": "2026-01-01T00:00:00Z"},
            {"name": "n", "level": 20, "message": "c", "timestamp": "not a time"},
        ]);
        let err = c
            .request(reqwest::Method::POST, "/logs/", Some(&bad_third))
            .await
            .unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(422));
        assert!(err.to_string().contains("timestamp"), "{err}");
        assert!(c.filter_logs(&json!({})).await.unwrap().is_empty());
    }
);
