//! Deployment schedules with Prefect 3.9.1's wire shapes and semantics: the three kinds of schedule
//! (interval, cron, rrule), their validation, the times they fire at, and the scheduler's rule for
//! how many runs to materialise ahead.
//!
//! Parse a [`Schedule`] from JSON, [`Schedule::validate`] it (errors carry Prefect's messages and
//! name their field), fill Prefect's defaults with [`Schedule::normalized`] when a deployment
//! schedule is created or updated, then [`Schedule::compile`] it once and ask the compiled form for
//! [`CompiledSchedule::next_times`]. The scheduler service asks [`runs_to_materialise`].
//!
//! Each kind follows the Python library Prefect evaluates it with, down to its handling of DST (see
//! `tz` for the table): [`IntervalSchedule`] pendulum, [`CronSchedule`] croniter, [`RRuleSchedule`]
//! dateutil. All times come back as UTC instants.
//!
//! Pure: no I/O and no clock; `now` is an argument wherever Prefect would read the clock.

mod cron;
mod interval;
mod materialise;
mod rrule;
mod tz;

#[cfg(test)]
mod tests;

pub use materialise::{
    dates_to_schedule, needs_runs, runs_to_materialise, ScheduledRuns, SchedulerSettings,
};

use crate::schemas::JsonObject;
use crate::time::Timestamp;
use chrono::{DateTime, Duration, Utc};
use serde::{de, Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest rrule string Prefect accepts (about a year of `RDATE`s).
pub const MAX_RRULE_LENGTH: usize = 6500;

/// The default of Prefect's `PREFECT_SERVER_DEPLOYMENT_SCHEDULE_MAX_SCHEDULED_RUNS`, the upper bound
/// of a deployment schedule's `max_scheduled_runs`.
pub const DEFAULT_MAX_SCHEDULED_RUNS_LIMIT: i64 = 50;

/// Fires every `interval` seconds from `anchor_date`. Prefect sends the interval as seconds (a
/// float); it also reads ISO 8601 durations and `HH:MM:SS`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntervalSchedule {
    #[serde(deserialize_with = "interval::deserialize_seconds")]
    pub interval: f64,
    /// Prefect defaults it to the time of creation; [`Schedule::normalized`] does.
    #[serde(default)]
    pub anchor_date: Option<Timestamp>,
    /// An IANA zone; `None` and `""` mean UTC. Prefect stores `"UTC"` when none is given.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Fires at the times a cron expression matches, in `timezone` (UTC when `None`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CronSchedule {
    pub cron: String,
    #[serde(default)]
    pub timezone: Option<String>,
    /// Day-of-month OR day-of-week when both are restricted (cron's rule); AND when false.
    #[serde(default = "yes")]
    pub day_or: bool,
}

/// Fires at the occurrences of an RFC 5545 recurrence, its dates read in `timezone`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RRuleSchedule {
    pub rrule: String,
    #[serde(default = "utc")]
    pub timezone: Option<String>,
}

fn yes() -> bool {
    true
}

fn utc() -> Option<String> {
    Some("UTC".to_owned())
}

/// Any schedule. Serialized as the bare object of its kind; read by the field that names the kind
/// (`interval`, `cron` or `rrule`), as Prefect's union does.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Schedule {
    Interval(IntervalSchedule),
    Cron(CronSchedule),
    RRule(RRuleSchedule),
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = serde_json::Map::<String, Value>::deserialize(deserializer)?;
        let parse = |object| -> Result<Self, serde_json::Error> {
            let value = Value::Object(object);
            Ok(if value.get("interval").is_some() {
                Self::Interval(serde_json::from_value(value)?)
            } else if value.get("cron").is_some() {
                Self::Cron(serde_json::from_value(value)?)
            } else {
                Self::RRule(serde_json::from_value(value)?)
            })
        };
        if !["interval", "cron", "rrule"]
            .iter()
            .any(|key| object.contains_key(*key))
        {
            return Err(de::Error::custom(
                "a schedule needs one of `interval`, `cron` or `rrule`",
            ));
        }
        parse(object).map_err(de::Error::custom)
    }
}

