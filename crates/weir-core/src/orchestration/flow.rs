//! The flow-run policy (Prefect's `CoreFlowPolicy`, or `MinimalFlowPolicy` under `force`).

use super::{
    awaiting_retry, copy_scheduled_time, prevent_duplicate_transitions, rename_reruns,
    wait_for_scheduled_time, Decision, Step,
};
use crate::concurrency_limits::{acquire, ConcurrencyLimitV2, SlotMode};
use crate::state::{State, StateCreate, StateType};
use crate::time::Timestamp;

/// What the flow policy needs to know about the run a state is proposed for.
#[derive(Clone, Debug)]
pub struct FlowRunFacts<'a> {
    /// The run's current state; `None` for a run being created.
    pub current: Option<&'a State>,
    /// How many times the run has entered RUNNING.
    pub run_count: i64,
    /// `empirical_policy.retries` (falling back to `max_retries`).
    pub retries: i64,
    /// `empirical_policy.retry_delay` (falling back to `retry_delay_seconds`), in seconds.
    pub retry_delay_seconds: f64,
    /// Whether the run belongs to a deployment (only those can be rescheduled).
    pub has_deployment: bool,
    /// Whether infrastructure was started for the run (a worker recorded `infrastructure_pid`).
    pub has_infrastructure: bool,
}

/// Decides a proposal for a flow run. `force` skips the rules a client may override (it is how a
/// worker records Cancelled after killing a run).
pub fn decide(
    facts: &FlowRunFacts<'_>,
    proposal: StateCreate,
    force: bool,
    now: Timestamp,
) -> Decision {
    let current = facts.current;
    let proposed = State::from_proposal(proposal, now);
    if force {
        return Decision::Accept(proposed);
    }
    let steps: [&dyn Fn(State) -> Step; 7] = [
        &|p| prevent_duplicate_transitions(current, p),
        &|p| handle_terminal_state_transitions(facts, p),
        &|p| enforce_cancelling_to_cancelled(current, p),
        &|p| bypass_cancelling_runs_with_no_infrastructure(facts, p, now),
        &|p| prevent_pending_transitions(current, p),
        &|p| ensure_only_scheduled_runs_marked_late(current, p),
        &|p| wait_for_scheduled_time(current, copy_scheduled_time(current, p), now),
    ];
    let mut proposed = proposed;
    for step in steps {
        match step(proposed) {
            Step::Continue(next) => proposed = next,
            Step::Done(decision) => return decision,
        }
    }
    if let Some(decision) = retry_failed_flows(facts, &proposed, now) {
        return decision;
    }
    Decision::Accept(rename_reruns(current, proposed, facts.run_count))
}

/// From a terminal state: CANCELLING, PAUSED and CRASHED abort; leaving a COMPLETED run whose result
/// was persisted is refused; rescheduling needs a deployment; anything else is a re-run and allowed.
fn handle_terminal_state_transitions(facts: &FlowRunFacts<'_>, proposed: State) -> Step {
    let Some(current) = facts.current else {
        return Step::Continue(proposed);
    };
    if !current.state_type.is_terminal() {
        return Step::Continue(proposed);
    }
    if matches!(
        proposed.state_type,
        StateType::Cancelling | StateType::Paused | StateType::Crashed
    ) {
        return Step::Done(Decision::Abort {
            reason: format!(
                "Run is already in terminal state {}.",
                current.state_type.as_str()
            ),
        });
    }
    if current.state_type == StateType::Completed && current.data.is_some() {
        return Step::Done(Decision::Reject {
            state: None,
            reason: "This run is already completed and its result is persisted.".into(),
        });
    }
    if proposed.state_type == StateType::Scheduled && !facts.has_deployment {
        return Step::Done(Decision::Abort {
            reason: "Cannot reschedule a run without an associated deployment.".into(),
        });
    }
    Step::Continue(proposed)
}

/// A CANCELLING run may only become CANCELLED.
fn enforce_cancelling_to_cancelled(current: Option<&State>, proposed: State) -> Step {
    match current {
        Some(c)
            if c.state_type == StateType::Cancelling
                && proposed.state_type != StateType::Cancelled =>
        {
            Step::Done(Decision::Reject {
                state: None,
                reason:
                    "Cannot transition flows that are cancelling to a state other than Cancelled."
                        .into(),
            })
        }
        _ => Step::Continue(proposed),
    }
}

/// Cancelling a run that no infrastructure picked up yet skips CANCELLING: nobody would finish the
/// cancellation, so the run goes straight to CANCELLED.
fn bypass_cancelling_runs_with_no_infrastructure(
    facts: &FlowRunFacts<'_>,
    proposed: State,
    now: Timestamp,
) -> Step {
    let Some(current) = facts.current else {
        return Step::Continue(proposed);
    };
    if proposed.state_type != StateType::Cancelling {
        return Step::Continue(proposed);
    }
    let unclaimed = current.state_type == StateType::Scheduled && !facts.has_infrastructure;
    let suspended =
        current.state_type == StateType::Paused && current.state_details.pause_reschedule;
    if !(unclaimed || suspended) {
        return Step::Continue(proposed);
    }
    let mut cancelled = StateCreate::of_type(StateType::Cancelled);
    cancelled.message = proposed.message.clone();
    cancelled.state_details.flow_run_id = proposed.state_details.flow_run_id;
    Step::Done(Decision::Reject {
        state: Some(State::from_proposal(cancelled, now)),
        reason: "Run was not started by any infrastructure; it is cancelled right away.".into(),
    })
}

