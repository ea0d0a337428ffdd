//! The [`Simulator`]: configuration, shared state, the axum router and the ways to reach it
//! (in-process `tower::Service`, loopback listener, kubeconfig).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::clock::Clock;
use crate::faults::{FaultRule, Faults};
use crate::logs::LogStore;
use crate::rbac::Rbac;
use crate::resources::known;
use crate::scenario::ScenarioTable;
use crate::store::{GenerateNameMode, Store};

/// When the Job controller adds the terminal condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobConditionOrder {
    /// Kubernetes 1.31+: `SuccessCriteriaMet`/`FailureTarget` first, `Complete`/`Failed` once every
    /// pod has terminated.
    #[default]
    Modern,
    /// Kubernetes 1.30 and earlier: `Complete`/`Failed` at once, possibly while pods still run.
    Legacy,
}

/// Simulator settings. `Config::default()` behaves like a Kubernetes 1.32 cluster with one node.
#[derive(Debug, Clone)]
pub struct Config {
    /// How many changes are kept for watch resumption; older resourceVersions get 410 Expired.
    pub history_window: usize,
    /// Behaviour of `generateName` collisions.
    pub generate_name: GenerateNameMode,
    /// Job condition order.
    pub job_conditions: JobConditionOrder,
    /// Simulated seconds per real second.
    pub clock_speed: f64,
    /// Tokens and their rules.
    pub rbac: Rbac,
    /// Whether `sendInitialEvents=true` watches (streaming lists) are served or refused.
    pub streaming_lists: bool,
    /// Whether deleted namespaces stay `Terminating` forever, as under envtest.
    pub namespaces_stuck: bool,
    /// Scenarios by image.
    pub scenarios: ScenarioTable,
    /// Server-side watch timeout when the client sends no `timeoutSeconds` (real time).
    pub min_request_timeout: Duration,
    /// Interval between watch bookmarks, when requested (real time).
    pub bookmark_interval: Duration,
    /// Age after which a `continue` token is refused with 410 (simulated time).
    pub continue_ttl: Duration,
    /// First pod re-creation back-off of the Job controller (simulated time), doubled per failure.
    pub job_backoff: Duration,
    /// How long after a node is lost its pods are marked failed (simulated time).
    pub node_loss_grace: Duration,
    /// How often the controllers run at most (real time).
    pub tick: Duration,
    /// Age after which events are deleted (simulated time), like the apiserver's `--event-ttl`.
    pub event_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            history_window: 1000,
            generate_name: GenerateNameMode::Retry,
            job_conditions: JobConditionOrder::Modern,
            clock_speed: 1.0,
            rbac: Rbac::open(),
            streaming_lists: true,
            namespaces_stuck: false,
            scenarios: ScenarioTable::default(),
            min_request_timeout: Duration::from_secs(1800),
            bookmark_interval: Duration::from_secs(5),
            continue_ttl: Duration::from_secs(300),
            job_backoff: Duration::from_secs(10),
            node_loss_grace: Duration::from_secs(40),
            tick: Duration::from_millis(20),
            event_ttl: Duration::from_secs(3600),
        }
    }
}

pub(crate) struct Page {
    pub items: Vec<Arc<Value>>,
    pub rv: u64,
    pub created: chrono::DateTime<chrono::Utc>,
}

/// State shared by the API handlers and the controllers.
pub(crate) struct Shared {
    pub store: Store,
    pub clock: Arc<Clock>,
    pub config: Config,
    pub rbac: RwLock<Rbac>,
    pub faults: Faults,
    pub logs: LogStore,
    pub scenarios: RwLock<ScenarioTable>,
    pub pages: Mutex<HashMap<String, Page>>,
    pub controllers: Mutex<crate::controllers::State>,
    /// Service-account tokens minted for pods.
    pub tokens: crate::rbac::BoundTokens,
    /// The HTTPS listener's address and CA (PEM), which in-cluster processes are given.
    pub tls: RwLock<Option<(SocketAddr, String)>>,
    /// Uids of the pods with a folder of files (see [`crate::podfiles`]).
    pub pod_dirs: Mutex<std::collections::HashSet<String>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for uid in self
            .pod_dirs
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            crate::podfiles::remove(uid);
        }
    }
}

