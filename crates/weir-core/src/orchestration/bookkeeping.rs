//! What every written state does to its run (Prefect's global policy): the denormalised state
//! fields, run counts, start and end times, total run time, expected and next scheduled start.

use crate::schemas::{FlowRun, TaskRun};
use crate::state::{State, StateType};
use uuid::Uuid;

/// Mutable views of the fields bookkeeping maintains, shared by flow runs and task runs.
pub struct RunFields<'a> {
    pub state: &'a mut Option<State>,
    pub state_id: &'a mut Option<Uuid>,
    pub state_type: &'a mut Option<StateType>,
    pub state_name: &'a mut Option<String>,
    pub run_count: &'a mut i64,
    pub start_time: &'a mut Option<crate::Timestamp>,
    pub end_time: &'a mut Option<crate::Timestamp>,
    pub total_run_time: &'a mut f64,
    pub expected_start_time: &'a mut Option<crate::Timestamp>,
    pub next_scheduled_start_time: &'a mut Option<crate::Timestamp>,
    pub updated: &'a mut crate::Timestamp,
}

/// A run whose state is orchestrated.
pub trait Orchestrated {
    /// The fields bookkeeping updates.
    fn run_fields(&mut self) -> RunFields<'_>;
}

macro_rules! impl_orchestrated {
    ($ty:ty) => {
        impl Orchestrated for $ty {
            fn run_fields(&mut self) -> RunFields<'_> {
                RunFields {
                    state: &mut self.state,
                    state_id: &mut self.state_id,
                    state_type: &mut self.state_type,
                    state_name: &mut self.state_name,
                    run_count: &mut self.run_count,
                    start_time: &mut self.start_time,
                    end_time: &mut self.end_time,
                    total_run_time: &mut self.total_run_time,
                    expected_start_time: &mut self.expected_start_time,
                    next_scheduled_start_time: &mut self.next_scheduled_start_time,
                    updated: &mut self.updated,
                }
            }
        }
    };
}

impl_orchestrated!(FlowRun);
impl_orchestrated!(TaskRun);

/// Makes `state` the run's current state and updates everything derived from it. The state's
/// timestamp is moved just past the previous state's when it would not sort after it, so a run's
/// history is strictly ordered. Returns the state as written.
pub fn apply_state(run: &mut impl Orchestrated, mut state: State) -> State {
    let fields = run.run_fields();
    if let Some(previous) = fields.state.as_ref() {
        if state.timestamp <= previous.timestamp {
            state.timestamp = previous.timestamp.plus_seconds(0.000_001);
        }
        if previous.state_type == StateType::Running {
            *fields.total_run_time += state.timestamp.seconds_since(&previous.timestamp).max(0.0);
        }
    }
    if state.state_type == StateType::Running {
        *fields.run_count += 1;
        if fields.start_time.is_none() {
            *fields.start_time = Some(state.timestamp);
        }
    }
    if state.state_type.is_terminal() {
        *fields.end_time = Some(state.timestamp);
    } else if fields.end_time.is_some() {
        *fields.end_time = None;
    }
    if state.state_type == StateType::Scheduled {
        *fields.next_scheduled_start_time = state.state_details.scheduled_time;
    } else {
        *fields.next_scheduled_start_time = None;
    }
    if fields.expected_start_time.is_none() {
        *fields.expected_start_time = Some(
            state
                .state_details
                .scheduled_time
                .filter(|_| state.state_type == StateType::Scheduled)
                .unwrap_or(state.timestamp),
        );
    }
    *fields.state_id = Some(state.id);
    *fields.state_type = Some(state.state_type);
    *fields.state_name = state.name.clone();
    *fields.updated = state.timestamp.max(*fields.updated);
    *fields.state = Some(state.clone());
    state
}
