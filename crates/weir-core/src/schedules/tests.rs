//! Expected times were computed with Prefect 3.9.1's own schedule models (Python 3.11, so its
//! pendulum path), `get_dates(n, start)`; its `start` is inclusive where `next_times`'s `after` is
//! exclusive, hence the `- 1µs` in [`from`].

use super::*;
use serde_json::json;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn schedule(value: Value) -> Schedule {
    serde_json::from_value(value).unwrap()
}

/// The first `n` times at or after `start`, as UTC text to the second.
fn from(value: Value, start: &str, n: usize) -> Vec<String> {
    let after = Timestamp::from_datetime(ts(start).as_datetime() - Duration::microseconds(1));
    next_times(&schedule(value), after, None, n)
        .unwrap()
        .iter()
        .map(|t| t.as_datetime().format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect()
}

#[test]
fn matches_prefect_on_recorded_cases() {
    // A sample of ~6,900 cases compared with Prefect (every kind, six zones, DST nights, `end`).
    for line in include_str!("prefect_cases.jsonl").lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let start = ts(case["start"].as_str().unwrap());
        let after = Timestamp::from_datetime(start.as_datetime() - Duration::microseconds(1));
        let end = case["end"].as_str().map(ts);
        let limit = case["n"].as_u64().map_or(1000, |n| n as usize);
        let got: Vec<String> = next_times(&schedule(case["s"].clone()), after, end, limit)
            .unwrap()
            .iter()
            .map(Timestamp::to_canonical)
            .collect();
        let expected: Vec<String> = serde_json::from_value(case["expected"].clone()).unwrap();
        assert_eq!(got, expected, "{line}");
    }
}

#[test]
fn cron_in_time_zones_and_across_dst() {
    let ny = "America/New_York";
    let cases: &[(Value, &str, &[&str])] = &[
        // 02:30 does not exist on 8 March: it fires at 03:30 EDT that day.
        (
            json!({"cron": "30 2 * * *", "timezone": ny}),
            "2026-03-06T00:00:00Z",
            &[
                "2026-03-06T07:30:00Z",
                "2026-03-07T07:30:00Z",
                "2026-03-08T07:30:00Z",
                "2026-03-09T06:30:00Z",
            ],
        ),
        // 01:30 happens twice on 1 November: it fires once, at the first.
        (
            json!({"cron": "30 1 * * *", "timezone": ny}),
            "2026-10-30T00:00:00Z",
            &[
                "2026-10-30T05:30:00Z",
                "2026-10-31T05:30:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:30:00Z",
            ],
        ),
        // Every half hour through the repeated hour: the second 01:00 and 01:30 do not fire.
        (
            json!({"cron": "*/30 * * * *", "timezone": ny}),
            "2026-11-01T04:45:00Z",
            &[
                "2026-11-01T05:00:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-01T07:00:00Z",
                "2026-11-01T07:30:00Z",
            ],
        ),
        // Hourly through the skipped hour: 02:00 becomes 03:00 EDT, which fires once.
        (
            json!({"cron": "0 * * * *", "timezone": ny}),
            "2026-03-08T06:00:00Z",
            &[
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T08:00:00Z",
                "2026-03-08T09:00:00Z",
            ],
        ),
        (
            json!({"cron": "0 9 * * *", "timezone": "Asia/Kolkata"}),
            "2026-01-01T00:00:00Z",
            &["2026-01-01T03:30:00Z", "2026-01-02T03:30:00Z"],
        ),
        (
            json!({"cron": "@daily"}),
            "2026-01-01T00:00:00Z",
            &["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"],
        ),
        (
            json!({"cron": "@hourly", "timezone": ""}),
            "2026-01-01T00:10:00Z",
            &["2026-01-01T01:00:00Z"],
        ),
        // day_or: the 13th OR Fridays by default, Friday the 13th with `day_or: false`.
        (
            json!({"cron": "0 0 13 * 5"}),
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-02T00:00:00Z",
                "2026-01-09T00:00:00Z",
                "2026-01-13T00:00:00Z",
                "2026-01-16T00:00:00Z",
            ],
        ),
        (
            json!({"cron": "0 0 13 * 5", "day_or": false}),
            "2026-01-01T00:00:00Z",
            &[
                "2026-02-13T00:00:00Z",
                "2026-03-13T00:00:00Z",
                "2026-11-13T00:00:00Z",
            ],
        ),
        // A start inside a minute does not fire for that minute.
        (
            json!({"cron": "0 0 * * *"}),
            "2026-01-01T00:00:00.5Z",
            &["2026-01-02T00:00:00Z"],
        ),
        // Deliberately not croniter's: from 28 February it would skip 1 March (it steps to "31").
        (
            json!({"cron": "0 0 */10 * *"}),
            "2026-02-28T12:00:00Z",
            &["2026-03-01T00:00:00Z", "2026-03-11T00:00:00Z"],
        ),
        // Never matches: no times, as croniter fails.
        (json!({"cron": "0 0 30 2 *"}), "2026-01-01T00:00:00Z", &[]),
        (
            json!({"cron": "0 0 1 * mon#2"}),
            "2026-01-01T00:00:00Z",
            &[],
        ),
    ];
    for (value, start, expected) in cases {
        assert_eq!(
            from(value.clone(), start, expected.len().max(1)),
            *expected,
            "{value}"
        );
    }
}

