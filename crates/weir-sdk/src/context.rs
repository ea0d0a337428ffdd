//! The flow run a task call belongs to, carried through the flow's future in a tokio task-local.
//!
//! A task called inside a flow's body (directly, or in futures it awaits, `join!`s or `select!`s)
//! sees the context, and so do calls started with `submit`/`map`, which carry it to their tokio
//! task. Work moved to another tokio task with a bare `tokio::spawn` does not, and its task calls
//! run unreported.

use crate::handles::Submitted;
use crate::logging::LogSender;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;
use weir_client::events::EventSender;
use weir_client::Client;

/// What task runs and subflows need to know about the flow run they belong to.
pub(crate) struct FlowContext {
    pub flow_run_id: Uuid,
    pub flow_run_name: String,
    pub flow_id: Uuid,
    pub flow_name: String,
    pub flow_run_count: i64,
    /// The run's parameters (for caches keyed on them).
    pub parameters: Map<String, Value>,
    /// Whether `log_print!` lines outside tasks go to the run's logs.
    pub log_prints: bool,
    /// The server the run reports to.
    pub client: Client,
    pub events: EventSender,
    pub logs: LogSender,
    /// Calls started with `submit`/`map` that have not finished.
    pub submitted: Submitted,
    /// The next `dynamic_key` per `task_key`: the n-th call of a task in this run gets `n`.
    dynamic_keys: Mutex<HashMap<String, u64>>,
}

/// Who reports for a flow run: its server, events and logs.
#[derive(Clone)]
pub(crate) struct Reporters {
    pub client: Client,
    pub events: EventSender,
    pub logs: LogSender,
}

/// The identity of a flow run, as the server created it.
pub(crate) struct RunIdentity {
    pub flow_run_id: Uuid,
    pub flow_run_name: String,
    pub flow_id: Uuid,
    pub flow_name: String,
    pub flow_run_count: i64,
    pub parameters: Map<String, Value>,
    pub log_prints: bool,
}

impl FlowContext {
    pub(crate) fn new(run: RunIdentity, reporters: Reporters) -> Self {
        Self {
            flow_run_id: run.flow_run_id,
            flow_run_name: run.flow_run_name,
            flow_id: run.flow_id,
            flow_name: run.flow_name,
            flow_run_count: run.flow_run_count,
            parameters: run.parameters,
            log_prints: run.log_prints,
            client: reporters.client,
            events: reporters.events,
            logs: reporters.logs,
            submitted: Submitted::new(),
            dynamic_keys: Mutex::new(HashMap::new()),
        }
    }

    /// A context whose events land on `events` and whose server does not exist (unit tests).
    #[cfg(test)]
    pub(crate) fn for_tests(flow_run_id: Uuid, name: &str, events: EventSender) -> Self {
        let client = Client::new("http://127.0.0.1:9/api", weir_client::Auth::None);
        let run = RunIdentity {
            flow_run_id,
            flow_run_name: name.to_owned(),
            flow_id: Uuid::now_v7(),
            flow_name: "etl".to_owned(),
            flow_run_count: 1,
            parameters: Map::new(),
            log_prints: false,
        };
        let reporters = Reporters {
            client,
            events,
            logs: LogSender::disconnected(),
        };
        Self::new(run, reporters)
    }

    /// The `dynamic_key` of the next call of the task with `task_key`.
    pub(crate) fn next_dynamic_key(&self, task_key: &str) -> u64 {
        let mut keys = self
            .dynamic_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = keys.entry(task_key.to_owned()).or_insert(0);
        let key = *next;
        *next += 1;
        key
    }

    /// The context of the flow run being executed, if any.
    pub(crate) fn current() -> Option<Arc<FlowContext>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// Runs `future` as the body of this flow run.
    pub(crate) async fn scope<F: std::future::Future>(self: Arc<Self>, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// Runs blocking `body` inside this flow run (on a thread of tokio's blocking pool).
    pub(crate) fn sync_scope<R>(self: Arc<Self>, body: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, body)
    }
}

tokio::task_local! {
    static CURRENT: Arc<FlowContext>;
}