/// Why a schedule (or a deployment schedule) is invalid. The messages are Prefect's; [`Self::field`]
/// names the field for the 422 body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// `interval` is zero, negative, or too large to add to a date.
    #[error("interval must be positive")]
    NonPositiveInterval,
    /// An interval schedule without `anchor_date` was compiled before [`Schedule::normalized`].
    #[error("anchor_date is required")]
    MissingAnchorDate,
    /// `timezone` is not an IANA zone name.
    #[error(
        "Invalid timezone: \"{0}\" (specify in IANA tzdata format, for example, America/New_York)"
    )]
    InvalidTimezone(String),
    /// `cron` does not parse; `reason` says why (Prefect's message does not).
    #[error("Invalid cron string: \"{cron}\"")]
    InvalidCron { cron: String, reason: String },
    /// `cron` uses croniter's random (`R`) field.
    #[error("Random and Hashed expressions are unsupported, received: \"{0}\"")]
    RandomCron(String),
    /// `rrule` does not parse.
    #[error("Invalid RRule string \"{rrule}\": {reason}")]
    InvalidRRule { rrule: String, reason: String },
    /// `rrule` is longer than [`MAX_RRULE_LENGTH`] characters.
    #[error(
        "Invalid RRule string \"{prefix}...\"\nMax length is {MAX_RRULE_LENGTH}, got {length}"
    )]
    RRuleTooLong { prefix: String, length: usize },
    /// `max_scheduled_runs` is zero or negative.
    #[error("Input should be greater than 0")]
    MaxScheduledRunsNotPositive,
    /// `max_scheduled_runs` is above the server's limit.
    #[error("`max_scheduled_runs` must be less than or equal to {limit}.")]
    MaxScheduledRunsTooLarge { limit: i64 },
}

impl ScheduleError {
    /// The field at fault, as Prefect's validation error `loc` names it.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NonPositiveInterval => "interval",
            Self::MissingAnchorDate => "anchor_date",
            Self::InvalidTimezone(_) => "timezone",
            Self::InvalidCron { .. } | Self::RandomCron(_) => "cron",
            Self::InvalidRRule { .. } | Self::RRuleTooLong { .. } => "rrule",
            Self::MaxScheduledRunsNotPositive | Self::MaxScheduledRunsTooLarge { .. } => {
                "max_scheduled_runs"
            }
        }
    }
}

fn zone(name: Option<&str>) -> Result<chrono_tz::Tz, ScheduleError> {
    tz::zone_or_utc(name)
        .ok_or_else(|| ScheduleError::InvalidTimezone(name.unwrap_or_default().to_owned()))
}

