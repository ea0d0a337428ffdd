//! Watches: event types, resumption, 410 Expired, selector-aware transitions, bookmarks, streaming
//! lists, and kube-runtime's watcher recovering from all of it.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;
use weir_kube_sim::Config;

use crate::common::{code, start};

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

async fn next_event(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event in time")
        .expect("stream open")
        .expect("event decodes")
}

fn summary(e: &WatchEvent<ConfigMap>) -> (String, String) {
    match e {
        WatchEvent::Added(o) => ("ADDED".into(), o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => (
            "MODIFIED".into(),
            o.metadata.name.clone().unwrap_or_default(),
        ),
        WatchEvent::Deleted(o) => (
            "DELETED".into(),
            o.metadata.name.clone().unwrap_or_default(),
        ),
        WatchEvent::Bookmark(b) => ("BOOKMARK".into(), b.metadata.resource_version.clone()),
        WatchEvent::Error(e) => ("ERROR".into(), e.code.to_string()),
    }
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let (_sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let rv = cms
        .create(&PostParams::default(), &cm("one", json!({})))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    cms.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .unwrap();
    cms.delete("one", &DeleteParams::default()).await.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        summary(&next_event(&mut stream).await),
        ("MODIFIED".into(), "one".into())
    );
    assert_eq!(
        summary(&next_event(&mut stream).await),
        ("DELETED".into(), "one".into())
    );
    cms.create(&PostParams::default(), &cm("two", json!({})))
        .await
        .unwrap();
    assert_eq!(
        summary(&next_event(&mut stream).await),
        ("ADDED".into(), "two".into())
    );
}

#[tokio::test]
async fn watch_from_zero_lists_current_state_first() {
    let (_sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("existing", json!({})))
        .await
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        summary(&next_event(&mut stream).await),
        ("ADDED".into(), "existing".into())
    );
}

#[tokio::test]
async fn old_resource_versions_expire() {
    let (sim, client) = start(Config {
        history_window: 3,
        ..Config::default()
    });
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let rv = cms
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("b{i}"), json!({})))
            .await
            .unwrap();
    }
    // As from the watch cache: 200, then an ERROR event with 410 Expired.
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut stream).await {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    sim.set_history_window(1000);
}

#[tokio::test]
async fn selectors_turn_label_changes_into_added_and_deleted() {
    let (_sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let rv = cms
        .create(&PostParams::default(), &cm("s", json!({"team": "a"})))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let wp = WatchParams::default().labels("team=a").timeout(5);
    let mut stream = cms.watch(&wp, &rv).await.unwrap().boxed();
    cms.patch(
        "s",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .unwrap();
    assert_eq!(
        summary(&next_event(&mut stream).await),
        ("DELETED".into(), "s".into())
    );
    cms.patch(
        "s",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    assert_eq!(
        summary(&next_event(&mut stream).await),
        ("ADDED".into(), "s".into())
    );
}

#[tokio::test]
async fn bookmarks_arrive_when_asked_for() {
    let (_sim, client) = start(Config {
        bookmark_interval: Duration::from_millis(50),
        ..Config::default()
    });
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let mut stream = cms
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default()
            }
            .timeout(5),
            "1",
        )
        .await
        .unwrap()
        .boxed();
    assert_eq!(summary(&next_event(&mut stream).await).0, "BOOKMARK");
}

#[tokio::test]
async fn watch_ends_at_timeout_seconds() {
    let (_sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let mut stream = cms
        .watch(&WatchParams::default().timeout(1), "1")
        .await
        .unwrap()
        .boxed();
    let end = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("closed by the server");
    assert!(end.is_none());
}

async fn watcher_sees(cms: Api<ConfigMap>, config: watcher::Config, name: &str) {
    let mut stream = watcher(cms, config).boxed();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = stream.try_next().await.expect("watcher keeps going") {
            let hit = match &event {
                watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                    o.metadata.name.as_deref() == Some(name)
                }
                _ => false,
            };
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true));
}

#[tokio::test]
async fn streaming_lists_are_served() {
    let (_sim, client) = start(Config::default());
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("streamed", json!({})))
        .await
        .unwrap();
    watcher_sees(
        cms,
        watcher::Config::default().streaming_lists(),
        "streamed",
    )
    .await;
}

#[tokio::test]
async fn streaming_lists_can_be_refused() {
    let (_sim, client) = start(Config {
        streaming_lists: false,
        ..Config::default()
    });
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let wp = WatchParams::default().initial_events();
    let err = cms.watch(&wp, "").await;
    let refused = match err {
        Err(e) => code(&e) == 422,
        Ok(s) => {
            let mut s = s.boxed();
            matches!(
                tokio::time::timeout(Duration::from_secs(5), s.next()).await,
                Ok(Some(Err(_))) | Ok(None)
            )
        }
    };
    assert!(refused);
}

#[tokio::test]
async fn kube_runtime_watcher_survives_expiry_and_dropped_watches() {
    let (sim, client) = start(Config {
        history_window: 2,
        ..Config::default()
    });
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let mut stream = watcher(cms.clone(), watcher::Config::default()).boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(first.is_some());
    sim.faults().drop_watches();
    for i in 0..6 {
        cms.create(&PostParams::default(), &cm(&format!("w{i}"), json!({})))
            .await
            .unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.next().await {
                Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)))
                    if o.metadata.name.as_deref() == Some("w5") =>
                {
                    return true
                }
                Some(_) => continue,
                None => return false,
            }
        }
    })
    .await;
    assert_eq!(seen, Ok(true));
}
