//! RRule schedules (RFC 5545), read the way Prefect reads them with `dateutil.rrule.rrulestr`.
//! Each rule is validated by the `rrule` crate and expanded by it (`DAILY` and coarser) or by
//! [`fixed`] (`HOURLY` and finer); the set (rules and `RDATE`s merged, less `EXDATE`s and `EXRULE`s)
//! is assembled here as dateutil's `rruleset` does.
//!
//! The text is upper-cased and split on whitespace into lines: `DTSTART`, `RRULE` (or a bare
//! `FREQ=...` line), `EXRULE`, `RDATE` and `EXDATE`. Without `DTSTART` the rule starts at
//! 2020-01-01T00:00:00. Every date in it is then *relabelled* into the schedule's `timezone`: its
//! digits are kept and any `Z` or `TZID` dropped (Prefect's `to_rrule`), so the recurrence is
//! computed on floating wall-clock times. This module expands it in UTC-as-wall-clock and maps each
//! wall time to an instant as dateutil does: a wall time in a gap takes the offset after the gap
//! (02:30 → 01:30 EST on the spring-forward night), a repeated one its first occurrence.
//!
//! `UNTIL` must carry a `Z` exactly when `DTSTART` is zoned (`Z` or a known `TZID`); `COUNT` and
//! `UNTIL` may both be given (dateutil only warns) and both bound the rule; an `UNTIL` before
//! `DTSTART` leaves the rule empty.

mod fixed;

use super::tz::{self, Fold, Gap, Walls};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use fixed::FixedRule;
use rrule::{RRule, RRuleSet, Unvalidated};
use std::collections::BTreeSet;
use std::iter::Peekable;
use std::str::FromStr;

/// Prefect's implicit `DTSTART` (`DEFAULT_RRULE_ANCHOR`).
fn default_anchor() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2020, 1, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// Bounds the work of one evaluation (dateutil has no such bound and would just take longer).
const MAX_SCANNED: usize = 2_000_000;

const RULE_PARTS: [&str; 16] = [
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "WKST",
    "BYSETPOS",
    "BYMONTH",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYEASTER",
    "BYWEEKNO",
    "BYWEEKDAY",
    "BYDAY",
    "BYHOUR",
    "BYMINUTE",
    "BYSECOND",
];

/// One `RRULE` or `EXRULE` line.
#[derive(Clone, Debug)]
struct Rule {
    /// The parts but `UNTIL`, as written.
    parts: Vec<(String, String)>,
    freq: String,
    interval: i64,
    has_count: bool,
    until: Option<NaiveDateTime>,
}

/// A parsed rrule string: every date is a floating wall-clock time.
#[derive(Clone, Debug)]
pub(crate) struct RRuleSpec {
    dtstart: NaiveDateTime,
    rules: Vec<Rule>,
    exrules: Vec<Rule>,
    rdates: Vec<NaiveDateTime>,
    exdates: Vec<NaiveDateTime>,
}

impl RRuleSpec {
    /// Whether dateutil would make a single `rrule` (not an `rruleset`) of it.
    fn is_single(&self) -> bool {
        self.rules.len() == 1
            && self.exrules.is_empty()
            && self.rdates.is_empty()
            && self.exdates.is_empty()
    }
}

/// A date value: `20260101T090000Z`, `20260101T0900`, `20260101`, or the ISO forms with dashes and
/// colons; a `Z` or numeric offset makes it zoned. Returns the digits and whether it was zoned.
fn parse_date(text: &str) -> Result<(NaiveDateTime, bool), String> {
    let mut body = text.trim();
    let mut zoned = false;
    if let Some(rest) = body.strip_suffix('Z') {
        body = rest;
        zoned = true;
    } else if let Some(t) = body.find('T') {
        if let Some(sign) = body[t..].find(['+', '-']) {
            body = &body[..t + sign];
            zoned = true;
        }
    }
    for format in [
        "%Y%m%dT%H%M%S",
        "%Y%m%dT%H%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(parsed) = NaiveDateTime::parse_from_str(body, format) {
            return Ok((parsed, zoned));
        }
    }
    for format in ["%Y%m%d", "%Y-%m-%d"] {
        if let Ok(date) = NaiveDate::parse_from_str(body, format) {
            return Ok((date.and_hms_opt(0, 0, 0).unwrap_or_default(), zoned));
        }
    }
    Err(format!("invalid date {text:?}"))
}