impl Schedule {
    /// Checks the schedule as Prefect's model validators do.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.compile_with_anchor(Some(DateTime::<Utc>::UNIX_EPOCH))
            .map(drop)
    }

    /// Prefect's class name for this kind (the `display_value` of a run's `created_by` when the
    /// deployment schedule has no slug).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Interval(_) => "IntervalSchedule",
            Self::Cron(_) => "CronSchedule",
            Self::RRule(_) => "RRuleSchedule",
        }
    }

    /// The schedule as Prefect stores it: an interval schedule gets `anchor_date` = `now` when it
    /// has none and `timezone` = `"UTC"`; an rrule schedule gets `timezone` = `"UTC"` and, when its
    /// rule has no `DTSTART`, the one Prefect's `normalize_rrule_string` injects.
    pub fn normalized(self, now: Timestamp) -> Self {
        match self {
            Self::Interval(mut schedule) => {
                schedule.anchor_date.get_or_insert(now);
                if schedule.timezone.is_none() {
                    schedule.timezone = utc();
                }
                Self::Interval(schedule)
            }
            Self::Cron(schedule) => Self::Cron(schedule),
            Self::RRule(mut schedule) => {
                if schedule.timezone.is_none() {
                    schedule.timezone = utc();
                }
                schedule.rrule = rrule::normalize(
                    &schedule.rrule,
                    now.as_datetime(),
                    schedule.timezone.as_deref(),
                );
                Self::RRule(schedule)
            }
        }
    }

    /// Validates and prepares the schedule for computing its times.
    pub fn compile(&self) -> Result<CompiledSchedule, ScheduleError> {
        self.compile_with_anchor(None)
    }

    fn compile_with_anchor(
        &self,
        default_anchor: Option<DateTime<Utc>>,
    ) -> Result<CompiledSchedule, ScheduleError> {
        let compiled = match self {
            Self::Interval(schedule) => {
                let interval = interval::Interval::from_seconds(schedule.interval)
                    .ok_or(ScheduleError::NonPositiveInterval)?;
                let tz = zone(schedule.timezone.as_deref())?;
                let anchor = schedule
                    .anchor_date
                    .map(|anchor| anchor.as_datetime())
                    .or(default_anchor)
                    .ok_or(ScheduleError::MissingAnchorDate)?;
                Compiled::Interval {
                    interval,
                    anchor,
                    tz,
                }
            }
            Self::Cron(schedule) => {
                let expr = cron::CronExpr::parse(&schedule.cron, schedule.day_or).map_err(
                    |err| match err {
                        cron::CronParseError::RandomOrHashed => {
                            ScheduleError::RandomCron(schedule.cron.clone())
                        }
                        cron::CronParseError::Invalid(reason) => ScheduleError::InvalidCron {
                            cron: schedule.cron.clone(),
                            reason,
                        },
                    },
                )?;
                Compiled::Cron {
                    expr,
                    tz: zone(schedule.timezone.as_deref())?,
                }
            }
            Self::RRule(schedule) => {
                let spec = rrule::parse(&schedule.rrule).map_err(|reason| {
                    ScheduleError::InvalidRRule {
                        rrule: schedule.rrule.clone(),
                        reason,
                    }
                })?;
                let length = schedule.rrule.chars().count();
                if length > MAX_RRULE_LENGTH {
                    return Err(ScheduleError::RRuleTooLong {
                        prefix: schedule.rrule.chars().take(40).collect(),
                        length,
                    });
                }
                let tz = match schedule.timezone.as_deref() {
                    None => chrono_tz::Tz::UTC,
                    Some(name) => tz::parse(name)
                        .ok_or_else(|| ScheduleError::InvalidTimezone(name.to_owned()))?,
                };
                Compiled::RRule { spec, tz }
            }
        };
        Ok(CompiledSchedule(compiled))
    }
}

/// A validated schedule, ready to compute its times.
#[derive(Clone, Debug)]
pub struct CompiledSchedule(Compiled);

#[derive(Clone, Debug)]
enum Compiled {
    Interval {
        interval: interval::Interval,
        anchor: DateTime<Utc>,
        tz: chrono_tz::Tz,
    },
    Cron {
        expr: cron::CronExpr,
        tz: chrono_tz::Tz,
    },
    RRule {
        spec: rrule::RRuleSpec,
        tz: chrono_tz::Tz,
    },
}

impl CompiledSchedule {
    /// The first `limit` times the schedule fires strictly after `after` and no later than `end`,
    /// ascending, each once. (Prefect's `get_dates` includes its `start`, and keeps the first `n` in
    /// the order its library yields them; that order differs from time order only around a DST gap.)
    pub fn next_times(
        &self,
        after: Timestamp,
        end: Option<Timestamp>,
        limit: usize,
    ) -> Vec<Timestamp> {
        let after = after.as_datetime();
        let end = end.map(|end| end.as_datetime());
        let times = match &self.0 {
            Compiled::Interval {
                interval,
                anchor,
                tz,
            } => interval::occurrences(
                *interval,
                *anchor,
                *tz,
                after + Duration::microseconds(1),
                end,
                limit,
            ),
            Compiled::Cron { expr, tz } => {
                let start = tz::wall(*tz, after) - tz::lookback(*tz, after);
                let mut cursor = expr.step_after(start);
                if expr.fails_in_croniter(cursor) {
                    return Vec::new();
                }
                let mut walls = tz::Walls::new(
                    *tz,
                    (tz::Gap::Forward, tz::Fold::Earlier),
                    after,
                    end,
                    limit,
                );
                while !walls.is_done() {
                    let Some(wall) = expr.next_at_or_after(cursor) else {
                        break;
                    };
                    walls.push(wall);
                    cursor = wall + expr.resolution();
                }
                walls.finish()
            }
            Compiled::RRule { spec, tz } => rrule::occurrences(spec, *tz, after, end, limit),
        };
        times.into_iter().map(Timestamp::from_datetime).collect()
    }
}

