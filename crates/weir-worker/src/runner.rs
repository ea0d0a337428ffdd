//! The worker loop: pool setup, heartbeats, polls (pushed by events, timed as a fallback),
//! claims, starts, exits, cancellations.

use crate::{events, health, references, Exit, Infrastructure, Job, Started, WorkerStart};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;
use weir_client::Client;
use weir_core::job_template::{render, resolve_variables, template_drift, BaseJobTemplate};
use weir_core::schemas::{FlowRun, OrchestrationDetails, SetStateStatus};
use weir_core::work_pools::{
    ScheduledRunsRequest, WorkPool, WorkPoolCreate, WorkPoolUpdate, WorkerFlowRun,
};
use weir_core::{StateCreate, StateType, Timestamp};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The server's API URL.
    pub api_url: String,
    /// How to authenticate.
    pub auth: weir_client::Auth,
    /// The work pool served (created with the infrastructure's default template if missing).
    pub pool: String,
    /// A base job template the pool is made to match at start (created with it, or updated when
    /// it differs); `None` leaves an existing pool's template alone.
    pub base_job_template: Option<Map<String, Value>>,
    /// The queues served; all of the pool's when empty.
    pub queues: Vec<String>,
    /// At most this many runs at once.
    pub limit: Option<usize>,
    /// The worker's name (unique within the pool).
    pub name: String,
    /// Seconds between heartbeats.
    pub heartbeat_seconds: u64,
    /// Seconds between timed polls (events trigger polls sooner).
    pub poll_seconds: f64,
    /// Runs due within this many seconds are claimed now (and started at their time).
    pub prefetch_seconds: f64,
    /// Serve `GET /health` on this address.
    pub health_address: Option<std::net::SocketAddr>,
    /// How long a cancelled run's infrastructure gets to stop before it is killed.
    pub cancel_grace: Duration,
}

impl WorkerConfig {
    /// A configuration with Prefect's defaults for everything but the server and pool.
    pub fn new(api_url: impl Into<String>, pool: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            api_url: api_url.into(),
            auth: weir_client::Auth::None,
            pool: pool.into(),
            base_job_template: None,
            queues: Vec::new(),
            limit: None,
            name: format!("weir-worker-{}", &Uuid::new_v4().simple().to_string()[..8]),
            heartbeat_seconds: 30,
            poll_seconds: 10.0,
            prefetch_seconds: 10.0,
            health_address: None,
            cancel_grace: Duration::from_secs(10),
        }
    }
}

/// A worker serving one pool with one kind of infrastructure.
pub struct Worker<I: Infrastructure> {
    config: WorkerConfig,
    client: Client,
    infrastructure: Arc<I>,
    /// Runs this worker started and that are still going: run id → infrastructure pid.
    running: Mutex<HashMap<Uuid, String>>,
    slots: Arc<Semaphore>,
    poll_now: Notify,
}

