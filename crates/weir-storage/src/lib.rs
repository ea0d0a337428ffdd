//! Weir's store: every read and write of the server goes through [`Store`], over SQLite (the embedded
//! default: one file, WAL, a single writer connection so writers queue instead of failing with
//! "database is locked") or PostgreSQL (the production store).
//!
//! Both backends run the same portable SQL (see `migrations/`); the [`db`] module renders the filter
//! predicates of `weir-core` and dispatches each query to the backend's native sqlx driver.
//! Orchestration happens here too, inside the write: the current state is read, `weir-core`'s policy
//! decides, and the run is updated with a compare-and-swap on its state id, so two concurrent
//! proposals for one run can never both be accepted, on either backend.

mod api_keys;
mod block_documents;
mod block_types;
mod concurrency_leases;
mod concurrency_limits;
mod db;
mod deployments;
mod events;
mod flow_runs;
mod flows;
mod logs;
mod scheduled_runs;
mod status_events;
mod task_runs;
mod variables;
mod work_pools;
mod writer;

pub use api_keys::ApiKeyCredentials;
pub use concurrency_leases::LeaseIncrement;
pub use concurrency_limits::{Increment, LimitKey};
pub use db::Backend;
pub use events::EVENT_RETENTION_HINT;
pub use flow_runs::SetStateOutcome;
pub use scheduled_runs::{PreparedRuns, ScheduledRun};
pub use status_events::EmittedStatus;

use std::path::Path;

/// Errors of the store. Each variant says what the caller should do with it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist: answer 404.
    #[error("{kind} not found")]
    NotFound { kind: &'static str },
    /// The request conflicts with stored data (e.g. a name already taken): answer 409.
    #[error("{0}")]
    Conflict(String),
    /// The request refers to something that does not exist or is otherwise unusable: answer 422.
    #[error("{0}")]
    Invalid(String),
    /// The database is busy or unreachable; the request may be retried: answer 503.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure: answer 500.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations could not be applied at start.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored document could not be read back: the database holds data Weir did not write.
    #[error("stored document is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The database URL is not one Weir can use.
    #[error("unsupported database url {0:?}: use sqlite://PATH or postgresql://...")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if writer::is_retryable(&err) {
            return Error::Unavailable(err);
        }
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::Conflict("an object with this key already exists".into())
            }
            _ => Error::Database(err),
        }
    }
}

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The handle to Weir's database. Cheap to clone; clones share the connection pools.
#[derive(Clone)]
pub struct Store {
    db: db::Db,
    writer: writer::Writer,
    /// Flow names by id. Names never change, so entries stay valid until the flow is deleted.
    flow_names: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<uuid::Uuid, String>>>,
    /// The timeouts the statuses of workers, queues and deployments are computed with.
    status_timeouts: weir_core::work_pools::StatusTimeouts,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    /// `sqlite://PATH` (or `sqlite::memory:`) and `postgres[ql]://...` are accepted.
    pub async fn open(url: &str) -> Result<Store> {
        let db = db::Db::connect(url).await?;
        db.migrate().await?;
        let writer = writer::Writer::spawn(db.clone());
        Ok(Store {
            db,
            writer,
            flow_names: Default::default(),
            status_timeouts: Default::default(),
        })
    }

    /// This store computing statuses with `timeouts` (Prefect's defaults otherwise).
    pub fn with_status_timeouts(
        mut self,
        timeouts: weir_core::work_pools::StatusTimeouts,
    ) -> Store {
        self.status_timeouts = timeouts;
        self
    }

    /// Opens the SQLite database file at `path`, creating it and its folder.
    pub async fn open_sqlite_file(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Invalid(format!("cannot create {}: {e}", parent.display())))?;
        }
        Store::open(&format!("sqlite://{}", path.display())).await
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Checks that the database answers (for `/api/ready`).
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.db.close().await
    }
}
