//! The SDK's error type: what can end a flow or task call besides the function's own error.

/// Why a flow or task call did not produce the function's value.
///
/// A function that returns `Result<T, E>` gets these through `E: From<weir_sdk::Error>` (true of
/// `anyhow::Error` and `Box<dyn std::error::Error + Send + Sync>`); a function that returns a plain
/// value panics with them instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No server is configured: set `WEIR_API_URL` (or `PREFECT_API_URL`).
    #[error("no API URL configured: set WEIR_API_URL (or PREFECT_API_URL), e.g. http://127.0.0.1:4200/api")]
    NoApiUrl,
    /// The embedded server (used when no server is configured) could not start.
    #[error("no WEIR_API_URL set and the embedded server could not start: {0}")]
    Embedded(String),
    /// A call to the server failed; the run's state on the server may be stale.
    #[error(transparent)]
    Api(#[from] weir_client::Error),
    /// The server told the client to stop orchestrating this run; the body did not (re)run.
    #[error("the server aborted the run: {reason}")]
    Aborted { reason: String },
    /// The server rejected a state and handed back one the client cannot continue from.
    #[error("the server moved the run to {state}: {reason}")]
    Rejected { state: String, reason: String },
    /// The function panicked; the run is Failed.
    #[error("panicked: {message}")]
    Panicked { message: String },
    /// The function ran longer than its `timeout_seconds`; the run is Failed, named TimedOut.
    #[error("timed out after {seconds} s")]
    TimedOut { seconds: f64 },
    /// A block document with this name already exists (save with `overwrite` to replace it).
    #[error("block {block} already exists")]
    BlockNameTaken { block: String },
    /// A block document's data does not fit the block's type (or the block is not a JSON object).
    #[error("block {block}: {message}")]
    BlockData { block: String, message: String },
    /// A task that returns a plain value failed in another way (used when re-raising in a flow).
    #[error("task {task} failed: {message}")]
    TaskFailed { task: String, message: String },
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
