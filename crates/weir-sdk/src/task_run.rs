//! One task run's identity and bookkeeping, and the `prefect.task-run.<StateName>` events that
//! describe its state changes, in the shape the Prefect 3 client sends.
//!
//! Each state is one event, linked to the previous one by `follows`; the server turns the chain
//! into the task run and its state history. Outside a flow nothing is reported.

use crate::context::FlowContext;
use crate::logging::TaskRunScope;
use crate::options::Options;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use uuid::Uuid;
use weir_core::events::{Event, Resource};
use weir_core::{StateDetails, StateType, Timestamp};

/// A state to report.
pub(crate) struct StateReport<'a> {
    pub state_type: StateType,
    pub name: &'a str,
    pub message: String,
    pub scheduled_time: Option<Timestamp>,
    /// The persisted result's metadata, for a COMPLETED state.
    pub data: Option<Value>,
}

impl<'a> StateReport<'a> {
    pub(crate) fn new(state_type: StateType, name: &'a str) -> Self {
        StateReport {
            state_type,
            name,
            message: String::new(),
            scheduled_time: None,
            data: None,
        }
    }
}

/// A task run in progress.
pub(crate) struct TaskRunReporter<'o> {
    pub context: Option<Arc<FlowContext>>,
    options: &'o Options,
    pub id: Uuid,
    pub name: String,
    dynamic_key: u64,
    task_inputs: Map<String, Value>,
    pub run_count: u32,
    expected_start_time: Timestamp,
    start_time: Option<Timestamp>,
    running_since: Option<Timestamp>,
    total_run_time: f64,
    /// The last reported state's type, name and message, and its event id.
    last: Option<(StateType, String, String, Uuid)>,
}

