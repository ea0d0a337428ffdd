//! Task calls: the attempt loop (retries, delays, timeout, panics) and the task-run state events.
//!
//! As in Prefect 3, the client orchestrates its own task runs: it applies the retry rules itself
//! and only reports each state as a `prefect.task-run.<StateName>` event, so a task call costs no
//! request round trip. The path of a call is Pending → Running → Completed, or → Failed; a failed
//! attempt with retries left goes AwaitingRetry (SCHEDULED, `scheduled_time` = now + delay) →
//! Retrying (RUNNING) instead. A task called outside a flow runs with the same rules, unreported.

use crate::context::FlowContext;
use crate::private::Options;
use crate::Error;
use futures::FutureExt;
use serde_json::{json, Map, Value};
use std::fmt::Display;
use std::future::Future;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use weir_core::events::{Event, Resource};
use weir_core::{StateDetails, StateType, Timestamp};

/// How one attempt ended, when it did not produce a value.
pub(crate) enum Failure<E> {
    /// The function returned `Err`.
    Error(E),
    /// The function panicked with this message.
    Panic(String),
    /// The attempt exceeded `timeout_seconds`.
    TimedOut(f64),
}

impl<E: Display + From<Error>> Failure<E> {
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Error(error) => error.to_string(),
            Failure::Panic(message) => format!("panicked: {message}"),
            Failure::TimedOut(seconds) => format!("timed out after {seconds} s"),
        }
    }

    pub(crate) fn into_error(self) -> E {
        match self {
            Failure::Error(error) => error,
            Failure::Panic(message) => E::from(Error::Panicked { message }),
            Failure::TimedOut(seconds) => E::from(Error::TimedOut { seconds }),
        }
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".to_owned())
}

/// Runs one attempt of an async body: panics caught, bounded by the timeout.
pub(crate) async fn attempt<T, E, Fut>(timeout: Option<f64>, future: Fut) -> Result<T, Failure<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    let guarded = AssertUnwindSafe(future).catch_unwind();
    let outcome = match timeout {
        Some(seconds) => {
            match tokio::time::timeout(Duration::from_secs_f64(seconds), guarded).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(Failure::TimedOut(seconds)),
            }
        }
        None => guarded.await,
    };
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Failure::Error(error)),
        Err(payload) => Err(Failure::Panic(panic_message(&*payload))),
    }
}

/// The delay before retry number `retry` (1-based): that entry of the list, the last one once the
/// list runs out, or no delay without a list.
pub(crate) fn retry_delay(options: &Options, retry: u32) -> f64 {
    let delays = options.retry_delay_seconds;
    let index = (retry.max(1) as usize - 1).min(delays.len().saturating_sub(1));
    delays.get(index).copied().unwrap_or(0.0)
}

/// Runs an async task body under the task's options, reporting its states.
pub async fn run_task<T, E, F, Fut>(
    options: &'static Options,
    parameters: Vec<(&'static str, Value)>,
    mut body: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display + From<Error>,
{
    let mut run = TaskRunReporter::new(options, &parameters);
    for run_count in 1.. {
        run.running(run_count);
        let outcome = attempt(options.timeout_seconds, body()).await;
        match conclude(&mut run, options, run_count, outcome) {
            ControlFlow::Break(result) => return result,
            ControlFlow::Continue(delay) => {
                if delay > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                }
            }
        }
    }
    unreachable!("the attempt loop only ends by returning")
}

/// Reports how attempt `run_count` ended and decides what follows: the call's final result, or
/// another attempt after the returned delay in seconds. Shared by async and blocking tasks.
fn conclude<T, E: Display + From<Error>>(
    run: &mut TaskRunReporter,
    options: &Options,
    run_count: u32,
    outcome: Result<T, Failure<E>>,
) -> ControlFlow<Result<T, E>, f64> {
    match outcome {
        Ok(value) => {
            run.completed();
            ControlFlow::Break(Ok(value))
        }
        Err(failure) if run_count > options.retries => {
            run.failed(&failure);
            ControlFlow::Break(Err(failure.into_error()))
        }
        Err(failure) => {
            let delay = retry_delay(options, run_count);
            run.awaiting_retry(delay, &failure.message());
            ControlFlow::Continue(delay)
        }
    }
}

/// Runs a blocking task body under the task's options, reporting its states. Retry delays block
/// the calling thread, as the body does.
pub fn run_task_sync<T, E, F>(
    options: &'static Options,
    parameters: Vec<(&'static str, Value)>,
    mut body: F,
) -> Result<T, E>
where
    F: FnMut() -> Result<T, E>,
    E: Display + From<Error>,
{
    let mut run = TaskRunReporter::new(options, &parameters);
    for run_count in 1.. {
        run.running(run_count);
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(&mut body)) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Failure::Error(error)),
            Err(payload) => Err(Failure::Panic(panic_message(&*payload))),
        };
        match conclude(&mut run, options, run_count, outcome) {
            ControlFlow::Break(result) => return result,
            ControlFlow::Continue(delay) => {
                if delay > 0.0 {
                    std::thread::sleep(Duration::from_secs_f64(delay));
                }
            }
        }
    }
    unreachable!("the attempt loop only ends by returning")
}