#[test]
fn interval_anchoring_and_dst() {
    let ny = "America/New_York";
    let cases: &[(Value, &str, &[&str])] = &[
        // Daily in New York keeps 09:00 local across the spring change.
        (
            json!({"interval": 86400, "anchor_date": "2026-03-01T09:00:00-05:00", "timezone": ny}),
            "2026-03-06T00:00:00Z",
            &[
                "2026-03-06T14:00:00Z",
                "2026-03-07T14:00:00Z",
                "2026-03-08T13:00:00Z",
                "2026-03-09T13:00:00Z",
            ],
        ),
        // Daily in UTC keeps 14:00 UTC.
        (
            json!({"interval": 86400, "anchor_date": "2026-03-01T14:00:00Z"}),
            "2026-03-06T00:00:00Z",
            &[
                "2026-03-06T14:00:00Z",
                "2026-03-07T14:00:00Z",
                "2026-03-08T14:00:00Z",
            ],
        ),
        // Hourly is elapsed time, DST or not.
        (
            json!({"interval": 3600, "anchor_date": "2026-03-08T05:00:00Z", "timezone": ny}),
            "2026-03-08T05:30:00Z",
            &[
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T08:00:00Z",
            ],
        ),
        // Hourly through the fold, in instant order. Prefect compares wall times there and skips
        // 06:00 (the second 01:00); this is a deliberate difference.
        (
            json!({"interval": 3600, "anchor_date": "2026-01-01T00:00:00Z", "timezone": ny}),
            "2026-11-01T05:45:00Z",
            &["2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"],
        ),
        // 02:30 daily: pushed to 03:30 by the gap, and it stays at 03:30 afterwards.
        (
            json!({"interval": 86400, "anchor_date": "2026-03-01T07:30:00Z", "timezone": ny}),
            "2026-03-06T00:00:00Z",
            &[
                "2026-03-06T07:30:00Z",
                "2026-03-07T07:30:00Z",
                "2026-03-08T07:30:00Z",
                "2026-03-09T07:30:00Z",
            ],
        ),
        // 01:30 daily through the fold: the second 01:30 (EST).
        (
            json!({"interval": 86400, "anchor_date": "2026-10-25T05:30:00Z", "timezone": ny}),
            "2026-10-30T00:00:00Z",
            &[
                "2026-10-30T05:30:00Z",
                "2026-10-31T05:30:00Z",
                "2026-11-01T06:30:00Z",
                "2026-11-02T06:30:00Z",
            ],
        ),
        // 25 hours: one day plus one hour of wall clock each time.
        (
            json!({"interval": 90000, "anchor_date": "2026-03-06T14:00:00Z", "timezone": ny}),
            "2026-03-06T00:00:00Z",
            &[
                "2026-03-06T14:00:00Z",
                "2026-03-07T15:00:00Z",
                "2026-03-08T15:00:00Z",
                "2026-03-09T16:00:00Z",
            ],
        ),
        // An anchor in the future: earlier days count back from it, at its local time.
        (
            json!({"interval": 86400, "anchor_date": "2026-03-20T14:00:00Z", "timezone": ny}),
            "2026-03-06T00:00:00Z",
            &[
                "2026-03-06T15:00:00Z",
                "2026-03-07T15:00:00Z",
                "2026-03-08T14:00:00Z",
            ],
        ),
        (
            json!({"interval": 600, "anchor_date": "2030-01-01T00:00:00Z"}),
            "2026-03-06T00:00:00Z",
            &["2026-03-06T00:00:00Z", "2026-03-06T00:10:00Z"],
        ),
        // An anchor years back, off the minute.
        (
            json!({"interval": 600, "anchor_date": "2026-01-01T00:00:07Z"}),
            "2026-03-06T00:00:00Z",
            &["2026-03-06T00:00:07Z", "2026-03-06T00:10:07Z"],
        ),
        (
            json!({"interval": 604800, "anchor_date": "2020-01-06T14:00:00Z", "timezone": "Europe/London"}),
            "2026-03-20T00:00:00Z",
            &[
                "2026-03-23T14:00:00Z",
                "2026-03-30T13:00:00Z",
                "2026-04-06T13:00:00Z",
            ],
        ),
        (
            json!({"interval": "P1D", "anchor_date": "2026-01-01T00:00:00Z"}),
            "2026-03-06T00:00:00.2Z",
            &["2026-03-07T00:00:00Z"],
        ),
    ];
    for (value, start, expected) in cases {
        assert_eq!(
            from(value.clone(), start, expected.len()),
            *expected,
            "{value}"
        );
    }
}