impl Shared {
    /// The HTTPS listener's address and CA (PEM), once [`Simulator::listen_tls`] was called.
    pub fn tls_endpoint(&self) -> Option<(SocketAddr, String)> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A running simulated cluster. Cheap to clone; controllers stop when the last clone is dropped.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) shared: Arc<Shared>,
}

impl Simulator {
    /// Starts a simulator with default settings. Must be called inside a tokio runtime.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// Starts a simulator. Must be called inside a tokio runtime.
    pub fn with_config(config: Config) -> Self {
        let clock = Arc::new(Clock::new(config.clock_speed));
        let store = Store::new(clock.clone(), config.history_window);
        store.set_generate_name_mode(config.generate_name);
        let shared = Arc::new(Shared {
            store,
            clock,
            rbac: RwLock::new(config.rbac.clone()),
            scenarios: RwLock::new(config.scenarios.clone()),
            config,
            faults: Faults::default(),
            logs: LogStore::default(),
            pages: Mutex::new(HashMap::new()),
            controllers: Mutex::new(Default::default()),
            tokens: Default::default(),
            tls: RwLock::new(None),
            pod_dirs: Mutex::new(Default::default()),
        });
        seed(&shared);
        crate::controllers::spawn(Arc::downgrade(&shared));
        Simulator { shared }
    }

    /// The API as an axum router; it is a `tower::Service` that `kube::Client::new` accepts.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/version", get(crate::discovery::version))
            .route("/api", get(crate::discovery::api_versions))
            .route("/apis", get(crate::discovery::api_groups))
            .route("/api/{version}", get(crate::discovery::core_resources))
            .route(
                "/apis/{group}/{version}",
                get(crate::discovery::group_resources),
            )
            .route("/openapi/v2", get(crate::discovery::openapi_v2))
            .route("/openapi/v3", get(crate::discovery::openapi_v3_root))
            .route("/openapi/v3/{*gv}", get(crate::discovery::openapi_v3_gv))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(|| async { "ok" }))
            .route("/livez", get(|| async { "ok" }))
            .route("/_sim/faults", post(add_fault).delete(clear_faults))
            .route("/_sim/drop-watches", post(drop_watches))
            .route("/_sim/advance", post(advance))
            .route("/_sim/scenarios", post(set_scenario))
            .fallback(crate::api::handle)
            .with_state(self.shared.clone())
    }

    /// The router, with every request authenticated as `token` unless it carries its own.
    pub fn router_with_token(&self, token: &str) -> Router {
        let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .unwrap_or_else(|_| http::HeaderValue::from_static(""));
        self.router()
            .layer(axum::middleware::map_request(move |mut req: Request| {
                let value = value.clone();
                async move {
                    req.headers_mut()
                        .entry(http::header::AUTHORIZATION)
                        .or_insert(value);
                    req
                }
            }))
    }

    /// Serves the API on `127.0.0.1:port` (0 picks a free port) in a background task.
    pub async fn listen(&self, port: u16) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let app = self.router();
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::warn!(?err, "simulator listener stopped");
            }
        });
        Ok(addr)
    }

    /// Serves the API over HTTPS on `127.0.0.1:port` (0 picks a free port) in a background task.
    /// Returns the address and the PEM of the CA that signed the server certificate. Pods run as
    /// local processes started from then on get in-cluster access to this listener (see
    /// [`crate::podfiles`]).
    pub async fn listen_tls(&self, port: u16) -> std::io::Result<(SocketAddr, String)> {
        let material = crate::tls::material()?;
        let tcp = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = tcp.local_addr()?;
        let listener = crate::tls::TlsListener {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(material.config),
        };
        let app = self.router();
        // Pods run as local processes reach the API here (the last HTTPS listener started).
        *self.shared.tls.write().unwrap_or_else(|e| e.into_inner()) =
            Some((addr, material.ca_pem.clone()));
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::warn!(?err, "simulator TLS listener stopped");
            }
        });
        Ok((addr, material.ca_pem))
    }

    /// A kubeconfig for an HTTPS listener: `ca_pem` from [`Simulator::listen_tls`], and `token`.
    /// Unlike plain HTTP, kubectl sends the token over HTTPS.
    pub fn kubeconfig_tls(addr: SocketAddr, token: &str, ca_pem: &str) -> String {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
        Self::kubeconfig(addr, token).replace(
            &format!("    server: http://{addr}\n"),
            &format!("    server: https://{addr}\n    certificate-authority-data: {ca}\n"),
        )
    }

    /// A kubeconfig pointing at a plain-HTTP listener at `addr` with `token`, namespace `default`.
    /// kubectl ignores the token over plain HTTP (it sends credentials only over HTTPS).
    pub fn kubeconfig(addr: SocketAddr, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: weir-sim\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: weir-sim\n  context:\n    cluster: weir-sim\n    user: weir-sim\n    namespace: default\ncurrent-context: weir-sim\nusers:\n- name: weir-sim\n  user:\n    token: {token}\npreferences: {{}}\n"
        )
    }

    /// The simulated clock.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The fault table.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The object store, for direct inspection in tests.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Replaces the token table.
    pub fn set_rbac(&self, rbac: Rbac) {
        *self.shared.rbac.write().unwrap_or_else(|e| e.into_inner()) = rbac;
    }

    /// Sets the scenario for an image (a trailing `*` matches a prefix).
    pub fn set_scenario(&self, image: &str, scenario: crate::scenario::Scenario) {
        self.shared
            .scenarios
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(image, scenario);
    }

    /// Changes how many changes are kept for watch resumption.
    pub fn set_history_window(&self, window: usize) {
        self.shared.store.set_history_window(window);
    }

    /// Switches how `generateName` collisions behave.
    pub fn set_generate_name_mode(&self, mode: GenerateNameMode) {
        self.shared.store.set_generate_name_mode(mode);
    }
}

