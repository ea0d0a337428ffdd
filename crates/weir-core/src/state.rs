//! The state model shared by flow runs and task runs: state types, named states, and the
//! `state_details` document Prefect clients send and read back.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// The nine state types of a run. Every named state ("Late", "AwaitingRetry", "Cached"...) has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateType {
    Scheduled,
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
    Crashed,
    Paused,
    Cancelling,
}

impl StateType {
    /// Every state type, in Prefect's order.
    pub const ALL: [StateType; 9] = [
        StateType::Scheduled,
        StateType::Pending,
        StateType::Running,
        StateType::Completed,
        StateType::Failed,
        StateType::Cancelled,
        StateType::Crashed,
        StateType::Paused,
        StateType::Cancelling,
    ];

    /// COMPLETED, FAILED, CANCELLED and CRASHED end a run.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StateType::Completed | StateType::Failed | StateType::Cancelled | StateType::Crashed
        )
    }

    /// The wire name, e.g. `"RUNNING"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateType::Scheduled => "SCHEDULED",
            StateType::Pending => "PENDING",
            StateType::Running => "RUNNING",
            StateType::Completed => "COMPLETED",
            StateType::Failed => "FAILED",
            StateType::Cancelled => "CANCELLED",
            StateType::Crashed => "CRASHED",
            StateType::Paused => "PAUSED",
            StateType::Cancelling => "CANCELLING",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<StateType> {
        StateType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The name a state of this type gets when the client names none ("Scheduled", "Running"...).
    pub fn default_name(self) -> &'static str {
        match self {
            StateType::Scheduled => "Scheduled",
            StateType::Pending => "Pending",
            StateType::Running => "Running",
            StateType::Completed => "Completed",
            StateType::Failed => "Failed",
            StateType::Cancelled => "Cancelled",
            StateType::Crashed => "Crashed",
            StateType::Paused => "Paused",
            StateType::Cancelling => "Cancelling",
        }
    }
}

/// Details attached to a state. Every key is echoed back, `null` when unset, as Prefect does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct StateDetails {
    pub flow_run_id: Option<Uuid>,
    pub task_run_id: Option<Uuid>,
    pub child_flow_run_id: Option<Uuid>,
    pub scheduled_time: Option<Timestamp>,
    pub cache_key: Option<String>,
    pub cache_expiration: Option<Timestamp>,
    pub deferred: Option<bool>,
    pub untrackable_result: bool,
    pub pause_timeout: Option<Timestamp>,
    pub pause_reschedule: bool,
    pub pause_key: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub run_input_keyset: Option<Value>,
    pub refresh_cache: Option<bool>,
    pub retriable: Option<bool>,
    pub transition_id: Option<Uuid>,
    pub task_parameters_id: Option<Uuid>,
    pub traceparent: Option<String>,
    pub deployment_concurrency_lease_id: Option<Uuid>,
}

/// A state proposed by a client (the body of `set_state`, or the initial state of a new run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StateCreate {
    #[serde(rename = "type")]
    pub state_type: StateType,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    #[serde(default)]
    pub state_details: StateDetails,
}

impl StateCreate {
    /// A proposal of the given type with its default name.
    pub fn of_type(state_type: StateType) -> Self {
        Self {
            state_type,
            name: Some(state_type.default_name().to_owned()),
            message: None,
            data: None,
            state_details: StateDetails::default(),
        }
    }

    /// The same proposal under another name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// A state as stored and returned: a proposal that was given an id and a timestamp.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct State {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub state_type: StateType,
    pub name: Option<String>,
    pub timestamp: Timestamp,
    pub message: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    pub state_details: StateDetails,
}

impl State {
    /// Turns a proposal into a state stamped with a fresh time-ordered id and `timestamp`. A missing
    /// name becomes the type's default name; a SCHEDULED state without `scheduled_time` is due now.
    pub fn from_proposal(proposal: StateCreate, timestamp: Timestamp) -> Self {
        let mut state_details = proposal.state_details;
        if proposal.state_type == StateType::Scheduled && state_details.scheduled_time.is_none() {
            state_details.scheduled_time = Some(timestamp);
        }
        State {
            id: Uuid::now_v7(),
            state_type: proposal.state_type,
            name: Some(
                proposal
                    .name
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| proposal.state_type.default_name().to_owned()),
            ),
            timestamp,
            message: proposal.message,
            data: proposal.data,
            state_details,
        }
    }

    /// The state's name, or its type's default name.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .unwrap_or_else(|| self.state_type.default_name())
    }

    /// The proposal that would recreate this state (used when a rule hands a state back to the client).
    pub fn to_proposal(&self) -> StateCreate {
        StateCreate {
            state_type: self.state_type,
            name: self.name.clone(),
            message: self.message.clone(),
            data: self.data.clone(),
            state_details: self.state_details.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_details_echo_every_key() {
        let json = serde_json::to_value(StateDetails::default()).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 18);
        assert_eq!(json["untrackable_result"], false);
        assert!(json["transition_id"].is_null());
    }

    #[test]
    fn a_scheduled_proposal_without_time_is_due_now() {
        let now = Timestamp::now();
        let state = State::from_proposal(StateCreate::of_type(StateType::Scheduled), now);
        assert_eq!(state.state_details.scheduled_time, Some(now));
        assert_eq!(state.display_name(), "Scheduled");
    }

    #[test]
    fn unknown_state_types_are_refused() {
        let err = serde_json::from_str::<StateCreate>(r#"{"type":"SLEEPING"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }
}
