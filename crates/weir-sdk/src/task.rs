//! Task calls: the attempt loop (retries, delays, timeout, panics), the result cache, and the
//! task-run states they report.
//!
//! As in Prefect 3, the client orchestrates its own task runs: it applies the retry rules itself
//! and only reports each state as a `prefect.task-run.<StateName>` event, so a task call costs no
//! request round trip. The path of a call is Pending → Running → Completed, or → Failed; a failed
//! attempt with retries left goes AwaitingRetry (SCHEDULED, `scheduled_time` = now + delay) →
//! Retrying (RUNNING) instead; a cache hit goes Pending → Running → Cached (COMPLETED) without
//! running the body. A task called outside a flow runs with the same rules, unreported.

use crate::cache::{self, CacheKeyContext, CachePolicy};
use crate::options::Options;
use crate::probes::Codec;
use crate::results::ResultStore;
use crate::task_run::{StateReport, TaskRunReporter};
use crate::Error;
use futures::FutureExt;
use serde_json::{Map, Value};
use std::fmt::Display;
use std::future::Future;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tracing::Level;
use weir_core::orchestration::retry_jitter::jittered_delay;
use weir_core::{env, StateType, Timestamp};

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
    /// What went wrong, in a sentence starting with the run's kind ("Task run", "Flow run").
    pub(crate) fn message(&self, run: &str) -> String {
        match self {
            Failure::Error(error) => format!("{run} encountered an exception: {error}"),
            Failure::Panic(message) => format!("{run} panicked: {message}"),
            Failure::TimedOut(seconds) => {
                format!("{run} exceeded timeout of {seconds:?} second(s)")
            }
        }
    }

    /// The failed state's name.
    pub(crate) fn state_name(&self) -> &'static str {
        match self {
            Failure::TimedOut(_) => "TimedOut",
            _ => "Failed",
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
/// list runs out, or no delay without a list; spread by the jitter factor when there is one.
pub(crate) fn retry_delay(options: &Options, retry: u32) -> f64 {
    let delays = &*options.retry_delay_seconds;
    let index = (retry.max(1) as usize - 1).min(delays.len().saturating_sub(1));
    let delay = delays.get(index).copied().unwrap_or(0.0);
    match options.retry_jitter_factor {
        Some(factor) => jittered_delay(delay, factor, rand::random::<f64>()),
        None => delay,
    }
}

/// Runs an async task body under the task's options, reporting its states.
pub async fn run_task<T, E, F, Fut>(
    options: &Options,
    codec: Codec<T>,
    parameters: Vec<(&'static str, Value)>,
    mut body: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display + From<Error>,
{
    let mut run = TaskRunReporter::new(options, &parameters);
    let results = ResultPlan::new(options, codec, &parameters, &run);
    if let Some(value) = results.cached(&mut run) {
        return Ok(value);
    }
    let scope = run.scope();
    for run_count in 1.. {
        run.running(run_count);
        let outcome = scope.scope(attempt(options.timeout_seconds, body())).await;
        match conclude(&mut run, options, &results, run_count, outcome) {
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

/// Runs a blocking task body under the task's options, reporting its states. Retry delays block
/// the calling thread, as the body does.
pub fn run_task_sync<T, E, F>(
    options: &Options,
    codec: Codec<T>,
    parameters: Vec<(&'static str, Value)>,
    mut body: F,
) -> Result<T, E>
where
    F: FnMut() -> Result<T, E>,
    E: Display + From<Error>,
{
    let mut run = TaskRunReporter::new(options, &parameters);
    let results = ResultPlan::new(options, codec, &parameters, &run);
    if let Some(value) = results.cached(&mut run) {
        return Ok(value);
    }
    let scope = run.scope();
    for run_count in 1.. {
        run.running(run_count);
        let outcome =
            scope.sync_scope(
                || match std::panic::catch_unwind(AssertUnwindSafe(&mut body)) {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(error)) => Err(Failure::Error(error)),
                    Err(payload) => Err(Failure::Panic(panic_message(&*payload))),
                },
            );
        match conclude(&mut run, options, &results, run_count, outcome) {
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

/// Reports how attempt `run_count` ended and decides what follows: the call's final result, or
/// another attempt after the returned delay in seconds. Shared by async and blocking tasks.
fn conclude<T, E: Display + From<Error>>(
    run: &mut TaskRunReporter<'_>,
    options: &Options,
    results: &ResultPlan<T>,
    run_count: u32,
    outcome: Result<T, Failure<E>>,
) -> ControlFlow<Result<T, E>, f64> {
    run.stop_clock();
    match outcome {
        Ok(value) => {
            let mut completed = StateReport::new(StateType::Completed, "Completed");
            completed.data = results.persist(&value);
            run.report(completed);
            run.log(Level::INFO, "Finished in state Completed()");
            ControlFlow::Break(Ok(value))
        }
        Err(failure) if run_count > options.retries => {
            let message = failure.message("Task run");
            let exhausted = if options.retries > 0 {
                " - Retries are exhausted"
            } else {
                ""
            };
            run.log(Level::ERROR, &format!("{message}{exhausted}"));
            let mut failed = StateReport::new(StateType::Failed, failure.state_name());
            failed.message = message;
            let finished = format!("Finished in state {}('{}')", failed.name, failed.message);
            run.report(failed);
            run.log(Level::ERROR, &finished);
            ControlFlow::Break(Err(failure.into_error()))
        }
        Err(failure) => {
            let delay = retry_delay(options, run_count);
            let when = if delay > 0.0 {
                format!("{delay} second(s) from now")
            } else {
                "immediately".to_owned()
            };
            let retry = format!("Retry {run_count}/{} will start {when}", options.retries);
            run.log(
                Level::ERROR,
                &format!("{} - {retry}", failure.message("Task run")),
            );
            let mut awaiting = StateReport::new(StateType::Scheduled, "AwaitingRetry");
            awaiting.message = retry;
            awaiting.scheduled_time = Some(Timestamp::now().plus_seconds(delay));
            run.report(awaiting);
            ControlFlow::Continue(delay)
        }
    }
}

/// Whether results are persisted when a task or flow does not say.
pub(crate) fn persist_by_default() -> bool {
    env::first_set(&[
        env::WEIR_RESULTS_PERSIST_BY_DEFAULT,
        env::PREFECT_RESULTS_PERSIST_BY_DEFAULT,
    ])
    .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// What happens to one call's result: whether it is persisted, and under which cache key.
pub(crate) struct ResultPlan<T> {
    codec: Codec<T>,
    persist: bool,
    /// The file name of the cached result; `None` when the call is not cached.
    key: Option<String>,
    expiration: Option<f64>,
    refresh: bool,
}

impl<T> ResultPlan<T> {
    pub(crate) fn new(
        options: &Options,
        codec: Codec<T>,
        parameters: &[(&'static str, Value)],
        run: &TaskRunReporter<'_>,
    ) -> Self {
        let explicit =
            options.cache_key_fn.is_some() || options.cache_policy.is_some_and(|p| !p.is_none());
        let persist = options
            .persist_result
            .unwrap_or_else(|| explicit || persist_by_default())
            && codec.round_trips();
        let key = if persist || explicit {
            let inputs: Map<String, Value> = parameters
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect();
            let empty = Map::new();
            let context = CacheKeyContext {
                task_name: &options.name,
                task_key: options.key,
                inputs: &inputs,
                flow_run_id: run.context.as_ref().map(|c| c.flow_run_id),
                flow_parameters: run.context.as_ref().map_or(&empty, |c| &c.parameters),
            };
            let key = match options.cache_key_fn {
                Some(key_fn) => key_fn(&context),
                None => {
                    let policy = options.cache_policy.unwrap_or(CachePolicy::DEFAULT);
                    cache::policy_key(policy, options.source_hash, &context)
                }
            };
            key.map(|k| cache::storage_name(&k))
        } else {
            None
        };
        ResultPlan {
            codec,
            persist,
            key: if codec.round_trips() { key } else { None },
            expiration: options.cache_expiration,
            refresh: options.refresh_cache,
        }
    }

    /// The cached value, reported as Running then Cached, on a cache hit.
    pub(crate) fn cached(&self, run: &mut TaskRunReporter<'_>) -> Option<T> {
        if self.refresh {
            return None;
        }
        let (key, decode) = (self.key.as_deref()?, self.codec.decode?);
        let (value, metadata) = ResultStore::local().read(key)?;
        let value = match decode(value) {
            Ok(value) => value,
            Err(error) => {
                tracing::debug!(key, %error, "a cached result no longer fits its type; rerunning");
                return None;
            }
        };
        run.running(1);
        run.stop_clock();
        let mut cached = StateReport::new(StateType::Completed, "Cached");
        cached.data = serde_json::to_value(metadata).ok();
        run.report(cached);
        run.log(Level::INFO, "Finished in state Cached(type=COMPLETED)");
        Some(value)
    }

    /// Persists `value` when the plan says so; the record's metadata becomes the state's data.
    pub(crate) fn persist(&self, value: &T) -> Option<Value> {
        if !self.persist {
            return None;
        }
        let json = (self.codec.encode?)(value)?;
        let name = self
            .key
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        match ResultStore::local().write(&name, json, self.expiration) {
            Ok(metadata) => serde_json::to_value(metadata).ok(),
            Err(error) => {
                tracing::warn!(%error, "could not persist a result");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::context::FlowContext;
    use serde_json::json;
    use std::borrow::Cow;
    use std::sync::Arc;
    use uuid::Uuid;

    const OPTIONS: Options = Options {
        retries: 3,
        retry_delay_seconds: Cow::Borrowed(&[1.0, 10.0]),
        ..Options::DEFAULT
    };

    #[test]
    fn retry_delays_use_the_list_then_its_last_entry() {
        assert_eq!(retry_delay(&OPTIONS, 1), 1.0);
        assert_eq!(retry_delay(&OPTIONS, 2), 10.0);
        assert_eq!(retry_delay(&OPTIONS, 3), 10.0);
        let none = Options {
            retry_delay_seconds: Cow::Borrowed(&[]),
            ..OPTIONS
        };
        assert_eq!(retry_delay(&none, 1), 0.0);
        let jittered = Options {
            retry_jitter_factor: Some(1.0),
            ..OPTIONS
        };
        let delays: Vec<f64> = (0..50).map(|_| retry_delay(&jittered, 2)).collect();
        assert!(delays.iter().all(|d| *d > 0.0 && *d <= 20.0), "{delays:?}");
        assert!(delays.iter().any(|d| (d - 10.0).abs() > 0.01), "{delays:?}");
    }

    static FLAKY: Options = Options {
        name: Cow::Borrowed("flaky"),
        key: "m::flaky",
        tags: Cow::Borrowed(&[Cow::Borrowed("etl")]),
        retries: 1,
        retry_delay_seconds: Cow::Borrowed(&[0.0]),
        ..Options::DEFAULT
    };

    /// The events of a task that fails once and then succeeds, in the shape of section iii of the
    /// Prefect notes: one chain linked by `follows`, string-valued resources, the flow run and flow
    /// as related resources, and the run count moving with the attempts.
    #[tokio::test]
    async fn a_retried_task_reports_prefect_shaped_events() {
        use weir_client::events::{EventCommand as Command, EventSender};
        let (sender, mut rx) = EventSender::channel();
        let flow_run = Uuid::now_v7();
        let context = Arc::new(FlowContext::for_tests(flow_run, "brave-otter", sender));
        let mut calls = 0;
        let value: Result<u32, Error> = context
            .scope(run_task(&FLAKY, Codec::NONE, vec![("n", json!(1))], || {
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