/// `DTSTART` and `EXDATE` values: comma-separated dates with an optional `TZID` and `VALUE`.
fn parse_date_values(
    value: &str,
    params: &[&str],
    original: &str,
) -> Result<Vec<(NaiveDateTime, bool)>, String> {
    let mut tzid = false;
    let mut value_seen = false;
    for param in params {
        if let Some(name) = param.strip_prefix("TZID=") {
            // dateutil looks the zone up by its original spelling and ignores unknown ones.
            tzid = original
                .split("TZID=")
                .skip(1)
                .filter_map(|rest| rest.split(':').next())
                .any(|candidate| {
                    candidate.eq_ignore_ascii_case(name) && tz::parse(candidate).is_some()
                });
        } else if *param == "VALUE=DATE-TIME" || *param == "VALUE=DATE" {
            if value_seen {
                return Err(format!("Duplicate value parameter found in: {param}"));
            }
            value_seen = true;
        } else {
            return Err(format!("unsupported parm: {param}"));
        }
    }
    value
        .split(',')
        .map(|text| {
            let (date, zoned) = parse_date(text)?;
            if zoned && tzid {
                return Err("DTSTART/EXDATE specifies multiple timezone".to_owned());
            }
            Ok((date, zoned || tzid))
        })
        .collect()
}

/// One rule's parts, checked like dateutil's `_parse_rfc_rrule`.
fn parse_rule(line: &str, dtstart_zoned: bool) -> Result<Rule, String> {
    let value = match line.split_once(':') {
        Some((name, value)) => {
            if name != "RRULE" || value.contains(':') {
                return Err("unknown parameter name".to_owned());
            }
            value
        }
        None => line,
    };
    let mut parts = Vec::new();
    let (mut freq, mut interval, mut has_count, mut until) = (String::new(), 1, false, None);
    for pair in value.split(';') {
        let mut pieces = pair.split('=');
        let (Some(name), Some(part), None) = (pieces.next(), pieces.next(), pieces.next()) else {
            return Err(format!("malformed rule part {pair:?}"));
        };
        if !RULE_PARTS.contains(&name) {
            return Err(format!("unknown parameter '{name}'"));
        }
        match name {
            "FREQ" => freq = part.to_owned(),
            "INTERVAL" => {
                interval = part
                    .parse()
                    .map_err(|_| format!("invalid 'INTERVAL': {part}"))?
            }
            "COUNT" => has_count = true,
            "UNTIL" => {
                let (date, zoned) =
                    parse_date(part).map_err(|_| format!("invalid 'UNTIL': {part}"))?;
                if zoned != dtstart_zoned {
                    return Err(
                        "RRULE UNTIL values must be specified in UTC when DTSTART is timezone-aware"
                            .to_owned(),
                    );
                }
                until = Some(date);
                continue;
            }
            _ => {}
        }
        parts.push((name.to_owned(), part.to_owned()));
    }
    Ok(Rule {
        parts,
        freq,
        interval,
        has_count,
        until,
    })
}

