//! Flow calls: create the flow run, propose its states through the orchestration API and obey the
//! answers, run the body with task calls reporting into it.
//!
//! Unlike task runs, flow-run states go through `POST /flow_runs/{id}/set_state`, because the
//! server's rules decide them: ACCEPT runs on, WAIT sleeps `delay_seconds` and proposes again,
//! REJECT adopts the state the server returns (waiting out a SCHEDULED one, e.g. AwaitingRetry),
//! ABORT stops orchestrating without running the body (again).

use crate::config::ApiConfig;
use crate::context::FlowContext;
use crate::events::EventSender;
use crate::private::Options;
use crate::task::{attempt, Failure};
use crate::Error;
use serde_json::{Map, Value};
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use weir_client::Client;
use weir_core::schemas::{
    FlowRunCreate, FlowRunPolicy, OrchestrationDetails, OrchestrationResult, SetStateStatus,
};
use weir_core::{State, StateCreate, StateType, Timestamp};

/// How long a finished flow waits for its task-run events to be written.
const EVENT_FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// Runs a flow body under the flow's options, as a new flow run on the configured server.
pub async fn run_flow<T, E, F, Fut>(
    options: &'static Options,
    parameters: Vec<(&'static str, Value)>,
    body: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display + From<Error>,
{
    let config = ApiConfig::current().ok_or(Error::NoApiUrl)?;
    let client = Client::new(&config.url, config.auth.clone());
    let events = EventSender::start(&config);
    let outcome = orchestrate(options, parameters, body, &client, &events).await;
    events.flush(EVENT_FLUSH_LIMIT).await;
    outcome
}

async fn orchestrate<T, E, F, Fut>(
    options: &'static Options,
    parameters: Vec<(&'static str, Value)>,
    mut body: F,
    client: &Client,
    events: &EventSender,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display + From<Error>,
{
    let flow = client
        .create_flow(options.name)
        .await
        .map_err(Error::from)?;
    let parameters: Map<String, Value> = parameters
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    let create = FlowRunCreate {
        flow_id: flow.id,
        state: Some(StateCreate::of_type(StateType::Pending)),
        name: None,
        flow_version: options.version.map(str::to_owned),
        parameters,
        context: Map::new(),
        parent_task_run_id: None,
        infrastructure_document_id: None,
        empirical_policy: FlowRunPolicy {
            retries: Some(i64::from(options.retries)),
            retry_delay: options.retry_delay_seconds.first().map(|d| *d as i64),
            ..FlowRunPolicy::default()
        },
        tags: options.tags.iter().map(|t| (*t).to_owned()).collect(),
        labels: None,
        idempotency_key: None,
        work_pool_name: None,
        work_queue_name: None,
        job_variables: None,
        deployment_id: None,
    };
    let run = client.create_flow_run(&create).await.map_err(Error::from)?;
    tracing::info!(flow = options.name, flow_run = %run.name, id = %run.id, "created flow run");
    loop {
        let running = propose(client, run.id, StateCreate::of_type(StateType::Running)).await?;
        let run_count = client
            .read_flow_run(run.id)
            .await
            .map_or(1, |r| r.run_count.max(1));
        let context = Arc::new(FlowContext::new(
            run.id,
            run.name.clone(),
            flow.id,
            flow.name.clone(),
            run_count,
            events.clone(),
        ));
        tracing::debug!(flow_run = %run.name, state = running.display_name(), "flow run started");
        let outcome = context
            .scope(attempt(options.timeout_seconds, body()))
            .await;
        let failure = match outcome {
            Ok(value) => {
                let completed = StateCreate::of_type(StateType::Completed);
                if let Err(error) = propose(client, run.id, completed).await {
                    tracing::warn!(%error, flow_run = %run.name, "could not record completion");
                }
                return Ok(value);
            }
            Err(failure) => failure,
        };
        let mut failed = StateCreate::of_type(StateType::Failed);
        if let Failure::TimedOut(_) = failure {
            failed = failed.named("TimedOut");
        }
        failed.message = Some(format!("Flow run failed: {}", failure.message()));
        tracing::warn!(flow_run = %run.name, message = failed.message.as_deref(), "flow run failed");
        match propose_or_retry(client, run.id, failed).await {
            Ok(true) => continue,
            Ok(false) => return Err(failure.into_error()),
            Err(error) => {
                tracing::warn!(%error, flow_run = %run.name, "could not record the failure");
                return Err(failure.into_error());
            }
        }
    }
}

/// Proposes FAILED; `Ok(true)` when the server answered with AwaitingRetry and its time has come.
async fn propose_or_retry(client: &Client, id: Uuid, failed: StateCreate) -> Result<bool, Error> {
    let result = send(client, id, failed).await?;
    match (result.status, result.state) {
        (SetStateStatus::Reject, Some(state)) if state.state_type == StateType::Scheduled => {
            wait_until_scheduled(&state).await;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Proposes a state until the server accepts it (obeying WAIT, and REJECT to a SCHEDULED state)
/// and returns the state written.
async fn propose(client: &Client, id: Uuid, proposal: StateCreate) -> Result<State, Error> {
    loop {
        let result = send(client, id, proposal.clone()).await?;
        match result.status {
            SetStateStatus::Accept => {
                return result.state.ok_or_else(|| Error::Rejected {
                    state: "unknown".to_owned(),
                    reason: "the server accepted a state without returning it".to_owned(),
                })
            }
            SetStateStatus::Wait => {
                let delay = match result.details {
                    OrchestrationDetails::WaitDetails { delay_seconds, .. } => delay_seconds,
                    _ => 1.0,
                };
                tracing::info!(delay, "the server asked to wait before proposing again");
                tokio::time::sleep(Duration::from_secs_f64(delay.max(0.0))).await;
            }
            SetStateStatus::Abort => {
                return Err(Error::Aborted {
                    reason: reason(&result.details),
                })
            }
            SetStateStatus::Reject => match result.state {
                Some(state) if state.state_type == StateType::Scheduled => {
                    wait_until_scheduled(&state).await;
                }
                state => {
                    return Err(Error::Rejected {
                        state: state.map_or_else(
                            || "its current state".to_owned(),
                            |s| s.display_name().to_owned(),
                        ),
                        reason: reason(&result.details),
                    })
                }
            },
        }
    }
}

async fn send(
    client: &Client,
    id: Uuid,
    mut proposal: StateCreate,
) -> Result<OrchestrationResult, Error> {
    // A fresh transition id per request lets the server tell a retried request from a new one.
    proposal.state_details.transition_id = Some(Uuid::new_v4());
    proposal.state_details.flow_run_id = Some(id);
    Ok(client.set_flow_run_state(id, &proposal, false).await?)
}

async fn wait_until_scheduled(state: &State) {
    if let Some(at) = state.state_details.scheduled_time {
        let seconds = at.seconds_since(&Timestamp::now());
        if seconds > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        }
    }
}

fn reason(details: &OrchestrationDetails) -> String {
    match details {
        OrchestrationDetails::RejectDetails { reason }
        | OrchestrationDetails::AbortDetails { reason }
        | OrchestrationDetails::WaitDetails { reason, .. } => reason.clone().unwrap_or_default(),
        OrchestrationDetails::AcceptDetails => String::new(),
    }
}
