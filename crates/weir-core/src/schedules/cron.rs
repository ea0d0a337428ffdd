//! Cron expressions in the dialect of croniter, the library Prefect validates and evaluates them with.
//!
//! Accepted: 5 fields (minute hour day-of-month month day-of-week), 6 (plus seconds, last), 7 (plus
//! year, last, 1970–2099); `*`, `?` (alone, in the day fields), lists, ranges (wrapping when the low
//! end is higher: `22-2`, `fri-mon`; `5-5` means the whole cycle), steps (`*/5`, `10/5`, `1-9/2`),
//! month and weekday names, `7` for Sunday (5-field form only), `L` for the month's last day
//! (`L`, `1-L`), `day#n` for the n-th weekday of the month (n in 1..=5) and `Ln` for its last one,
//! and the aliases `@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`.
//! Rejected as croniter rejects them: `W`, `5L`, `#L`, mixing `day#n` with plain weekdays, out of
//! range values, a step of 0, and the random `R` (with Prefect's own message).
//!
//! Day matching follows croniter: when both day fields are restricted and `day_or` is set, a day
//! matches either; otherwise both. A field listing every value counts as unrestricted only when the
//! other day field has a `*`. With `day#n`/`Ln`, croniter's OR degenerates to the weekday rule alone,
//! and fires nothing at all when no day matches both fields (croniter raises; see
//! [`CronExpr::fails_in_croniter`]).
//!
//! One croniter quirk is deliberately not reproduced: from a day late in a short month, croniter
//! steps to a listed day the month lacks (`31` in February) and lands in the next month past its
//! first listed days, skipping them (`0 0 */10 * *` from 28 February next fires on 11 March).
//! Here every matching day fires.
//! Like croniter, a search gives up 50 years past its start.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

const MINUTE: usize = 0;
const HOUR: usize = 1;
const DAY: usize = 2;
const MONTH: usize = 3;
const DOW: usize = 4;
const SECOND: usize = 5;
const YEAR: usize = 6;

const RANGES: [(u32, u32); 7] = [
    (0, 59),
    (0, 23),
    (1, 31),
    (1, 12),
    (0, 6),
    (0, 59),
    (1970, 2099),
];
const LEN_MEANS_ALL: [usize; 7] = [60, 24, 31, 12, 7, 60, 130];
const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MAX_YEARS_BETWEEN_MATCHES: i32 = 50;
/// Bit of [`CronExpr::nth`] meaning "the last such weekday of the month".
const NTH_LAST: u8 = 1 << 6;

/// Why an expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CronParseError {
    /// A field Prefect refuses outright: `R` (random).
    RandomOrHashed,
    /// Anything croniter does not accept, with the reason.
    Invalid(String),
}

/// A parsed expression, ready to find matching wall-clock times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CronExpr {
    /// Bit `s` for second `s`; `None` in the 5-field form (second 0).
    seconds: Option<u64>,
    minutes: u64,
    hours: u32,
    /// Bit `d` for day of month `d`.
    days: u32,
    last_day: bool,
    days_star: bool,
    /// Bit `m` for month `m`.
    months: u16,
    /// Bit `w` for weekday `w` (0 = Sunday).
    weekdays: u8,
    weekdays_star: bool,
    /// Per weekday, bit `n` for its n-th occurrence in the month, [`NTH_LAST`] for its last.
    nth: [u8; 7],
    has_nth: bool,
    /// Allowed years, ascending; `None` for any year.
    years: Option<Vec<i32>>,
    /// Whether a day matches on either day field (croniter's `day_or` with both fields restricted).
    days_or: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Num(u32),
    Last,
}

/// One field after expansion: `None` for `*`.
type Expanded = Option<Vec<Value>>;

