//! `SECONDLY`, `MINUTELY` and `HOURLY` rules, expanded here rather than by the `rrule` crate.
//!
//! dateutil keeps such a rule on its grid, `DTSTART + k × INTERVAL`, and drops the periods that
//! `BYHOUR`/`BYMINUTE`/`BYSECOND` or the day parts reject; the crate (0.14) instead restarts the
//! grid at the next allowed hour or minute, so `FREQ=MINUTELY;INTERVAL=45;BYHOUR=0,1,2,3` would fire
//! at other minutes than Prefect's. Within a period, `BYMINUTE`/`BYSECOND` expand as in dateutil
//! (`HOURLY`: minutes × seconds, defaulting to `DTSTART`'s; `MINUTELY`: seconds), then `BYSETPOS`
//! picks among them. Rules with `BYYEARDAY`, `BYWEEKNO` or `BYEASTER` are left to the crate.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
use std::collections::VecDeque;

/// A fixed-period rule, ready to walk.
#[derive(Clone, Debug)]
pub(super) struct FixedRule {
    dtstart: NaiveDateTime,
    /// `DTSTART` truncated to the frequency's unit: period `k` starts at `origin + k × period`.
    origin: NaiveDateTime,
    period: i64,
    /// Offsets in seconds, within a period, of its occurrences (sorted).
    times: Vec<i64>,
    months: Option<u16>,
    month_days: Vec<i32>,
    /// Bit `w` for weekday `w` (0 = Monday).
    weekdays: Option<u8>,
    hours: Option<u32>,
    minutes: Option<u64>,
    seconds: Option<u64>,
    set_positions: Vec<i32>,
    count: Option<u64>,
    until: Option<NaiveDateTime>,
}

fn numbers(text: &str) -> Option<Vec<i32>> {
    text.split(',')
        .map(|item| item.trim_start_matches('+').parse().ok())
        .collect()
}

/// A bit set of `values` (all in `0..=max`): `Some(None)` when absent, `None` when out of range.
fn mask<T: From<u8> + std::ops::BitOr<Output = T> + std::ops::Shl<u32, Output = T>>(
    values: Option<Vec<i32>>,
    max: i32,
) -> Option<Option<T>> {
    let Some(values) = values else {
        return Some(None);
    };
    values
        .iter()
        .try_fold(T::from(0), |acc, value| {
            (0..=max)
                .contains(value)
                .then(|| acc | (T::from(1) << *value as u32))
        })
        .map(Some)
}