/// Parses an rrule string as Prefect's validator does; the error is the reason it is invalid.
pub(crate) fn parse(text: &str) -> Result<RRuleSpec, String> {
    let upper = text.to_uppercase();
    if upper.trim().is_empty() {
        return Err("empty string".to_owned());
    }
    let lines: Vec<&str> = upper.split_whitespace().collect();
    let mut dtstart: Option<(NaiveDateTime, bool)> = None;
    let (mut rule_lines, mut exrule_lines) = (Vec::new(), Vec::new());
    let (mut rdates, mut exdates) = (Vec::new(), Vec::new());
    if lines.len() == 1 && (!upper.contains(':') || upper.starts_with("RRULE:")) {
        rule_lines.push(lines[0]);
    } else {
        for line in &lines {
            let (name, value) = line.split_once(':').unwrap_or(("RRULE", line));
            let mut params = name.split(';');
            let name = params.next().unwrap_or_default();
            let params: Vec<&str> = params.collect();
            match name {
                "RRULE" | "EXRULE" => {
                    if let Some(param) = params.first() {
                        return Err(format!("unsupported {name} parm: {param}"));
                    }
                    if name == "RRULE" {
                        rule_lines.push(value);
                    } else {
                        exrule_lines.push(value);
                    }
                }
                "RDATE" => {
                    if let Some(param) = params.iter().find(|p| **p != "VALUE=DATE-TIME") {
                        return Err(format!("unsupported RDATE parm: {param}"));
                    }
                    for date in value.split(',') {
                        rdates.push(parse_date(date)?.0);
                    }
                }
                "EXDATE" => {
                    let values = parse_date_values(value, &params, text)?;
                    exdates.extend(values.into_iter().map(|(date, _)| date));
                }
                "DTSTART" => {
                    let values = parse_date_values(value, &params, text)?;
                    let [single] = values[..] else {
                        return Err(format!("Multiple DTSTART values specified:{value}"));
                    };
                    dtstart = Some(single);
                }
                other => return Err(format!("unsupported property: {other}")),
            }
        }
    }
    if rule_lines.is_empty() && rdates.is_empty() {
        return Err("no RRULE or RDATE".to_owned());
    }
    let (dtstart, zoned) = dtstart.unwrap_or((default_anchor(), false));
    let rules = rule_lines
        .iter()
        .map(|line| parse_rule(line, zoned))
        .collect::<Result<Vec<_>, _>>()?;
    let exrules = exrule_lines
        .iter()
        .map(|line| parse_rule(line, zoned))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = RRuleSpec {
        dtstart,
        rules,
        exrules,
        rdates,
        exdates,
    };
    build(&spec, spec.dtstart)?;
    Ok(spec)
}

fn as_wall(naive: NaiveDateTime) -> DateTime<rrule::Tz> {
    rrule::Tz::UTC.from_utc_datetime(&naive)
}

/// One rule for the `rrule` crate, or `None` when its `UNTIL` is before `dtstart` (no dates).
fn validated(rule: &Rule, dtstart: NaiveDateTime) -> Result<Option<RRule>, String> {
    if rule.until.is_some_and(|until| until < dtstart) {
        return Ok(None);
    }
    let mut text = rule
        .parts
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(";");
    if let Some(until) = rule.until {
        text.push_str(&until.format(";UNTIL=%Y%m%dT%H%M%SZ").to_string());
    }
    let unvalidated = RRule::<Unvalidated>::from_str(&text).map_err(|err| err.to_string())?;
    unvalidated
        .validate(as_wall(dtstart))
        .map(Some)
        .map_err(|err| err.to_string())
}

/// Checks every rule with the `rrule` crate, as dateutil would reject them.
fn build(spec: &RRuleSpec, dtstart: NaiveDateTime) -> Result<(), String> {
    for rule in spec.rules.iter().chain(&spec.exrules) {
        validated(rule, dtstart)?;
    }
    Ok(())
}

type WallIter = Box<dyn Iterator<Item = NaiveDateTime>>;

/// One rule's occurrences, from around `from` when that changes nothing (see [`FixedRule`]).
fn rule_walls(rule: &Rule, dtstart: NaiveDateTime, from: NaiveDateTime) -> WallIter {
    if let Some(fixed) = FixedRule::new(&rule.parts, dtstart, rule.until) {
        return Box::new(fixed.walls(from));
    }
    match validated(rule, dtstart) {
        Ok(Some(rule)) => {
            let set = RRuleSet::new(as_wall(dtstart)).limit().rrule(rule);
            Box::new((&set).into_iter().map(|date| date.naive_utc()))
        }
        _ => Box::new(std::iter::empty()),
    }
}

