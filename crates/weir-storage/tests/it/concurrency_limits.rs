//! Global concurrency limits in the store: names are unique, updates and deletes by id or name,
//! and slot accounting that neither loses updates nor overfills a limit under concurrent
//! increments.

use super::{flow, run_create};
use serde_json::json;
use weir_core::concurrency_limits::{
    ConcurrencyLimitCreate, ConcurrencyLimitV2Create, ConcurrencyLimitV2Update, SlotMode,
};
use weir_core::deployments::{DeploymentCreate, DeploymentFlowRunCreate};
use weir_core::schemas::{SetStateStatus, TaskRunCreate};
use weir_core::{StateCreate, StateType};
use weir_storage::{Error, Increment, LimitKey, Store};
use weir_testkit::storage_test;

fn create(name: &str, limit: i64) -> ConcurrencyLimitV2Create {
    serde_json::from_value(json!({"name": name, "limit": limit})).unwrap()
}

async fn active_slots(store: &Store, name: &str) -> i64 {
    let key = LimitKey::Name(name.into());
    store
        .read_concurrency_limit_v2(&key)
        .await
        .unwrap()
        .active_slots
}

storage_test!(limits_have_unique_names_and_change_by_id_or_name, |store| {
    let made = store
        .create_concurrency_limit_v2(create("db", 2))
        .await
        .unwrap();
    assert!(matches!(
        store.create_concurrency_limit_v2(create("db", 3)).await,
        Err(Error::Conflict(_))
    ));
    let by_id = store
        .read_concurrency_limit_v2(&LimitKey::Id(made.id))
        .await
        .unwrap();
    assert_eq!(by_id, made);
    let update: ConcurrencyLimitV2Update =
        serde_json::from_value(json!({"limit": 5, "name": "db2"})).unwrap();
    store
        .update_concurrency_limit_v2(&LimitKey::Name("db".into()), update)
        .await
        .unwrap();
    let renamed = store
        .read_concurrency_limit_v2(&LimitKey::Id(made.id))
        .await
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.limit), ("db2", 5));
    assert!(renamed.updated > made.updated);

    store
        .create_concurrency_limit_v2(create("other", 1))
        .await
        .unwrap();
    let clash: ConcurrencyLimitV2Update = serde_json::from_value(json!({"name": "other"})).unwrap();
    assert!(matches!(
        store
            .update_concurrency_limit_v2(&LimitKey::Id(made.id), clash)
            .await,
        Err(Error::Conflict(_))
    ));
    let page = store.page_concurrency_limits_v2(10, 0).await.unwrap();
    let names: Vec<_> = page.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["db2", "other"]);

    store
        .delete_concurrency_limit_v2(&LimitKey::Name("db2".into()))
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_concurrency_limit_v2(&LimitKey::Id(made.id))
            .await,
        Err(Error::NotFound { .. })
    ));
});

storage_test!(concurrent_increments_never_overfill_a_limit, |store| {
    store
        .create_concurrency_limit_v2(create("pool", 5))
        .await
        .unwrap();
    let names = vec!["pool".to_owned()];
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (store, names) = (store.clone(), names.clone());
        tasks.spawn(async move {
            store
                .increment_concurrency_slots(&names, 1, SlotMode::Concurrency)
                .await
                .unwrap()
        });
    }
    let mut acquired = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Increment::Acquired(_) => acquired += 1,
            Increment::Locked { retry_after } => assert!(retry_after >= 0.0),
        }
    }
    assert_eq!(acquired, 5, "exactly the limit's slots are handed out");
    assert_eq!(active_slots(&store, "pool").await, 5);
    let key = LimitKey::Name("pool".into());
    assert_eq!(
        store
            .read_concurrency_limit_v2(&key)
            .await
            .unwrap()
            .denied_slots,
        15
    );

    // Concurrent releases lose none either.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (store, names) = (store.clone(), names.clone());
        tasks.spawn(async move {
            store
                .decrement_concurrency_slots(&names, 1, Some(1.0))
                .await
                .unwrap()
        });
    }
    while tasks.join_next().await.is_some() {}
    assert_eq!(active_slots(&store, "pool").await, 0);
});