fn weekday(token: &str) -> Option<u32> {
    let name =
        token.trim_start_matches(['+', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
        .iter()
        .position(|day| *day == name)
        .map(|index| index as u32)
}

impl FixedRule {
    /// The rule, when its frequency is `SECONDLY`, `MINUTELY` or `HOURLY` and its parts are ones this
    /// expansion handles.
    pub(super) fn new(
        parts: &[(String, String)],
        dtstart: NaiveDateTime,
        until: Option<NaiveDateTime>,
    ) -> Option<Self> {
        let get = |name: &str| {
            parts
                .iter()
                .find(|(part, _)| part == name)
                .map(|(_, value)| value.as_str())
        };
        let unit: i64 = match get("FREQ")? {
            "SECONDLY" => 1,
            "MINUTELY" => 60,
            "HOURLY" => 3_600,
            _ => return None,
        };
        if ["BYYEARDAY", "BYWEEKNO", "BYEASTER"]
            .iter()
            .any(|part| get(part).is_some())
        {
            return None;
        }
        let interval: i64 = get("INTERVAL").map_or(Some(1), |text| text.parse().ok())?;
        // `None` when malformed, `Some(None)` when absent.
        let list = |name: &str| match get(name) {
            None => Some(None),
            Some(text) => numbers(text).map(Some),
        };
        let by_hour = list("BYHOUR")?;
        let by_minute = list("BYMINUTE")?;
        let by_second = list("BYSECOND")?;
        let weekdays = match get("BYDAY").or(get("BYWEEKDAY")) {
            Some(text) => Some(
                text.split(',')
                    .map(weekday)
                    .try_fold(0u8, |acc, day| day.map(|day| acc | (1 << day)))?,
            ),
            None => None,
        };
        let second = i64::from(dtstart.second());
        let minute = i64::from(dtstart.minute());
        let expand = |values: &Option<Vec<i32>>, default: i64| -> Vec<i64> {
            values.as_ref().map_or(vec![default], |values| {
                values.iter().map(|v| i64::from(*v)).collect()
            })
        };
        let mut times: Vec<i64> = match unit {
            3_600 => {
                let seconds = expand(&by_second, second);
                expand(&by_minute, minute)
                    .into_iter()
                    .flat_map(|m| seconds.iter().map(move |s| m * 60 + s))
                    .collect()
            }
            60 => expand(&by_second, second),
            _ => vec![0],
        };
        times.sort_unstable();
        times.dedup();
        let origin = match unit {
            3_600 => dtstart.with_minute(0)?.with_second(0)?,
            60 => dtstart.with_second(0)?,
            _ => dtstart,
        };
        Some(Self {
            dtstart,
            origin,
            period: unit.checked_mul(interval).filter(|period| *period > 0)?,
            times,
            months: mask(list("BYMONTH")?, 12)?,
            month_days: list("BYMONTHDAY")?.unwrap_or_default(),
            weekdays,
            hours: mask(by_hour, 23)?,
            minutes: mask(by_minute.filter(|_| unit <= 60), 59)?,
            seconds: mask(by_second.filter(|_| unit == 1), 59)?,
            set_positions: list("BYSETPOS")?.unwrap_or_default(),
            count: get("COUNT").map(str::parse).transpose().ok()?,
            until,
        })
    }

    /// Whether dropping the periods before `from` leaves the later occurrences unchanged (no COUNT).
    pub(super) fn can_skip(&self) -> bool {
        self.count.is_none()
    }

    fn day_ok(&self, date: NaiveDate) -> bool {
        let month_ok = self
            .months
            .is_none_or(|months| months & (1 << date.month()) != 0);
        let weekday = date.weekday().num_days_from_monday();
        let weekday_ok = self.weekdays.is_none_or(|days| days & (1 << weekday) != 0);
        let month_day_ok = self.month_days.is_empty() || {
            let last = last_day(date) as i32;
            let day = date.day() as i32;
            self.month_days
                .iter()
                .any(|wanted| *wanted == day || *wanted == day - last - 1)
        };
        month_ok && weekday_ok && month_day_ok
    }

    /// The index of the first period starting at or after `t`, and after period `k`.
    fn period_at_or_after(&self, t: NaiveDateTime, k: i64) -> i64 {
        let seconds = (t - self.origin).num_seconds();
        (seconds + self.period - 1)
            .div_euclid(self.period)
            .max(k + 1)
    }

    /// The occurrences in increasing order, starting with the periods at `from` when
    /// [`Self::can_skip`] (else from `DTSTART`).
    pub(super) fn walls(self, from: NaiveDateTime) -> impl Iterator<Item = NaiveDateTime> {
        let mut k = if self.can_skip() {
            ((from - self.origin).num_seconds().div_euclid(self.period)).max(0)
        } else {
            0
        };
        let mut emitted = 0u64;
        let mut buffer: VecDeque<NaiveDateTime> = VecDeque::new();
        let mut finished = false;
        std::iter::from_fn(move || loop {
            if let Some(next) = buffer.pop_front() {
                return Some(next);
            }
            if finished {
                return None;
            }
            let start = self
                .origin
                .checked_add_signed(Duration::try_seconds(k.checked_mul(self.period)?)?)?;
            if !self.day_ok(start.date()) {
                let next_day = start.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
                k = self.period_at_or_after(next_day, k);
                continue;
            }
            if self
                .hours
                .is_some_and(|hours| hours & (1 << start.hour()) == 0)
            {
                let next_hour = start.with_minute(0)?.with_second(0)? + Duration::hours(1);
                k = self.period_at_or_after(next_hour, k);
                continue;
            }
            let minute_ok = self.minutes.is_none_or(|m| m & (1 << start.minute()) != 0);
            let second_ok = self.seconds.is_none_or(|s| s & (1 << start.second()) != 0);
            k += 1;
            if !(minute_ok && second_ok) {
                continue;
            }
            let chosen: Vec<i64> = if self.set_positions.is_empty() {
                self.times.clone()
            } else {
                let len = self.times.len() as i32;
                let mut chosen: Vec<i64> = self
                    .set_positions
                    .iter()
                    .filter_map(|position| {
                        let index = if *position > 0 {
                            position - 1
                        } else {
                            len + position
                        };
                        (0..len)
                            .contains(&index)
                            .then(|| self.times[index as usize])
                    })
                    .collect();
                chosen.sort_unstable();
                chosen.dedup();
                chosen
            };
            for offset in chosen {
                let occurrence = start + Duration::seconds(offset);
                if occurrence < self.dtstart {
                    continue;
                }
                if self.until.is_some_and(|until| occurrence > until)
                    || self.count.is_some_and(|count| emitted >= count)
                {
                    finished = true;
                    break;
                }
                emitted += 1;
                buffer.push_back(occurrence);
            }
        })
    }
}

fn last_day(date: NaiveDate) -> u32 {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|first| first.pred_opt())
        .map_or(28, |last| last.day())
}