/// A task run's identity and bookkeeping, and the events describing its state changes.
struct TaskRunReporter {
    context: Option<Arc<FlowContext>>,
    options: &'static Options,
    id: Uuid,
    name: String,
    dynamic_key: u64,
    task_inputs: Map<String, Value>,
    run_count: u32,
    expected_start_time: Timestamp,
    start_time: Option<Timestamp>,
    running_since: Option<Timestamp>,
    total_run_time: f64,
    /// The last reported state's type, name and message, and its event id.
    last: Option<(StateType, String, String, Uuid)>,
}

impl TaskRunReporter {
    fn new(options: &'static Options, parameters: &[(&'static str, Value)]) -> Self {
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
        reporter.report(StateType::Pending, "Pending", String::new(), None);
        reporter
    }

    fn running(&mut self, run_count: u32) {
        self.run_count = run_count;
        let now = Timestamp::now();
        self.start_time.get_or_insert(now);
        self.running_since = Some(now);
        let name = if run_count > 1 { "Retrying" } else { "Running" };
        self.report(StateType::Running, name, String::new(), None);
    }

    fn stop_clock(&mut self) {
        if let Some(since) = self.running_since.take() {
            self.total_run_time += Timestamp::now().seconds_since(&since).max(0.0);
        }
    }

    fn completed(&mut self) {
        self.stop_clock();
        self.report(StateType::Completed, "Completed", String::new(), None);
    }

    fn failed<E: Display + From<Error>>(&mut self, failure: &Failure<E>) {
        self.stop_clock();
        let name = match failure {
            Failure::TimedOut(_) => "TimedOut",
            _ => "Failed",
        };
        let message = format!("Task run failed: {}", failure.message());
        tracing::warn!(task_run = %self.name, %message, "task run failed");
        self.report(StateType::Failed, name, message, None);
    }

    fn awaiting_retry(&mut self, delay: f64, cause: &str) {
        self.stop_clock();
        tracing::info!(task_run = %self.name, cause, delay, "task run will retry");
        let at = Timestamp::now().plus_seconds(delay);
        let message = format!(
            "Retry {}/{} will start {delay} second(s) from now",
            self.run_count, self.options.retries
        );
        self.report(StateType::Scheduled, "AwaitingRetry", message, Some(at));
    }

    /// Queues the event for a new state; a no-op outside a flow.
    fn report(
        &mut self,
        state_type: StateType,
        name: &str,
        message: String,
        scheduled_time: Option<Timestamp>,
    ) {
        let Some(context) = self.context.clone() else {
            return;
        };
        let event_id = Uuid::now_v7();
        let occurred = Timestamp::now();
        let event = self.event(
            &context,
            event_id,
            occurred,
            state_type,
            name,
            &message,
            scheduled_time,
        );
        context.events.send(event);
        self.last = Some((state_type, name.to_owned(), message, event_id));
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        context: &FlowContext,
        event_id: Uuid,
        occurred: Timestamp,
        state_type: StateType,
        name: &str,
        message: &str,
        scheduled_time: Option<Timestamp>,
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
            ("prefect.state-message", message.to_owned()),
            ("prefect.state-name", name.to_owned()),
            ("prefect.state-timestamp", state_timestamp),
            ("prefect.state-type", state_type.as_str().to_owned()),
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
        for tag in self.options.tags {
            let mut resource = related(format!("prefect.tag.{tag}"), "tag", tag);
            resource.remove("prefect.resource.name");
            related_resources.push(resource);
        }
        let state_details = StateDetails {
            flow_run_id: Some(context.flow_run_id),
            task_run_id: Some(self.id),
            scheduled_time,
            ..StateDetails::default()
        };
        let initial_state = self.last.as_ref().map(|(t, n, m, _)| {
            json!({"type": t.as_str(), "name": n, "message": m, "state_details": {}})
        });
        let delays = self.options.retry_delay_seconds;
        let retry_delay = match delays {
            [] => Value::from(0),
            [one] => json!(one),
            many => json!(many),
        };
        let mut payload = Map::new();
        payload.insert(
            "intended".into(),
            json!({
                "from": self.last.as_ref().map(|(t, ..)| t.as_str()),
                "to": state_type.as_str(),
            }),
        );
        payload.insert("initial_state".into(), initial_state.unwrap_or(Value::Null));
        payload.insert(
            "validated_state".into(),
            json!({
                "type": state_type.as_str(), "name": name, "message": message,
                "state_details": state_details, "data": null,
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
                    "retry_jitter_factor": null,
                },
                "tags": self.options.tags,
                "labels": {},
                "task_inputs": self.task_inputs,
                "run_count": self.run_count,
                "flow_run_run_count": context.flow_run_count,
                "expected_start_time": self.expected_start_time,
                "start_time": self.start_time,
                "end_time": state_type.is_terminal().then_some(occurred),
                "total_run_time": self.total_run_time,
            }),
        );
        Event {
            occurred,
            event: format!("prefect.task-run.{name}"),
            resource,
            related: related_resources,
            payload,
            id: event_id,
            follows: self.last.as_ref().map(|(.., id)| *id),
            received: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: Options = Options {
        name: "t",
        key: "m::t",
        description: None,
        version: None,
        tags: &[],
        retries: 3,
        retry_delay_seconds: &[1.0, 10.0],
        timeout_seconds: None,
    };

    #[test]
    fn retry_delays_use_the_list_then_its_last_entry() {
        assert_eq!(retry_delay(&OPTIONS, 1), 1.0);
        assert_eq!(retry_delay(&OPTIONS, 2), 10.0);
        assert_eq!(retry_delay(&OPTIONS, 3), 10.0);
        let none = Options {
            retry_delay_seconds: &[],
            ..OPTIONS
        };
        assert_eq!(retry_delay(&none, 1), 0.0);
    }

    static FLAKY: Options = Options {
        name: "flaky",
        key: "m::flaky",
        description: None,
        version: None,
        tags: &["etl"],
        retries: 1,
        retry_delay_seconds: &[0.0],
        timeout_seconds: None,
    };

    /// The events of a task that fails once and then succeeds, in the shape of section iii of the
    /// Prefect notes: one chain linked by `follows`, string-valued resources, the flow run and flow
    /// as related resources, and the run count moving with the attempts.
    #[tokio::test]
    async fn a_retried_task_reports_prefect_shaped_events() {
        use crate::events::{Command, EventSender};
        let (sender, mut rx) = EventSender::capturing();
        let flow_run = Uuid::now_v7();
        let context = Arc::new(FlowContext::new(
            flow_run,
            "brave-otter".into(),
            Uuid::now_v7(),
            "etl".into(),
            1,
            sender,
        ));
        let mut calls = 0;
        let value: Result<u32, Error> = context
            .scope(run_task(&FLAKY, vec![("n", json!(1))], || {
                calls += 1;
                let attempt = calls;
                async move {
                    if attempt == 1 {
                        Err(Error::TaskFailed {
                            task: "flaky".into(),
                            message: "first".into(),
                        })
                    } else {
                        Ok(2)
                    }
                }
            }))
            .await;
        assert_eq!(value.unwrap(), 2);
        let mut events = Vec::new();
        while let Ok(Command::Event(event)) = rx.try_recv() {
            events.push(*event);
        }
        let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            names,
            [
                "prefect.task-run.Pending",
                "prefect.task-run.Running",
                "prefect.task-run.AwaitingRetry",
                "prefect.task-run.Retrying",
                "prefect.task-run.Completed",
            ]
        );
        let counts: Vec<&str> = events
            .iter()
            .map(|e| e.resource["prefect.run-count"].as_str())
            .collect();
        assert_eq!(counts, ["0", "1", "1", "2", "2"]);
        assert_eq!(events[0].follows, None);
        for pair in events.windows(2) {
            assert_eq!(pair[1].follows, Some(pair[0].id));
            assert_eq!(pair[0].resource_id(), pair[1].resource_id());
        }
        let awaiting = &events[2];
        assert_eq!(awaiting.resource["prefect.state-type"], "SCHEDULED");
        assert_eq!(awaiting.resource["prefect.orchestration"], "client");
        assert!(awaiting.resource["prefect.state-timestamp"].ends_with("+00:00"));
        assert_eq!(awaiting.related_id("flow-run"), Some(flow_run));
        assert_eq!(
            awaiting.payload["intended"],
            json!({"from": "RUNNING", "to": "SCHEDULED"})
        );
        let validated = &awaiting.payload["validated_state"];
        assert_eq!(validated["name"], "AwaitingRetry");
        assert!(validated["state_details"]["scheduled_time"].is_string());
        let task_run = &events[4].payload["task_run"];
        assert_eq!(task_run["task_key"], "m::flaky");
        assert_eq!(task_run["dynamic_key"], "0");
        assert_eq!(task_run["task_inputs"], json!({"n": []}));
        assert_eq!(task_run["tags"], json!(["etl"]));
        assert_eq!(task_run["run_count"], 2);
        assert!(task_run["end_time"].is_string());
    }
}
