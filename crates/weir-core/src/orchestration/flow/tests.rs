//! The flow policy, rule by rule.

use super::*;
use crate::schemas::SetStateStatus;
use uuid::Uuid;

fn now() -> Timestamp {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

fn state(state_type: StateType, name: &str) -> State {
    State::from_proposal(
        StateCreate::of_type(state_type).named(name),
        now().plus_seconds(-10.0),
    )
}

fn facts(current: Option<&State>) -> FlowRunFacts<'_> {
    FlowRunFacts {
        current,
        run_count: 0,
        retries: 0,
        retry_delay_seconds: 0.0,
        has_deployment: false,
        has_infrastructure: false,
    }
}

fn status(decision: &Decision) -> SetStateStatus {
    decision.clone().into_result(None).status
}

fn propose(facts: &FlowRunFacts<'_>, proposal: StateCreate) -> Decision {
    decide(facts, proposal, false, now())
}

#[test]
fn a_new_run_accepts_its_first_state() {
    let decision = propose(&facts(None), StateCreate::of_type(StateType::Pending));
    assert!(matches!(decision, Decision::Accept(ref s) if s.display_name() == "Pending"));
}

#[test]
fn pending_to_running_to_completed_is_accepted() {
    let pending = state(StateType::Pending, "Pending");
    let running = propose(
        &facts(Some(&pending)),
        StateCreate::of_type(StateType::Running),
    );
    assert!(matches!(running, Decision::Accept(ref s) if s.display_name() == "Running"));
    let running = state(StateType::Running, "Running");
    let done = propose(
        &facts(Some(&running)),
        StateCreate::of_type(StateType::Completed),
    );
    assert_eq!(status(&done), SetStateStatus::Accept);
}

#[test]
fn a_repeated_transition_id_is_rejected() {
    let id = Uuid::new_v4();
    let mut running = state(StateType::Running, "Running");
    running.state_details.transition_id = Some(id);
    let mut again = StateCreate::of_type(StateType::Running);
    again.state_details.transition_id = Some(id);
    let decision = propose(&facts(Some(&running)), again);
    assert_eq!(status(&decision), SetStateStatus::Reject);
    assert!(decision.state_to_write().is_none());
    let mut fresh = StateCreate::of_type(StateType::Completed);
    fresh.state_details.transition_id = Some(Uuid::new_v4());
    assert_eq!(
        status(&propose(&facts(Some(&running)), fresh)),
        SetStateStatus::Accept
    );
}

