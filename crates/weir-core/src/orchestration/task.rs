//! The task-run policy (Prefect's `CoreTaskPolicy`), used by REST `set_state` on task runs. The
//! Prefect 3 engine applies the same rules client-side and only reports results as events.

use super::retry_jitter::jittered_delay;
use super::{
    awaiting_retry, copy_scheduled_time, prevent_duplicate_transitions, rename_reruns,
    wait_for_scheduled_time, Decision, Step,
};
use crate::concurrency_limits::{
    acquire, ConcurrencyLimitV2, SlotMode, MAX_SLOT_WAIT_SECONDS, TAG_PREFIX,
};
use crate::schemas::TaskRunPolicy;
use crate::state::{State, StateCreate, StateType};
use crate::time::Timestamp;

/// What the task policy needs to know about the run a state is proposed for.
#[derive(Clone, Debug)]
pub struct TaskRunFacts<'a> {
    /// The task run's current state; `None` for a run being created.
    pub current: Option<&'a State>,
    pub run_count: i64,
    pub policy: &'a TaskRunPolicy,
    /// The state type of the flow run the task belongs to, when it has one.
    pub flow_run_state: Option<StateType>,
    /// A sample in [-1, 1] used to spread retry delays by `retry_jitter_factor`.
    pub jitter_sample: f64,
}

/// Decides a proposal for a task run.
pub fn decide(
    facts: &TaskRunFacts<'_>,
    proposal: StateCreate,
    force: bool,
    now: Timestamp,
) -> Decision {
    let current = facts.current;
    let proposed = State::from_proposal(proposal, now);
    if force {
        return Decision::Accept(proposed);
    }
    let steps: [&dyn Fn(State) -> Step; 4] = [
        &|p| prevent_duplicate_transitions(current, p),
        &|p| handle_terminal_state_transitions(current, p),
        &|p| prevent_running_tasks_from_stopped_flows(facts, p, now),
        &|p| wait_for_scheduled_time(current, copy_scheduled_time(current, p), now),
    ];
    let mut proposed = proposed;
    for step in steps {
        match step(proposed) {
            Step::Continue(next) => proposed = next,
            Step::Done(decision) => return decision,
        }
    }
    if let Some(decision) = retry_failed_tasks(facts, &proposed, now) {
        return decision;
    }
    Decision::Accept(rename_reruns(current, proposed, facts.run_count))
}

/// From a terminal state, CANCELLING, PAUSED and CRASHED abort.
fn handle_terminal_state_transitions(current: Option<&State>, proposed: State) -> Step {
    match current {
        Some(c)
            if c.state_type.is_terminal()
                && matches!(
                    proposed.state_type,
                    StateType::Cancelling | StateType::Paused | StateType::Crashed
                ) =>
        {
            Step::Done(Decision::Abort {
                reason: format!(
                    "Run is already in terminal state {}.",
                    c.state_type.as_str()
                ),
            })
        }
        _ => Step::Continue(proposed),
    }
}

/// A task cannot start while its flow run is not RUNNING; a paused flow hands back a Paused state.
fn prevent_running_tasks_from_stopped_flows(
    facts: &TaskRunFacts<'_>,
    proposed: State,
    now: Timestamp,
) -> Step {
    let Some(flow_state) = facts.flow_run_state else {
        return Step::Continue(proposed);
    };
    if proposed.state_type != StateType::Running || flow_state == StateType::Running {
        return Step::Continue(proposed);
    }
    if flow_state == StateType::Paused {
        let paused = StateCreate::of_type(StateType::Paused).named("NotReady");
        return Step::Done(Decision::Reject {
            state: Some(State::from_proposal(paused, now)),
            reason: "The flow is paused, new tasks can execute after resuming flow run.".into(),
        });
    }
    Step::Done(Decision::Abort {
        reason: format!(
            "The enclosing flow must be running to begin task execution; it is {}.",
            flow_state.as_str()
        ),
    })
}

