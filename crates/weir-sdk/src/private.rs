//! What the `#[flow]` and `#[task]` macros expand to call. Not a public API: names and shapes
//! change with the macros.

pub use crate::flow::run_flow;
pub use crate::task::{run_task, run_task_sync};

use serde::Serialize;
use serde_json::Value;

/// A flow's or task's options, as written in its attribute (a `static` per function).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The flow or task name (Prefect's default: the function name, `_` → `-` for flows).
    pub name: &'static str,
    /// `module_path!()::function`: tells tasks with the same name apart (the task key).
    pub key: &'static str,
    pub description: Option<&'static str>,
    pub version: Option<&'static str>,
    pub tags: &'static [&'static str],
    pub retries: u32,
    /// The delay before each retry; the last entry repeats. Empty: retry at once.
    pub retry_delay_seconds: &'static [f64],
    pub timeout_seconds: Option<f64>,
}

/// An argument as JSON (`null` when it cannot be serialised, e.g. a map with non-text keys).
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|error| {
        tracing::debug!(%error, "an argument could not be serialised to JSON");
        Value::Null
    })
}

/// The value of a flow or task that returns a plain value; a failure panics, as the failed
/// function did (or would have, for a timeout or an orchestration error).
#[track_caller]
pub fn unwrap_or_panic<T>(result: Result<T, crate::Error>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}