#[test]
fn terminal_runs_abort_cancelling_paused_and_crashed() {
    for terminal in [
        StateType::Completed,
        StateType::Failed,
        StateType::Crashed,
        StateType::Cancelled,
    ] {
        let current = state(terminal, terminal.default_name());
        for target in [StateType::Cancelling, StateType::Paused, StateType::Crashed] {
            let decision = propose(&facts(Some(&current)), StateCreate::of_type(target));
            match decision {
                Decision::Abort { reason } => {
                    assert_eq!(
                        reason,
                        format!("Run is already in terminal state {}.", terminal.as_str())
                    )
                }
                other => panic!("{terminal:?} -> {target:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_completed_run_without_persisted_result_can_rerun_and_is_renamed() {
    let completed = state(StateType::Completed, "Completed");
    let mut f = facts(Some(&completed));
    f.run_count = 1;
    let decision = propose(&f, StateCreate::of_type(StateType::Running));
    assert!(matches!(decision, Decision::Accept(ref s) if s.display_name() == "Rerunning"));
}

#[test]
fn leaving_a_completed_run_with_a_persisted_result_is_rejected() {
    let mut completed = state(StateType::Completed, "Completed");
    completed.data = Some(serde_json::json!({"storage_key": "abc"}));
    let decision = propose(
        &facts(Some(&completed)),
        StateCreate::of_type(StateType::Running),
    );
    assert_eq!(status(&decision), SetStateStatus::Reject);
}

#[test]
fn rescheduling_needs_a_deployment() {
    let failed = state(StateType::Failed, "Failed");
    let decision = propose(
        &facts(Some(&failed)),
        StateCreate::of_type(StateType::Scheduled),
    );
    assert_eq!(status(&decision), SetStateStatus::Abort);
    let mut f = facts(Some(&failed));
    f.has_deployment = true;
    assert_eq!(
        status(&propose(&f, StateCreate::of_type(StateType::Scheduled))),
        SetStateStatus::Accept
    );
}

#[test]
fn cancelling_only_goes_to_cancelled() {
    let cancelling = state(StateType::Cancelling, "Cancelling");
    for target in [
        StateType::Running,
        StateType::Completed,
        StateType::Failed,
        StateType::Scheduled,
    ] {
        let decision = propose(&facts(Some(&cancelling)), StateCreate::of_type(target));
        assert_eq!(status(&decision), SetStateStatus::Reject, "{target:?}");
    }
    let decision = propose(
        &facts(Some(&cancelling)),
        StateCreate::of_type(StateType::Cancelled),
    );
    assert_eq!(status(&decision), SetStateStatus::Accept);
}

#[test]
fn cancelling_an_unclaimed_scheduled_run_cancels_it_at_once() {
    let scheduled = state(StateType::Scheduled, "Scheduled");
    let decision = propose(
        &facts(Some(&scheduled)),
        StateCreate::of_type(StateType::Cancelling),
    );
    assert_eq!(status(&decision), SetStateStatus::Reject);
    assert_eq!(
        decision.state_to_write().unwrap().state_type,
        StateType::Cancelled
    );
    let mut f = facts(Some(&scheduled));
    f.has_infrastructure = true;
    assert_eq!(
        status(&propose(&f, StateCreate::of_type(StateType::Cancelling))),
        SetStateStatus::Accept
    );
}

#[test]
fn the_claim_lock_aborts_a_second_pending() {
    for held in [StateType::Pending, StateType::Running, StateType::Cancelled] {
        let current = state(held, held.default_name());
        let decision = propose(
            &facts(Some(&current)),
            StateCreate::of_type(StateType::Pending),
        );
        assert_eq!(status(&decision), SetStateStatus::Abort, "{held:?}");
    }
    let scheduled = state(StateType::Scheduled, "Scheduled");
    let decision = propose(
        &facts(Some(&scheduled)),
        StateCreate::of_type(StateType::Pending),
    );
    assert_eq!(status(&decision), SetStateStatus::Accept);
}

#[test]
fn a_pending_run_may_be_renamed_but_not_back_to_pending() {
    let pending = state(StateType::Pending, "Pending");
    let submitting = StateCreate::of_type(StateType::Pending).named("Submitting");
    assert_eq!(
        status(&propose(&facts(Some(&pending)), submitting)),
        SetStateStatus::Accept
    );
    let submitting_state = state(StateType::Pending, "Submitting");
    let back = StateCreate::of_type(StateType::Pending);
    assert_eq!(
        status(&propose(&facts(Some(&submitting_state)), back)),
        SetStateStatus::Abort
    );
}

#[test]
fn only_scheduled_runs_are_marked_late() {
    let running = state(StateType::Running, "Running");
    let late = StateCreate::of_type(StateType::Scheduled).named("Late");
    assert_eq!(
        status(&propose(&facts(Some(&running)), late.clone())),
        SetStateStatus::Reject
    );
    let scheduled = state(StateType::Scheduled, "Scheduled");
    assert_eq!(
        status(&propose(&facts(Some(&scheduled)), late)),
        SetStateStatus::Accept
    );
}

#[test]
fn scheduled_to_pending_copies_the_scheduled_time() {
    let scheduled = state(StateType::Scheduled, "Scheduled");
    let decision = propose(
        &facts(Some(&scheduled)),
        StateCreate::of_type(StateType::Pending),
    );
    let written = decision.state_to_write().unwrap();
    assert_eq!(
        written.state_details.scheduled_time,
        scheduled.state_details.scheduled_time
    );
}

#[test]
fn running_before_the_scheduled_time_waits() {
    let mut pending = state(StateType::Pending, "Pending");
    pending.state_details.scheduled_time = Some(now().plus_seconds(41.5));
    match propose(
        &facts(Some(&pending)),
        StateCreate::of_type(StateType::Running),
    ) {
        Decision::Wait {
            delay_seconds,
            reason,
        } => {
            assert_eq!(delay_seconds, 42.0);
            assert_eq!(reason, "Scheduled time is in the future");
        }
        other => panic!("{other:?}"),
    }
    pending.state_details.scheduled_time = Some(now().plus_seconds(-1.0));
    let decision = propose(
        &facts(Some(&pending)),
        StateCreate::of_type(StateType::Running),
    );
    assert_eq!(status(&decision), SetStateStatus::Accept);
}

#[test]
fn a_failure_with_retries_left_becomes_awaiting_retry() {
    let running = state(StateType::Running, "Running");
    let mut f = facts(Some(&running));
    f.run_count = 1;
    f.retries = 1;
    f.retry_delay_seconds = 5.0;
    let decision = propose(&f, StateCreate::of_type(StateType::Failed));
    assert_eq!(status(&decision), SetStateStatus::Reject);
    let retry = decision.state_to_write().unwrap();
    assert_eq!(
        (retry.state_type, retry.display_name()),
        (StateType::Scheduled, "AwaitingRetry")
    );
    assert_eq!(
        retry.state_details.scheduled_time,
        Some(now().plus_seconds(5.0))
    );
    f.run_count = 2;
    assert_eq!(
        status(&propose(&f, StateCreate::of_type(StateType::Failed))),
        SetStateStatus::Accept
    );
}

#[test]
fn running_after_awaiting_retry_is_named_retrying() {
    let mut retry = state(StateType::Scheduled, "AwaitingRetry");
    retry.state_details.scheduled_time = Some(now().plus_seconds(-1.0));
    let mut f = facts(Some(&retry));
    f.run_count = 1;
    let decision = propose(&f, StateCreate::of_type(StateType::Running));
    assert!(matches!(decision, Decision::Accept(ref s) if s.display_name() == "Retrying"));
}

#[test]
fn force_bypasses_the_rules() {
    let cancelling = state(StateType::Cancelling, "Cancelling");
    let decision = decide(
        &facts(Some(&cancelling)),
        StateCreate::of_type(StateType::Completed),
        true,
        now(),
    );
    assert_eq!(status(&decision), SetStateStatus::Accept);
    let completed = state(StateType::Completed, "Completed");
    let decision = decide(
        &facts(Some(&completed)),
        StateCreate::of_type(StateType::Crashed),
        true,
        now(),
    );
    assert_eq!(status(&decision), SetStateStatus::Accept);
}

#[test]
fn deployment_limits_enqueue_or_cancel_when_full_and_abort_at_zero() {
    use crate::concurrency_limits::ConcurrencyLimitV2Create;
    let at = now();
    let mut limit = serde_json::from_value::<ConcurrencyLimitV2Create>(
        serde_json::json!({"name": "deployment:x", "limit": 1}),
    )
    .unwrap()
    .into_limit(uuid::Uuid::new_v4(), at);
    assert_eq!(secure_flow_concurrency_slots(&mut limit, None, at), None);
    assert_eq!(limit.active_slots, 1);
    let Some(Decision::Reject {
        state: Some(wait), ..
    }) = secure_flow_concurrency_slots(&mut limit, None, at)
    else {
        panic!("ENQUEUE reschedules");
    };
    assert_eq!(wait.display_name(), "AwaitingConcurrencySlot");
    assert_eq!(
        wait.state_details.scheduled_time,
        Some(at.plus_seconds(30.0))
    );
    let cancel = serde_json::json!({"collision_strategy": "CANCEL_NEW"});
    let Some(Decision::Reject {
        state: Some(cancelled),
        ..
    }) = secure_flow_concurrency_slots(&mut limit, Some(&cancel), at)
    else {
        panic!("CANCEL_NEW cancels");
    };
    assert_eq!(cancelled.state_type, StateType::Cancelled);
    limit.limit = 0;
    assert!(matches!(
        secure_flow_concurrency_slots(&mut limit, None, at),
        Some(Decision::Abort { .. })
    ));

    assert!(needs_deployment_slot(
        Some(StateType::Scheduled),
        StateType::Pending
    ));
    assert!(needs_deployment_slot(None, StateType::Pending));
    assert!(!needs_deployment_slot(
        Some(StateType::Running),
        StateType::Pending
    ));
    assert!(releases_deployment_slot(
        Some(StateType::Running),
        StateType::Completed
    ));
    assert!(!releases_deployment_slot(
        Some(StateType::Pending),
        StateType::Running
    ));
    assert!(!releases_deployment_slot(
        Some(StateType::Scheduled),
        StateType::Completed
    ));
}
