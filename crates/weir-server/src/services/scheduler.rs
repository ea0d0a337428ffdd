//! The scheduler: keeps every unpaused deployment with active schedules supplied with runs ahead,
//! by Prefect's rule (at least `min_runs` and at least `min_scheduled_time` ahead, at most
//! `max_runs` and `max_scheduled_time`; see `weir_core::schedules`). A run's idempotency key,
//! `scheduled <deployment> <schedule> <time>`, makes each time materialise once, however often the
//! loop runs and however many servers run it. It wakes at once when a deployment is written.

use weir_core::deployments::Deployment;
use weir_core::schedules::{dates_to_schedule, needs_runs, Schedule, SchedulerSettings};
use weir_core::Timestamp;
use weir_storage::{ScheduledRun, Store};

/// One pass over every deployment; returns how many runs it created.
pub(crate) async fn schedule_all(
    store: &Store,
    settings: &SchedulerSettings,
) -> Result<usize, String> {
    let deployments = store.list_deployments().await.map_err(|e| e.to_string())?;
    let now = Timestamp::now();
    let mut created = 0;
    for deployment in deployments
        .iter()
        .filter(|d| !d.paused && d.schedules.iter().any(|s| s.active))
    {
        created += schedule_one(store, deployment, now, settings).await?;
    }
    Ok(created)
}

async fn schedule_one(
    store: &Store,
    deployment: &Deployment,
    now: Timestamp,
    settings: &SchedulerSettings,
) -> Result<usize, String> {
    let ahead = store
        .scheduled_runs_ahead(deployment.id, now)
        .await
        .map_err(|e| e.to_string())?;
    // A schedule never has more than `max_runs` ahead; with that many per active schedule already
    // there, the times it would generate are the ones that exist (an every-second schedule is
    // always "short" of an hour ahead, and would otherwise be rebuilt on every pass).
    let active = deployment.schedules.iter().filter(|s| s.active).count();
    if !needs_runs(&ahead, now, settings) || ahead.count >= settings.max_runs * active {
        return Ok(0);
    }
    let mut wanted = Vec::new();
    for schedule in deployment.schedules.iter().filter(|s| s.active) {
        let parsed: Schedule = match serde_json::from_value(schedule.schedule.clone()) {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::warn!(deployment = %deployment.name, %error, "skipping an unreadable schedule");
                continue;
            }
        };
        let dates = match dates_to_schedule(&parsed, now, settings) {
            Ok(dates) => dates,
            Err(error) => {
                tracing::warn!(deployment = %deployment.name, %error, "skipping an invalid schedule");
                continue;
            }
        };
        wanted.extend(dates.into_iter().map(|at| ScheduledRun {
            at,
            parameters: schedule.parameters.clone(),
            idempotency_key: format!(
                "scheduled {} {} {}",
                deployment.id,
                schedule.id,
                at.to_canonical()
            ),
        }));
    }
    let created = store
        .create_scheduled_runs(deployment, wanted)
        .await
        .map_err(|e| format!("deployment {}: {e}", deployment.name))?;
    if created > 0 {
        tracing::info!(deployment = %deployment.name, runs = created, "scheduled runs");
    }
    Ok(created)
}
