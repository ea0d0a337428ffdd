//! The scheduler: keeps every unpaused deployment with active schedules supplied with runs ahead,
//! by Prefect's rule (at least `min_runs` and at least `min_scheduled_time` ahead, at most
//! `max_runs` and `max_scheduled_time`; see `weir_core::schedules`). A run's idempotency key,
//! `scheduled <deployment> <schedule> <time>`, makes each time materialise once, however often the
//! loop runs and however many servers run it. It wakes at once when a deployment is written.

use weir_core::deployments::Deployment;
use weir_core::schedules::ScheduledRuns;
use weir_core::schedules::{dates_to_schedule, needs_runs, Schedule, SchedulerSettings};
use weir_core::Timestamp;
use weir_storage::{ScheduledRun, Store};

/// One pass over every deployment; returns how many runs it created. What each deployment has
/// ahead is read in one query, and the runs of every deployment short of some are inserted
/// together. A deployment whose runs cannot be made (e.g. its parameters fail its enforced
/// schema) is logged and skipped; the others are still scheduled.
pub(crate) async fn schedule_all(
    store: &Store,
    settings: &SchedulerSettings,
) -> Result<usize, String> {
    let started = std::time::Instant::now();
    let deployments = store.list_deployments().await.map_err(|e| e.to_string())?;
    let now = Timestamp::now();
    let ahead = store
        .scheduled_runs_ahead(now)
        .await
        .map_err(|e| e.to_string())?;
    let mut prepared = Vec::new();
    for deployment in deployments
        .iter()
        .filter(|d| !d.paused && d.schedules.iter().any(|s| s.active))
    {
        let existing = ahead.get(&deployment.id).copied().unwrap_or_default();
        let wanted = wanted_runs(deployment, &existing, now, settings);
        if wanted.is_empty() {
            continue;
        }
        match store.prepare_scheduled_runs(deployment, wanted, now).await {
            Ok(runs) => prepared.push(runs),
            Err(error) => {
                tracing::warn!(deployment = %deployment.name, %error, "cannot schedule runs")
            }
        }
    }
    let wanted: usize = prepared.iter().map(|p| p.len()).sum();
    if wanted == 0 {
        return Ok(0);
    }
    let created = store
        .insert_scheduled_runs(prepared)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        runs = created,
        wanted,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "scheduled runs"
    );
    Ok(created)
}

/// The runs one deployment is short of: none when it has enough ahead, else every active
/// schedule's next times (those that exist already are skipped on insert).
fn wanted_runs(
    deployment: &Deployment,
    ahead: &ScheduledRuns,
    now: Timestamp,
    settings: &SchedulerSettings,
) -> Vec<ScheduledRun> {
    // A schedule never has more than `max_runs` ahead; with that many per active schedule already
    // there, the times it would generate are the ones that exist (an every-second schedule is
    // always "short" of an hour ahead, and would otherwise be rebuilt on every pass).
    let active = deployment.schedules.iter().filter(|s| s.active).count();
    if !needs_runs(ahead, now, settings) || ahead.count >= settings.max_runs * active {
        return Vec::new();
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
    wanted
}