/// RUNNING → FAILED with retries left (and not marked non-retriable) becomes AwaitingRetry.
fn retry_failed_tasks(
    facts: &TaskRunFacts<'_>,
    proposed: &State,
    now: Timestamp,
) -> Option<Decision> {
    let current = facts.current?;
    let retries = facts.policy.retries.unwrap_or(facts.policy.max_retries);
    if current.state_type != StateType::Running
        || proposed.state_type != StateType::Failed
        || facts.run_count > retries
        || proposed.state_details.retriable == Some(false)
    {
        return None;
    }
    let base = facts.policy.delay_for_attempt(facts.run_count);
    let jitter = facts.policy.retry_jitter_factor.unwrap_or(0.0).max(0.0);
    let uniform = (facts.jitter_sample.clamp(-1.0, 1.0) + 1.0) / 2.0;
    let delay = super::retry_jitter::jittered_delay(base, jitter, uniform);
    Some(Decision::Reject {
        state: Some(awaiting_retry(proposed, now, delay)),
        reason: "Retrying".into(),
    })
}

/// What [`secure_task_concurrency_slots`] decided for a task run entering RUNNING.
#[derive(Clone, Debug, PartialEq)]
pub enum TagSlots {
    /// A slot is taken on every active limit of the run's tags (the limits are updated).
    Acquired,
    /// A tag's limit is 0: the run could never start.
    Abort { reason: String },
    /// A tag's limit is full: try again after the delay; nothing was taken.
    Wait { delay_seconds: f64, reason: String },
}

impl TagSlots {
    /// The decision to answer instead of the accepted one, unless the slots were taken.
    pub fn into_decision(self) -> Option<Decision> {
        match self {
            TagSlots::Acquired => None,
            TagSlots::Abort { reason } => Some(Decision::Abort { reason }),
            TagSlots::Wait {
                delay_seconds,
                reason,
            } => Some(Decision::Wait {
                delay_seconds,
                reason,
            }),
        }
    }
}

/// Prefect's `SecureTaskConcurrencySlots`: a task run entering RUNNING takes one slot on the limit
/// of each of its tags (`limits`: the `tag:` global limits of its tags, read under a lock). An
/// active limit of 0 aborts, a full one makes the run wait about the limit's average slot
/// occupancy (at most 30 s, spread by `uniform` in `[0, 1)`, whole seconds); inactive limits are
/// ignored. The slots are given back when the run leaves RUNNING (`release_task_slot`).
pub fn secure_task_concurrency_slots(
    limits: &mut [ConcurrencyLimitV2],
    now: Timestamp,
    uniform: f64,
) -> TagSlots {
    let tag = |l: &ConcurrencyLimitV2| l.name.trim_start_matches(TAG_PREFIX).to_owned();
    if let Some(zero) = limits.iter().find(|l| l.active && l.limit == 0) {
        return TagSlots::Abort {
            reason: format!(
                "The concurrency limit on tag \"{}\" is 0 and will deadlock if the task tries to \
                 run again.",
                tag(zero)
            ),
        };
    }
    match acquire(limits, 1, SlotMode::Concurrency, now) {
        Ok(true) => TagSlots::Acquired,
        _ => {
            let active: Vec<&ConcurrencyLimitV2> = limits.iter().filter(|l| l.active).collect();
            let fullest = active.iter().max_by(|a, b| {
                let load = |l: &ConcurrencyLimitV2| l.active_slots_at(now) as f64 / l.limit as f64;
                load(a).total_cmp(&load(b))
            });
            let average = fullest.map_or(MAX_SLOT_WAIT_SECONDS, |l| {
                if l.avg_slot_occupancy_seconds > 0.0 {
                    l.avg_slot_occupancy_seconds.min(MAX_SLOT_WAIT_SECONDS)
                } else {
                    MAX_SLOT_WAIT_SECONDS
                }
            });
            let tags: Vec<String> = active.iter().map(|l| tag(l)).collect();
            TagSlots::Wait {
                delay_seconds: jittered_delay(average, 0.3, uniform).round(),
                reason: format!("Concurrency limit reached for tags: {}", tags.join(", ")),
            }
        }
    }
}

/// Prefect's `ReleaseTaskConcurrencySlots`: whether a run whose state becomes `written` gives back
/// the slots it holds (it keeps them in RUNNING and CANCELLING).
pub fn releases_task_slots(written: StateType) -> bool {
    !matches!(written, StateType::Running | StateType::Cancelling)
}

#[cfg(test)]
mod tests;
