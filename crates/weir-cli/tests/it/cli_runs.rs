//! `weir deployment` and `weir flow-run` as users run them against a `weir server start` on SQLite:
//! listing, inspecting, running with parameters and job variables, `--watch` and `logs --follow`
//! until the run ends, cancelling, and one-line errors (helpers in `cli_verbs`).

use super::cli_verbs::{api, command, line_after, weir, weir_args};
use super::*;
use serde_json::{json, Value};
use std::io::Read;
use std::process::Child;
use weir_client::Client;
use weir_core::schemas::{FlowRunCreate, LogCreate};
use weir_core::{StateCreate, StateType, Timestamp};

/// A deployment `etl/nightly` on the process pool `local`, taking `n` and `who`.
async fn deploy(server: &WeirServer) -> Value {
    let client = api(server);
    weir(server, "work-pool create local").ok();
    let flow = client.create_flow("etl").await.unwrap();
    let body = json!({
        "name": "nightly", "flow_id": flow.id, "work_pool_name": "local",
        "parameters": {"who": "world"},
        "parameter_openapi_schema": {"type": "object", "properties": {
            "n": {"type": "integer"}, "who": {"type": "string"}}}
    });
    let (_, deployment) = client
        .request(reqwest::Method::POST, "/deployments/", Some(&body))
        .await
        .unwrap();
    deployment
}

/// Starts `weir ARGS` with stdout piped; returns the child and the run id it printed.
fn spawn_run(server: &WeirServer, args: &[&str]) -> (Child, uuid::Uuid) {
    let mut child = command(&server.api_url, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = printed_run_id(&mut child);
    (child, id)
}

/// Reads `child`'s stdout up to its `id:` line, then drains the rest in the background.
fn printed_run_id(child: &mut Child) -> uuid::Uuid {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "no id in {printed}"
        );
        printed.push_str(&line);
        if let Some(id) = line.trim().strip_prefix("id:") {
            std::thread::spawn(move || {
                let _ = reader.read_to_string(&mut String::new());
            });
            return id.trim().parse().unwrap();
        }
    }
}

/// Waits for `child` to end; returns its exit code and stderr.
fn finish(mut child: Child) -> (i32, String) {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), stderr)
}

async fn force_state(client: &Client, id: uuid::Uuid, state: StateType) {
    client
        .set_flow_run_state(id, &StateCreate::of_type(state), true)
        .await
        .unwrap();
}

#[tokio::test]
async fn deployment_verbs() {
    let server = start_server(&[], &[]);
    let deployment = deploy(&server).await;
    let client = api(&server);
    let listing = weir(&server, "deployment ls");
    let lines: Vec<&str> = listing.ok().lines().collect();
    assert_eq!(lines[0], "NAME         WORK POOL  STATUS     ID");
    assert_eq!(
        lines[1],
        format!(
            "etl/nightly  local      NOT_READY  {}",
            deployment["id"].as_str().unwrap()
        )
    );
    let inspected = weir(&server, "deployment inspect etl/nightly").json();
    assert_eq!(inspected["id"], deployment["id"]);

    let out = weir_args(
        &server,
        &[
            "deployment",
            "run",
            "etl/nightly",
            "--param",
            "n=3",
            "--params",
            r#"{"n": 1, "who": "ada"}"#,
            "--job-variable",
            r#"env={"A": "1"}"#,
            "--tag",
            "adhoc",
        ],
    );
    assert!(
        out.ok().starts_with("Created flow run \""),
        "{}",
        out.stdout
    );
    assert_eq!(line_after(&out.stdout, "state:"), "Scheduled");
    let id = line_after(&out.stdout, "id:");
    let run = weir_args(&server, &["flow-run", "inspect", id]).json();
    assert_eq!(
        run["parameters"],
        json!({"n": 3, "who": "ada"}),
        "--param wins over --params"
    );
    assert_eq!(run["job_variables"], json!({"env": {"A": "1"}}));
    assert_eq!(run["tags"], json!(["adhoc"]));

    // --watch follows the run to its end: 0 when it completes, 1 (one error line) otherwise.
    let watch: Vec<&str> = "deployment run etl/nightly --watch --watch-interval 0.1"
        .split_whitespace()
        .collect();
    let (child, id) = spawn_run(&server, &watch);
    force_state(&client, id, StateType::Running).await;
    force_state(&client, id, StateType::Completed).await;
    let (code, stderr) = finish(child);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let (child, id) = spawn_run(&server, &watch);
    force_state(&client, id, StateType::Failed).await;
    let (code, stderr) = finish(child);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("error: flow run ")
            && stderr.trim_end().ends_with("finished in state Failed"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);

    weir(&server, "deployment run etl/nightly --param colour=red")
        .fails_with("deployment \"etl/nightly\" has no parameter colour: it takes n, who");
    weir(&server, "deployment run etl/nightly --param novalue")
        .fails_with("invalid --param \"novalue\": expected KEY=VALUE");
    weir(&server, "deployment run etl/nightly --params [1]")
        .fails_with("--params must be a JSON object");
    weir(&server, "deployment run etl/nightly --job-variable nope=1").fails_with("nope");
    weir(&server, "deployment inspect nightly").fails_with("expected FLOW/DEPLOYMENT");
    weir(&server, "deployment run etl/other").fails_with("deployment \"etl/other\" not found");
    weir(&server, "deployment delete etl/nightly").ok();
    weir(&server, "deployment delete etl/nightly")
        .fails_with("deployment \"etl/nightly\" not found");
    assert_eq!(
        weir(&server, "deployment ls").ok().trim(),
        "No deployments found."
    );
}

