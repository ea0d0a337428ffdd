//! Weir's server: the Prefect-3-compatible REST API under `/api` (an axum [`Router`]), its websockets,
//! its OpenAPI document, and the background services it runs.
//!
//! [`Server::router`] builds the whole application without binding a socket, so tests can drive it
//! directly; [`Server::serve`] runs it on a listener together with the background services and stops
//! them all on shutdown. Handlers hold no SQL: every read and write goes through `weir_storage`.

pub mod auth;
pub mod error;
pub mod events;
mod openapi;
mod routes;
mod services;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use std::future::Future;
use weir_storage::Store;

pub use events::EventBus;

/// The largest request body accepted, in bytes (larger ones get 413).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Server settings.
#[derive(Clone)]
pub struct ServerConfig {
    /// When set, every endpoint but health and readiness requires credentials, and this string is
    /// accepted as HTTP Basic (and as a websocket's auth-frame token).
    pub auth_string: Option<String>,
    /// When set, credentials are required and this key is accepted besides the stored API keys
    /// (`WEIR_SERVER_BOOTSTRAP_API_KEY`): an operator's first key, kept in a Secret.
    pub bootstrap_api_key: Option<String>,
    /// Require credentials (a stored API key, the bootstrap key or the auth string) even when no
    /// auth string or bootstrap key is set (`WEIR_SERVER_REQUIRE_API_KEY`).
    pub require_api_key: bool,
    /// How often the scheduler looks for deployments short of runs (it also wakes whenever a
    /// deployment is written).
    pub scheduler_interval: std::time::Duration,
    /// How long past its scheduled time a run waits before it is marked Late (Prefect: 15 s).
    pub late_runs_after: std::time::Duration,
    /// How often the zombies service looks for RUNNING flow runs whose heartbeats stopped.
    pub zombies_interval: std::time::Duration,
    /// How long a RUNNING flow run that has heartbeated may go without a heartbeat before it is
    /// set CRASHED (Prefect's automation: 90 s, three missed 30 s beats).
    pub zombies_after: std::time::Duration,
    /// How often the cancellation cleanup runs (cancels subflows of cancelled runs, and runs left
    /// CANCELLING with nobody to stop them).
    pub cancellation_cleanup_interval: std::time::Duration,
    /// How long a run without a deployment or `infrastructure_pid` may stay CANCELLING before
    /// the cleanup sets it CANCELLED.
    pub cancelling_without_infrastructure_after: std::time::Duration,
    /// How often the lease repossessor gives back the slots of expired concurrency leases
    /// (Prefect's repossessor: 15 s).
    pub lease_repossessor_interval: std::time::Duration,
    /// How long one second of a concurrency lease's `lease_duration` lasts: one second, shorter
    /// only in tests, so leases (at least 60 "seconds" by Prefect's rule) can expire quickly.
    pub lease_time_unit: std::time::Duration,
    /// How often the foreman looks for work pools, queues and deployments whose status changed,
    /// and emits their status events (Prefect's `foreman.loop_seconds`: 15 s).
    pub foreman_interval: std::time::Duration,
    /// When workers count as OFFLINE and queues and deployments as NOT_READY (Prefect's foreman
    /// settings: 3 missed heartbeats, 30 s assumed interval, 60 s since the last poll).
    pub status_timeouts: weir_core::work_pools::StatusTimeouts,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth_string: None,
            bootstrap_api_key: None,
            require_api_key: false,
            scheduler_interval: std::time::Duration::from_secs(10),
            late_runs_after: std::time::Duration::from_secs(15),
            zombies_interval: std::time::Duration::from_secs(20),
            zombies_after: std::time::Duration::from_secs(90),
            cancellation_cleanup_interval: std::time::Duration::from_secs(20),
            cancelling_without_infrastructure_after: std::time::Duration::from_secs(60),
            lease_repossessor_interval: std::time::Duration::from_secs(15),
            lease_time_unit: std::time::Duration::from_secs(1),
            foreman_interval: std::time::Duration::from_secs(15),
            status_timeouts: Default::default(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    /// Every field but the secrets, which show as `********` when set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |secret: &Option<String>| secret.as_ref().map(|_| "********");
        f.debug_struct("ServerConfig")
            .field("auth_string", &masked(&self.auth_string))
            .field("bootstrap_api_key", &masked(&self.bootstrap_api_key))
            .field("require_api_key", &self.require_api_key)
            .field("scheduler_interval", &self.scheduler_interval)
            .field("late_runs_after", &self.late_runs_after)
            .field("zombies_interval", &self.zombies_interval)
            .field("zombies_after", &self.zombies_after)
            .field(
                "cancellation_cleanup_interval",
                &self.cancellation_cleanup_interval,
            )
            .field(
                "cancelling_without_infrastructure_after",
                &self.cancelling_without_infrastructure_after,
            )
            .field(
                "lease_repossessor_interval",
                &self.lease_repossessor_interval,
            )
            .field("lease_time_unit", &self.lease_time_unit)
            .field("foreman_interval", &self.foreman_interval)
            .field("status_timeouts", &self.status_timeouts)
            .finish()
    }
}

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: ServerConfig,
    pub events: EventBus,
    /// Checks credentials; caches stored API keys.
    pub auth: std::sync::Arc<auth::Authenticator>,
    /// Wakes the scheduler (a deployment was written).
    pub scheduler_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Wakes the foreman (a pool or queue may just have become READY).
    pub foreman_wake: std::sync::Arc<tokio::sync::Notify>,
}

