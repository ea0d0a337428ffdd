use super::*;
use weir_core::filters::RunFilterBody;
use weir_core::schemas::{FlowRunUpdate, SetStateStatus};
use weir_core::{StateCreate, StateType};
use weir_storage::Error;
use weir_testkit::storage_test;

storage_test!(create_is_idempotent_on_the_key, |store| {
    let flow_id = flow(&store, "f").await;
    let mut create = run_create(flow_id);
    create.idempotency_key = Some("once".into());
    let (run, created) = store.create_flow_run(create.clone()).await.unwrap();
    assert!(created);
    assert_eq!(run.state_type, Some(StateType::Pending));
    assert_eq!(run.labels["prefect.flow.id"], flow_id.to_string());
    let (again, created) = store.create_flow_run(create).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, run.id);
    let (other, created) = store.create_flow_run(run_create(flow_id)).await.unwrap();
    assert!(created);
    assert_ne!(other.id, run.id);
});

storage_test!(create_for_an_unknown_flow_is_invalid, |store| {
    let err = store
        .create_flow_run(run_create(uuid::Uuid::new_v4()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref msg) if msg.starts_with("flow_id:")),
        "{err:?}"
    );
});

storage_test!(a_run_goes_pending_running_completed, |store| {
    let flow_id = flow(&store, "f").await;
    let (run, _) = store.create_flow_run(run_create(flow_id)).await.unwrap();
    let running = store
        .set_flow_run_state(run.id, StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    assert_eq!(running.result.status, SetStateStatus::Accept);
    assert!(running.written);
    assert_eq!(
        running.event.as_ref().unwrap().event,
        "prefect.flow-run.Running"
    );
    let done = store
        .set_flow_run_state(run.id, StateCreate::of_type(StateType::Completed), false)
        .await
        .unwrap();
    assert_eq!(done.result.status, SetStateStatus::Accept);
    let run = store.read_flow_run(run.id).await.unwrap();
    assert_eq!(run.state_type, Some(StateType::Completed));
    assert_eq!(run.run_count, 1);
    assert!(run.start_time.is_some() && run.end_time.is_some());
    assert!(run.total_run_time >= 0.0);
    let history = store.flow_run_states(run.id).await.unwrap();
    let names: Vec<_> = history
        .iter()
        .map(|s| s.display_name().to_owned())
        .collect();
    assert_eq!(names, ["Pending", "Running", "Completed"]);
    assert!(history.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
});

storage_test!(a_failed_run_with_retries_is_rescheduled, |store| {
    let flow_id = flow(&store, "f").await;
    let mut create = run_create(flow_id);
    create.empirical_policy.retries = Some(1);
    let (run, _) = store.create_flow_run(create).await.unwrap();
    store
        .set_flow_run_state(run.id, StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    let failed = store
        .set_flow_run_state(run.id, StateCreate::of_type(StateType::Failed), false)
        .await
        .unwrap();
    assert_eq!(failed.result.status, SetStateStatus::Reject);
    assert_eq!(
        failed.result.state.as_ref().unwrap().display_name(),
        "AwaitingRetry"
    );
    let run = store.read_flow_run(run.id).await.unwrap();
    assert_eq!(run.state_name.as_deref(), Some("AwaitingRetry"));
    assert_eq!(
        run.empirical_policy.retry_type.as_deref(),
        Some("in_process")
    );
    let retrying = store
        .set_flow_run_state(run.id, StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    assert_eq!(retrying.result.state.unwrap().display_name(), "Retrying");
    assert_eq!(store.read_flow_run(run.id).await.unwrap().run_count, 2);
});

storage_test!(two_concurrent_pending_claims_accept_exactly_one, |store| {
    let flow_id = flow(&store, "f").await;
    for _ in 0..10 {
        let mut create = run_create(flow_id);
        create.state = Some(StateCreate::of_type(StateType::Scheduled));
        let (run, _) = store.create_flow_run(create).await.unwrap();
        let claims = (0..2).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .set_flow_run_state(run.id, StateCreate::of_type(StateType::Pending), false)
                    .await
                    .unwrap()
            })
        });
        let outcomes = futures::future::join_all(claims).await;
        let statuses: Vec<_> = outcomes
            .into_iter()
            .map(|o| o.unwrap().result.status)
            .collect();
        let accepted = statuses
            .iter()
            .filter(|s| **s == SetStateStatus::Accept)
            .count();
        let aborted = statuses
            .iter()
            .filter(|s| **s == SetStateStatus::Abort)
            .count();
        assert_eq!((accepted, aborted), (1, 1), "{statuses:?}");
        assert_eq!(store.flow_run_states(run.id).await.unwrap().len(), 2);
    }
});