impl<'o> TaskRunReporter<'o> {
    /// A new task run, reported as Pending.
    pub(crate) fn new(options: &'o Options, parameters: &[(&'static str, Value)]) -> Self {
        let context = FlowContext::current();
        let id = Uuid::now_v7();
        let dynamic_key = context
            .as_ref()
            .map_or(0, |c| c.next_dynamic_key(options.key));
        // Prefect's `task_inputs` name each argument's upstream runs, not its value.
        let task_inputs = parameters
            .iter()
            .map(|(name, _)| ((*name).to_owned(), json!([])))
            .collect();
        let simple = id.simple().to_string();
        let mut reporter = Self {
            context,
            options,
            id,
            name: format!("{}-{}", options.name, &simple[simple.len() - 3..]),
            dynamic_key,
            task_inputs,
            run_count: 0,
            expected_start_time: Timestamp::now(),
            start_time: None,
            running_since: None,
            total_run_time: 0.0,
            last: None,
        };
        reporter.report(StateReport::new(StateType::Pending, "Pending"));
        reporter
    }

    /// This run as the scope of the logs its body emits.
    pub(crate) fn scope(&self) -> TaskRunScope {
        TaskRunScope {
            id: self.id,
            log_prints: self.options.log_prints,
        }
    }

    /// Emits a log line of this run (shipped with its task-run id).
    pub(crate) fn log(&self, level: tracing::Level, message: &str) {
        self.scope().sync_scope(|| match level {
            tracing::Level::ERROR => tracing::error!(task_run = %self.name, "{message}"),
            tracing::Level::WARN => tracing::warn!(task_run = %self.name, "{message}"),
            _ => tracing::info!(task_run = %self.name, "{message}"),
        });
    }

    pub(crate) fn running(&mut self, run_count: u32) {
        self.run_count = run_count;
        let now = Timestamp::now();
        self.start_time.get_or_insert(now);
        self.running_since = Some(now);
        let name = if run_count > 1 { "Retrying" } else { "Running" };
        self.report(StateReport::new(StateType::Running, name));
    }

    /// Stops the run-time clock (an attempt ended).
    pub(crate) fn stop_clock(&mut self) {
        if let Some(since) = self.running_since.take() {
            self.total_run_time += Timestamp::now().seconds_since(&since).max(0.0);
        }
    }

    /// Queues the event for a new state; a no-op outside a flow.
    pub(crate) fn report(&mut self, state: StateReport<'_>) {
        let Some(context) = self.context.clone() else {
            return;
        };
        let event_id = Uuid::now_v7();
        let event = self.event(&context, event_id, Timestamp::now(), &state);
        context.events.send(event);
        self.last = Some((
            state.state_type,
            state.name.to_owned(),
            state.message,
            event_id,
        ));
    }

    fn event(
        &self,
        context: &FlowContext,
        event_id: Uuid,
        occurred: Timestamp,
        state: &StateReport<'_>,
    ) -> Event {
        let state_timestamp = occurred
            .as_datetime()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
        let resource: Resource = [
            (
                "prefect.resource.id",
                format!("prefect.task-run.{}", self.id),
            ),
            ("prefect.resource.name", self.name.clone()),
            ("prefect.run-count", self.run_count.to_string()),
            ("prefect.state-message", state.message.clone()),
            ("prefect.state-name", state.name.to_owned()),
            ("prefect.state-timestamp", state_timestamp),
            ("prefect.state-type", state.state_type.as_str().to_owned()),
            ("prefect.orchestration", "client".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let related = |id: String, role: &str, name: &str| -> Resource {
            [
                ("prefect.resource.id", id),
                ("prefect.resource.role", role.to_owned()),
                ("prefect.resource.name", name.to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        };
        let mut related_resources = vec![
            related(
                format!("prefect.flow-run.{}", context.flow_run_id),
                "flow-run",
                &context.flow_run_name,
            ),
            related(
                format!("prefect.flow.{}", context.flow_id),
                "flow",
                &context.flow_name,
            ),
        ];
        for tag in self.options.tags.iter() {
            let mut resource = related(format!("prefect.tag.{tag}"), "tag", tag);
            resource.remove("prefect.resource.name");
            related_resources.push(resource);
        }
        let state_details = StateDetails {
            flow_run_id: Some(context.flow_run_id),
            task_run_id: Some(self.id),
            scheduled_time: state.scheduled_time,
            ..StateDetails::default()
        };
        let initial_state = self.last.as_ref().map(|(t, n, m, _)| {
            json!({"type": t.as_str(), "name": n, "message": m, "state_details": {}})
        });
        let retry_delay = match &*self.options.retry_delay_seconds {
            [] => Value::from(0),
            [one] => json!(one),
            many => json!(many),
        };
        let mut payload = Map::new();
        payload.insert(
            "intended".into(),
            json!({
                "from": self.last.as_ref().map(|(t, ..)| t.as_str()),
                "to": state.state_type.as_str(),
            }),
        );
        payload.insert("initial_state".into(), initial_state.unwrap_or(Value::Null));
        payload.insert(
            "validated_state".into(),
            json!({
                "type": state.state_type.as_str(), "name": state.name, "message": state.message,
                "state_details": state_details, "data": state.data,
            }),
        );
        payload.insert(
            "task_run".into(),
            json!({
                "name": self.name,
                "task_key": self.options.key,
                "dynamic_key": self.dynamic_key.to_string(),
                "task_version": self.options.version,
                "empirical_policy": {
                    "max_retries": 0, "retry_delay_seconds": 0.0,
                    "retries": self.options.retries, "retry_delay": retry_delay,
                    "retry_jitter_factor": self.options.retry_jitter_factor,
                },
                "tags": self.options.tags,
                "labels": {},
                "task_inputs": self.task_inputs,
                "run_count": self.run_count,
                "flow_run_run_count": context.flow_run_count,
                "expected_start_time": self.expected_start_time,
                "start_time": self.start_time,
                "end_time": state.state_type.is_terminal().then_some(occurred),
                "total_run_time": self.total_run_time,
            }),
        );
        Event {
            occurred,
            event: format!("prefect.task-run.{}", state.name),
            resource,
            related: related_resources,
            payload,
            id: event_id,
            follows: self.last.as_ref().map(|(.., id)| *id),
            received: None,
        }
    }
}