/// The set's occurrences in order, each once: the rules and `RDATE`s merged, less the `EXDATE`s and
/// the `EXRULE` occurrences (dateutil's `rruleset`).
fn set_walls(spec: &RRuleSpec, from: NaiveDateTime) -> impl Iterator<Item = NaiveDateTime> {
    let mut rules: Vec<Peekable<WallIter>> = spec
        .rules
        .iter()
        .map(|rule| rule_walls(rule, spec.dtstart, from).peekable())
        .collect();
    let mut rdates: Vec<NaiveDateTime> = spec.rdates.clone();
    rdates.sort_unstable_by(|a, b| b.cmp(a));
    let exdates: BTreeSet<NaiveDateTime> = spec.exdates.iter().copied().collect();
    let mut exrules: Vec<Peekable<WallIter>> = spec
        .exrules
        .iter()
        .map(|rule| rule_walls(rule, spec.dtstart, from).peekable())
        .collect();
    let mut last: Option<NaiveDateTime> = None;
    std::iter::from_fn(move || loop {
        let from_rules = rules
            .iter_mut()
            .enumerate()
            .filter_map(|(index, stream)| stream.peek().map(|wall| (*wall, index)))
            .min();
        let next = match (from_rules, rdates.last().copied()) {
            (None, None) => return None,
            (Some((wall, index)), rdate) if rdate.is_none_or(|rdate| wall <= rdate) => {
                rules[index].next();
                wall
            }
            _ => rdates.pop()?,
        };
        if last == Some(next) {
            continue;
        }
        last = Some(next);
        let excluded = exdates.contains(&next)
            || exrules.iter_mut().any(|stream| {
                while stream.next_if(|wall| *wall < next).is_some() {}
                stream.peek() == Some(&next)
            });
        if !excluded {
            return Some(next);
        }
    })
}

/// Occurrences after `after`, up to `end` (inclusive), at most `limit`.
pub(crate) fn occurrences(
    spec: &RRuleSpec,
    tz: Tz,
    after: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    let skip_before = tz::wall(tz, after) - tz::lookback(tz, after) - Duration::days(1);
    let mut walls = Walls::new(tz, (Gap::Backward, Fold::Earlier), after, end, limit);
    for (scanned, wall) in set_walls(spec, skip_before).enumerate() {
        if walls.is_done() || scanned >= MAX_SCANNED {
            break;
        }
        if wall >= skip_before {
            walls.push(wall);
        }
    }
    walls.finish()
}

/// Prefect's `normalize_rrule_string`, applied to the rrule of a deployment schedule when it is
/// created or updated: a rule without `DTSTART` gets one. A single `SECONDLY`/`MINUTELY` rule
/// without `COUNT` gets the latest whole period from 2020-01-01 at or before `now` (in the
/// schedule's zone); every other rule gets 2020-01-01T00:00:00. Invalid rules are left alone.
pub(crate) fn normalize(text: &str, now: DateTime<Utc>, timezone: Option<&str>) -> String {
    if text.to_uppercase().contains("DTSTART") {
        return text.to_owned();
    }
    let Ok(spec) = parse(text) else {
        return text.to_owned();
    };
    let anchor = default_anchor();
    let mut dtstart = anchor;
    if spec.is_single() && !spec.rules[0].has_count {
        let rule = &spec.rules[0];
        let unit = match rule.freq.as_str() {
            "SECONDLY" => Some(1),
            "MINUTELY" => Some(60),
            _ => None,
        };
        if let Some(unit) = unit {
            let zone = timezone.and_then(tz::parse).unwrap_or(Tz::UTC);
            let elapsed = tz::wall(zone, now) - anchor;
            let period = unit * rule.interval;
            if elapsed > Duration::zero() && period > 0 {
                let micros = elapsed.num_microseconds().unwrap_or(i64::MAX);
                dtstart = anchor + Duration::seconds(micros / 1_000_000 / period * period);
            }
        }
    }
    format!("DTSTART:{}\n{text}", dtstart.format("%Y%m%dT%H%M%S"))
}
