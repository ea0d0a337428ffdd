//! How many runs the scheduler materialises ahead, following Prefect 3.9.1's scheduler service
//! (`server/services/scheduler.py`) and `models/deployments.py::_generate_scheduled_flow_runs`.
//!
//! Every loop (60 s by default) the scheduler picks the deployments, not paused, where **any active
//! schedule** has fewer than `min_runs` future runs it created (auto-scheduled, still `SCHEDULED`,
//! `next_scheduled_start_time >= now`, `created_by.id` = the schedule) **or** whose latest such run
//! is earlier than `now + min_scheduled_time` ([`needs_runs`]). For every active schedule of a
//! picked deployment it then takes the schedule's times from `now` (inclusive) to
//! `now + max_scheduled_time` (inclusive), at most `max_runs` of them, and stops early at the first
//! time that makes both minimums hold: at least `min_runs` times and a time at or after
//! `now + min_scheduled_time` ([`dates_to_schedule`]). Times already scheduled come back again; the
//! insert skips them through the run's idempotency key
//! (`scheduled {deployment_id} {schedule_id} {time}`), so the rule is idempotent.
//!
//! A second loop (every 5 s) does the same for deployments updated in the last loop, without the
//! [`needs_runs`] test. A deployment schedule's `max_scheduled_runs` is validated and stored but not
//! read by Prefect 3.9.1's scheduler, so it caps nothing here either.

use super::{Schedule, ScheduleError};
use crate::time::Timestamp;
use chrono::Duration;

/// The scheduler's settings (`PREFECT_SERVER_SERVICES_SCHEDULER_*`), defaults as in Prefect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulerSettings {
    /// `MIN_RUNS`, default 3.
    pub min_runs: usize,
    /// `MAX_RUNS`, default 100.
    pub max_runs: usize,
    /// `MIN_SCHEDULED_TIME`, default one hour.
    pub min_scheduled_time: Duration,
    /// `MAX_SCHEDULED_TIME`, default 100 days.
    pub max_scheduled_time: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            min_runs: 3,
            max_runs: 100,
            min_scheduled_time: Duration::hours(1),
            max_scheduled_time: Duration::days(100),
        }
    }
}

/// What a schedule already has ahead: its auto-scheduled runs still `SCHEDULED` with a
/// `next_scheduled_start_time` at or after `now`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScheduledRuns {
    /// How many there are.
    pub count: usize,
    /// The latest `next_scheduled_start_time` among them.
    pub latest: Option<Timestamp>,
}

/// Whether the schedule is short of runs: fewer than `min_runs` ahead, or the last one sooner than
/// `now + min_scheduled_time`.
pub fn needs_runs(existing: &ScheduledRuns, now: Timestamp, settings: &SchedulerSettings) -> bool {
    let horizon = now.as_datetime() + settings.min_scheduled_time;
    existing.count < settings.min_runs
        || existing
            .latest
            .is_some_and(|latest| latest.as_datetime() < horizon)
}

/// The times to schedule from `now`: Prefect's generation rule, without the [`needs_runs`] test
/// (what the recent-deployments loop uses).
pub fn dates_to_schedule(
    schedule: &Schedule,
    now: Timestamp,
    settings: &SchedulerSettings,
) -> Result<Vec<Timestamp>, ScheduleError> {
    let start = now.as_datetime();
    let min_horizon = start + settings.min_scheduled_time;
    let end = Timestamp::from_datetime(start + settings.max_scheduled_time);
    // `next_times` excludes its lower bound; Prefect includes `now`.
    let after = Timestamp::from_datetime(start - Duration::microseconds(1));
    let candidates = schedule
        .compile()?
        .next_times(after, Some(end), settings.max_runs);
    let mut dates = Vec::new();
    for date in candidates {
        dates.push(date);
        if dates.len() >= settings.min_runs && date.as_datetime() >= min_horizon {
            break;
        }
    }
    Ok(dates)
}

/// The times the scheduler materialises for one active schedule this loop: none when it is not
/// short of runs ([`needs_runs`]), else [`dates_to_schedule`]. An invalid schedule is an error
/// (Prefect logs it and carries on with the other deployments).
pub fn runs_to_materialise(
    schedule: &Schedule,
    existing: &ScheduledRuns,
    now: Timestamp,
    settings: &SchedulerSettings,
) -> Result<Vec<Timestamp>, ScheduleError> {
    if !needs_runs(existing, now, settings) {
        return Ok(Vec::new());
    }
    dates_to_schedule(schedule, now, settings)
}
