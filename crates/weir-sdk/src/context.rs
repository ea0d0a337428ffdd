//! The flow run a task call belongs to, carried through the flow's future in a tokio task-local.
//!
//! A task called inside a flow's body (directly, or in futures it awaits, `join!`s or `select!`s)
//! sees the context; work moved to another tokio task with `tokio::spawn` does not, and its task
//! calls run unreported.

use crate::events::EventSender;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// What task runs need to know about the flow run they belong to.
pub(crate) struct FlowContext {
    pub flow_run_id: Uuid,
    pub flow_run_name: String,
    pub flow_id: Uuid,
    pub flow_name: String,
    pub flow_run_count: i64,
    pub events: EventSender,
    /// The next `dynamic_key` per `task_key`: the n-th call of a task in this run gets `n`.
    dynamic_keys: Mutex<HashMap<&'static str, u64>>,
}

impl FlowContext {
    pub(crate) fn new(
        flow_run_id: Uuid,
        flow_run_name: String,
        flow_id: Uuid,
        flow_name: String,
        flow_run_count: i64,
        events: EventSender,
    ) -> Self {
        Self {
            flow_run_id,
            flow_run_name,
            flow_id,
            flow_name,
            flow_run_count,
            events,
            dynamic_keys: Mutex::new(HashMap::new()),
        }
    }

    /// The `dynamic_key` of the next call of the task with `task_key`.
    pub(crate) fn next_dynamic_key(&self, task_key: &'static str) -> u64 {
        let mut keys = self
            .dynamic_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = keys.entry(task_key).or_insert(0);
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
}

tokio::task_local! {
    static CURRENT: Arc<FlowContext>;
}