/// Compiles `schedule` and returns its next times (see [`CompiledSchedule::next_times`]).
pub fn next_times(
    schedule: &Schedule,
    after: Timestamp,
    end: Option<Timestamp>,
    limit: usize,
) -> Result<Vec<Timestamp>, ScheduleError> {
    Ok(schedule.compile()?.next_times(after, end, limit))
}

/// Checks a deployment schedule's `max_scheduled_runs` against the server's limit
/// ([`DEFAULT_MAX_SCHEDULED_RUNS_LIMIT`] unless configured). Prefect 3.9.1 stores the value but its
/// scheduler does not read it.
pub fn validate_max_scheduled_runs(value: Option<i64>, limit: i64) -> Result<(), ScheduleError> {
    match value {
        Some(value) if value <= 0 => Err(ScheduleError::MaxScheduledRunsNotPositive),
        Some(value) if value > limit => Err(ScheduleError::MaxScheduledRunsTooLarge { limit }),
        _ => Ok(()),
    }
}

/// A deployment's schedule as the API returns it (`DeploymentSchedule`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentSchedule {
    pub id: Uuid,
    pub created: Option<Timestamp>,
    pub updated: Option<Timestamp>,
    pub deployment_id: Option<Uuid>,
    pub schedule: Schedule,
    pub active: bool,
    pub max_scheduled_runs: Option<i64>,
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    pub slug: Option<String>,
}

/// One entry of `schedules` in a deployment create, and the body of
/// `POST /deployments/{id}/schedules` (`DeploymentScheduleCreate`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentScheduleCreate {
    #[serde(default = "yes")]
    pub active: bool,
    pub schedule: Schedule,
    #[serde(default)]
    pub max_scheduled_runs: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    #[serde(default)]
    pub slug: Option<String>,
    /// The slug of an existing schedule this one replaces (renames a slug).
    #[serde(default)]
    pub replaces: Option<String>,
}

/// Body of `PATCH /deployments/{id}/schedules/{schedule_id}` (`DeploymentScheduleUpdate`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentScheduleUpdate {
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub schedule: Option<Schedule>,
    #[serde(default)]
    pub max_scheduled_runs: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub replaces: Option<String>,
}

impl DeploymentScheduleCreate {
    /// Validates the schedule and `max_scheduled_runs` (against `limit`).
    pub fn validate(&self, limit: i64) -> Result<(), ScheduleError> {
        self.schedule.validate()?;
        validate_max_scheduled_runs(self.max_scheduled_runs, limit)
    }

    /// Fills Prefect's defaults into the schedule (see [`Schedule::normalized`]).
    pub fn normalized(mut self, now: Timestamp) -> Self {
        self.schedule = self.schedule.normalized(now);
        self
    }
}

impl DeploymentScheduleUpdate {
    /// Validates the schedule, if any, and `max_scheduled_runs` (against `limit`).
    pub fn validate(&self, limit: i64) -> Result<(), ScheduleError> {
        if let Some(schedule) = &self.schedule {
            schedule.validate()?;
        }
        validate_max_scheduled_runs(self.max_scheduled_runs, limit)
    }

    /// Fills Prefect's defaults into the schedule, if any (see [`Schedule::normalized`]).
    pub fn normalized(mut self, now: Timestamp) -> Self {
        self.schedule = self.schedule.map(|schedule| schedule.normalized(now));
        self
    }
}