/// A Weir server: its state plus the background services that have not started yet.
pub struct Server {
    state: AppState,
    pipeline: events::EventPipeline,
}

impl Server {
    /// Prepares a server over `store`.
    pub fn new(store: Store, config: ServerConfig) -> Server {
        let store = store.with_status_timeouts(config.status_timeouts);
        let (events, pipeline) = EventBus::new(store.clone());
        Server {
            state: AppState {
                auth: std::sync::Arc::new(auth::Authenticator::new(&config)),
                store,
                config,
                events,
                scheduler_wake: Default::default(),
                foreman_wake: Default::default(),
            },
            pipeline,
        }
    }

    /// The event bus: in-process clients publish to it directly and [`EventBus::flush`] it.
    pub fn events(&self) -> EventBus {
        self.state.events.clone()
    }

    /// The application's routes. The background services are not running until [`Server::serve`]
    /// (or [`Server::spawn_services`]) is called.
    pub fn router(&self) -> Router {
        app(self.state.clone())
    }

    /// Registers Weir's built-in block types and schemas (`secret` and the Kubernetes blocks);
    /// idempotent, so every start runs it. [`Server::serve`] does this before it accepts requests.
    pub async fn register_builtin_blocks(&self) -> Result<(), weir_storage::Error> {
        let blocks = weir_core::blocks::builtin::builtin_blocks();
        self.state.store.register_builtin_blocks(&blocks).await
    }

    /// Starts the background services on the current runtime and returns the router. Used by
    /// in-process embeddings (tests, the SDK's embedded server) that serve the router themselves;
    /// they call [`Server::register_builtin_blocks`] first if they need the built-in blocks.
    pub fn spawn_services(self) -> Router {
        tokio::spawn(self.pipeline.run());
        spawn_services(&self.state);
        app(self.state)
    }

    /// Registers the built-in blocks, then serves the API on `listener` until `shutdown`
    /// completes, then drains the event pipeline. Requests that arrive while the blocks are being
    /// registered wait in the listener's backlog.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Err(error) = self.register_builtin_blocks().await {
            // The API still works without them; clients register the types they use.
            tracing::error!(%error, "cannot register the built-in block types");
        }
        let pipeline = tokio::spawn(self.pipeline.run());
        let services = spawn_services(&self.state);
        let router = app(self.state);
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        for service in services {
            service.abort();
        }
        // Dropping the router dropped the last bus handles; the pipeline finishes its queue.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), pipeline).await;
        result
    }
}

