use super::*;
use weir_core::events::Event;
use weir_core::filters::RunFilterBody;
use weir_core::schemas::{SetStateStatus, TaskRunCreate};
use weir_core::{StateCreate, StateType};
use weir_testkit::storage_test;

/// A `prefect.task-run.<name>` event as the Prefect 3.9.1 engine sends it.
fn task_event(
    task_run: uuid::Uuid,
    flow_run: uuid::Uuid,
    name: &str,
    state_type: &str,
    occurred: &str,
    run_count: i64,
) -> Event {
    serde_json::from_value(serde_json::json!({
        "id": uuid::Uuid::now_v7(), "occurred": occurred, "event": format!("prefect.task-run.{name}"),
        "resource": {"prefect.resource.id": format!("prefect.task-run.{task_run}"),
                     "prefect.resource.name": "flaky-3e0", "prefect.state-name": name,
                     "prefect.state-type": state_type, "prefect.run-count": run_count.to_string()},
        "related": [{"prefect.resource.id": format!("prefect.flow-run.{flow_run}"),
                     "prefect.resource.role": "flow-run"}],
        "payload": {"intended": {"from": null, "to": state_type},
                    "validated_state": {"type": state_type, "name": name, "message": "", "state_details": {}, "data": null},
                    "task_run": {"name": "flaky-3e0", "task_key": "flaky-093f42cc", "dynamic_key": "3e0",
                                 "empirical_policy": {"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 1, "retry_delay": 1},
                                 "tags": ["t"], "labels": {}, "task_inputs": {"y": []}, "run_count": run_count,
                                 "flow_run_run_count": 1, "expected_start_time": "2026-11-27T15:36:50.422476Z",
                                 "start_time": "2026-11-27T15:36:50.422924Z", "total_run_time": 0.001}}
    }))
    .unwrap()
}

storage_test!(
    the_recorder_keeps_the_newest_state_whatever_the_order,
    |store| {
        let flow_id = flow(&store, "f").await;
        let (run, _) = store.create_flow_run(run_create(flow_id)).await.unwrap();
        let task = uuid::Uuid::now_v7();
        let events = [
            task_event(
                task,
                run.id,
                "Pending",
                "PENDING",
                "2026-11-27T15:36:50.4224Z",
                0,
            ),
            task_event(
                task,
                run.id,
                "Running",
                "RUNNING",
                "2026-11-27T15:36:50.4229Z",
                1,
            ),
            task_event(
                task,
                run.id,
                "AwaitingRetry",
                "SCHEDULED",
                "2026-11-27T15:36:50.4242Z",
                1,
            ),
            task_event(
                task,
                run.id,
                "Retrying",
                "RUNNING",
                "2026-11-27T15:36:51.4245Z",
                2,
            ),
            task_event(
                task,
                run.id,
                "Completed",
                "COMPLETED",
                "2026-11-27T15:36:51.4280Z",
                2,
            ),
        ];
        // Newest first, split over two batches, with one event delivered twice.
        store
            .record_task_run_events(&[events[4].clone(), events[2].clone()])
            .await
            .unwrap();
        store
            .record_task_run_events(&[
                events[3].clone(),
                events[0].clone(),
                events[1].clone(),
                events[4].clone(),
            ])
            .await
            .unwrap();
        let task_run = store.read_task_run(task).await.unwrap();
        assert_eq!(task_run.state_type, Some(StateType::Completed));
        assert_eq!(task_run.run_count, 2);
        assert_eq!(task_run.flow_run_id, Some(run.id));
        assert!(task_run.end_time.is_some());
        let names: Vec<_> = store
            .task_run_states(task)
            .await
            .unwrap()
            .iter()
            .map(|s| s.display_name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "Pending",
                "Running",
                "AwaitingRetry",
                "Retrying",
                "Completed"
            ]
        );
        let body: RunFilterBody =
            serde_json::from_value(serde_json::json!({"flow_runs": {"id": {"any_": [run.id]}}}))
                .unwrap();
        assert_eq!(store.count_task_runs(&body).await.unwrap(), 1);
    }
);

storage_test!(rest_task_runs_follow_the_task_policy, |store| {
    let flow_id = flow(&store, "f").await;
    let (run, _) = store.create_flow_run(run_create(flow_id)).await.unwrap();
    let create: TaskRunCreate = serde_json::from_value(serde_json::json!({
        "flow_run_id": run.id, "task_key": "k", "dynamic_key": "0", "empirical_policy": {"retries": 1, "retry_delay": 0}
    }))
    .unwrap();
    let (task, created) = store.create_task_run(create.clone()).await.unwrap();
    assert!(created);
    assert_eq!(store.create_task_run(create).await.unwrap().0.id, task.id);
    // The flow run is still PENDING: the task may not start.
    let early = store
        .set_task_run_state(task.id, StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    assert_eq!(early.result.status, SetStateStatus::Abort);
    store
        .set_flow_run_state(run.id, StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    let running = store
        .set_task_run_state(task.id, StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    assert_eq!(running.result.status, SetStateStatus::Accept);
    let failed = store
        .set_task_run_state(task.id, StateCreate::of_type(StateType::Failed), false)
        .await
        .unwrap();
    assert_eq!(failed.result.state.unwrap().display_name(), "AwaitingRetry");
    let retry = store
        .set_task_run_state(task.id, StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    assert_eq!(retry.result.state.unwrap().display_name(), "Retrying");
    let task = store.read_task_run(task.id).await.unwrap();
    assert_eq!(task.run_count, 2);
    // Pending, Running, AwaitingRetry (in place of Failed), Retrying.
    assert_eq!(store.task_run_states(task.id).await.unwrap().len(), 4);
});
