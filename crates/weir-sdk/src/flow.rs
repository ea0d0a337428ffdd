//! Flow calls: create (or adopt) the flow run, propose its states through the orchestration API
//! and obey the answers, run the body with task calls reporting into it.
//!
//! Unlike task runs, flow-run states go through `POST /flow_runs/{id}/set_state`, because the
//! server's rules decide them: ACCEPT runs on, WAIT sleeps `delay_seconds` and proposes again,
//! REJECT adopts the state the server returns (waiting out a SCHEDULED one, e.g. AwaitingRetry),
//! ABORT stops orchestrating without running the body (again).
//!
//! A flow called inside another flow is a subflow: its parent flow run gets a task run standing
//! for the call (created over REST, as Prefect does), the child flow run points at it with
//! `parent_task_run_id`, and the server mirrors the child's states onto it.
//!
//! While the body runs, the flow run sends heartbeat events (`heartbeat`), subflows too.

use crate::config::ApiConfig;
use crate::context::{FlowContext, Reporters, RunIdentity};
use crate::logging::{self, LogSender};
use crate::options::Options;
use crate::probes::Codec;
use crate::results::ResultStore;
use crate::task::{attempt, persist_by_default};
use crate::Error;
use serde_json::{json, Map, Value};
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use weir_client::Client;
use weir_core::schemas::{
    Flow, FlowRun, FlowRunCreate, FlowRunPolicy, OrchestrationDetails, OrchestrationResult,
    SetStateStatus, TaskRunCreate,
};
use weir_core::{State, StateCreate, StateType, Timestamp};

/// How long a finished flow waits for its task-run events and logs to be delivered.
const DELIVERY_LIMIT: Duration = Duration::from_secs(10);

tokio::task_local! {
    /// The existing flow run the next top-level flow call executes (set by `execute`).
    static ADOPTED: Uuid;
}

/// Runs `future` with its top-level flow call executing the existing flow run `id` instead of
/// creating one.
pub(crate) async fn adopting<F: Future>(id: Uuid, future: F) -> F::Output {
    ADOPTED.scope(id, future).await
}