storage_test!(
    increments_ignore_inactive_limits_and_refuse_oversized_requests,
    |store| {
        store
            .create_concurrency_limit_v2(create("on", 1))
            .await
            .unwrap();
        let off: ConcurrencyLimitV2Create =
            serde_json::from_value(json!({"name": "off", "limit": 0, "active": false})).unwrap();
        store.create_concurrency_limit_v2(off).await.unwrap();
        let both = vec!["on".to_owned(), "off".to_owned(), "missing".to_owned()];
        let Increment::Acquired(limits) = store
            .increment_concurrency_slots(&both, 1, SlotMode::Concurrency)
            .await
            .unwrap()
        else {
            panic!("the inactive limit does not block");
        };
        assert_eq!(limits.len(), 2, "unknown names are skipped");
        assert_eq!(active_slots(&store, "off").await, 0);
        assert!(matches!(
            store
                .increment_concurrency_slots(&both, 2, SlotMode::Concurrency)
                .await,
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            store.increment_concurrency_slots(&both, 1, SlotMode::RateLimit).await,
            Err(Error::Invalid(msg)) if msg.ends_with("'on'")
        ));
    }
);

/// A task run tagged `tags` in a RUNNING flow run.
async fn tagged_task(store: &Store, flow_run: uuid::Uuid, key: &str, tags: &[&str]) -> uuid::Uuid {
    let create: TaskRunCreate = serde_json::from_value(json!({
        "flow_run_id": flow_run, "task_key": key, "dynamic_key": "0", "tags": tags
    }))
    .unwrap();
    store.create_task_run(create).await.unwrap().0.id
}

async fn propose(store: &Store, task: uuid::Uuid, state: StateType) -> SetStateStatus {
    store
        .set_task_run_state(task, StateCreate::of_type(state), false)
        .await
        .unwrap()
        .result
        .status
}

storage_test!(
    tag_limits_hold_task_runs_until_they_leave_running,
    |store| {
        let flow_id = flow(&store, "f").await;
        let (run, _) = store.create_flow_run(run_create(flow_id)).await.unwrap();
        store
            .set_flow_run_state(run.id, StateCreate::of_type(StateType::Running), false)
            .await
            .unwrap();
        let limit = |tag: &str, n: i64| -> ConcurrencyLimitCreate {
            serde_json::from_value(json!({"tag": tag, "concurrency_limit": n})).unwrap()
        };
        let (made, created) = store.upsert_tag_limit(limit("db", 1)).await.unwrap();
        assert!(created && made.active_slots.is_empty());
        let (again, created) = store.upsert_tag_limit(limit("db", 1)).await.unwrap();
        assert!(!created);
        assert_eq!(again.id, made.id);

        let first = tagged_task(&store, run.id, "a", &["db", "untracked"]).await;
        let second = tagged_task(&store, run.id, "b", &["db"]).await;
        assert_eq!(
            propose(&store, first, StateType::Running).await,
            SetStateStatus::Accept
        );
        assert_eq!(
            store.read_tag_limit("db").await.unwrap().active_slots,
            [first]
        );
        assert_eq!(
            propose(&store, second, StateType::Running).await,
            SetStateStatus::Wait
        );

        assert_eq!(
            propose(&store, first, StateType::Completed).await,
            SetStateStatus::Accept
        );
        assert!(store
            .read_tag_limit("db")
            .await
            .unwrap()
            .active_slots
            .is_empty());
        assert_eq!(
            propose(&store, second, StateType::Running).await,
            SetStateStatus::Accept
        );
        assert_eq!(active_slots(&store, "tag:db").await, 1);

        // Reset hands the slots to the runs named.
        store.reset_tag_limit("db", &[first]).await.unwrap();
        assert_eq!(
            store.read_tag_limit("db").await.unwrap().active_slots,
            [first]
        );

        // A limit of 0 aborts.
        store.upsert_tag_limit(limit("never", 0)).await.unwrap();
        let third = tagged_task(&store, run.id, "c", &["never"]).await;
        assert_eq!(
            propose(&store, third, StateType::Running).await,
            SetStateStatus::Abort
        );

        let page = store.page_tag_limits(10, 0).await.unwrap();
        let tags: Vec<_> = page.iter().map(|l| l.tag.as_str()).collect();
        assert_eq!(tags, ["db", "never"]);
        store.delete_tag_limit("db").await.unwrap();
        assert!(matches!(
            store.read_tag_limit_by_id(made.id).await,
            Err(Error::NotFound {
                kind: "Concurrency limit"
            })
        ));
    }
);

