//! The command line `weir_sdk::main!` gives a binary (`run`, `execute`, `flows`), the parameter
//! schema of a flow, and the embedded server used when no server is configured.

use super::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use weir_core::schemas::FlowRunCreate;
use weir_core::{StateCreate, StateType};
use weir_sdk::entry::Program;
use weir_sdk::{flow, schemars, task};
use weir_testkit::server_test;

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Window {
    days: u32,
}

#[task]
async fn shout(text: String) -> String {
    text.to_uppercase()
}

#[flow(name = "greet")]
async fn greet(name: String, window: Option<Window>) -> anyhow::Result<String> {
    let days = window.map_or(0, |w| w.days);
    Ok(format!("{} ({days})", shout(name).await))
}

fn program() -> Program {
    Program::new("greeter").flow::<greet>()
}

/// Runs a command in a plain thread (the program starts its own runtime).
async fn command(server: &TestServer, args: &[&str]) -> u8 {
    std::env::set_var(weir_core::env::WEIR_API_URL, server.api_url());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(|| std::thread::spawn(|| program().exit_code(args)).join())
        .await
        .unwrap()
        .unwrap()
}

/// A flow run of `greet` created through the API, as a deployment would create it.
async fn scheduled_run(server: &TestServer, parameters: Value) -> Uuid {
    let client = client(server);
    let flow = client.create_flow("greet").await.unwrap();
    let create = FlowRunCreate {
        state: Some(StateCreate::of_type(StateType::Scheduled)),
        parameters: parameters.as_object().cloned().unwrap(),
        ..FlowRunCreate::for_flow(flow.id)
    };
    client.create_flow_run(&create).await.unwrap().id
}

server_test!(
    execute_runs_an_existing_flow_run_with_its_parameters,
    |server| {
        let id = scheduled_run(&server, json!({"name": "grace", "window": {"days": 3}})).await;
        assert_eq!(
            command(&server, &["execute", "--flow-run-id", &id.to_string()]).await,
            0
        );
        let runs = client(&server).filter_flow_runs(&json!({})).await.unwrap();
        assert_eq!(
            runs.len(),
            1,
            "execute adopts the run instead of creating one"
        );
        assert_eq!(runs[0].state_type, Some(StateType::Completed));
        assert_eq!(runs[0].run_count, 1);
        let tasks = finished_task_runs(&server, 1).await;
        assert_eq!(tasks[0].flow_run_id, Some(id));
    }
);

server_test!(execute_fails_a_run_whose_parameters_do_not_fit, |server| {
    let id = scheduled_run(&server, json!({"name": 5})).await;
    std::env::set_var(weir_core::env::WEIR_FLOW_RUN_ID, id.to_string());
    assert_eq!(command(&server, &["execute"]).await, 1);
    let run = client(&server).read_flow_run(id).await.unwrap();
    assert_eq!(run.state_type, Some(StateType::Failed));
    let message = run.state.unwrap().message.unwrap();
    assert!(
        message.starts_with("Validation of flow parameters failed with error: parameter `name`"),
        "{message}"
    );
});

server_test!(
    run_creates_a_flow_run_from_command_line_parameters,
    |server| {
        let code = command(
            &server,
            &[
                "run",
                "greet",
                "--param",
                "name=ada",
                "--params",
                r#"{"window": {"days": 2}}"#,
            ],
        )
        .await;
        assert_eq!(code, 0);
        let run = only_flow_run(&server).await;
        assert_eq!(run.parameters["name"], "ada");
        assert_eq!(run.state_type, Some(StateType::Completed));
        assert_eq!(command(&server, &["run", "nope"]).await, 2);
        assert_eq!(command(&server, &["launch"]).await, 2);
    }
);

#[test]
fn the_parameter_schema_comes_from_schemars() {
    use weir_sdk::FlowFn;
    let schema = greet::parameter_schema();
    assert_eq!(schema["title"], "Parameters");
    assert_eq!(schema["required"], json!(["name"]));
    assert_eq!(schema["properties"]["name"]["type"], "string");
    assert_eq!(schema["properties"]["name"]["position"], 0);
    assert_eq!(schema["properties"]["window"]["position"], 1);
    let window = &schema["definitions"]["Window"];
    assert_eq!(window["properties"]["days"]["type"], "integer");
    assert!(schema["properties"]["window"]
        .to_string()
        .contains("#/definitions/Window"));
}

/// Without any server configured, a flow starts a server inside the process on
/// `$WEIR_HOME/weir.db`, and everything it reported is in that file when the call returns.
#[tokio::test]
async fn without_a_server_the_flow_reports_to_an_embedded_one() {
    let home = std::env::temp_dir().join(format!("weir-sdk-home-{}", Uuid::new_v4()));
    std::env::set_var(weir_core::env::WEIR_HOME, &home);
    std::env::remove_var(weir_core::env::WEIR_API_URL);
    std::env::remove_var(weir_core::env::PREFECT_API_URL);
    let greeting = greet("lin".into(), None).await.unwrap();
    assert_eq!(greeting, "LIN (0)");

    let store = weir_storage::Store::open_sqlite_file(&home.join("weir.db"))
        .await
        .unwrap();
    let runs = store.filter_flow_runs(&Default::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].state_type, Some(StateType::Completed));
    let tasks = store.filter_task_runs(&Default::default()).await.unwrap();
    assert_eq!(
        tasks.len(),
        1,
        "task events were stored before the flow returned"
    );
    assert_eq!(tasks[0].state_type, Some(StateType::Completed));
}
