//! Weir's Rust SDK: flows and tasks as plain Rust functions, orchestrated and recorded by a Weir
//! server or a Prefect 3 server.
//!
//! ```no_run
//! use weir_sdk::{flow, task};
//!
//! #[task(retries = 2, retry_delay_seconds = [1, 5])]
//! async fn fetch(n: u32) -> anyhow::Result<u32> {
//!     Ok(n * 2)
//! }
//!
//! #[flow(name = "hello")]
//! async fn hello(n: u32) -> anyhow::Result<u32> {
//!     let doubled = fetch(n).await?;
//!     Ok(doubled + 1)
//! }
//! ```
//!
//! Calling `hello(1).await` creates the flow and a flow run on the server named by `WEIR_API_URL`
//! (or `PREFECT_API_URL`), moves it Pending → Running → Completed through the orchestration API,
//! and reports each call of `fetch` as a task run over the events websocket, as Prefect's engine
//! does. Retries, `timeout_seconds` (a Failed state named TimedOut) and panics (a Failed run, not a
//! crashed process) follow Prefect's semantics.
//!
//! A function returning `Result<T, E>` fails when it returns `Err`; `E` must also implement
//! `From<weir_sdk::Error>` so panics, timeouts and server trouble can be returned. A function
//! returning a plain value fails only by panicking, and a failed call panics in its caller.
//! Arguments must be `serde::Serialize` (a flow's become its run's parameters), and `Clone` when
//! the function has retries, since each attempt gets its own copy.
//!
//! Configuration types derive [`Block`] to be saved on and loaded from the server as Prefect
//! blocks (see the `blocks` module docs on the trait).

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod blocks;
mod cache;
mod config;
mod context;
mod deploy;
#[cfg(feature = "embedded-server")]
mod embedded;
pub mod entry;
mod error;
mod events;
mod flow;
mod handles;
mod heartbeat;
pub mod logging;
mod options;
mod probes;
mod results;
mod task;
mod task_run;

pub use blocks::Block;
pub use cache::{CacheKeyContext, CacheKeyFn, CachePolicy};
pub use config::{with_api, ApiConfig};
pub use error::{Error, Result};
pub use handles::{TaskFuture, TaskFutures};
pub use options::{CallError, FlowFn, FlowWith, Options, TaskFn, TaskWith};
pub use results::ResultMetadata;
/// Derive `schemars::JsonSchema` on parameter types to describe them in a flow's parameter schema.
pub use schemars;
pub use weir_macros::{flow, task, Block};

/// The id of the flow run whose body is executing, if any (Prefect's
/// `prefect.runtime.flow_run.id`).
pub fn current_flow_run_id() -> Option<uuid::Uuid> {
    context::FlowContext::current().map(|flow| flow.flow_run_id)
}

/// Prints a line, and ships it to the run's logs when the flow or task has `log_prints = true`
/// (Rust's `println!` cannot be intercepted, so this is the SDK's `print`).
#[macro_export]
macro_rules! log_print {
    ($($arg:tt)*) => {
        $crate::logging::log_print(::core::format_args!($($arg)*))
    };
}