storage_test!(concurrent_task_runs_share_a_tag_limit, |store| {
    let flow_id = flow(&store, "f").await;
    let (run, _) = store.create_flow_run(run_create(flow_id)).await.unwrap();
    store
        .set_flow_run_state(run.id, StateCreate::of_type(StateType::Running), false)
        .await
        .unwrap();
    let create: ConcurrencyLimitCreate =
        serde_json::from_value(json!({"tag": "db", "concurrency_limit": 3})).unwrap();
    store.upsert_tag_limit(create).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let task = tagged_task(&store, run.id, &format!("t{i}"), &["db"]).await;
        let store = store.clone();
        tasks.spawn(async move { propose(&store, task, StateType::Running).await });
    }
    let mut running = 0;
    while let Some(status) = tasks.join_next().await {
        if status.unwrap() == SetStateStatus::Accept {
            running += 1;
        }
    }
    assert_eq!(running, 3);
    assert_eq!(
        store.read_tag_limit("db").await.unwrap().active_slots.len(),
        3
    );
});

storage_test!(deployment_limits_hold_flow_runs_from_pending, |store| {
    let flow_id = flow(&store, "f").await;
    let create = |name: &str, options: serde_json::Value| -> DeploymentCreate {
        serde_json::from_value(json!({
            "name": name, "flow_id": flow_id, "concurrency_limit": 1,
            "concurrency_options": options
        }))
        .unwrap()
    };
    let (deployment, _) = store
        .upsert_deployment(create("d", serde_json::Value::Null))
        .await
        .unwrap();
    let new_run = || async {
        let request: DeploymentFlowRunCreate = serde_json::from_value(json!({})).unwrap();
        store
            .create_deployment_flow_run(deployment.id, request)
            .await
            .unwrap()
            .0
            .id
    };
    let propose = |run: uuid::Uuid, state: StateType| {
        let store = store.clone();
        async move {
            store
                .set_flow_run_state(run, StateCreate::of_type(state), false)
                .await
                .unwrap()
                .result
        }
    };
    let (first, second) = (new_run().await, new_run().await);
    assert_eq!(
        propose(first, StateType::Pending).await.status,
        SetStateStatus::Accept
    );
    let queued = propose(second, StateType::Pending).await;
    assert_eq!(queued.status, SetStateStatus::Reject);
    let state = queued.state.unwrap();
    assert_eq!(
        (state.state_type, state.display_name()),
        (StateType::Scheduled, "AwaitingConcurrencySlot")
    );
    // The slot is kept through RUNNING and given back at the end.
    assert_eq!(
        propose(first, StateType::Running).await.status,
        SetStateStatus::Accept
    );
    let key = LimitKey::Name(format!("deployment:{}", deployment.id));
    assert_eq!(
        store
            .read_concurrency_limit_v2(&key)
            .await
            .unwrap()
            .active_slots,
        1
    );
    assert_eq!(
        propose(first, StateType::Completed).await.status,
        SetStateStatus::Accept
    );
    assert_eq!(
        store
            .read_concurrency_limit_v2(&key)
            .await
            .unwrap()
            .active_slots,
        0
    );
    assert_eq!(
        propose(second, StateType::Pending).await.status,
        SetStateStatus::Accept
    );

    // CANCEL_NEW cancels the run that finds the limit full.
    let (cancelling, _) = store
        .upsert_deployment(create("c", json!({"collision_strategy": "CANCEL_NEW"})))
        .await
        .unwrap();
    let request = || serde_json::from_value::<DeploymentFlowRunCreate>(json!({})).unwrap();
    let a = store
        .create_deployment_flow_run(cancelling.id, request())
        .await
        .unwrap()
        .0
        .id;
    let b = store
        .create_deployment_flow_run(cancelling.id, request())
        .await
        .unwrap()
        .0
        .id;
    assert_eq!(
        propose(a, StateType::Pending).await.status,
        SetStateStatus::Accept
    );
    let cancelled = propose(b, StateType::Pending).await;
    assert_eq!(cancelled.state.unwrap().state_type, StateType::Cancelled);
});
