//! Weir's domain, shared by every other crate: the Prefect-compatible wire schemas, the state model and
//! the orchestration policy that decides each proposed state transition, the filter language of the
//! `/filter` endpoints, events, run names, work pools' base job templates (validation and
//! rendering), deployment schedules (the times they fire, and how many runs to materialise),
//! variables, blocks (typed configuration documents with masked secrets), and API keys (format,
//! hashing, expiry).
//!
//! **Invariant:** this crate does no I/O. It depends on no runtime, database or HTTP crate, so every
//! rule here is unit-tested in milliseconds and callers decide how effects happen. Randomness and the
//! clock come in as arguments where a rule needs them.

pub mod api_keys;
pub mod blocks;
pub mod concurrency_leases;
pub mod concurrency_limits;
pub mod deployments;
pub mod env;
pub mod events;
pub mod filters;
pub mod job_template;
pub mod names;
pub mod orchestration;
pub mod schedules;
pub mod schemas;
pub mod state;
pub mod status_events;
pub mod time;
pub mod variables;
pub mod work_pools;

pub use state::{State, StateCreate, StateDetails, StateType};
pub use time::Timestamp;

/// The Prefect server version Weir reports at `/api/admin/version`. The Prefect client refuses a server
/// whose major version is not 3 and warns when the server is older than itself.
pub const PREFECT_COMPAT_VERSION: &str = "3.9.1";

/// The Prefect REST API version Weir speaks (`X-PREFECT-API-VERSION`).
pub const PREFECT_API_VERSION: &str = "0.8.4";