impl CronExpr {
    /// Parses `expr` as croniter does; `day_or` is the schedule's flag.
    pub(crate) fn parse(expr: &str, day_or: bool) -> Result<Self, CronParseError> {
        let lowered = expr.to_lowercase();
        let text = match lowered.as_str() {
            "@midnight" | "@daily" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other => other,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        // croniter accepts a bare `R` (random) and Prefect then refuses it with its own message;
        // `H` (hashed) needs an id croniter is never given, so it is simply invalid.
        if fields.contains(&"r") {
            return Err(CronParseError::RandomOrHashed);
        }
        if !matches!(fields.len(), 5..=7) {
            return Err(invalid("exactly 5, 6 or 7 fields are required"));
        }
        let mut expanded: Vec<Expanded> = Vec::with_capacity(fields.len());
        let mut nth = [0u8; 7];
        for (index, field) in fields.iter().enumerate() {
            expanded.push(expand_field(index, field, &fields, &mut nth)?);
        }
        let has_nth = nth.iter().any(|bits| *bits != 0);
        if has_nth {
            if let Some(values) = &expanded[DOW] {
                let plain = values.iter().any(|value| match value {
                    Value::Num(day) => nth[*day as usize] == 0,
                    Value::Last => false,
                });
                if plain && values.len() != LEN_MEANS_ALL[DOW] {
                    return Err(invalid(
                        "day-of-week cannot mix plain weekdays and the nth-weekday syntax",
                    ));
                }
            }
        }
        let bits = |field: &Expanded| -> u64 {
            field.as_ref().map_or(u64::MAX, |values| {
                values.iter().fold(0, |acc, value| match value {
                    Value::Num(n) => acc | (1u64 << n),
                    Value::Last => acc,
                })
            })
        };
        Ok(Self {
            seconds: (fields.len() > 5).then(|| bits(&expanded[SECOND])),
            minutes: bits(&expanded[MINUTE]),
            hours: bits(&expanded[HOUR]) as u32,
            days: bits(&expanded[DAY]) as u32,
            last_day: expanded[DAY]
                .as_ref()
                .is_some_and(|values| values.contains(&Value::Last)),
            days_star: expanded[DAY].is_none(),
            months: bits(&expanded[MONTH]) as u16,
            weekdays: bits(&expanded[DOW]) as u8,
            weekdays_star: expanded[DOW].is_none(),
            nth,
            has_nth,
            years: expanded.get(YEAR).cloned().flatten().map(|values| {
                values
                    .into_iter()
                    .filter_map(|value| match value {
                        Value::Num(year) => Some(year as i32),
                        Value::Last => None,
                    })
                    .collect()
            }),
            days_or: day_or && expanded[DAY].is_some() && expanded[DOW].is_some(),
        })
    }

    /// The spacing of candidate times: a second with a seconds field, else a minute.
    pub(crate) fn resolution(&self) -> Duration {
        if self.seconds.is_some() {
            Duration::seconds(1)
        } else {
            Duration::minutes(1)
        }
    }

    /// The first resolution step strictly after `t`.
    pub(crate) fn step_after(&self, t: NaiveDateTime) -> NaiveDateTime {
        let floored = t.with_nanosecond(0).unwrap_or(t);
        let floored = if self.seconds.is_some() {
            floored
        } else {
            floored.with_second(0).unwrap_or(floored)
        };
        floored + self.resolution()
    }

    /// The first matching wall-clock time at or after `t` (which must be on the resolution grid),
    /// or `None` when none comes within 50 years.
    pub(crate) fn next_at_or_after(&self, mut t: NaiveDateTime) -> Option<NaiveDateTime> {
        let horizon = t.year() + MAX_YEARS_BETWEEN_MATCHES;
        loop {
            let year = t.year();
            if year > horizon {
                return None;
            }
            if let Some(years) = &self.years {
                let next = *years.iter().find(|allowed| **allowed >= year)?;
                if next != year {
                    t = midnight(NaiveDate::from_ymd_opt(next, 1, 1)?);
                    continue;
                }
            }
            let month = t.month();
            if self.months & (1 << month) == 0 {
                t = match next_bit(u64::from(self.months), month, 12) {
                    Some(next) => midnight(NaiveDate::from_ymd_opt(year, next, 1)?),
                    None => midnight(NaiveDate::from_ymd_opt(year + 1, 1, 1)?),
                };
                continue;
            }
            let date = t.date();
            if !self.day_matches(date) {
                t = midnight(date.succ_opt()?);
                continue;
            }
            let hour = t.hour();
            match next_bit(u64::from(self.hours), hour, 23) {
                None => {
                    t = midnight(date.succ_opt()?);
                    continue;
                }
                Some(next) if next != hour => {
                    t = date.and_hms_opt(next, 0, 0)?;
                    continue;
                }
                Some(_) => {}
            }
            let minute = t.minute();
            match next_bit(self.minutes, minute, 59) {
                None => {
                    t = date.and_hms_opt(hour, 0, 0)? + Duration::hours(1);
                    continue;
                }
                Some(next) if next != minute => {
                    t = date.and_hms_opt(hour, next, 0)?;
                    continue;
                }
                Some(_) => {}
            }
            if let Some(seconds) = self.seconds {
                let second = t.second();
                match next_bit(seconds, second, 59) {
                    None => {
                        t = date.and_hms_opt(hour, minute, 0)? + Duration::minutes(1);
                        continue;
                    }
                    Some(next) if next != second => {
                        t = date.and_hms_opt(hour, minute, next)?;
                        continue;
                    }
                    Some(_) => {}
                }
            }
            return Some(t);
        }
    }

    /// Whether croniter would fail from `from` on: with `day#n`/`Ln`, both day fields restricted and
    /// `day_or`, it also searches for a day matching both fields and raises when there is none, so
    /// the schedule never fires even though the weekday rule alone would match.
    pub(crate) fn fails_in_croniter(&self, from: NaiveDateTime) -> bool {
        if !(self.has_nth && self.days_or) {
            return false;
        }
        let both = Self {
            days_or: false,
            ..self.clone()
        };
        both.next_at_or_after(from).is_none()
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let last = last_day_of_month(date);
        let day_of_month = self.days_star
            || self.days & (1 << date.day()) != 0
            || (self.last_day && date.day() == last);
        let weekday = date.weekday().num_days_from_sunday() as usize;
        let day_of_week = if self.has_nth {
            let bits = self.nth[weekday];
            let occurrence = (date.day() - 1) / 7 + 1;
            bits & (1 << occurrence) != 0 || (bits & NTH_LAST != 0 && date.day() + 7 > last)
        } else {
            self.weekdays_star || self.weekdays & (1 << weekday) != 0
        };
        if self.days_or && !self.has_nth {
            day_of_month || day_of_week
        } else if self.days_or {
            day_of_week
        } else {
            day_of_month && day_of_week
        }
    }
}

fn invalid(reason: impl Into<String>) -> CronParseError {
    CronParseError::Invalid(reason.into())
}

fn midnight(date: NaiveDate) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0).unwrap_or_default()
}

