//! A typed HTTP client for Weir's REST API, which is Prefect 3's: the same client talks to a Weir
//! server or a real Prefect server. Used by the CLI, the SDK, the workers and the tests. The
//! blocks calls live in `blocks`.

mod blocks;

pub mod events;

use base64::Engine;
pub use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;
use weir_core::deployments::{Deployment, DeploymentFlowRunCreate};
use weir_core::schemas::{
    Flow, FlowRun, FlowRunCreate, Log, LogCreate, OrchestrationResult, TaskRun, TaskRunCreate,
};
use weir_core::variables::{Variable, VariableCreate, VariableUpdate};
use weir_core::work_pools::{
    ScheduledRunsRequest, WorkPool, WorkPoolCreate, WorkPoolUpdate, WorkQueue, WorkQueueCreate,
    WorkQueueUpdate, WorkerFlowRun,
};
use weir_core::{State, StateCreate};

/// Errors of API calls.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached or the connection broke.
    #[error("cannot reach {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status; `body` is its JSON (or text) answer.
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
        /// The server's `Retry-After`, in seconds.
        retry_after: Option<f64>,
    },
    /// The answer was not the JSON the call expects.
    #[error("unexpected answer from {url}: {source}")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// The HTTP status of an error answer, if the server gave one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the client authenticates.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    #[default]
    None,
    /// HTTP Basic with a `user:password` string (`PREFECT_API_AUTH_STRING`).
    Basic(String),
    /// `Authorization: Bearer <key>` (`PREFECT_API_KEY`).
    Bearer(String),
}

/// Retries of a request the server was too busy for, after the first attempt.
const MAX_RETRIES: u32 = 5;

/// Whether a status means "try again later".
fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
}

/// The pause before retry `attempt` (1-based): the server's `Retry-After` (at most 10 s), else
/// 100 ms doubling each time, with up to 20% jitter so busy clients spread out.
fn retry_delay(attempt: u32, retry_after: Option<f64>) -> std::time::Duration {
    let base = match retry_after {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => seconds.min(10.0),
        _ => 0.1 * f64::from(1u32 << (attempt - 1).min(6)),
    };
    std::time::Duration::from_secs_f64(base * (1.0 + 0.2 * rand::random::<f64>()))
}

impl Auth {
    /// The token of a websocket's auth frame: the raw auth string or API key, as Prefect sends it.
    pub fn websocket_token(&self) -> Option<String> {
        match self {
            Auth::None => None,
            Auth::Basic(secret) | Auth::Bearer(secret) => Some(secret.clone()),
        }
    }

    /// The credentials named by the environment: `WEIR_API_KEY` (or `PREFECT_API_KEY`) as a
    /// Bearer key, else `WEIR_API_AUTH_STRING` (or `PREFECT_API_AUTH_STRING`) as HTTP Basic.
    pub fn from_env() -> Auth {
        use weir_core::env;
        match env::first_set(&[env::WEIR_API_KEY, env::PREFECT_API_KEY]) {
            Some(key) => Auth::Bearer(key),
            None => env::first_set(&[env::WEIR_API_AUTH_STRING, env::PREFECT_API_AUTH_STRING])
                .map_or(Auth::None, Auth::Basic),
        }
    }
}

/// `text` as one percent-encoded path segment, so names holding `/`, `?`, `#` or spaces stay one
/// segment.
fn segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The websocket URL of `path` under an API URL: `http(s)://host/api` → `ws(s)://host/api<path>`.
pub fn websocket_url(api_url: &str, path: &str) -> String {
    let base = api_url.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    format!("{ws}{path}")
}

/// A client of one server. Cheap to clone (the connection pool is shared).
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    auth: Auth,
}

impl Client {
    /// A client of the API at `base_url` (e.g. `http://127.0.0.1:4200/api`).
    pub fn new(base_url: &str, auth: Auth) -> Client {
        Client {
            base: base_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            auth,
        }
    }