/// The claim lock: a run that is PENDING, RUNNING, CANCELLING or CANCELLED cannot enter PENDING, so
/// of two workers proposing PENDING only the first wins. A PENDING run may be renamed (Pending →
/// Submitting → InfrastructurePending), never back to "Pending".
fn prevent_pending_transitions(current: Option<&State>, proposed: State) -> Step {
    let Some(current) = current else {
        return Step::Continue(proposed);
    };
    if proposed.state_type != StateType::Pending
        || !matches!(
            current.state_type,
            StateType::Pending | StateType::Running | StateType::Cancelling | StateType::Cancelled
        )
    {
        return Step::Continue(proposed);
    }
    let renaming = current.state_type == StateType::Pending
        && proposed.display_name() != current.display_name()
        && proposed.display_name() != "Pending";
    if renaming {
        return Step::Continue(proposed);
    }
    Step::Done(Decision::Abort {
        reason: format!(
            "This run is in a {} state and cannot transition to a PENDING state.",
            current.state_type.as_str()
        ),
    })
}

/// Only a SCHEDULED run can be marked Late.
fn ensure_only_scheduled_runs_marked_late(current: Option<&State>, proposed: State) -> Step {
    let marks_late =
        proposed.state_type == StateType::Scheduled && proposed.display_name() == "Late";
    match current {
        Some(c) if marks_late && c.state_type != StateType::Scheduled => {
            Step::Done(Decision::Reject {
                state: None,
                reason: "Only scheduled runs can be marked late.".into(),
            })
        }
        _ => Step::Continue(proposed),
    }
}

/// RUNNING → FAILED with retries left is replaced by AwaitingRetry after the retry delay.
fn retry_failed_flows(
    facts: &FlowRunFacts<'_>,
    proposed: &State,
    now: Timestamp,
) -> Option<Decision> {
    let current = facts.current?;
    if current.state_type != StateType::Running
        || proposed.state_type != StateType::Failed
        || facts.run_count > facts.retries
    {
        return None;
    }
    Some(Decision::Reject {
        state: Some(awaiting_retry(proposed, now, facts.retry_delay_seconds)),
        reason: "Retrying".into(),
    })
}

/// Seconds a flow run waits for a deployment concurrency slot before it is proposed again
/// (Prefect's `server.deployments.concurrency_slot_wait_seconds`).
pub const DEPLOYMENT_CONCURRENCY_SLOT_WAIT_SECONDS: f64 = 30.0;

/// Whether a flow run moving from `current` to `written` must hold a slot of its deployment's
/// concurrency limit: it enters PENDING from anything but PENDING, RUNNING and CANCELLING.
pub fn needs_deployment_slot(current: Option<StateType>, written: StateType) -> bool {
    written == StateType::Pending && !current.is_some_and(holds_deployment_slot)
}

/// Whether a flow run moving from `current` to `written` gives its deployment slot back (Prefect's
/// `ReleaseFlowConcurrencySlots`): it leaves PENDING, RUNNING or CANCELLING for another state.
pub fn releases_deployment_slot(current: Option<StateType>, written: StateType) -> bool {
    current.is_some_and(holds_deployment_slot) && !holds_deployment_slot(written)
}

fn holds_deployment_slot(state_type: StateType) -> bool {
    matches!(
        state_type,
        StateType::Pending | StateType::Running | StateType::Cancelling
    )
}

/// Prefect's `SecureFlowConcurrencySlots`: a flow run entering PENDING takes a slot of its
/// deployment's concurrency limit (`limit`, read under a lock). `None`: taken (or the limit is
/// inactive). Otherwise the decision to answer instead: ABORT for a limit of 0; for a full limit,
/// by the deployment's `concurrency_options.collision_strategy`, ENQUEUE (the default) rejects
/// with a SCHEDULED "AwaitingConcurrencySlot" state due in 30 s, CANCEL_NEW with CANCELLED.
pub fn secure_flow_concurrency_slots(
    limit: &mut ConcurrencyLimitV2,
    concurrency_options: Option<&serde_json::Value>,
    now: Timestamp,
) -> Option<Decision> {
    if !limit.active {
        return None;
    }
    if limit.limit == 0 {
        return Some(Decision::Abort {
            reason: "The deployment concurrency limit is 0. The flow will deadlock if submitted \
                     again."
                .into(),
        });
    }
    if acquire(std::slice::from_mut(limit), 1, SlotMode::Concurrency, now) == Ok(true) {
        return None;
    }
    let reason = "Deployment concurrency limit reached.";
    let strategy = concurrency_options
        .and_then(|o| o.get("collision_strategy"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("ENQUEUE");
    let state = if strategy == "CANCEL_NEW" {
        let mut cancelled = StateCreate::of_type(StateType::Cancelled);
        cancelled.message = Some(reason.into());
        State::from_proposal(cancelled, now)
    } else {
        let mut wait = StateCreate::of_type(StateType::Scheduled).named("AwaitingConcurrencySlot");
        wait.state_details.scheduled_time =
            Some(now.plus_seconds(DEPLOYMENT_CONCURRENCY_SLOT_WAIT_SECONDS));
        State::from_proposal(wait, now)
    };
    Some(Decision::Reject {
        state: Some(state),
        reason: reason.into(),
    })
}

#[cfg(test)]
mod tests;