#[test]
fn huge_intervals_run_out_of_dates_instead_of_overflowing() {
    // About a thousand years: chrono's range ends after a few hundred occurrences.
    let millennia = schedule(json!({"interval": 3.2e10, "anchor_date": "2026-01-01T00:00:00Z"}));
    let times = next_times(&millennia, ts("2026-01-01T00:00:00Z"), None, 1000).unwrap();
    assert!(!times.is_empty() && times.len() < 1000, "{}", times.len());
    let too_big = schedule(json!({"interval": 1e300, "anchor_date": "2026-01-01T00:00:00Z"}));
    assert_eq!(too_big.validate(), Err(ScheduleError::NonPositiveInterval));
}

#[test]
fn rrule_dtstart_count_until_and_dst() {
    let ny = "America/New_York";
    let cases: &[(Value, &str, usize, &[&str])] = &[
        (
            json!({"rrule": "FREQ=DAILY;BYHOUR=9"}),
            "2026-03-06T00:00:00Z",
            2,
            &["2026-03-06T09:00:00Z", "2026-03-07T09:00:00Z"],
        ),
        // dateutil reads 02:30 on the spring-forward day with the new offset: 01:30 EST.
        (
            json!({"rrule": "DTSTART:20260301T023000\nRRULE:FREQ=DAILY", "timezone": ny}),
            "2026-03-06T00:00:00Z",
            4,
            &[
                "2026-03-06T07:30:00Z",
                "2026-03-07T07:30:00Z",
                "2026-03-08T06:30:00Z",
                "2026-03-09T06:30:00Z",
            ],
        ),
        (
            json!({"rrule": "DTSTART:20261025T013000\nRRULE:FREQ=DAILY", "timezone": ny}),
            "2026-10-30T00:00:00Z",
            4,
            &[
                "2026-10-30T05:30:00Z",
                "2026-10-31T05:30:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:30:00Z",
            ],
        ),
        // A zoned DTSTART is relabelled into the schedule's zone.
        (
            json!({"rrule": "DTSTART;TZID=Europe/Paris:20261025T013000\nRRULE:FREQ=DAILY", "timezone": ny}),
            "2026-10-30T00:00:00Z",
            1,
            &["2026-10-30T05:30:00Z"],
        ),
        (
            json!({"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;COUNT=3"}),
            "2025-03-06T00:00:00Z",
            5,
            &[
                "2026-01-01T09:00:00Z",
                "2026-01-02T09:00:00Z",
                "2026-01-03T09:00:00Z",
            ],
        ),
        (
            json!({"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;COUNT=3"}),
            "2026-01-02T09:00:00Z",
            5,
            &["2026-01-02T09:00:00Z", "2026-01-03T09:00:00Z"],
        ),
        // UNTIL is inclusive; a date-only UNTIL is its midnight.
        (
            json!({"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20260104T090000"}),
            "2025-03-06T00:00:00Z",
            10,
            &[
                "2026-01-01T09:00:00Z",
                "2026-01-02T09:00:00Z",
                "2026-01-03T09:00:00Z",
                "2026-01-04T09:00:00Z",
            ],
        ),
        (
            json!({"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20260104", "timezone": ny}),
            "2025-03-06T00:00:00Z",
            10,
            &[
                "2026-01-01T14:00:00Z",
                "2026-01-02T14:00:00Z",
                "2026-01-03T14:00:00Z",
            ],
        ),
        (
            json!({"rrule": "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;UNTIL=20260102T090000Z", "timezone": ny}),
            "2025-03-06T00:00:00Z",
            10,
            &["2026-01-01T14:00:00Z", "2026-01-02T14:00:00Z"],
        ),
        // COUNT and UNTIL together: both bound the rule.
        (
            json!({"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20260104T090000;COUNT=2"}),
            "2025-03-06T00:00:00Z",
            10,
            &["2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z"],
        ),
        // UNTIL before DTSTART: nothing.
        (
            json!({"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20251231"}),
            "2025-03-06T00:00:00Z",
            3,
            &[],
        ),
        (
            json!({"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE\nEXDATE:20260107T090000\nRDATE:20260110T120000"}),
            "2026-01-01T00:00:00Z",
            4,
            &[
                "2026-01-05T09:00:00Z",
                "2026-01-10T12:00:00Z",
                "2026-01-12T09:00:00Z",
                "2026-01-14T09:00:00Z",
            ],
        ),
        // A MINUTELY rule stays on its 45-minute grid through the hours BYHOUR skips.
        (
            json!({"rrule": "DTSTART:20260101T000000\nRRULE:FREQ=MINUTELY;INTERVAL=45;BYHOUR=0,1,2,3"}),
            "2026-03-08T06:30:00Z",
            3,
            &[
                "2026-03-09T00:00:00Z",
                "2026-03-09T00:45:00Z",
                "2026-03-09T01:30:00Z",
            ],
        ),
        (
            json!({"rrule": "FREQ=HOURLY", "timezone": ny}),
            "2026-03-08T05:00:00Z",
            4,
            &[
                "2026-03-08T05:00:00Z",
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T08:00:00Z",
            ],
        ),
        (
            json!({"rrule": "freq=monthly;byday=-1fr;byhour=17;byminute=0"}),
            "2026-01-01T00:00:00Z",
            2,
            &["2026-01-30T17:00:00Z", "2026-02-27T17:00:00Z"],
        ),
    ];
    for (value, start, n, expected) in cases {
        assert_eq!(from(value.clone(), start, *n), *expected, "{value}");
    }
}

