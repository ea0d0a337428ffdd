//! Events: one store behind core/v1 and events.k8s.io/v1, as kube-runtime's Recorder writes them.

use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
use k8s_openapi::api::events::v1::Event as V1Event;
use kube::api::{Api, ListParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use weir_kube_sim::Config;

use crate::common::start;

#[tokio::test]
async fn recorder_events_are_visible_through_both_groups() {
    let (_sim, client) = start(Config::default());
    let reporter = Reporter {
        controller: "weir-worker".into(),
        instance: Some("w-1".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let reference = ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: Some("flow-run-1".into()),
        namespace: Some("default".into()),
        uid: Some("1234".into()),
        ..Default::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "Crashed".into(),
        note: Some("the flow run crashed".into()),
        action: "Observe".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();

    let core: Api<CoreEvent> = Api::default_namespaced(client.clone());
    let listed = core
        .list(&ListParams::default().fields("involvedObject.name=flow-run-1"))
        .await
        .unwrap();
    assert_eq!(
        listed.items.len(),
        1,
        "the second publish updates the series"
    );
    let e = &listed.items[0];
    assert_eq!(
        (e.reason.as_deref(), e.message.as_deref()),
        (Some("Crashed"), Some("the flow run crashed"))
    );
    assert_eq!(e.reporting_component.as_deref(), Some("weir-worker"));

    let v1: Api<V1Event> = Api::default_namespaced(client);
    let listed = v1
        .list(
            &ListParams::default()
                .fields("regarding.name=flow-run-1,reportingController=weir-worker"),
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        listed.items[0].note.as_deref(),
        Some("the flow run crashed")
    );
    assert!(listed.items[0].series.is_some());
}
