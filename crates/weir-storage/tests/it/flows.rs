use super::*;
use weir_core::filters::RunFilterBody;
use weir_core::schemas::FlowUpdate;
use weir_storage::Error;
use weir_testkit::storage_test;

fn filter(json: serde_json::Value) -> RunFilterBody {
    serde_json::from_value(json).unwrap()
}

storage_test!(flows_upsert_by_name, |store| {
    let create = FlowCreate {
        name: "etl".into(),
        tags: vec!["a".into()],
        labels: None,
    };
    let (first, created) = store.upsert_flow(create.clone()).await.unwrap();
    assert!(created);
    let (again, created) = store.upsert_flow(create).await.unwrap();
    assert!(!created);
    assert_eq!(first.id, again.id);
    assert_eq!(store.read_flow(first.id).await.unwrap().name, "etl");
    assert_eq!(
        store.read_flow_by_name("etl").await.unwrap().unwrap().id,
        first.id
    );
    assert!(store.read_flow_by_name("nope").await.unwrap().is_none());
});

storage_test!(flows_filter_count_update_delete, |store| {
    let a = flow(&store, "alpha").await;
    let b = flow(&store, "beta").await;
    store
        .update_flow(
            b,
            FlowUpdate {
                tags: Some(vec!["prod".into()]),
                labels: None,
            },
        )
        .await
        .unwrap();
    let by_tag = store
        .filter_flows(&filter(
            serde_json::json!({"flows": {"tags": {"all_": ["prod"]}}}),
        ))
        .await
        .unwrap();
    assert_eq!(by_tag.iter().map(|f| f.id).collect::<Vec<_>>(), vec![b]);
    let like = store
        .filter_flows(&filter(
            serde_json::json!({"flows": {"name": {"like_": "ALP"}}}),
        ))
        .await
        .unwrap();
    assert_eq!(like[0].id, a);
    assert_eq!(
        store.count_flows(&RunFilterBody::default()).await.unwrap(),
        2
    );
    let page = store
        .filter_flows(&filter(
            serde_json::json!({"limit": 1, "offset": 1, "sort": "NAME_ASC"}),
        ))
        .await
        .unwrap();
    assert_eq!(page[0].name, "beta");
    store.create_flow_run(run_create(a)).await.unwrap();
    store.delete_flow(a).await.unwrap();
    assert!(matches!(
        store.read_flow(a).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        store
            .count_flow_runs(&RunFilterBody::default())
            .await
            .unwrap(),
        0
    );
    assert!(matches!(
        store.delete_flow(a).await,
        Err(Error::NotFound { .. })
    ));
});
