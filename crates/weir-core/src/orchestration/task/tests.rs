//! The task policy, rule by rule.

use super::*;
use crate::schemas::SetStateStatus;

fn now() -> Timestamp {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

fn state(state_type: StateType, name: &str) -> State {
    State::from_proposal(
        StateCreate::of_type(state_type).named(name),
        now().plus_seconds(-10.0),
    )
}

fn status(decision: &Decision) -> SetStateStatus {
    decision.clone().into_result(None).status
}

fn facts<'a>(current: Option<&'a State>, policy: &'a TaskRunPolicy) -> TaskRunFacts<'a> {
    TaskRunFacts {
        current,
        run_count: 1,
        policy,
        flow_run_state: Some(StateType::Running),
        jitter_sample: 0.0,
    }
}

#[test]
fn terminal_tasks_abort_crash_cancel_and_pause() {
    let policy = TaskRunPolicy::default();
    let completed = state(StateType::Completed, "Completed");
    for target in [StateType::Crashed, StateType::Cancelling, StateType::Paused] {
        let d = decide(
            &facts(Some(&completed), &policy),
            StateCreate::of_type(target),
            false,
            now(),
        );
        assert_eq!(status(&d), SetStateStatus::Abort);
    }
}

#[test]
fn tasks_cannot_start_in_a_stopped_flow() {
    let policy = TaskRunPolicy::default();
    let pending = state(StateType::Pending, "Pending");
    let mut f = facts(Some(&pending), &policy);
    f.flow_run_state = Some(StateType::Completed);
    assert_eq!(
        status(&decide(
            &f,
            StateCreate::of_type(StateType::Running),
            false,
            now()
        )),
        SetStateStatus::Abort
    );
    f.flow_run_state = Some(StateType::Paused);
    let d = decide(&f, StateCreate::of_type(StateType::Running), false, now());
    assert_eq!(status(&d), SetStateStatus::Reject);
    assert_eq!(d.state_to_write().unwrap().display_name(), "NotReady");
}

#[test]
fn retries_follow_the_delay_list_and_jitter() {
    let policy = TaskRunPolicy {
        retries: Some(2),
        retry_delay: Some(serde_json::json!([10, 20])),
        retry_jitter_factor: Some(0.5),
        ..TaskRunPolicy::default()
    };
    let running = state(StateType::Running, "Running");
    let mut f = facts(Some(&running), &policy);
    f.run_count = 2;
    f.jitter_sample = 1.0;
    let d = decide(&f, StateCreate::of_type(StateType::Failed), false, now());
    let retry = d.state_to_write().unwrap();
    assert_eq!(retry.display_name(), "AwaitingRetry");
    assert_eq!(
        retry.state_details.scheduled_time,
        Some(now().plus_seconds(30.0))
    );
    f.run_count = 3;
    assert_eq!(
        status(&decide(
            &f,
            StateCreate::of_type(StateType::Failed),
            false,
            now()
        )),
        SetStateStatus::Accept
    );
}

#[test]
fn a_non_retriable_failure_is_final() {
    let policy = TaskRunPolicy {
        retries: Some(3),
        ..TaskRunPolicy::default()
    };
    let running = state(StateType::Running, "Running");
    let mut failed = StateCreate::of_type(StateType::Failed);
    failed.state_details.retriable = Some(false);
    let d = decide(&facts(Some(&running), &policy), failed, false, now());
    assert_eq!(status(&d), SetStateStatus::Accept);
}

#[test]
fn the_retry_runs_as_retrying() {
    let policy = TaskRunPolicy::default();
    let mut retry = state(StateType::Scheduled, "AwaitingRetry");
    retry.state_details.scheduled_time = Some(now().plus_seconds(-1.0));
    let d = decide(
        &facts(Some(&retry), &policy),
        StateCreate::of_type(StateType::Running),
        false,
        now(),
    );
    assert!(matches!(d, Decision::Accept(ref s) if s.display_name() == "Retrying"));
}

fn tag_limit(
    tag: &str,
    limit: i64,
    at: Timestamp,
) -> crate::concurrency_limits::ConcurrencyLimitV2 {
    serde_json::from_value::<crate::concurrency_limits::ConcurrencyLimitV2Create>(
        serde_json::json!({"name": format!("tag:{tag}"), "limit": limit}),
    )
    .unwrap()
    .into_limit(uuid::Uuid::new_v4(), at)
}

#[test]
fn tag_limits_take_a_slot_wait_when_full_and_abort_at_zero() {
    let now = Timestamp::now();
    let mut limits = vec![tag_limit("db", 1, now), tag_limit("api", 2, now)];
    assert_eq!(
        secure_task_concurrency_slots(&mut limits, now, 0.5),
        TagSlots::Acquired
    );
    assert_eq!((limits[0].active_slots, limits[1].active_slots), (1, 1));
    let TagSlots::Wait {
        delay_seconds,
        reason,
    } = secure_task_concurrency_slots(&mut limits, now, 0.5)
    else {
        panic!("the full limit makes the run wait");
    };
    assert_eq!(reason, "Concurrency limit reached for tags: db, api");
    assert!((1.0..=3.0).contains(&delay_seconds), "{delay_seconds}");
    assert_eq!(delay_seconds.fract(), 0.0);
    assert_eq!(limits[1].active_slots, 1, "nothing taken while waiting");

    let mut zero = vec![tag_limit("never", 0, now)];
    assert!(matches!(
        secure_task_concurrency_slots(&mut zero, now, 0.5),
        TagSlots::Abort { reason } if reason.contains("\"never\" is 0")
    ));
    zero[0].active = false;
    assert_eq!(
        secure_task_concurrency_slots(&mut zero, now, 0.5),
        TagSlots::Acquired,
        "an inactive limit is ignored"
    );
    assert!(releases_task_slots(StateType::Completed));
    assert!(!releases_task_slots(StateType::Cancelling));
}
