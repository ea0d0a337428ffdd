//! Weir's workers. A [`Worker`] serves one work pool: it makes sure the pool exists, heartbeats,
//! and hands every scheduled run it can claim to an [`Infrastructure`] — a local process
//! ([`process::ProcessInfrastructure`]) for now. It then reports what the infrastructure did:
//! `infrastructure_pid` when the run starts, Crashed when it cannot start or exits non-zero
//! before its run reached a final state, Cancelled once a CANCELLING run's infrastructure is gone.
//!
//! Pickup is push-driven: the worker subscribes to the server's `/events/out` and polls the
//! moment a flow run becomes SCHEDULED (or CANCELLING), with a timed poll as the fallback (and
//! for runs scheduled in the future). Claiming a run is proposing PENDING: the server answers
//! ABORT to every worker but one, so several workers can serve one pool.

pub mod command;
mod events;
mod health;
pub mod process;
mod references;
mod runner;

pub use runner::{Worker, WorkerConfig};

use futures::future::BoxFuture;
use serde_json::{Map, Value};
use uuid::Uuid;
use weir_core::deployments::Deployment;
use weir_core::job_template::BaseJobTemplate;
use weir_core::schemas::FlowRun;
use weir_core::work_pools::WorkPool;

/// What a worker needs to start one flow run.
#[derive(Clone, Debug)]
pub struct Job {
    pub flow_run: FlowRun,
    /// The pool's job configuration rendered with the run's variables.
    pub configuration: Map<String, Value>,
    /// The deployment's entrypoint, if the run has a deployment.
    pub entrypoint: Option<String>,
    /// The run's deployment, if it has one.
    pub deployment: Option<Deployment>,
    /// The work pool the run came from.
    pub work_pool: WorkPool,
    /// The name of the worker starting it.
    pub worker_name: String,
}

/// A started piece of infrastructure: its id for `infrastructure_pid`, and how it ends.
pub struct Started {
    pub pid: String,
    /// Resolves once the infrastructure is gone.
    pub exit: BoxFuture<'static, Exit>,
}

/// How a run's infrastructure ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exit {
    /// The exit code (`None` if killed by a signal or unknown).
    pub code: Option<i32>,
    /// Why, when the infrastructure knows better than an exit code (a pod's diagnosis): the
    /// message of the Crashed state if the run had not reached a final state.
    pub message: Option<String>,
}

impl Exit {
    pub fn code(code: Option<i32>) -> Exit {
        Exit {
            code,
            message: None,
        }
    }
}

/// A run whose infrastructure was already going when the worker started (adopted after a restart).
pub struct Adopted {
    pub flow_run_id: Uuid,
    pub started: Started,
}

/// What an infrastructure gets when its worker starts.
#[derive(Clone)]
pub struct WorkerStart {
    pub pool: WorkPool,
    pub worker_name: String,
    pub client: weir_client::Client,
}

/// Why infrastructure could not be started.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// A kind of infrastructure a worker can start flow runs on.
pub trait Infrastructure: Send + Sync + 'static {
    /// The work pool type it serves (`process`, `kubernetes`).
    fn pool_type(&self) -> &'static str;
    /// The base job template of a pool created by this worker.
    fn default_template(&self) -> BaseJobTemplate;
    /// Starts the run's infrastructure.
    fn start(&self, job: Job) -> BoxFuture<'_, Result<Started, StartError>>;
    /// Stops the infrastructure `pid` (gently, then after `grace` for good).
    fn stop(&self, pid: &str, grace: std::time::Duration) -> BoxFuture<'_, ()>;
    /// Called once when the worker starts, before it claims runs: checks what it needs and hands
    /// back the runs whose infrastructure is still going from before a restart.
    fn resume(&self, start: WorkerStart) -> BoxFuture<'_, Vec<Adopted>> {
        let _ = start;
        Box::pin(async { Vec::new() })
    }
}
