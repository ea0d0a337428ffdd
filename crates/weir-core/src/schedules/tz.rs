//! Time zones for schedules: naming, and turning local wall-clock times into instants.
//!
//! Prefect evaluates each kind of schedule with a different date library, and each resolves the two
//! DST anomalies its own way, so the policy is a parameter here:
//!
//! | schedule | wall time in a gap (skipped)          | wall time in a fold (repeated) |
//! |----------|---------------------------------------|--------------------------------|
//! | cron     | shifted forward (02:30 → 03:30 EDT)   | first occurrence               |
//! | interval | shifted forward                       | second occurrence              |
//! | rrule    | read with the later offset (→ 01:30 EST) | first occurrence            |
//!
//! Cron and rrule schedules walk wall-clock times and map each to an instant; near a transition the
//! mapping is not monotonic, so [`Walls`] buffers instants until the walk is clear of transitions
//! and yields them sorted and without duplicates.

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;

/// How a wall time inside a DST gap becomes an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gap {
    /// Read with the offset in force before the gap: the instant lands after the gap, as if the
    /// clock had been moved forward with the wall time (whenever's and pendulum's "compatible").
    Forward,
    /// Read with the offset in force after the gap: the instant lands before the gap (dateutil).
    Backward,
}

/// Which of the two instants a repeated wall time stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fold {
    Earlier,
    Later,
}

/// Farther than this from a transition, a zone's wall-clock mapping is treated as plain offset
/// arithmetic. It covers the widest gap in tzdata (a whole day, Samoa 2011) plus the largest offsets;
/// it assumes no two transitions closer than that, which holds for every zone in modern use.
const TRANSITION_REACH: Duration = Duration::hours(48);

