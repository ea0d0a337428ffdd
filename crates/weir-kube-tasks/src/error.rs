//! The crate's error: one readable line per way a Kubernetes operation can fail.

use std::path::PathBuf;

/// Why a Kubernetes task, block load or Job run failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeTaskError {
    /// No client could be built from the credentials.
    #[error(transparent)]
    Cluster(#[from] weir_kube::cluster::ClusterError),
    /// The API server refused or failed a call.
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    /// A manifest file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A manifest is not what the operation needs.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// An `api_kwargs` key this crate does not pass to the API.
    #[error("unsupported api_kwargs key {key:?}: supported are {supported}")]
    UnsupportedApiKwarg {
        /// The key.
        key: String,
        /// The keys that are supported.
        supported: &'static str,
    },
    /// The Job ended with a `Failed` condition.
    #[error("Job {job:?} in namespace {namespace:?} failed: {}", .reasons.join("; "))]
    JobFailed {
        /// The Job's name.
        job: String,
        /// Its namespace.
        namespace: String,
        /// The `Failed` conditions' reasons and messages.
        reasons: Vec<String>,
    },
    /// The Job was active for longer than `timeout_seconds`.
    #[error("Job {job:?} in namespace {namespace:?} did not finish within {seconds} s of running")]
    JobTimedOut {
        /// The Job's name.
        job: String,
        /// Its namespace.
        namespace: String,
        /// The timeout.
        seconds: u64,
    },
    /// The Job was deleted while it was being waited for.
    #[error("Job {job:?} in namespace {namespace:?} was deleted before it finished")]
    JobDeleted {
        /// The Job's name.
        job: String,
        /// Its namespace.
        namespace: String,
    },
    /// No server is configured to load a block from.
    #[error(
        "cannot load block {name:?}: no API URL configured (set WEIR_API_URL or PREFECT_API_URL)"
    )]
    NoApi {
        /// The block document's name.
        name: String,
    },
    /// The server could not be asked for a block document.
    #[error("cannot load {slug} block {name:?}: {source}")]
    LoadBlock {
        /// The block type's slug.
        slug: &'static str,
        /// The block document's name.
        name: String,
        /// Why (boxed: the client's error is large).
        #[source]
        source: Box<weir_client::Error>,
    },
    /// A block document's data does not have the block's fields.
    #[error("{slug} block {name:?} has unexpected data: {message}")]
    BlockData {
        /// The block type's slug.
        slug: &'static str,
        /// The block document's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The SDK could not run the task or flow (panics, timeouts, the server).
    #[error(transparent)]
    Sdk(Box<weir_sdk::Error>),
}

impl From<weir_sdk::Error> for KubeTaskError {
    fn from(error: weir_sdk::Error) -> Self {
        KubeTaskError::Sdk(Box::new(error))
    }
}

/// `Result` with [`KubeTaskError`].
pub type Result<T, E = KubeTaskError> = std::result::Result<T, E>;