    /// The API base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request and returns the status and JSON body (`null` for an empty one). Error
    /// statuses are returned as [`Error::Status`]. A busy server (408, 429, 502, 503, 504) and a
    /// refused connection are retried with growing delays, as Prefect's client does, honouring
    /// `Retry-After`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let mut attempt = 0;
        loop {
            let outcome = self.request_once(method.clone(), path, body).await;
            let retry_after = match &outcome {
                Err(Error::Status {
                    status,
                    retry_after,
                    ..
                }) if is_transient(*status) => *retry_after,
                Err(Error::Transport { source, .. }) if source.is_connect() => None,
                _ => return outcome,
            };
            if attempt >= MAX_RETRIES {
                return outcome;
            }
            attempt += 1;
            tokio::time::sleep(retry_delay(attempt, retry_after)).await;
        }
    }

    async fn request_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let url = format!("{}{}", self.base, path);
        let mut request = self.http.request(method.clone(), &url);
        request = match &self.auth {
            Auth::None => request,
            Auth::Basic(secret) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
                request.header("Authorization", format!("Basic {encoded}"))
            }
            Auth::Bearer(key) => request.bearer_auth(key),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let bytes = response.bytes().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        if !status.is_success() {
            return Err(Error::Status {
                method,
                url,
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
                retry_after,
            });
        }
        if bytes.is_empty() {
            return Ok((status, Value::Null));
        }
        let value =
            serde_json::from_slice(&bytes).map_err(|source| Error::Decode { url, source })?;
        Ok((status, value))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        let (_, value) = self.request(method, path, body).await?;
        let url = format!("{}{}", self.base, path);
        serde_json::from_value(value).map_err(|source| Error::Decode { url, source })
    }

    fn to_json(value: &impl Serialize) -> Value {
        serde_json::to_value(value).unwrap_or(Value::Null)
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<bool> {
        self.call(Method::GET, "/health", None).await
    }

    /// `GET /admin/version`: the server's Prefect-compatible version.
    pub async fn server_version(&self) -> Result<String> {
        self.call(Method::GET, "/admin/version", None).await
    }

    /// Creates or finds a flow by name.
    pub async fn create_flow(&self, name: &str) -> Result<Flow> {
        let body = json!({ "name": name, "tags": [], "labels": {} });
        self.call(Method::POST, "/flows/", Some(&body)).await
    }

    /// Reads a flow.
    pub async fn read_flow(&self, id: Uuid) -> Result<Flow> {
        self.call(Method::GET, &format!("/flows/{id}"), None).await
    }

    /// Creates a flow run.
    pub async fn create_flow_run(&self, create: &FlowRunCreate) -> Result<FlowRun> {
        let body = Self::to_json(create);
        self.call(Method::POST, "/flow_runs/", Some(&body)).await
    }

    /// Reads a flow run.
    pub async fn read_flow_run(&self, id: Uuid) -> Result<FlowRun> {
        self.call(Method::GET, &format!("/flow_runs/{id}"), None)
            .await
    }

    /// Proposes a flow-run state.
    pub async fn set_flow_run_state(
        &self,
        id: Uuid,
        state: &StateCreate,
        force: bool,
    ) -> Result<OrchestrationResult> {
        let body = json!({ "state": Self::to_json(state), "force": force });
        self.call(
            Method::POST,
            &format!("/flow_runs/{id}/set_state"),
            Some(&body),
        )
        .await
    }

    /// Creates a task run over REST (the parent task run of a subflow; ordinary task runs are
    /// reported as events).
    pub async fn create_task_run(&self, create: &TaskRunCreate) -> Result<TaskRun> {
        let body = Self::to_json(create);
        self.call(Method::POST, "/task_runs/", Some(&body)).await
    }

    /// Reads a task run.
    pub async fn read_task_run(&self, id: Uuid) -> Result<TaskRun> {
        self.call(Method::GET, &format!("/task_runs/{id}"), None)
            .await
    }

    /// Changes fields of a flow run (`PATCH /flow_runs/{id}`), e.g. `{"infrastructure_pid": ...}`.
    pub async fn update_flow_run(&self, id: Uuid, changes: &Value) -> Result<()> {
        self.request(Method::PATCH, &format!("/flow_runs/{id}"), Some(changes))
            .await
            .map(|_| ())
    }

    /// Merges labels into a flow run's labels (`PATCH /flow_runs/{id}/labels`).
    pub async fn patch_flow_run_labels(&self, id: Uuid, labels: &Value) -> Result<()> {
        self.request(
            Method::PATCH,
            &format!("/flow_runs/{id}/labels"),
            Some(labels),
        )
        .await
        .map(|_| ())
    }

    /// Reads a work pool by name.
    pub async fn read_work_pool(&self, name: &str) -> Result<WorkPool> {
        self.call(Method::GET, &format!("/work_pools/{}", segment(name)), None)
            .await
    }

    /// Every work pool.
    pub async fn list_work_pools(&self) -> Result<Vec<WorkPool>> {
        self.call(Method::POST, "/work_pools/filter", Some(&json!({})))
            .await
    }

    /// Changes the fields of a work pool that `update` names.
    pub async fn update_work_pool(&self, name: &str, update: &WorkPoolUpdate) -> Result<()> {
        let body = Self::to_json(update);
        let path = format!("/work_pools/{}", segment(name));
        self.request(Method::PATCH, &path, Some(&body))
            .await
            .map(|_| ())
    }

    /// Deletes a work pool with its queues.
    pub async fn delete_work_pool(&self, name: &str) -> Result<()> {
        let path = format!("/work_pools/{}", segment(name));
        self.request(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// The worker types the server knows, by collection, with their default base job templates
    /// (`GET /collections/views/aggregate-worker-metadata`).
    pub async fn worker_metadata(&self) -> Result<Value> {
        self.call(
            Method::GET,
            "/collections/views/aggregate-worker-metadata",
            None,
        )
        .await
    }

    /// Adds a queue to a work pool.
    pub async fn create_work_queue(
        &self,
        pool: &str,
        create: &WorkQueueCreate,
    ) -> Result<WorkQueue> {
        let body = Self::to_json(create);
        let path = format!("/work_pools/{}/queues", segment(pool));
        self.call(Method::POST, &path, Some(&body)).await
    }

    /// A work pool's queues.
    pub async fn list_work_queues(&self, pool: &str) -> Result<Vec<WorkQueue>> {
        let path = format!("/work_pools/{}/queues/filter", segment(pool));
        self.call(Method::POST, &path, Some(&json!({}))).await
    }

    fn queue_path(pool: &str, name: &str) -> String {
        format!("/work_pools/{}/queues/{}", segment(pool), segment(name))
    }

    /// Reads a work pool's queue by name.
    pub async fn read_work_queue(&self, pool: &str, name: &str) -> Result<WorkQueue> {
        self.call(Method::GET, &Self::queue_path(pool, name), None)
            .await
    }

    /// Changes the fields of a work pool's queue that `update` names.
    pub async fn update_work_queue(
        &self,
        pool: &str,
        name: &str,
        update: &WorkQueueUpdate,
    ) -> Result<()> {
        let body = Self::to_json(update);
        self.request(Method::PATCH, &Self::queue_path(pool, name), Some(&body))
            .await
            .map(|_| ())
    }

    /// Deletes a work pool's queue.
    pub async fn delete_work_queue(&self, pool: &str, name: &str) -> Result<()> {
        self.request(Method::DELETE, &Self::queue_path(pool, name), None)
            .await
            .map(|_| ())
    }

    /// Creates a work pool.
    pub async fn create_work_pool(&self, create: &WorkPoolCreate) -> Result<WorkPool> {
        let body = Self::to_json(create);
        self.call(Method::POST, "/work_pools/", Some(&body)).await
    }

    /// Records a heartbeat of the worker `name` of a pool.
    pub async fn worker_heartbeat(
        &self,
        pool: &str,
        name: &str,
        interval_seconds: u64,
    ) -> Result<()> {
        let body = json!({"name": name, "heartbeat_interval_seconds": interval_seconds});
        self.request(
            Method::POST,
            &format!("/work_pools/{}/workers/heartbeat", segment(pool)),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// The workers of `pool` that have sent a heartbeat.
    pub async fn filter_workers(&self, pool: &str) -> Result<Vec<weir_core::work_pools::Worker>> {
        self.call(
            Method::POST,
            &format!("/work_pools/{}/workers/filter", segment(pool)),
            Some(&json!({})),
        )
        .await
    }

    /// The scheduled runs a worker of `pool` should start now.
    pub async fn get_scheduled_flow_runs(
        &self,
        pool: &str,
        request: &ScheduledRunsRequest,
    ) -> Result<Vec<WorkerFlowRun>> {
        let body = Self::to_json(request);
        self.call(
            Method::POST,
            &format!("/work_pools/{}/get_scheduled_flow_runs", segment(pool)),
            Some(&body),
        )
        .await
    }

    /// Reads a deployment.
    pub async fn read_deployment(&self, id: Uuid) -> Result<Deployment> {
        self.call(Method::GET, &format!("/deployments/{id}"), None)
            .await
    }

    /// Reads a deployment by its flow's name and its own.
    pub async fn read_deployment_by_name(&self, flow: &str, name: &str) -> Result<Deployment> {
        let path = format!("/deployments/name/{}/{}", segment(flow), segment(name));
        self.call(Method::GET, &path, None).await
    }

    /// Deployments matching a filter body.
    pub async fn filter_deployments(&self, filter: &Value) -> Result<Vec<Deployment>> {
        self.call(Method::POST, "/deployments/filter", Some(filter))
            .await
    }

    /// Creates a flow run of a deployment.
    pub async fn create_flow_run_from_deployment(
        &self,
        id: Uuid,
        create: &DeploymentFlowRunCreate,
    ) -> Result<FlowRun> {
        let body = Self::to_json(create);
        let path = format!("/deployments/{id}/create_flow_run");
        self.call(Method::POST, &path, Some(&body)).await
    }

    /// Deletes a deployment.
    pub async fn delete_deployment(&self, id: Uuid) -> Result<()> {
        self.request(Method::DELETE, &format!("/deployments/{id}"), None)
            .await
            .map(|_| ())
    }

    /// Flows matching a filter body.
    pub async fn filter_flows(&self, filter: &Value) -> Result<Vec<Flow>> {
        self.call(Method::POST, "/flows/filter", Some(filter)).await
    }

    /// Creates a variable; a taken name is a 409.
    pub async fn create_variable(&self, create: &VariableCreate) -> Result<Variable> {
        let body = Self::to_json(create);
        self.call(Method::POST, "/variables/", Some(&body)).await
    }

    /// Reads a variable by name.
    pub async fn read_variable_by_name(&self, name: &str) -> Result<Variable> {
        let path = format!("/variables/name/{}", segment(name));
        self.call(Method::GET, &path, None).await
    }

    /// Changes the fields of a variable that `update` names.
    pub async fn update_variable_by_name(&self, name: &str, update: &VariableUpdate) -> Result<()> {
        let body = Self::to_json(update);
        let path = format!("/variables/name/{}", segment(name));
        self.request(Method::PATCH, &path, Some(&body))
            .await
            .map(|_| ())
    }

    /// Deletes a variable by name.
    pub async fn delete_variable_by_name(&self, name: &str) -> Result<()> {
        let path = format!("/variables/name/{}", segment(name));
        self.request(Method::DELETE, &path, None).await.map(|_| ())
    }

    /// Variables matching a filter body (`{"variables": ..., "sort": ..., "limit": ...}`).
    pub async fn filter_variables(&self, filter: &Value) -> Result<Vec<Variable>> {
        self.call(Method::POST, "/variables/filter", Some(filter))
            .await
    }

    /// Flow runs matching a filter body.
    pub async fn filter_flow_runs(&self, filter: &Value) -> Result<Vec<FlowRun>> {
        self.call(Method::POST, "/flow_runs/filter", Some(filter))
            .await
    }

    /// Task runs matching a filter body.
    pub async fn filter_task_runs(&self, filter: &Value) -> Result<Vec<TaskRun>> {
        self.call(Method::POST, "/task_runs/filter", Some(filter))
            .await
    }

    /// A flow run's state history.
    pub async fn flow_run_states(&self, flow_run_id: Uuid) -> Result<Vec<State>> {
        self.call(
            Method::GET,
            &format!("/flow_run_states/?flow_run_id={flow_run_id}"),
            None,
        )
        .await
    }

    /// A task run's state history.
    pub async fn task_run_states(&self, task_run_id: Uuid) -> Result<Vec<State>> {
        self.call(
            Method::GET,
            &format!("/task_run_states/?task_run_id={task_run_id}"),
            None,
        )
        .await
    }

    /// Sends a batch of log lines.
    pub async fn create_logs(&self, logs: &[LogCreate]) -> Result<()> {
        let body = Self::to_json(&logs);
        self.request(Method::POST, "/logs/", Some(&body))
            .await
            .map(|_| ())
    }

    /// Log lines matching a filter body.
    pub async fn filter_logs(&self, filter: &Value) -> Result<Vec<Log>> {
        self.call(Method::POST, "/logs/filter", Some(filter)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls_follow_the_api_url() {
        assert_eq!(
            websocket_url("http://127.0.0.1:4200/api/", "/events/in"),
            "ws://127.0.0.1:4200/api/events/in"
        );
        assert_eq!(
            websocket_url("https://x.example/api", "/events/in"),
            "wss://x.example/api/events/in"
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:4200/api/", "/events/out"),
            "ws://127.0.0.1:4200/api/events/out"
        );
    }

    #[test]
    fn names_stay_one_path_segment() {
        assert_eq!(segment("my-pool_1.x~"), "my-pool_1.x~");
        assert_eq!(segment("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
    }
}