/// Starts the background services on the current runtime.
fn spawn_services(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let store = state.store.clone();
    let after = state.config.late_runs_after;
    let late_runs = tokio::spawn(async move {
        let never = tokio::sync::Notify::new();
        let every = std::time::Duration::from_secs(5);
        services::supervise("late runs", every, &never, move || {
            let store = store.clone();
            async move {
                services::late_runs::mark_late_runs(&store, after)
                    .await
                    .map(|_| ())
            }
        })
        .await;
    });
    vec![
        spawn_scheduler(state),
        late_runs,
        spawn_zombies(state),
        spawn_cancellation_cleanup(state),
        spawn_lease_repossessor(state),
        spawn_foreman(state),
    ]
}

/// Starts the foreman (emits the status events of pools, queues and deployments); it also wakes
/// when a heartbeat or a poll makes a pool or queue READY.
fn spawn_foreman(state: &AppState) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    let events = state.events.clone();
    let every = state.config.foreman_interval;
    let wake = state.foreman_wake.clone();
    tokio::spawn(async move {
        services::supervise("foreman", every, &wake, move || {
            let (store, events) = (store.clone(), events.clone());
            async move {
                services::foreman::announce_status_changes(&store, &events)
                    .await
                    .map(|_| ())
            }
        })
        .await;
    })
}

/// Starts the lease repossessor (expired concurrency leases give back their slots).
fn spawn_lease_repossessor(state: &AppState) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    let every = state.config.lease_repossessor_interval;
    tokio::spawn(async move {
        let never = tokio::sync::Notify::new();
        services::supervise("lease repossessor", every, &never, move || {
            let store = store.clone();
            async move {
                services::lease_repossessor::repossess_expired_leases(&store)
                    .await
                    .map(|_| ())
            }
        })
        .await;
    })
}

/// Starts the cancellation cleanup (subflows of cancelled runs, runs stuck CANCELLING).
fn spawn_cancellation_cleanup(state: &AppState) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    let events = state.events.clone();
    let every = state.config.cancellation_cleanup_interval;
    let after = state.config.cancelling_without_infrastructure_after;
    tokio::spawn(async move {
        let never = tokio::sync::Notify::new();
        services::supervise("cancellation cleanup", every, &never, move || {
            let (store, events) = (store.clone(), events.clone());
            async move {
                services::cancellation_cleanup::clean_up(&store, &events, after)
                    .await
                    .map(|_| ())
            }
        })
        .await;
    })
}

/// Starts the zombies service (RUNNING runs whose heartbeats stopped become CRASHED).
fn spawn_zombies(state: &AppState) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    let events = state.events.clone();
    let (every, after) = (state.config.zombies_interval, state.config.zombies_after);
    tokio::spawn(async move {
        let never = tokio::sync::Notify::new();
        services::supervise("zombies", every, &never, move || {
            let (store, events) = (store.clone(), events.clone());
            async move {
                services::zombies::crash_zombies(&store, &events, after)
                    .await
                    .map(|_| ())
            }
        })
        .await;
    })
}

/// Starts the scheduler loop on the current runtime.
fn spawn_scheduler(state: &AppState) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    let wake = state.scheduler_wake.clone();
    let every = state.config.scheduler_interval;
    tokio::spawn(async move {
        let settings = weir_core::schedules::SchedulerSettings::default();
        services::supervise("scheduler", every, &wake, move || {
            let store = store.clone();
            async move {
                services::scheduler::schedule_all(&store, &settings)
                    .await
                    .map(|_| ())
            }
        })
        .await;
    })
}

/// Builds the router over a prepared state.
fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api", routes::api())
        .merge(openapi::docs())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