/// Runs a flow body under the flow's options: a new flow run on the configured server, or a
/// subflow run of the flow run in scope.
pub async fn run_flow<T, E, F, Fut>(
    options: &Options,
    codec: Codec<T>,
    parameters: Vec<(&'static str, Value)>,
    body: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display + From<Error>,
{
    logging::ensure_installed();
    let call = FlowCall {
        options,
        codec,
        parameters: parameters
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    };
    if let Some(parent) = FlowContext::current() {
        let reporters = Reporters {
            client: parent.client.clone(),
            events: parent.events.clone(),
            logs: parent.logs.clone(),
        };
        // Boxed: a flow's state machine is large, and a subflow's would nest inside its parent's.
        return Box::pin(call.orchestrate(body, &reporters, Some(&parent))).await;
    }
    let config = ApiConfig::resolve().await?;
    let client = Client::new(&config.url, config.auth.clone());
    let reporters = Reporters {
        events: crate::events::start(&config),
        logs: LogSender::start(client.clone()),
        client,
    };
    let outcome = Box::pin(call.orchestrate(body, &reporters, None)).await;
    futures::join!(
        reporters.events.flush(DELIVERY_LIMIT),
        reporters.logs.flush(DELIVERY_LIMIT)
    );
    outcome
}

struct FlowCall<'o, T> {
    options: &'o Options,
    codec: Codec<T>,
    parameters: Map<String, Value>,
}

impl<T> FlowCall<'_, T> {
    async fn orchestrate<E, F, Fut>(
        &self,
        mut body: F,
        reporters: &Reporters,
        parent: Option<&Arc<FlowContext>>,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Display + From<Error>,
    {
        let client = &reporters.client;
        let adopted = match parent {
            None => ADOPTED.try_with(|id| *id).ok(),
            Some(_) => None,
        };
        let (flow, run) = match adopted {
            Some(id) => self.adopt(client, id).await?,
            None => self.create(client, parent).await?,
        };
        let mut run_count = run.run_count;
        let kind = if parent.is_some() { "subflow" } else { "flow" };
        let log_context = self.context(&flow, &run, run_count.max(1), reporters);
        log_context.sync_scope(|| {
            tracing::info!(
                flow_run = %run.name,
                "Beginning {kind} run '{}' for flow '{}'", run.name, flow.name
            );
        });
        loop {
            propose(client, run.id, StateCreate::of_type(StateType::Running)).await?;
            run_count += 1;
            let context = self.context(&flow, &run, run_count, reporters);
            let beating = crate::heartbeat::Beating {
                flow_run_id: run.id,
                flow_run_name: run.name.clone(),
                flow_id: flow.id,
                flow_name: flow.name.clone(),
            };
            let heartbeat = crate::heartbeat::Heartbeat::start(
                &reporters.events,
                beating,
                crate::heartbeat::interval(),
            );
            let outcome = context
                .clone()
                .scope(attempt(self.options.timeout_seconds, body()))
                .await;
            // Submitted calls finish, and their states reach the server, before the flow's does.
            context.submitted.wait_idle().await;
            drop(heartbeat);
            reporters.events.flush(DELIVERY_LIMIT).await;
            let failure = match outcome {
                Ok(value) => {
                    let mut completed = StateCreate::of_type(StateType::Completed);
                    completed.data = self.persist(&value);
                    if let Err(error) = propose(client, run.id, completed).await {
                        tracing::warn!(%error, flow_run = %run.name, "could not record completion");
                    }
                    context.sync_scope(|| tracing::info!("Finished in state Completed()"));
                    return Ok(value);
                }
                Err(failure) => failure,
            };
            let message = failure.message("Flow run");
            let mut failed = StateCreate::of_type(StateType::Failed).named(failure.state_name());
            failed.message = Some(message.clone());
            let finished = format!("Finished in state {}('{message}')", failure.state_name());
            context.clone().sync_scope(|| {
                tracing::error!("Encountered exception during execution: {message}");
            });
            match propose_or_retry(client, run.id, failed).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, flow_run = %run.name, "could not record the failure");
                }
            }
            context.sync_scope(|| tracing::error!("{finished}"));
            return Err(failure.into_error());
        }
    }

    /// Creates the flow and a new flow run (and, for a subflow, the parent task run).
    async fn create(
        &self,
        client: &Client,
        parent: Option<&Arc<FlowContext>>,
    ) -> Result<(Flow, FlowRun), Error> {
        let options = self.options;
        let flow = client.create_flow(&options.name).await?;
        let parent_task_run_id = match parent {
            Some(parent) => Some(self.create_parent_task_run(client, parent).await?),
            None => None,
        };
        let create = FlowRunCreate {
            flow_id: flow.id,
            state: Some(StateCreate::of_type(StateType::Pending)),
            name: None,
            flow_version: options.version.as_deref().map(str::to_owned),
            parameters: self.parameters.clone(),
            context: Map::new(),
            parent_task_run_id,
            infrastructure_document_id: None,
            empirical_policy: FlowRunPolicy {
                retries: Some(i64::from(options.retries)),
                retry_delay: options.retry_delay_seconds.first().map(|d| *d as i64),
                ..FlowRunPolicy::default()
            },
            tags: options.tags.iter().map(|t| t.to_string()).collect(),
            labels: None,
            idempotency_key: None,
            work_pool_name: None,
            work_queue_name: None,
            job_variables: None,
            deployment_id: None,
        };
        let run = client.create_flow_run(&create).await?;
        Ok((flow, run))
    }

    /// The task run in `parent` standing for this subflow call.
    async fn create_parent_task_run(
        &self,
        client: &Client,
        parent: &FlowContext,
    ) -> Result<Uuid, Error> {
        let options = self.options;
        let dynamic_key = parent.next_dynamic_key(options.key).to_string();
        let task_inputs = self
            .parameters
            .keys()
            .map(|name| (name.clone(), json!([])))
            .collect();
        let create = TaskRunCreate {
            id: None,
            state: Some(StateCreate::of_type(StateType::Pending)),
            name: Some(format!("{}-{dynamic_key}", options.name)),
            flow_run_id: Some(parent.flow_run_id),
            task_key: options.key.to_owned(),
            dynamic_key,
            cache_key: None,
            cache_expiration: None,
            task_version: options.version.as_deref().map(str::to_owned),
            empirical_policy: Default::default(),
            tags: options.tags.iter().map(|t| t.to_string()).collect(),
            labels: None,
            task_inputs,
        };
        Ok(client.create_task_run(&create).await?.id)
    }

    /// Reads the flow run `id` (and its flow) to execute it.
    async fn adopt(&self, client: &Client, id: Uuid) -> Result<(Flow, FlowRun), Error> {
        let run = client.read_flow_run(id).await?;
        let flow = client.read_flow(run.flow_id).await?;
        Ok((flow, run))
    }

    fn context(
        &self,
        flow: &Flow,
        run: &FlowRun,
        run_count: i64,
        reporters: &Reporters,
    ) -> Arc<FlowContext> {
        let identity = RunIdentity {
            flow_run_id: run.id,
            flow_run_name: run.name.clone(),
            flow_id: flow.id,
            flow_name: flow.name.clone(),
            flow_run_count: run_count,
            parameters: run.parameters.clone(),
            log_prints: self.options.log_prints,
        };
        Arc::new(FlowContext::new(identity, reporters.clone()))
    }

    /// Persists the flow's value when asked to; the record's metadata becomes the state's data.
    fn persist(&self, value: &T) -> Option<Value> {
        let wanted = self
            .options
            .persist_result
            .unwrap_or_else(persist_by_default);
        if !wanted {
            return None;
        }
        let json = (self.codec.encode?)(value)?;
        let name = Uuid::new_v4().simple().to_string();
        match ResultStore::local().write(&name, json, None) {
            Ok(metadata) => serde_json::to_value(metadata).ok(),
            Err(error) => {
                tracing::warn!(%error, "could not persist a flow result");
                None
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