storage_test!(updates_and_state_changes_do_not_lose_each_other, |store| {
    let flow_id = flow(&store, "f").await;
    let (run, _) = store.create_flow_run(run_create(flow_id)).await.unwrap();
    let pid = {
        let store = store.clone();
        tokio::spawn(async move {
            let update = FlowRunUpdate {
                infrastructure_pid: Some("1234".into()),
                ..Default::default()
            };
            store.update_flow_run(run.id, update).await.unwrap()
        })
    };
    let state = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .set_flow_run_state(run.id, StateCreate::of_type(StateType::Running), false)
                .await
                .unwrap()
        })
    };
    pid.await.unwrap();
    state.await.unwrap();
    let mut labels = serde_json::Map::new();
    labels.insert("prefect.worker.name".into(), "w1".into());
    store.patch_flow_run_labels(run.id, labels).await.unwrap();
    let run = store.read_flow_run(run.id).await.unwrap();
    assert_eq!(run.infrastructure_pid.as_deref(), Some("1234"));
    assert_eq!(run.state_type, Some(StateType::Running));
    assert_eq!(run.labels["prefect.worker.name"], "w1");
    assert!(run.labels.contains_key("prefect.flow.id"));
});

storage_test!(flow_runs_filter_by_state_tags_and_flow, |store| {
    let etl = flow(&store, "etl").await;
    let other = flow(&store, "other").await;
    let mut tagged = run_create(etl);
    tagged.tags = vec!["prod".into(), "nightly".into()];
    let (a, _) = store.create_flow_run(tagged).await.unwrap();
    let (b, _) = store.create_flow_run(run_create(other)).await.unwrap();
    store
        .set_flow_run_state(b.id, StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    let query = |json: serde_json::Value| serde_json::from_value::<RunFilterBody>(json).unwrap();
    let ids =
        |runs: Vec<weir_core::schemas::FlowRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let running =
        query(serde_json::json!({"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}));
    assert_eq!(
        ids(store.filter_flow_runs(&running).await.unwrap()),
        vec![b.id]
    );
    let tags = query(serde_json::json!({"flow_runs": {"tags": {"all_": ["prod", "nightly"]}}}));
    assert_eq!(
        ids(store.filter_flow_runs(&tags).await.unwrap()),
        vec![a.id]
    );
    let by_flow = query(serde_json::json!({"flows": {"name": {"any_": ["other"]}}}));
    assert_eq!(
        ids(store.filter_flow_runs(&by_flow).await.unwrap()),
        vec![b.id]
    );
    let none = query(serde_json::json!({"flow_runs": {"id": {"any_": []}}}));
    assert_eq!(store.count_flow_runs(&none).await.unwrap(), 0);
    let either = query(serde_json::json!({"flow_runs": {"operator": "or_",
        "id": {"any_": [a.id]}, "state": {"name": {"any_": ["Running"]}}}}));
    assert_eq!(store.count_flow_runs(&either).await.unwrap(), 2);
    store.delete_flow_run(a.id).await.unwrap();
    assert!(matches!(
        store.read_flow_run(a.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(store.flow_run_states(a.id).await.unwrap().is_empty());
});