fn log_line(id: uuid::Uuid, level: i64, message: &str) -> LogCreate {
    LogCreate {
        name: "test".into(),
        level,
        message: message.into(),
        timestamp: Timestamp::now(),
        flow_run_id: Some(id),
        task_run_id: None,
    }
}

#[tokio::test]
async fn flow_run_verbs() {
    let server = start_server(&[], &[]);
    let client = api(&server);
    let flow = client.create_flow("reports").await.unwrap();
    let mut runs = Vec::new();
    for state in [StateType::Completed, StateType::Running] {
        let create = FlowRunCreate {
            state: Some(StateCreate::of_type(state)),
            ..FlowRunCreate::for_flow(flow.id)
        };
        runs.push(client.create_flow_run(&create).await.unwrap());
    }
    let (done, running) = (runs[0].id, runs[1].id);

    let listing = weir(&server, "flow-run ls");
    let lines: Vec<&str> = listing.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{}", listing.stdout);
    assert!(
        lines[0].starts_with("ID                                    FLOW     NAME"),
        "{}",
        lines[0]
    );
    let completed = weir(&server, "flow-run ls --state completed");
    assert!(
        completed.ok().contains(&done.to_string())
            && !completed.stdout.contains(&running.to_string())
    );
    let by_type = weir(&server, "flow-run ls --state-type RUNNING -o json").json();
    assert_eq!(by_type[0]["id"], json!(running));
    assert_eq!(by_type.as_array().unwrap().len(), 1);
    assert_eq!(
        weir(&server, "flow-run ls --limit 1 -o json")
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    weir(&server, "flow-run ls --state-type sleeping")
        .fails_with("invalid state type \"sleeping\"");
    assert_eq!(
        weir_args(&server, &["flow-run", "inspect", &done.to_string()]).json()["state_type"],
        "COMPLETED"
    );

    client
        .create_logs(&[
            log_line(running, 20, "first"),
            log_line(running, 40, "second"),
        ])
        .await
        .unwrap();
    let logs = weir_args(&server, &["flow-run", "logs", &running.to_string()]);
    let lines: Vec<&str> = logs.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{}", logs.stdout);
    assert!(
        lines[0].ends_with(" | INFO    | first") && lines[1].ends_with(" | ERROR   | second"),
        "{lines:?}"
    );

    // --follow prints logs as they come and stops once the run is final.
    let mut follow = command(
        &server.api_url,
        &[
            "flow-run",
            "logs",
            &running.to_string(),
            "--follow",
            "--poll-interval",
            "0.1",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut reader = BufReader::new(follow.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.ends_with("first\n"), "{line}");
    client
        .create_logs(&[log_line(running, 30, "third")])
        .await
        .unwrap();
    let mut rest = String::new();
    while !rest.contains("third") {
        assert!(reader.read_line(&mut rest).unwrap() > 0, "{rest}");
    }
    assert!(rest.contains(" | WARNING | third"), "{rest}");
    client
        .create_logs(&[log_line(running, 20, "last")])
        .await
        .unwrap();
    force_state(&client, running, StateType::Completed).await;
    reader.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("last") && rest.matches("second").count() == 1,
        "{rest}"
    );
    assert!(follow.wait().unwrap().success());

    let out = weir_args(&server, &["flow-run", "cancel", &done.to_string()]);
    out.fails_with(&format!("flow run {done} cannot be cancelled"));
    let other = client
        .create_flow_run(&FlowRunCreate {
            state: Some(StateCreate::of_type(StateType::Running)),
            ..FlowRunCreate::for_flow(flow.id)
        })
        .await
        .unwrap();
    assert!(
        weir_args(&server, &["flow-run", "cancel", &other.id.to_string()])
            .ok()
            .contains("is being cancelled")
    );
    assert_eq!(
        client.read_flow_run(other.id).await.unwrap().state_type,
        Some(StateType::Cancelling)
    );
    let missing = uuid::Uuid::new_v4().to_string();
    weir_args(&server, &["flow-run", "logs", &missing])
        .fails_with(&format!("flow run \"{missing}\" not found"));
    weir_args(&server, &["flow-run", "cancel", &missing]).fails_with("not found");
    weir(&server, "flow-run inspect not-a-uuid").fails_with("invalid value 'not-a-uuid'");
}
