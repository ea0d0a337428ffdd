//! Global concurrency limits in the store: names are unique, updates and deletes by id or name,
//! and slot accounting that neither loses updates nor overfills a limit under concurrent
//! increments.

use serde_json::json;
use weir_core::concurrency_limits::{ConcurrencyLimitV2Create, ConcurrencyLimitV2Update, SlotMode};
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