#[test]
fn after_is_exclusive_and_end_inclusive() {
    let daily = schedule(json!({"cron": "0 0 * * *"}));
    let times = next_times(
        &daily,
        ts("2026-01-01T00:00:00Z"),
        Some(ts("2026-01-03T00:00:00Z")),
        10,
    )
    .unwrap();
    assert_eq!(
        times,
        [ts("2026-01-02T00:00:00Z"), ts("2026-01-03T00:00:00Z")]
    );
    assert!(next_times(&daily, ts("2026-01-01T00:00:00Z"), None, 0)
        .unwrap()
        .is_empty());
}

#[test]
fn invalid_schedules_name_their_field() {
    let long_rrule = format!("RDATE:{}", vec!["20260101T090000"; 420].join(","));
    let cases: Vec<(Value, &str, String)> = vec![
        (json!({"interval": 0}), "interval", "interval must be positive".into()),
        (json!({"interval": -5.0}), "interval", "interval must be positive".into()),
        (json!({"cron": "61 * * * *"}), "cron", r#"Invalid cron string: "61 * * * *""#.into()),
        (json!({"cron": "0 0 * * 5L"}), "cron", r#"Invalid cron string: "0 0 * * 5L""#.into()),
        (
            json!({"cron": "R 0 * * *"}),
            "cron",
            r#"Random and Hashed expressions are unsupported, received: "R 0 * * *""#.into(),
        ),
        (
            json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}),
            "timezone",
            r#"Invalid timezone: "Mars/Olympus" (specify in IANA tzdata format, for example, America/New_York)"#.into(),
        ),
        (
            json!({"interval": 60, "anchor_date": "2026-01-01T00:00:00Z", "timezone": "Nowhere"}),
            "timezone",
            r#"Invalid timezone: "Nowhere" (specify in IANA tzdata format, for example, America/New_York)"#.into(),
        ),
        (json!({"rrule": "FREQ=FOO"}), "rrule", r#"Invalid RRule string "FREQ=FOO": "#.into()),
        (json!({"rrule": "hello"}), "rrule", r#"Invalid RRule string "hello": "#.into()),
        (json!({"rrule": ""}), "rrule", r#"Invalid RRule string "": empty string"#.into()),
        (json!({"rrule": "DTSTART:20260101T090000"}), "rrule", "Invalid RRule string".into()),
        (json!({"rrule": "FREQ=DAILY;FOO=1"}), "rrule", "unknown parameter 'FOO'".into()),
        (
            json!({"rrule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20260104T090000Z"}),
            "rrule",
            "RRULE UNTIL values must be specified in UTC when DTSTART is timezone-aware".into(),
        ),
        (json!({"rrule": long_rrule}), "rrule", "\nMax length is 6500, got 6725".into()),
        (json!({"rrule": "FREQ=DAILY", "timezone": "Bad/Zone"}), "timezone", r#"Invalid timezone: "Bad/Zone""#.into()),
    ];
    for (value, field, message) in cases {
        let err = schedule(value.clone()).validate().unwrap_err();
        assert_eq!(err.field(), field, "{value}");
        assert!(err.to_string().contains(&message), "{value}: {err}");
    }
    let limit = DEFAULT_MAX_SCHEDULED_RUNS_LIMIT;
    assert_eq!(validate_max_scheduled_runs(Some(50), limit), Ok(()));
    let err = validate_max_scheduled_runs(Some(51), limit).unwrap_err();
    assert_eq!(
        (err.field(), err.to_string().as_str()),
        (
            "max_scheduled_runs",
            "`max_scheduled_runs` must be less than or equal to 50."
        )
    );
    assert_eq!(
        validate_max_scheduled_runs(Some(0), limit)
            .unwrap_err()
            .to_string(),
        "Input should be greater than 0"
    );
    // Without an anchor an interval schedule validates, but needs `normalized` before it runs.
    let unanchored = schedule(json!({"interval": 60}));
    assert_eq!(unanchored.validate(), Ok(()));
    assert_eq!(
        unanchored.compile().unwrap_err(),
        ScheduleError::MissingAnchorDate
    );
}

#[test]
fn wire_shapes_match_prefect() {
    let interval = schedule(
        json!({"interval": 3600, "anchor_date": "2026-01-01T00:00:00+01:00", "timezone": "Europe/Berlin"}),
    );
    assert_eq!(
        serde_json::to_value(&interval).unwrap(),
        json!({"interval": 3600.0, "anchor_date": "2025-12-31T23:00:00.000000Z", "timezone": "Europe/Berlin"})
    );
    for (text, seconds) in [
        ("PT1H", 3600.0),
        ("P1DT2H", 93600.0),
        ("P2W", 1_209_600.0),
        ("01:00:00", 3600.0),
        ("1 day, 01:00:00", 90000.0),
        ("PT0.5S", 0.5),
    ] {
        let Schedule::Interval(parsed) = schedule(json!({"interval": text})) else {
            panic!("{text} is an interval schedule");
        };
        assert_eq!(parsed.interval, seconds, "{text}");
    }
    assert!(serde_json::from_value::<Schedule>(json!({"interval": "3600"})).is_err());
    assert_eq!(
        serde_json::to_value(schedule(json!({"cron": "0 9 * * *"}))).unwrap(),
        json!({"cron": "0 9 * * *", "timezone": null, "day_or": true})
    );
    assert_eq!(
        serde_json::to_value(schedule(json!({"rrule": "FREQ=DAILY"}))).unwrap(),
        json!({"rrule": "FREQ=DAILY", "timezone": "UTC"})
    );
    for bad in [
        json!({}),
        json!({"foo": 1}),
        json!({"cron": "* * * * *", "interval": 5}),
        json!({"rrule": "FREQ=DAILY", "anchor_date": "2026-01-01T00:00:00Z"}),
    ] {
        assert!(
            serde_json::from_value::<Schedule>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    let create: DeploymentScheduleCreate =
        serde_json::from_value(json!({"schedule": {"cron": "@daily"}})).unwrap();
    assert_eq!(
        serde_json::to_value(&create).unwrap(),
        json!({"active": true, "schedule": {"cron": "@daily", "timezone": null, "day_or": true}, "max_scheduled_runs": null, "parameters": {}, "slug": null, "replaces": null})
    );
    assert!(serde_json::from_value::<DeploymentScheduleCreate>(
        json!({"schedule": {"cron": "@daily"}, "extra": 1})
    )
    .is_err());
    let stored = DeploymentSchedule {
        id: Uuid::nil(),
        created: None,
        updated: None,
        deployment_id: None,
        schedule: create.schedule.clone(),
        active: true,
        max_scheduled_runs: None,
        parameters: JsonObject::new(),
        slug: None,
    };
    let text = serde_json::to_string(&stored).unwrap();
    assert!(text.starts_with(r#"{"id":"00000000-0000-0000-0000-000000000000","created":null,"updated":null,"deployment_id":null,"schedule":{"#));
    assert!(
        text.ends_with(r#""active":true,"max_scheduled_runs":null,"parameters":{},"slug":null}"#)
    );
    let update: DeploymentScheduleUpdate =
        serde_json::from_value(json!({"active": false})).unwrap();
    assert_eq!((update.active, update.schedule), (Some(false), None));
}

#[test]
fn normalized_fills_prefects_defaults() {
    let now = ts("2026-11-27T15:03:10Z");
    let Schedule::Interval(interval) = schedule(json!({"interval": 60})).normalized(now) else {
        unreachable!()
    };
    assert_eq!(
        (interval.anchor_date, interval.timezone.as_deref()),
        (Some(now), Some("UTC"))
    );
    let cron = schedule(json!({"cron": "0 9 * * *"}));
    assert_eq!(cron.clone().normalized(now), cron);
    // Values from Prefect's `normalize_rrule_string` at the same `now`.
    let cases = [
        (
            "FREQ=MINUTELY;INTERVAL=7",
            "America/New_York",
            "DTSTART:20261127T095900\nFREQ=MINUTELY;INTERVAL=7",
        ),
        (
            "FREQ=SECONDLY;INTERVAL=45",
            "UTC",
            "DTSTART:20261127T150300\nFREQ=SECONDLY;INTERVAL=45",
        ),
        (
            "FREQ=MINUTELY;COUNT=5",
            "UTC",
            "DTSTART:20200101T000000\nFREQ=MINUTELY;COUNT=5",
        ),
        ("FREQ=DAILY", "UTC", "DTSTART:20200101T000000\nFREQ=DAILY"),
        (
            "RRULE:FREQ=MINUTELY\nEXDATE:20260101T000000",
            "UTC",
            "DTSTART:20200101T000000\nRRULE:FREQ=MINUTELY\nEXDATE:20260101T000000",
        ),
        (
            "DTSTART:20260101T000000\nRRULE:FREQ=MINUTELY",
            "UTC",
            "DTSTART:20260101T000000\nRRULE:FREQ=MINUTELY",
        ),
        ("garbage", "UTC", "garbage"),
    ];
    for (rrule, timezone, expected) in cases {
        let normalized = schedule(json!({"rrule": rrule, "timezone": timezone})).normalized(now);
        assert_eq!(
            normalized,
            schedule(json!({"rrule": expected, "timezone": timezone})),
            "{rrule}"
        );
    }
}

#[test]
fn materialise_window_follows_prefects_scheduler() {
    let settings = SchedulerSettings::default();
    let dates = |value: Value, now: &str, settings: &SchedulerSettings| -> Vec<String> {
        dates_to_schedule(&schedule(value), ts(now), settings)
            .unwrap()
            .iter()
            .map(|t| t.as_datetime().format("%m-%dT%H:%M:%S").to_string())
            .collect()
    };
    let hourly = json!({"interval": 3600, "anchor_date": "2026-01-01T00:00:00Z"});
    // Three runs, and one at least an hour ahead.
    assert_eq!(
        dates(hourly.clone(), "2026-06-01T00:30:00Z", &settings),
        ["06-01T01:00:00", "06-01T02:00:00", "06-01T03:00:00"]
    );
    // `now` itself counts.
    assert_eq!(
        dates(
            json!({"cron": "0 * * * *"}),
            "2026-06-01T12:00:00Z",
            &settings
        ),
        ["06-01T12:00:00", "06-01T13:00:00", "06-01T14:00:00"]
    );
    // Every minute: runs until an hour ahead is covered (61 runs).
    let minutely = dates(
        json!({"cron": "* * * * *"}),
        "2026-06-01T12:00:30Z",
        &settings,
    );
    assert_eq!(
        (minutely.len(), minutely.last().unwrap().as_str()),
        (61, "06-01T13:01:00")
    );
    // Every second: capped by `max_runs`.
    assert_eq!(
        dates(
            json!({"cron": "* * * * * *"}),
            "2026-06-01T12:00:00Z",
            &settings
        )
        .len(),
        100
    );
    // Monthly: three runs; yearly: nothing within 100 days.
    assert_eq!(
        dates(
            json!({"cron": "@monthly"}),
            "2026-01-15T00:00:00Z",
            &settings
        ),
        ["02-01T00:00:00", "03-01T00:00:00", "04-01T00:00:00"]
    );
    assert!(dates(
        json!({"cron": "@yearly"}),
        "2026-01-15T00:00:00Z",
        &settings
    )
    .is_empty());
    // Fewer runs but a longer minimum time: the time wins.
    let custom = SchedulerSettings {
        min_runs: 1,
        min_scheduled_time: Duration::hours(3),
        ..settings
    };
    assert_eq!(
        dates(hourly.clone(), "2026-06-01T00:30:00Z", &custom).len(),
        4
    );

    let now = ts("2026-06-01T00:30:00Z");
    let plenty = ScheduledRuns {
        count: 3,
        latest: Some(ts("2026-06-01T03:00:00Z")),
    };
    let cases = [
        (ScheduledRuns::default(), true),
        (
            ScheduledRuns {
                count: 2,
                latest: Some(ts("2026-06-10T00:00:00Z")),
            },
            true,
        ),
        (
            ScheduledRuns {
                count: 5,
                latest: Some(ts("2026-06-01T01:00:00Z")),
            },
            true,
        ),
        (plenty, false),
    ];
    for (existing, expected) in cases {
        assert_eq!(
            needs_runs(&existing, now, &settings),
            expected,
            "{existing:?}"
        );
    }
    let hourly = schedule(hourly);
    assert!(runs_to_materialise(&hourly, &plenty, now, &settings)
        .unwrap()
        .is_empty());
    assert_eq!(
        runs_to_materialise(&hourly, &ScheduledRuns::default(), now, &settings)
            .unwrap()
            .len(),
        3
    );
    let broken = schedule(json!({"cron": "nope"}));
    assert!(runs_to_materialise(&broken, &ScheduledRuns::default(), now, &settings).is_err());
}

#[test]
fn ten_thousand_cron_times_are_quick() {
    // Debug build; the bound is loose on purpose (a shared two-core machine).
    let started = std::time::Instant::now();
    for expr in ["*/5 * * * *", "0 9 * * 1-5", "* * * * *"] {
        let compiled = schedule(json!({"cron": expr, "timezone": "America/New_York"}))
            .compile()
            .unwrap();
        let times = compiled.next_times(ts("2026-01-01T00:00:00Z"), None, 10_000);
        assert_eq!(times.len(), 10_000, "{expr}");
        assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "{expr}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
