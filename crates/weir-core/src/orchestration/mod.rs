//! The orchestration policy: given a run's current state and a proposed one, decide ACCEPT, REJECT,
//! WAIT or ABORT, and what state (if any) gets written.
//!
//! Rules follow Prefect 3's `CoreFlowPolicy` and `CoreTaskPolicy` in priority order, one function per
//! rule so each can be tested on its own; [`flow::decide`] and [`task::decide`] run them. The
//! bookkeeping every written state triggers (run counts, start/end times, denormalised state fields)
//! lives in [`bookkeeping`]. Everything here is pure: the caller supplies the clock and randomness and
//! persists the outcome (the server does so with a compare-and-swap on the current state id, so two
//! concurrent proposals cannot both win).

pub mod bookkeeping;
pub mod flow;
pub mod retry_jitter;
pub mod task;

use crate::schemas::{OrchestrationDetails, OrchestrationResult, SetStateStatus};
use crate::state::{State, StateCreate, StateType};
use crate::time::Timestamp;

/// The outcome of running a policy over one proposal.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Write this state (the proposal, possibly renamed or amended by a rule).
    Accept(State),
    /// Do not write the proposal. When `state` is set, that replacement is written instead (e.g.
    /// AwaitingRetry for a retried failure); otherwise the client is handed the current state.
    Reject {
        state: Option<State>,
        reason: String,
    },
    /// Write nothing; the client should try again after `delay_seconds`.
    Wait { delay_seconds: f64, reason: String },
    /// Write nothing; the client must stop orchestrating this run.
    Abort { reason: String },
}

impl Decision {
    /// The state this decision writes, if any.
    pub fn state_to_write(&self) -> Option<&State> {
        match self {
            Decision::Accept(state) => Some(state),
            Decision::Reject {
                state: Some(state), ..
            } => Some(state),
            _ => None,
        }
    }

    /// The same decision with `written` as its state: the state to write after bookkeeping
    /// adjusted it (its timestamp). Decisions that write nothing are returned unchanged.
    pub fn with_written(self, written: State) -> Decision {
        match self {
            Decision::Accept(_) => Decision::Accept(written),
            Decision::Reject {
                state: Some(_),
                reason,
            } => Decision::Reject {
                state: Some(written),
                reason,
            },
            other => other,
        }
    }

    /// The wire answer: the written state (or `current` when nothing is written) plus status and details.
    pub fn into_result(self, current: Option<State>) -> OrchestrationResult {
        match self {
            Decision::Accept(state) => OrchestrationResult {
                state: Some(state),
                status: SetStateStatus::Accept,
                details: OrchestrationDetails::AcceptDetails,
            },
            Decision::Reject { state, reason } => OrchestrationResult {
                state: state.or(current),
                status: SetStateStatus::Reject,
                details: OrchestrationDetails::RejectDetails {
                    reason: Some(reason),
                },
            },
            Decision::Wait {
                delay_seconds,
                reason,
            } => OrchestrationResult {
                state: current,
                status: SetStateStatus::Wait,
                details: OrchestrationDetails::WaitDetails {
                    delay_seconds,
                    reason: Some(reason),
                },
            },
            Decision::Abort { reason } => OrchestrationResult {
                state: current,
                status: SetStateStatus::Abort,
                details: OrchestrationDetails::AbortDetails {
                    reason: Some(reason),
                },
            },
        }
    }
}

/// A rule's verdict: either it settles the decision, or it lets the proposal (possibly amended) go on
/// to the next rule.
pub(crate) enum Step {
    Continue(State),
    Done(Decision),
}

/// Rejects a proposal whose `transition_id` equals the current state's: the client is retrying a
/// request that already succeeded, so nothing is written twice.
pub(crate) fn prevent_duplicate_transitions(current: Option<&State>, proposed: State) -> Step {
    let repeated = match (current, proposed.state_details.transition_id) {
        (Some(current), Some(id)) => current.state_details.transition_id == Some(id),
        _ => false,
    };
    if repeated {
        Step::Done(Decision::Reject {
            state: None,
            reason: "This run has already made this state transition.".into(),
        })
    } else {
        Step::Continue(proposed)
    }
}

/// SCHEDULED → PENDING carries the scheduled time into the PENDING state's details.
pub(crate) fn copy_scheduled_time(current: Option<&State>, mut proposed: State) -> State {
    if let Some(current) = current {
        if current.state_type == StateType::Scheduled
            && proposed.state_type == StateType::Pending
            && proposed.state_details.scheduled_time.is_none()
        {
            proposed.state_details.scheduled_time = current.state_details.scheduled_time;
        }
    }
    proposed
}

/// SCHEDULED/PENDING → RUNNING before the scheduled time answers WAIT with the seconds left.
pub(crate) fn wait_for_scheduled_time(
    current: Option<&State>,
    proposed: State,
    now: Timestamp,
) -> Step {
    let Some(current) = current else {
        return Step::Continue(proposed);
    };
    if !matches!(
        current.state_type,
        StateType::Scheduled | StateType::Pending
    ) || proposed.state_type != StateType::Running
    {
        return Step::Continue(proposed);
    }
    match current.state_details.scheduled_time {
        Some(scheduled) if scheduled > now => Step::Done(Decision::Wait {
            delay_seconds: scheduled.seconds_since(&now).ceil(),
            reason: "Scheduled time is in the future".into(),
        }),
        _ => Step::Continue(proposed),
    }
}

/// Names a RUNNING state after what came before it: "Retrying" after AwaitingRetry, "Rerunning" when
/// the run has run before. A name the client chose itself is kept.
pub(crate) fn rename_reruns(current: Option<&State>, mut proposed: State, run_count: i64) -> State {
    if proposed.state_type != StateType::Running || proposed.display_name() != "Running" {
        return proposed;
    }
    let Some(current) = current else {
        return proposed;
    };
    if current.state_type == StateType::Paused {
        return proposed;
    }
    if current.display_name() == "AwaitingRetry" {
        proposed.name = Some("Retrying".into());
    } else if run_count > 0 {
        proposed.name = Some("Rerunning".into());
    }
    proposed
}

/// The AwaitingRetry state a retried failure is replaced with.
pub(crate) fn awaiting_retry(failed: &State, now: Timestamp, delay_seconds: f64) -> State {
    let mut retry = StateCreate::of_type(StateType::Scheduled).named("AwaitingRetry");
    retry.message = failed.message.clone();
    retry.data = failed.data.clone();
    retry.state_details.scheduled_time = Some(now.plus_seconds(delay_seconds.max(0.0)));
    retry.state_details.flow_run_id = failed.state_details.flow_run_id;
    retry.state_details.task_run_id = failed.state_details.task_run_id;
    State::from_proposal(retry, now)
}
