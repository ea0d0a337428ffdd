//! `/events/in` feeds the task-run recorder; `/events/out` pushes flow-run state changes.

use super::*;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
use weir_core::schemas::FlowRunCreate;
use weir_core::{StateCreate, StateType};
use weir_testkit::server_test;

pub(super) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A websocket to `/api/{path}`, authenticated.
pub(super) async fn open(server: &TestServer, path: &str) -> Socket {
    let mut request = format!("ws://{}/api/{path}", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "prefect".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Text(
            json!({"type": "auth", "token": null}).to_string().into(),
        ))
        .await
        .unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert_eq!(
        ack.into_text().unwrap().as_str(),
        r#"{"type":"auth_success"}"#
    );
    socket
}

/// Polls `check` every 20 ms for up to 10 s.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn task_event(
    task: uuid::Uuid,
    flow_run: uuid::Uuid,
    name: &str,
    state_type: &str,
    run_count: u32,
) -> String {
    json!({
        "id": uuid::Uuid::now_v7(), "occurred": weir_core::Timestamp::now(),
        "event": format!("prefect.task-run.{name}"),
        "resource": {"prefect.resource.id": format!("prefect.task-run.{task}"), "prefect.resource.name": "t-1"},
        "related": [{"prefect.resource.id": format!("prefect.flow-run.{flow_run}"), "prefect.resource.role": "flow-run"}],
        "payload": {"validated_state": {"type": state_type, "name": name, "state_details": {}},
                    "task_run": {"name": "t-1", "task_key": "t", "dynamic_key": "1", "run_count": run_count}}
    })
    .to_string()
}

server_test!(task_run_events_become_task_runs, |server| {
    let c = client(&server);
    let flow = c.create_flow("f").await.unwrap();
    let run = c
        .create_flow_run(
            &serde_json::from_value::<FlowRunCreate>(json!({"flow_id": flow.id})).unwrap(),
        )
        .await
        .unwrap();
    let mut socket = open(&server, "events/in").await;
    let task = uuid::Uuid::now_v7();
    for (name, state_type, count) in [
        ("Pending", "PENDING", 0),
        ("Running", "RUNNING", 1),
        ("Completed", "COMPLETED", 1),
    ] {
        socket
            .send(Message::Text(
                task_event(task, run.id, name, state_type, count).into(),
            ))
            .await
            .unwrap();
    }
    socket.send(Message::Text("not json".into())).await.unwrap();
    socket.close(None).await.unwrap();
    let filter = json!({"flow_runs": {"id": {"any_": [run.id]}}});
    let recorded = eventually(|| {
        let c = c.clone();
        let filter = filter.clone();
        async move {
            let runs = c.filter_task_runs(&filter).await.unwrap();
            runs.len() == 1 && runs[0].state_type == Some(StateType::Completed)
        }
    })
    .await;
    assert!(recorded, "the task run reached COMPLETED on the server");
    assert_eq!(c.task_run_states(task).await.unwrap().len(), 3);
    let stored = c
        .request(
            reqwest::Method::POST,
            "/events/filter",
            Some(&json!({"filter": {"event": {"prefix": ["prefect.task-run."]}}, "limit": 10})),
        )
        .await
        .unwrap()
        .1;
    assert_eq!(stored["total"], 3);
});

server_test!(subscribers_receive_flow_run_state_events, |server| {
    let c = client(&server);
    let flow = c.create_flow("f").await.unwrap();
    let run = c
        .create_flow_run(
            &serde_json::from_value::<FlowRunCreate>(json!({"flow_id": flow.id})).unwrap(),
        )
        .await
        .unwrap();
    c.set_flow_run_state(run.id, &StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    let mut socket = open(&server, "events/out").await;
    let filter = json!({"type": "filter", "filter": {
        "occurred": {"since": weir_core::Timestamp::now().plus_seconds(-60.0), "until": weir_core::Timestamp::now().plus_seconds(3600.0)},
        "event": {"prefix": null, "exclude_prefix": null, "name": ["prefect.flow-run.Cancelling"], "exclude_name": null},
        "resource": null, "related": null, "any_resource": null, "id": {"id": []}, "text": null, "order": "DESC"}});
    socket
        .send(Message::Text(filter.to_string().into()))
        .await
        .unwrap();
    // No wait is needed here: the server subscribes before it replays stored events, and the
    // pipeline stores an event before broadcasting it, so the change is seen either way.
    c.set_flow_run_state(run.id, &StateCreate::of_type(StateType::Cancelling), false)
        .await
        .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let frame: serde_json::Value =
        serde_json::from_str(frame.into_text().unwrap().as_str()).unwrap();
    assert_eq!(frame["type"], "event");
    assert_eq!(frame["event"]["event"], "prefect.flow-run.Cancelling");
    assert_eq!(
        frame["event"]["resource"]["prefect.resource.id"],
        format!("prefect.flow-run.{}", run.id)
    );
    assert_eq!(
        frame["event"]["resource"]["prefect.state-type"],
        "CANCELLING"
    );
    assert_eq!(
        frame["event"]["payload"]["intended"],
        json!({"from": "RUNNING", "to": "CANCELLING"})
    );
    assert_eq!(
        frame["event"]["related"][0]["prefect.resource.role"],
        "flow"
    );
});