impl Default for Simulator {
    fn default() -> Self {
        Self::new()
    }
}

fn seed(shared: &Shared) {
    let store = &shared.store;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let obj = json!({"metadata": {"name": ns}});
        let created = store.create(known::namespaces(), obj, false, |o| {
            crate::validate::admit_create(known::namespaces(), o)
        });
        if let Err(err) = created {
            tracing::warn!(%err, ns, "could not seed namespace");
        }
    }
    let node = json!({
        "metadata": {"name": crate::controllers::kubelet::NODE, "labels": {"kubernetes.io/hostname": crate::controllers::kubelet::NODE, "kubernetes.io/os": "linux"}},
        "spec": {},
        "status": {
            "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": crate::controllers::kubelet::NODE}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-weir-sim", "architecture": "amd64", "operatingSystem": "linux", "containerRuntimeVersion": "sim://1", "osImage": "weir-kube-sim"}
        }
    });
    if let Err(err) = store.create(known::nodes(), node, false, |_| Ok(())) {
        tracing::warn!(%err, "could not seed node");
    }
}

async fn add_fault(State(shared): State<Arc<Shared>>, Json(rule): Json<FaultRule>) -> Response {
    shared.faults.add(rule);
    (http::StatusCode::CREATED, Json(json!({"ok": true}))).into_response()
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.faults.clear();
    Json(json!({"ok": true})).into_response()
}

async fn drop_watches(State(shared): State<Arc<Shared>>) -> Response {
    shared.faults.drop_watches();
    Json(json!({"ok": true})).into_response()
}

#[derive(serde::Deserialize)]
struct ScenarioEntry {
    image: String,
    scenario: Value,
}

async fn set_scenario(
    State(shared): State<Arc<Shared>>,
    Json(entry): Json<ScenarioEntry>,
) -> Response {
    let parsed = match &entry.scenario {
        Value::String(text) => crate::scenario::Scenario::parse(text),
        other => serde_json::from_value(other.clone()).map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(scenario) => {
            shared
                .scenarios
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(&entry.image, scenario);
            (http::StatusCode::CREATED, Json(json!({"ok": true}))).into_response()
        }
        Err(message) => crate::error::ApiError::bad_request(message).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct Advance {
    seconds: f64,
}

async fn advance(State(shared): State<Arc<Shared>>, Json(a): Json<Advance>) -> Response {
    shared
        .clock
        .advance(Duration::from_secs_f64(a.seconds.max(0.0)));
    Json(json!({"now": crate::meta::time(shared.clock.now())})).into_response()
}