/// A zone by its IANA name, as Python's `zoneinfo` knows it (`UTC`, `America/New_York`, links such as
/// `US/Eastern`).
pub(crate) fn parse(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// The zone a schedule's `timezone` names, where `None` and `""` mean UTC as in Prefect.
pub(crate) fn zone_or_utc(name: Option<&str>) -> Option<Tz> {
    match name {
        None | Some("") => Some(Tz::UTC),
        Some(name) => parse(name),
    }
}

/// The UTC offset in force at `instant`, in seconds.
pub(crate) fn offset_at(tz: Tz, instant: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&instant.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

/// The wall-clock time in `tz` at `instant`.
pub(crate) fn wall(tz: Tz, instant: DateTime<Utc>) -> NaiveDateTime {
    instant.with_timezone(&tz).naive_local()
}

/// The instant a wall-clock time stands for, and, when it falls in a gap, the gap's length.
pub(crate) fn localize_detailed(
    tz: Tz,
    wall: NaiveDateTime,
    gap: Gap,
    fold: Fold,
) -> (DateTime<Utc>, Option<Duration>) {
    match tz.from_local_datetime(&wall) {
        chrono::LocalResult::Single(dt) => (dt.with_timezone(&Utc), None),
        chrono::LocalResult::Ambiguous(earlier, later) => match fold {
            Fold::Earlier => (earlier.with_timezone(&Utc), None),
            Fold::Later => (later.with_timezone(&Utc), None),
        },
        chrono::LocalResult::None => {
            // Read as UTC, the wall time is within a day of the transition; a day either side the
            // offsets are those before and after the gap.
            let probe = wall.and_utc();
            let before = offset_at(tz, probe - Duration::days(1));
            let after = offset_at(tz, probe + Duration::days(1));
            let offset = match gap {
                Gap::Forward => before,
                Gap::Backward => after,
            };
            (
                probe - Duration::seconds(offset),
                Some(Duration::seconds(after - before)),
            )
        }
    }
}

/// The instant a wall-clock time stands for under the given DST policy.
pub(crate) fn localize(tz: Tz, wall: NaiveDateTime, gap: Gap, fold: Fold) -> DateTime<Utc> {
    localize_detailed(tz, wall, gap, fold).0
}

/// Whether no transition of `tz` lies within [`TRANSITION_REACH`] of `instant`.
pub(crate) fn is_quiet(tz: Tz, instant: DateTime<Utc>) -> bool {
    tz == Tz::UTC
        || offset_at(tz, instant - TRANSITION_REACH) == offset_at(tz, instant + TRANSITION_REACH)
}

/// How far before the wall time of `after` a walk must begin so that wall times shifted forward
/// out of a gap just before `after` are not missed: the widest gap, when a transition is near.
pub(crate) fn lookback(tz: Tz, after: DateTime<Utc>) -> Duration {
    if is_quiet(tz, after) {
        Duration::zero()
    } else {
        Duration::hours(26)
    }
}

/// Collects the instants of a walk over wall-clock times: those after `after`, up to `end`
/// (inclusive), at most `limit`, sorted and without duplicates.
pub(crate) struct Walls {
    tz: Tz,
    gap: Gap,
    fold: Fold,
    after: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    limit: usize,
    pending: BTreeSet<DateTime<Utc>>,
    out: Vec<DateTime<Utc>>,
    done: bool,
}

impl Walls {
    pub(crate) fn new(
        tz: Tz,
        (gap, fold): (Gap, Fold),
        after: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Self {
        Self {
            tz,
            gap,
            fold,
            after,
            end,
            limit,
            pending: BTreeSet::new(),
            out: Vec::new(),
            done: limit == 0,
        }
    }

    /// Whether enough instants were collected, or the walk passed `end`.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Adds the next wall time of the walk (walls must come in increasing order).
    pub(crate) fn push(&mut self, wall: NaiveDateTime) {
        if self.done {
            return;
        }
        let instant = localize(self.tz, wall, self.gap, self.fold);
        self.pending.insert(instant);
        // Away from transitions every later wall time maps after every instant seen so far.
        if is_quiet(self.tz, instant) {
            self.drain();
            if let Some(end) = self.end {
                if instant > end + TRANSITION_REACH {
                    self.done = true;
                }
            }
        }
    }

    fn drain(&mut self) {
        while let Some(instant) = self.pending.pop_first() {
            if instant <= self.after || self.out.last() == Some(&instant) {
                continue;
            }
            if self.end.is_some_and(|end| instant > end) {
                self.done = true;
                return;
            }
            self.out.push(instant);
            if self.out.len() >= self.limit {
                self.done = true;
                return;
            }
        }
    }

    /// The collected instants, once the walk is over.
    pub(crate) fn finish(mut self) -> Vec<DateTime<Utc>> {
        if !self.done {
            self.drain();
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        naive(text).and_utc()
    }

    #[test]
    fn gap_and_fold_policies() {
        let ny = parse("America/New_York").unwrap();
        // 2026-03-08 02:30 does not exist in New York; 2026-11-01 01:30 happens twice.
        let cases = [
            (
                "2026-03-08T02:30",
                Gap::Forward,
                Fold::Earlier,
                "2026-03-08T07:30",
            ),
            (
                "2026-03-08T02:30",
                Gap::Backward,
                Fold::Earlier,
                "2026-03-08T06:30",
            ),
            (
                "2026-11-01T01:30",
                Gap::Forward,
                Fold::Earlier,
                "2026-11-01T05:30",
            ),
            (
                "2026-11-01T01:30",
                Gap::Forward,
                Fold::Later,
                "2026-11-01T06:30",
            ),
            (
                "2026-07-01T12:00",
                Gap::Forward,
                Fold::Later,
                "2026-07-01T16:00",
            ),
        ];
        for (local, gap, fold, expected) in cases {
            assert_eq!(
                localize(ny, naive(local), gap, fold),
                utc(expected),
                "{local} {gap:?} {fold:?}"
            );
        }
        let (_, gap) =
            localize_detailed(ny, naive("2026-03-08T02:30"), Gap::Forward, Fold::Earlier);
        assert_eq!(gap, Some(Duration::hours(1)));
    }

    #[test]
    fn names_and_quiet_periods() {
        assert_eq!(zone_or_utc(None), Some(Tz::UTC));
        assert_eq!(zone_or_utc(Some("")), Some(Tz::UTC));
        assert!(zone_or_utc(Some("US/Eastern")).is_some());
        assert!(zone_or_utc(Some("Mars/Olympus_Mons")).is_none());
        let ny = parse("America/New_York").unwrap();
        assert!(is_quiet(ny, utc("2026-07-01T00:00")));
        assert!(!is_quiet(ny, utc("2026-03-08T12:00")));
    }
}
