use super::*;
use weir_core::events::{Event, EventFilter};
use weir_core::filters::LogFilterBody;
use weir_core::schemas::LogCreate;
use weir_testkit::storage_test;

storage_test!(logs_are_stored_and_filtered, |store| {
    let flow_id = flow(&store, "f").await;
    let (run, _) = store.create_flow_run(run_create(flow_id)).await.unwrap();
    let line = |level: i64, message: &str, ts: &str| LogCreate {
        name: "prefect.flow_runs".into(),
        level,
        message: message.into(),
        timestamp: ts.parse().unwrap(),
        flow_run_id: Some(run.id),
        task_run_id: None,
    };
    store
        .create_logs(vec![
            line(20, "second", "2026-11-27T10:00:02Z"),
            line(40, "first ERROR", "2026-11-27T10:00:01Z"),
            line(10, "debug", "2026-11-27T10:00:03Z"),
        ])
        .await
        .unwrap();
    let body = |json| serde_json::from_value::<LogFilterBody>(json).unwrap();
    let all = store
        .filter_logs(&body(
            serde_json::json!({"logs": {"flow_run_id": {"any_": [run.id]}}}),
        ))
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        ["first ERROR", "second", "debug"]
    );
    let warnings = store
        .filter_logs(&body(serde_json::json!({"logs": {"level": {"ge_": 30}}})))
        .await
        .unwrap();
    assert_eq!(warnings.len(), 1);
    let text = store
        .filter_logs(&body(
            serde_json::json!({"logs": {"text": {"query": "error"}}, "limit": 5}),
        ))
        .await
        .unwrap();
    assert_eq!(text[0].message, "first ERROR");
});

storage_test!(events_are_stored_once_and_filtered, |store| {
    let event = |name: &str| -> Event {
        serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::now_v7(), "occurred": weir_core::Timestamp::now(), "event": name,
            "resource": {"prefect.resource.id": "prefect.flow-run.1"}, "related": [], "payload": {}
        }))
        .unwrap()
    };
    let a = event("prefect.flow-run.Running");
    let b = event("prefect.flow-run.Completed");
    store
        .insert_events(&[a.clone(), b.clone(), a.clone()])
        .await
        .unwrap();
    let filter: EventFilter = serde_json::from_value(
        serde_json::json!({"event": {"name": ["prefect.flow-run.Completed"]}}),
    )
    .unwrap();
    let (events, total) = store.filter_events(&filter, 10).await.unwrap();
    assert_eq!((events.len(), total), (1, 1));
    assert_eq!(events[0].id, b.id);
    let (all, total) = store
        .filter_events(&EventFilter::default(), 1)
        .await
        .unwrap();
    assert_eq!((all.len(), total), (1, 2));
});