impl<I: Infrastructure> Worker<I> {
    pub fn new(config: WorkerConfig, infrastructure: I) -> Arc<Worker<I>> {
        let client = Client::new(&config.api_url, config.auth.clone());
        let slots = config.limit.unwrap_or(Semaphore::MAX_PERMITS);
        Arc::new(Worker {
            config,
            client,
            infrastructure: Arc::new(infrastructure),
            running: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(slots)),
            poll_now: Notify::new(),
        })
    }

    /// Runs until `shutdown` completes. Errors only when the pool cannot be set up.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), weir_client::Error> {
        let pool = self.ensure_pool().await?;
        let adopted = self
            .infrastructure
            .resume(WorkerStart {
                pool,
                worker_name: self.config.name.clone(),
                client: self.client.clone(),
            })
            .await;
        for adopted in adopted {
            self.clone()
                .supervise_adopted(adopted.flow_run_id, adopted.started);
        }
        tracing::info!(
            worker = %self.config.name, pool = %self.config.pool,
            kind = self.infrastructure.pool_type(), "worker started"
        );
        let mut tasks = tokio::task::JoinSet::new();
        let me = self.clone();
        tasks.spawn(async move { me.heartbeats().await });
        let me = self.clone();
        tasks.spawn(async move {
            events::follow(&me.config, || me.poll_now.notify_one()).await;
        });
        if let Some(address) = self.config.health_address {
            tasks.spawn(async move { health::serve(address).await });
        }
        let me = self.clone();
        tasks.spawn(async move { me.polls().await });
        shutdown.await;
        tasks.abort_all();
        tracing::info!(worker = %self.config.name, "worker stopped");
        Ok(())
    }

    /// Reads the pool, creating it when missing: with the configured template if there is one,
    /// else the infrastructure's default. With a configured template, an existing pool whose
    /// template differs is logged as drifted and updated to match.
    async fn ensure_pool(&self) -> Result<WorkPool, weir_client::Error> {
        let wanted = self.config.base_job_template.as_ref();
        let pool = match self.client.read_work_pool(&self.config.pool).await {
            Ok(pool) => pool,
            Err(error) if error.status().is_some_and(|s| s.as_u16() == 404) => {
                let template = match wanted {
                    Some(template) => template.clone(),
                    None => serde_json::to_value(self.infrastructure.default_template())
                        .ok()
                        .and_then(|v| v.as_object().cloned())
                        .unwrap_or_default(),
                };
                let create = WorkPoolCreate {
                    name: self.config.pool.clone(),
                    description: None,
                    pool_type: self.infrastructure.pool_type().to_owned(),
                    base_job_template: template,
                    is_paused: false,
                    concurrency_limit: None,
                    storage_configuration: Default::default(),
                };
                match self.client.create_work_pool(&create).await {
                    Ok(pool) => {
                        tracing::info!(pool = %pool.name, "created the work pool");
                        return Ok(pool);
                    }
                    // Another worker created it meanwhile.
                    Err(e) if e.status().is_some_and(|s| s.as_u16() == 409) => {
                        self.client.read_work_pool(&self.config.pool).await?
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(error) => return Err(error),
        };
        if pool.pool_type != self.infrastructure.pool_type() {
            tracing::warn!(
                pool = %pool.name, pool_type = %pool.pool_type,
                worker_type = self.infrastructure.pool_type(),
                "the work pool's type is not this worker's type"
            );
        }
        let Some(wanted) = wanted else {
            return Ok(pool);
        };
        let drift = template_drift(
            &Value::Object(pool.base_job_template.clone()),
            &Value::Object(wanted.clone()),
        );
        if drift.is_empty() {
            return Ok(pool);
        }
        tracing::warn!(
            pool = %pool.name, drifted = %drift.join(", "),
            "the work pool's base job template differs from the configured one; updating the pool"
        );
        let update = WorkPoolUpdate {
            base_job_template: Some(wanted.clone()),
            ..Default::default()
        };
        self.client
            .update_work_pool(&self.config.pool, &update)
            .await?;
        self.client.read_work_pool(&self.config.pool).await
    }

    async fn heartbeats(&self) {
        let every = Duration::from_secs(self.config.heartbeat_seconds.max(1));
        loop {
            if let Err(error) = self
                .client
                .worker_heartbeat(
                    &self.config.pool,
                    &self.config.name,
                    self.config.heartbeat_seconds,
                )
                .await
            {
                tracing::warn!(%error, "heartbeat failed");
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn polls(self: Arc<Self>) {
        let every = Duration::from_secs_f64(self.config.poll_seconds.max(0.05));
        loop {
            self.clone().poll().await;
            self.check_cancellations().await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.poll_now.notified() => {}
            }
        }
    }

    /// Claims and starts what is due, within the free slots.
    async fn poll(self: Arc<Self>) {
        let free = self.slots.available_permits();
        if free == 0 {
            return;
        }
        let request = ScheduledRunsRequest {
            work_queue_names: (!self.config.queues.is_empty()).then(|| self.config.queues.clone()),
            scheduled_before: Some(Timestamp::now().plus_seconds(self.config.prefetch_seconds)),
            scheduled_after: None,
            // Prefect answers 422 to limits above 200.
            limit: Some(free.min(200) as i64),
        };
        let due = match self
            .client
            .get_scheduled_flow_runs(&self.config.pool, &request)
            .await
        {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "poll failed");
                return;
            }
        };
        // A full answer may have left more behind: look again at once.
        if due.len() as i64 >= request.limit.unwrap_or(i64::MAX) {
            self.poll_now.notify_one();
        }
        for WorkerFlowRun { flow_run, .. } in due {
            if self.is_running(flow_run.id) {
                continue;
            }
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            let me = self.clone();
            tokio::spawn(async move {
                me.handle(flow_run).await;
                drop(permit);
                // A slot is free: runs left waiting by the limit can start now.
                me.poll_now.notify_one();
            });
        }
    }

    fn is_running(&self, id: Uuid) -> bool {
        self.running
            .lock()
            .map(|r| r.contains_key(&id))
            .unwrap_or(false)
    }

    /// Claims one run (PENDING), starts it at its time, waits for its end.
    async fn handle(&self, run: FlowRun) {
        if let Some(at) = run.next_scheduled_start_time.or(run.expected_start_time) {
            let wait = at.seconds_since(&Timestamp::now());
            if wait > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            }
        }
        match self
            .propose(run.id, StateCreate::of_type(StateType::Pending))
            .await
        {
            Ok(SetStateStatus::Accept) => {}
            Ok(status) => {
                tracing::debug!(flow_run = %run.id, ?status, "another worker has this run");
                return;
            }
            Err(error) => {
                tracing::warn!(flow_run = %run.id, %error, "could not claim a run");
                return;
            }
        }
        let labels = json!({
            "prefect.worker.name": self.config.name,
            "prefect.worker.type": self.infrastructure.pool_type(),
            "prefect.work-pool.name": self.config.pool,
        });
        if let Err(error) = self.client.patch_flow_run_labels(run.id, &labels).await {
            tracing::debug!(%error, "could not label the run");
        }
        let job = match self.prepare(&run).await {
            Ok(job) => job,
            Err(message) => {
                self.crash(
                    run.id,
                    &format!("Could not prepare the flow run: {message}"),
                )
                .await;
                return;
            }
        };
        let started = match self.infrastructure.start(job).await {
            Ok(started) => started,
            Err(error) => {
                self.crash(run.id, &format!("Flow run could not be started: {error}"))
                    .await;
                return;
            }
        };
        tracing::info!(flow_run = %run.name, pid = %started.pid, "started flow run");
        let patch = json!({"infrastructure_pid": started.pid});
        if let Err(error) = self.client.update_flow_run(run.id, &patch).await {
            tracing::warn!(%error, "could not record the infrastructure pid");
        }
        self.follow(run.id, started).await;
    }

    /// Waits for a started run's infrastructure to end, then reports what that means.
    async fn follow(&self, id: Uuid, started: Started) {
        if let Ok(mut running) = self.running.lock() {
            running.insert(id, started.pid.clone());
        }
        let exit = started.exit.await;
        if let Ok(mut running) = self.running.lock() {
            running.remove(&id);
        }
        self.after_exit(id, exit).await;
    }

    /// Follows a run whose infrastructure outlived the previous worker, in a slot of its own.
    fn supervise_adopted(self: Arc<Self>, id: Uuid, started: Started) {
        tracing::info!(flow_run = %id, pid = %started.pid, "adopted a running flow run");
        let permit = self.slots.clone().try_acquire_owned().ok();
        tokio::spawn(async move {
            self.follow(id, started).await;
            drop(permit);
            self.poll_now.notify_one();
        });
    }

    /// The job for a claimed run: the pool's template rendered with the deployment's and the
    /// run's job variables.
    async fn prepare(&self, run: &FlowRun) -> Result<Job, String> {
        let pool = self
            .client
            .read_work_pool(&self.config.pool)
            .await
            .map_err(|e| e.to_string())?;
        let template: BaseJobTemplate =
            serde_json::from_value(Value::Object(pool.base_job_template.clone()))
                .map_err(|e| format!("base_job_template: {e}"))?;
        let deployment = match run.deployment_id {
            Some(id) => Some(
                self.client
                    .read_deployment(id)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let empty = Map::new();
        let deployment_variables = deployment.as_ref().map_or(&empty, |d| &d.job_variables);
        let variables = resolve_variables(&template, deployment_variables, &run.job_variables);
        let variables = references::resolve_block_refs(&self.client, variables).await?;
        let rendered = render(&template.job_configuration, &variables, |name| {
            std::env::var(name).ok()
        })
        .map_err(|e| e.to_string())?;
        let rendered = references::fill_external(&self.client, rendered).await?;
        let configuration = match rendered {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(format!(
                    "job_configuration rendered to {other}, not an object"
                ))
            }
        };
        Ok(Job {
            flow_run: run.clone(),
            configuration,
            entrypoint: deployment.as_ref().and_then(|d| d.entrypoint.clone()),
            deployment,
            work_pool: pool,
            worker_name: self.config.name.clone(),
        })
    }

    /// A run whose infrastructure exited: Crashed if it exited non-zero before reaching a final
    /// state (Prefect's rule), Cancelled if it was being cancelled.
    async fn after_exit(&self, id: Uuid, exit: Exit) {
        let current = match self.client.read_flow_run(id).await {
            Ok(current) => current,
            Err(error) => {
                tracing::warn!(%error, "could not read a finished run");
                return;
            }
        };
        match current.state_type {
            Some(t) if t.is_terminal() => {}
            Some(StateType::Cancelling) => self.cancelled(id).await,
            _ if exit.code == Some(0) && exit.message.is_none() => {
                tracing::warn!(flow_run = %current.name, "the infrastructure exited 0 but its run is not final");
            }
            _ => {
                let message = exit.message.unwrap_or_else(|| {
                    let code = exit
                        .code
                        .map_or_else(|| "a signal".to_owned(), |c| c.to_string());
                    format!("Flow run infrastructure exited with non-zero status code {code}.")
                });
                self.crash(id, &message).await;
            }
        }
    }

    async fn crash(&self, id: Uuid, message: &str) {
        tracing::error!(flow_run = %id, "{message}");
        let mut crashed = StateCreate::of_type(StateType::Crashed);
        crashed.message = Some(message.to_owned());
        if let Err(error) = self.client.set_flow_run_state(id, &crashed, true).await {
            tracing::warn!(%error, "could not mark a run crashed");
        }
    }

    async fn cancelled(&self, id: Uuid) {
        let mut cancelled = StateCreate::of_type(StateType::Cancelled);
        cancelled.message = Some("Flow run was cancelled successfully.".to_owned());
        if let Err(error) = self.client.set_flow_run_state(id, &cancelled, true).await {
            tracing::warn!(%error, "could not mark a run cancelled");
        }
    }

    /// Stops the infrastructure of this worker's runs that are CANCELLING.
    async fn check_cancellations(&self) {
        let ids: Vec<(Uuid, String)> = match self.running.lock() {
            Ok(running) => running.iter().map(|(k, v)| (*k, v.clone())).collect(),
            Err(_) => return,
        };
        if ids.is_empty() {
            return;
        }
        let filter = json!({
            "flow_runs": {
                "id": {"any_": ids.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>()},
                "state": {"type": {"any_": ["CANCELLING"]}},
            }
        });
        let Ok(cancelling) = self.client.filter_flow_runs(&filter).await else {
            return;
        };
        for run in cancelling {
            let Some((_, pid)) = ids.iter().find(|(id, _)| *id == run.id) else {
                continue;
            };
            tracing::info!(flow_run = %run.name, %pid, "cancelling: stopping its infrastructure");
            self.infrastructure
                .stop(pid, self.config.cancel_grace)
                .await;
            // `handle` sees the exit and records Cancelled.
        }
    }

    /// Proposes a state; the answer's status.
    async fn propose(
        &self,
        id: Uuid,
        state: StateCreate,
    ) -> Result<SetStateStatus, weir_client::Error> {
        let result = self.client.set_flow_run_state(id, &state, false).await?;
        if let (SetStateStatus::Abort, OrchestrationDetails::AbortDetails { reason }) =
            (&result.status, &result.details)
        {
            tracing::debug!(flow_run = %id, reason = reason.as_deref(), "claim aborted");
        }
        Ok(result.status)
    }
}
