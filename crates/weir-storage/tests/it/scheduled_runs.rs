//! The scheduler's writes: runs of many deployments inserted together, once per idempotency key,
//! each with its one first state, and the grouped count of what every deployment has ahead.

use super::*;
use serde_json::json;
use weir_core::deployments::{Deployment, DeploymentCreate};
use weir_core::StateType;
use weir_core::Timestamp;
use weir_storage::ScheduledRun;
use weir_testkit::storage_test;

async fn deployment(store: &Store, flow_id: uuid::Uuid, name: &str) -> Deployment {
    let create: DeploymentCreate =
        serde_json::from_value(json!({"name": name, "flow_id": flow_id, "tags": ["t"]})).unwrap();
    store.upsert_deployment(create).await.unwrap().0
}

/// `count` runs of `deployment` a minute apart from `start`, keyed by their time.
fn every_minute(deployment: &Deployment, start: Timestamp, count: usize) -> Vec<ScheduledRun> {
    (0..count)
        .map(|minute| {
            let at = start.plus_seconds(60.0 * minute as f64);
            ScheduledRun {
                at,
                parameters: Default::default(),
                idempotency_key: format!("scheduled {} {}", deployment.id, at.to_canonical()),
            }
        })
        .collect()
}

storage_test!(
    scheduled_runs_of_many_deployments_are_inserted_once,
    |store| {
        let flow_id = flow(&store, "f").await;
        let (a, b) = (
            deployment(&store, flow_id, "a").await,
            deployment(&store, flow_id, "b").await,
        );
        let now = Timestamp::now();
        let start = now.plus_seconds(60.0);
        let prepared = vec![
            store
                .prepare_scheduled_runs(&a, every_minute(&a, start, 3), now)
                .await
                .unwrap(),
            store
                .prepare_scheduled_runs(&b, every_minute(&b, start, 1200), now)
                .await
                .unwrap(),
        ];
        assert_eq!(prepared.iter().map(|p| p.len()).sum::<usize>(), 1203);
        assert_eq!(store.insert_scheduled_runs(prepared).await.unwrap(), 1203);

        // The same times again (and one more for `a`): only the new one goes in.
        let again = vec![
            store
                .prepare_scheduled_runs(&a, every_minute(&a, start, 4), now)
                .await
                .unwrap(),
            store
                .prepare_scheduled_runs(&b, every_minute(&b, start, 1200), now)
                .await
                .unwrap(),
        ];
        assert_eq!(store.insert_scheduled_runs(again).await.unwrap(), 1);

        let ahead = store.scheduled_runs_ahead(now).await.unwrap();
        assert_eq!(ahead[&a.id].count, 4);
        assert_eq!(ahead[&b.id].count, 1200);
        assert_eq!(ahead[&b.id].latest, Some(start.plus_seconds(60.0 * 1199.0)));
        // Runs due before `now` are not ahead.
        let later = start.plus_seconds(60.0 * 2.0);
        assert_eq!(
            store.scheduled_runs_ahead(later).await.unwrap()[&a.id].count,
            2
        );

        let body =
            serde_json::from_value(json!({"deployments": {"id": {"any_": [a.id]}}})).unwrap();
        let runs = store.filter_flow_runs(&body).await.unwrap();
        assert_eq!(runs.len(), 4);
        for run in &runs {
            assert_eq!(run.state_type, Some(StateType::Scheduled));
            assert_eq!(run.tags, ["t", "auto-scheduled"]);
            assert!(
                run.auto_scheduled,
                "the scheduler's runs are auto_scheduled"
            );
            let state = run.state.as_ref().expect("the run's state");
            assert_eq!(state.message.as_deref(), Some("Flow run scheduled"));
            assert_eq!(run.labels["prefect.deployment.id"], a.id.to_string());
            assert_eq!(run.next_scheduled_start_time, run.expected_start_time);
            let states = store.flow_run_states(run.id).await.unwrap();
            assert_eq!(
                states.len(),
                1,
                "one first state per run, none for a skipped one"
            );
            assert_eq!(Some(states[0].id), run.state_id);
        }
        // A run that left SCHEDULED no longer counts.
        store
            .set_flow_run_state(
                runs[0].id,
                weir_core::StateCreate::of_type(StateType::Pending),
                false,
            )
            .await
            .unwrap();
        assert_eq!(
            store.scheduled_runs_ahead(now).await.unwrap()[&a.id].count,
            3
        );
    }
);
