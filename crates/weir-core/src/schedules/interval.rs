//! Interval schedules: `anchor_date + k * interval`, evaluated as Prefect 3.9.1's server does (its
//! pendulum path, the one its Python 3.10–3.12 builds take).
//!
//! The interval splits into whole days and a remainder. An interval under a day is exact elapsed
//! time: an hourly schedule fires every UTC hour, twice at 01:00 local on the night clocks go back.
//! An interval with whole days is calendar arithmetic in the schedule's zone: a daily 09:00 stays at
//! 09:00 local across DST, and when adding days lands in a gap the wall time moves forward by the
//! gap (02:30 → 03:30) *and stays there* for the following occurrences, because each occurrence is
//! the previous one plus the interval. In a fold the later instant is taken. For an interval of
//! days plus a remainder (`90000` s = 1 day 1 hour) both parts are added to the wall clock.
//!
//! Before the anchor, day-based intervals count back from the anchor (so the local time of a future
//! anchor holds); otherwise the first occurrence is found by jumping, then stepping.
//!
//! One difference is deliberate: in the repeated hour of a fold Prefect compares times by their
//! wall clock (Python's rule for datetimes of one zone), so an hourly schedule may skip the second
//! 01:00 or return a time before `start`; here times are compared as instants.

use super::tz::{self, Fold, Gap};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{de, Deserialize, Deserializer};

const DAY_MICROS: i64 = 86_400_000_000;
/// A jump across this many days or fewer is assumed to cross at most one DST transition.
const SAFE_SPAN_DAYS: i64 = 14;

/// Reads `interval` as Prefect accepts it: seconds as a number, an ISO 8601 duration (`PT1H`,
/// `P1DT2H`, `P2W`) or `[D day[s], ]HH:MM[:SS[.ffffff]]`; a string of digits is refused, as
/// pydantic refuses it. Returns seconds.
pub(crate) fn deserialize_seconds<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(f64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Number(seconds) => Ok(seconds),
        Raw::Text(text) => parse_duration(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid interval {text:?}: expected seconds, an ISO 8601 duration or HH:MM:SS"
            ))
        }),
    }
}

fn parse_duration(text: &str) -> Option<f64> {
    let text = text.trim();
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    let seconds = if let Some(iso) = body.strip_prefix(['P', 'p']) {
        parse_iso(iso)?
    } else {
        parse_clock(body)?
    };
    Some(sign * seconds)
}

fn parse_iso(text: &str) -> Option<f64> {
    let (date, time) = match text.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut total = 0.0;
    let mut any = false;
    let mut scan = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
            } else {
                let unit = units.iter().find(|(u, _)| u.eq_ignore_ascii_case(&c))?.1;
                total += number.parse::<f64>().ok()? * unit;
                number.clear();
                any = true;
            }
        }
        number.is_empty().then_some(())
    };
    scan(date, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        scan(time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    any.then_some(total)
}

fn parse_clock(text: &str) -> Option<f64> {
    let (days, clock) = match text.split_once(',') {
        Some((days, clock)) => {
            let days = days.trim();
            let days = days
                .strip_suffix("days")
                .or_else(|| days.strip_suffix("day"))?
                .trim();
            (days.parse::<f64>().ok()?, clock.trim())
        }
        None => (0.0, text),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts[..parts.len() - 1]
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let hours: f64 = parts[0].parse().ok()?;
    let minutes: f64 = parts[1].parse().ok()?;
    let seconds: f64 = parts.get(2).map_or(Some(0.0), |s| s.parse().ok())?;
    Some(days * 86_400.0 + hours * 3_600.0 + minutes * 60.0 + seconds)
}

/// The parts of an interval the way Python's `timedelta` holds them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Interval {
    micros: i64,
    days: i64,
    rest: i64,
}

impl Interval {
    /// `None` when not positive or not representable.
    pub(crate) fn from_seconds(seconds: f64) -> Option<Self> {
        let micros = (seconds * 1e6).round();
        if micros.is_nan() || !(1.0..1e17).contains(&micros) {
            return None;
        }
        let micros = micros as i64;
        Some(Self {
            micros,
            days: micros.div_euclid(DAY_MICROS),
            rest: micros.rem_euclid(DAY_MICROS),
        })
    }
}

/// pendulum's `add(days=, microseconds=)`: with days, the whole amount moves the wall clock and the
/// result is localized (gap: forward, fold: later); without, it is elapsed time. `None` past the
/// representable range.
fn add(tz: Tz, instant: DateTime<Utc>, days: i64, micros: i64) -> Option<DateTime<Utc>> {
    let delta = Duration::try_days(days)?.checked_add(&Duration::microseconds(micros))?;
    if days == 0 || tz == Tz::UTC {
        return instant.checked_add_signed(delta);
    }
    let wall = tz::wall(tz, instant).checked_add_signed(delta)?;
    Some(tz::localize(tz, wall, Gap::Forward, Fold::Later))
}

/// Occurrences at or after `start`, up to `end` (inclusive), at most `limit`.
pub(crate) fn occurrences(
    interval: Interval,
    anchor: DateTime<Utc>,
    tz: Tz,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    let Interval { micros, days, rest } = interval;
    let calendar_days = days != 0 && rest == 0;
    let jump = |k: i64| -> Option<DateTime<Utc>> {
        if days == 0 || rest == 0 {
            add(tz, anchor, days.checked_mul(k)?, rest.checked_mul(k)?)
        } else {
            anchor.checked_add_signed(Duration::microseconds(micros.checked_mul(k)?))
        }
    };
    let mut offset: i64 = 0;
    let first = if start >= anchor && calendar_days && tz != Tz::UTC {
        seek_calendar_days(tz, anchor, start, days)
    } else {
        let elapsed = (start - anchor).num_microseconds().unwrap_or(i64::MAX) as f64;
        offset = (elapsed / micros as f64) as i64;
        let mut next = jump(offset);
        while next.is_some_and(|next| next > start) {
            offset -= 1;
            next = jump(offset);
        }
        next
    };
    let before_anchor = start < anchor && calendar_days;
    let step = |current: DateTime<Utc>, offset: &mut i64| -> Option<DateTime<Utc>> {
        if before_anchor && *offset < 0 {
            *offset += 1;
            jump(*offset)
        } else {
            add(tz, current, days, rest)
        }
    };
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    let mut next = first;
    while let Some(current) = next {
        if current >= start {
            if out.len() >= limit || end.is_some_and(|end| current > end) {
                break;
            }
            if out.last() != Some(&current) {
                out.push(current);
            }
        }
        next = step(current, &mut offset);
    }
    out
}

/// The first occurrence at or after `start` of a whole-days interval from `anchor` (at or before
/// `start`), adding the interval one occurrence at a time as Prefect does — a wall time moved by a
/// gap stays moved — but jumping over stretches that cross no transition.
fn seek_calendar_days(
    tz: Tz,
    anchor: DateTime<Utc>,
    start: DateTime<Utc>,
    days: i64,
) -> Option<DateTime<Utc>> {
    let mut current = anchor;
    while current < start {
        let remaining = (tz::wall(tz, start).date() - tz::wall(tz, current).date()).num_days();
        let count = (remaining / days - 1).clamp(1, (SAFE_SPAN_DAYS / days).max(1));
        let candidate = add(tz, current, days * count, 0)?;
        current = if count == 1 || tz::offset_at(tz, current) == tz::offset_at(tz, candidate) {
            candidate
        } else {
            add(tz, current, days, 0)?
        };
    }
    Some(current)
}