fn last_day_of_month(date: NaiveDate) -> u32 {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|first| first.pred_opt())
        .map_or(28, |last| last.day())
}

/// The lowest set bit at or above `from`, up to `max`.
fn next_bit(bits: u64, from: u32, max: u32) -> Option<u32> {
    (from..=max).find(|bit| bits & (1u64 << bit) != 0)
}

/// croniter's aliasing of out-of-range low values, which depends on the number of fields.
fn value_alias(value: u32, field: usize, n_fields: usize) -> u32 {
    let aliased = match (field, value) {
        (DAY | MONTH, 0) => 1,
        (DOW, 7) => 0,
        _ => return value,
    };
    let exempt = match n_fields {
        5 => matches!(field, DAY | MONTH),
        6 => matches!(field, MONTH | DOW),
        _ => matches!(field, DAY | MONTH | DOW),
    };
    if exempt {
        value
    } else {
        aliased
    }
}

/// A month or weekday name, or `l` in the day-of-month field.
fn alpha(field: usize, text: &str) -> Option<Value> {
    let position = |names: &[&str]| names.iter().position(|name| *name == text);
    match field {
        DAY if text == "l" => Some(Value::Last),
        MONTH => position(&MONTH_NAMES).map(|index| Value::Num(index as u32 + 1)),
        DOW => position(&WEEKDAY_NAMES).map(|index| Value::Num(index as u32)),
        _ => None,
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// A bound of a range: a number or a name, after aliasing.
fn bound(field: usize, text: &str, n_fields: usize) -> Result<u32, CronParseError> {
    let value = if is_digits(text) {
        text.parse::<u32>()
            .map_err(|_| invalid(format!("{text} is out of range")))?
    } else {
        match alpha(field, text) {
            Some(Value::Num(value)) => value,
            _ => return Err(invalid(format!("bad range bound {text:?}"))),
        }
    };
    Ok(value_alias(value, field, n_fields))
}

/// croniter's `^([^-]+)-([^-/]+)(/(\d+))?$`.
fn split_range(text: &str) -> Option<(&str, &str, Option<&str>)> {
    let (low, rest) = text.split_once('-')?;
    let (high, step) = match rest.split_once('/') {
        Some((high, step)) => (high, Some(step)),
        None => (rest, None),
    };
    let ok =
        !low.is_empty() && !high.is_empty() && !high.contains('-') && step.is_none_or(is_digits);
    ok.then_some((low, high, step))
}

/// croniter's special day-of-week forms: `x#n` (x a weekday, weekday range or number) and `ln`.
fn split_nth(text: &str) -> Option<(String, u8)> {
    if let Some((weekday, n)) = text.split_once('#') {
        if !is_digits(n) || weekday.is_empty() {
            return None;
        }
        let word =
            |part: &str| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_');
        let names_range = weekday
            .split_once('-')
            .is_some_and(|(a, b)| WEEKDAY_NAMES.contains(&a) && WEEKDAY_NAMES.contains(&b));
        if !(word(weekday) || names_range) {
            return None;
        }
        let n = n.parse::<u8>().ok().filter(|n| (1..=5).contains(n))?;
        return Some((weekday.to_owned(), 1 << n));
    }
    let day = text.strip_prefix('l')?;
    is_digits(day).then(|| (day.to_owned(), NTH_LAST))
}

/// Expands one field into its values (`None` for `*`), recording `day#n` entries in `nth`.
fn expand_field(
    field: usize,
    text: &str,
    fields: &[&str],
    nth: &mut [u8; 7],
) -> Result<Expanded, CronParseError> {
    let (min, max) = RANGES[field];
    let n_fields = fields.len();
    let text = if text.contains('?') {
        if text != "?" || !matches!(field, DAY | DOW) {
            return Err(invalid("`?` stands alone, in a day field"));
        }
        "*"
    } else {
        text
    };
    let mut queue: Vec<String> = text.split(',').map(str::to_owned).collect();
    let mut values: Vec<Value> = Vec::new();
    let mut star = false;
    while let Some(mut element) = queue.pop() {
        let mut element_nth = 0u8;
        if field == DOW {
            if let Some((weekday, bits)) = split_nth(&element) {
                element = weekday;
                element_nth = bits;
            } else if element.contains('#') {
                return Err(invalid(format!("bad nth weekday {element:?}")));
            }
        }
        let mut normalized = match element.strip_prefix("*/") {
            Some(step) => format!("{min}-{max}/{step}"),
            None => element.clone(),
        };
        if split_range(&normalized).is_none() {
            if let Some((start, step)) = normalized.rsplit_once('/') {
                if !start.is_empty() && !step.is_empty() {
                    normalized = format!("{start}-{max}/{step}");
                }
            }
        }
        if let Some((low, high, step)) = split_range(&normalized) {
            let high = if field == DAY && high == "l" {
                "31"
            } else {
                high
            };
            let step: u32 = step.map_or(Ok(1), str::parse::<u32>).unwrap_or(0);
            let (low, high) = (bound(field, low, n_fields)?, bound(field, high, n_fields)?);
            if low.max(high) > max {
                return Err(invalid(format!("{text} is out of range")));
            }
            if step == 0 {
                return Err(invalid("a step must be positive"));
            }
            let range: Vec<u32> = if low > high {
                let mut range: Vec<u32> = (low..=max).step_by(step as usize).collect();
                let mut skip = 0;
                if let Some(&last) = range.last() {
                    let already_skipped = max - last;
                    if (last - min) + step > max - min + 1 && already_skipped < step {
                        skip = step - already_skipped;
                    }
                }
                range.extend((min + skip..=high).step_by(step as usize));
                range
            } else if low == high {
                (min..=max).step_by(step as usize).collect()
            } else {
                (low..=high).step_by(step as usize).collect()
            };
            for value in range {
                queue.push(match element_nth {
                    0 => value.to_string(),
                    NTH_LAST => format!("l{value}"),
                    bits => format!("{value}#{}", bits.trailing_zeros()),
                });
            }
            continue;
        }
        if normalized.starts_with('-') {
            return Err(invalid("negative numbers are not allowed"));
        }
        let value = if normalized == "*" {
            star = true;
            continue;
        } else if is_digits(&normalized) {
            let value = normalized
                .parse::<u32>()
                .map_err(|_| invalid(format!("{normalized} is out of range")))?;
            Value::Num(value_alias(value, field, n_fields))
        } else {
            match alpha(field, &normalized) {
                Some(Value::Num(value)) => Value::Num(value_alias(value, field, n_fields)),
                Some(Value::Last) => Value::Last,
                None => return Err(invalid(format!("unknown value {normalized:?}"))),
            }
        };
        if let Value::Num(number) = value {
            if number < min || number > max {
                return Err(invalid(format!("{number} is out of range")));
            }
            if element_nth != 0 {
                nth[number as usize] |= element_nth;
            }
        }
        if !values.contains(&value) {
            values.push(value);
        }
    }
    if star {
        return Ok(None);
    }
    values.sort();
    if values.len() == LEN_MEANS_ALL[field] {
        let other_has_star = match field {
            DAY => fields[DOW].contains('*'),
            DOW => fields[DAY].contains('*'),
            _ => true,
        };
        if other_has_star {
            return Ok(None);
        }
    }
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn next_n(expr: &str, day_or: bool, from: &str, n: usize) -> Vec<String> {
        let cron = CronExpr::parse(expr, day_or).unwrap();
        let mut t = at(from);
        let mut out = Vec::new();
        while out.len() < n {
            let Some(found) = cron.next_at_or_after(t) else {
                break;
            };
            out.push(found.format("%Y-%m-%d %H:%M:%S").to_string());
            t = cron.step_after(found);
        }
        out
    }

    #[test]
    fn matches_croniter_on_its_dialect() {
        // Expected values computed with Prefect 3.9.1's vendored croniter.
        let start = "2026-01-01 00:00:00";
        let cases: &[(&str, bool, &[&str])] = &[
            (
                "0 0 13 * 5",
                true,
                &["2026-01-02", "2026-01-09", "2026-01-13", "2026-01-16"],
            ),
            (
                "0 0 13 * 5",
                false,
                &["2026-02-13", "2026-03-13", "2026-11-13"],
            ),
            (
                "0 0 */10 * 1",
                true,
                &["2026-01-01", "2026-01-05", "2026-01-11", "2026-01-12"],
            ),
            ("0 0 * * 7", true, &["2026-01-04", "2026-01-11"]),
            ("0 0 * * 0-7", true, &["2026-01-01", "2026-01-02"]),
            (
                "0 0 L * *",
                true,
                &["2026-01-31", "2026-02-28", "2026-03-31"],
            ),
            (
                "0 0 * * 5#2",
                true,
                &["2026-01-09", "2026-02-13", "2026-03-13"],
            ),
            ("0 0 * * L5", true, &["2026-01-30", "2026-02-27"]),
            (
                "0 0 * JAN,MAR MON-WED",
                true,
                &["2026-01-05", "2026-01-06", "2026-01-07"],
            ),
            ("0 0 ? * *", true, &["2026-01-01", "2026-01-02"]),
            (
                "0 0 1-5/2 * *",
                true,
                &["2026-01-01", "2026-01-03", "2026-01-05", "2026-02-01"],
            ),
            ("0 0 * * sun", true, &["2026-01-04", "2026-01-11"]),
            ("@weekly", true, &["2026-01-04", "2026-01-11"]),
            ("@monthly", true, &["2026-01-01", "2026-02-01"]),
            ("@yearly", true, &["2026-01-01", "2027-01-01"]),
            (
                "0 0 * * 6-2",
                true,
                &["2026-01-03", "2026-01-04", "2026-01-05", "2026-01-06"],
            ),
        ];
        for (expr, day_or, expected) in cases {
            let got: Vec<String> = next_n(expr, *day_or, start, expected.len())
                .into_iter()
                .map(|t| t[..10].to_owned())
                .collect();
            assert_eq!(&got, expected, "{expr} day_or={day_or}");
        }
        assert_eq!(
            next_n("0 0 1 * * 30", true, start, 2),
            ["2026-01-01 00:00:30", "2026-02-01 00:00:30"]
        );
        assert_eq!(
            next_n("0 0 1 * * 30 2027", true, start, 1),
            ["2027-01-01 00:00:30"]
        );
        assert_eq!(
            next_n("0 22-2 * * *", true, start, 4)[3],
            "2026-01-01 22:00:00"
        );
        assert!(next_n("0 0 30 2 *", true, start, 1).is_empty());
    }

    #[test]
    fn rejects_what_croniter_rejects() {
        let invalid = [
            "61 0 * * *",
            "0 24 * * *",
            "0 0 32 * *",
            "0 0 * 13 *",
            "0 0 0 * *",
            "0 0 * 0 *",
            "0 0 * *",
            "0 0 * * 1#6",
            "0 0 * * 1,2#2",
            "0 0 L-3 * *",
            "*/0 * * * *",
            "0 0 * * 7 0",
            "0 0 * * * * 2100",
            "0 0 ? ? *",
            "0 ? * * *",
            "0 0 1,? * *",
            "-1 0 * * *",
            "0 0 * * 5#L",
            "0 0 * * l",
            "@daily ",
            "0 0 * * 5L",
            "0 0 15W * *",
            "H 0 * * *",
            "@reboot",
            "0 0 * * * 60",
            "0 0 * * sun,mon#1",
        ];
        for expr in invalid {
            assert!(
                matches!(CronExpr::parse(expr, true), Err(CronParseError::Invalid(_))),
                "{expr} should be invalid"
            );
        }
        for expr in ["R 0 * * *", "0 r * * *"] {
            assert_eq!(
                CronExpr::parse(expr, true),
                Err(CronParseError::RandomOrHashed)
            );
        }
        let valid = [
            "0 0 * * mon#2",
            "0 0 1-L * *",
            "0 0 5-5 * *",
            "0 0 0 * * 0",
            "  0  0 * * *  ",
            "0 0 * * tue-mon",
            "5/15 * * * *",
            "@DAILY",
            "0 0 1 1 * * *",
            "0 12 * * 1-5/2",
            "0 0 * * 0-6,1#2",
            "0 0 1 * * 30 2026-2027",
        ];
        for expr in valid {
            assert!(
                CronExpr::parse(expr, true).is_ok(),
                "{expr} should be valid"
            );
        }
    }

    #[test]
    fn whole_cycle_ranges_and_wildcards() {
        // `5-5` is every day; `1-31` with a restricted weekday keeps croniter's OR.
        assert_eq!(
            next_n("0 0 5-5 * *", true, "2026-01-01 00:00:00", 2).len(),
            2
        );
        let every_day = next_n("0 0 1-31 * 1", true, "2026-01-01 00:00:00", 3);
        assert_eq!(every_day[2], "2026-01-03 00:00:00");
    }
}
