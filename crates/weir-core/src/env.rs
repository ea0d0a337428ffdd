//! Every environment variable Weir reads, in one place. Prefect's names are read as fallbacks so
//! existing Prefect setups keep working.

/// Weir's home folder (default `~/.weir`): the SQLite database and local results live here.
pub const WEIR_HOME: &str = "WEIR_HOME";
/// The server's database URL (`sqlite://...` or `postgresql://...`).
pub const WEIR_DATABASE_URL: &str = "WEIR_DATABASE_URL";
/// The server's HTTP Basic auth string (`user:password`).
pub const WEIR_SERVER_API_AUTH_STRING: &str = "WEIR_SERVER_API_AUTH_STRING";
/// Prefect's name for the server auth string.
pub const PREFECT_SERVER_API_AUTH_STRING: &str = "PREFECT_SERVER_API_AUTH_STRING";
/// An API key the server always accepts (besides stored keys), e.g. from a Kubernetes Secret, so
/// an operator can create the first stored keys with it. Setting it makes auth required.
pub const WEIR_SERVER_BOOTSTRAP_API_KEY: &str = "WEIR_SERVER_BOOTSTRAP_API_KEY";
/// `true`: the server requires credentials (an API key or the auth string) even when neither an
/// auth string nor a bootstrap key is set.
pub const WEIR_SERVER_REQUIRE_API_KEY: &str = "WEIR_SERVER_REQUIRE_API_KEY";
/// The port a PaaS platform asks the server to listen on.
pub const PORT: &str = "PORT";
/// The address `weir server start` binds (default 127.0.0.1; 0.0.0.0 in a container).
pub const WEIR_SERVER_HOST: &str = "WEIR_SERVER_HOST";
/// The API URL clients use (`http://127.0.0.1:4200/api`).
pub const WEIR_API_URL: &str = "WEIR_API_URL";
/// Prefect's name for the API URL.
pub const PREFECT_API_URL: &str = "PREFECT_API_URL";
/// The auth string clients send.
pub const WEIR_API_AUTH_STRING: &str = "WEIR_API_AUTH_STRING";
/// Prefect's name for the client auth string.
pub const PREFECT_API_AUTH_STRING: &str = "PREFECT_API_AUTH_STRING";
/// The API key clients send as `Authorization: Bearer`.
pub const WEIR_API_KEY: &str = "WEIR_API_KEY";
/// Prefect's name for the client API key.
pub const PREFECT_API_KEY: &str = "PREFECT_API_KEY";
/// Log filter of the `weir` binary (tracing's `EnvFilter` syntax).
pub const RUST_LOG: &str = "RUST_LOG";
/// The flow run a worker asks a Rust binary's `execute` subcommand to run.
pub const WEIR_FLOW_RUN_ID: &str = "WEIR_FLOW_RUN_ID";
/// Prefect's name for the flow run to execute (what Prefect's workers set).
pub const PREFECT_FLOW_RUN_ID: &str = "PREFECT__FLOW_RUN_ID";
/// The folder of the pod's service-account files (`token`, `ca.crt`, `namespace`) for in-cluster
/// access to Kubernetes; default `/var/run/secrets/kubernetes.io/serviceaccount`, where the
/// kubelet mounts it. Set it where that path cannot be mounted (a pod run as a local process).
pub const WEIR_KUBERNETES_SERVICE_ACCOUNT_DIR: &str = "WEIR_KUBERNETES_SERVICE_ACCOUNT_DIR";
/// Where the SDK persists task and flow results (default `$WEIR_HOME/storage`).
pub const WEIR_LOCAL_STORAGE_PATH: &str = "WEIR_LOCAL_STORAGE_PATH";
/// Prefect's name for the local result storage folder.
pub const PREFECT_LOCAL_STORAGE_PATH: &str = "PREFECT_LOCAL_STORAGE_PATH";
/// Whether results are persisted when a flow or task does not say (`true`/`false`).
pub const WEIR_RESULTS_PERSIST_BY_DEFAULT: &str = "WEIR_RESULTS_PERSIST_BY_DEFAULT";
/// Prefect's name for persisting results by default.
pub const PREFECT_RESULTS_PERSIST_BY_DEFAULT: &str = "PREFECT_RESULTS_PERSIST_BY_DEFAULT";
/// The lowest level of run logs the SDK ships to the server (`DEBUG`, `INFO`, ...; default INFO).
pub const WEIR_LOGGING_LEVEL: &str = "WEIR_LOGGING_LEVEL";
/// Prefect's name for the run-log level.
pub const PREFECT_LOGGING_LEVEL: &str = "PREFECT_LOGGING_LEVEL";
/// Seconds between the `prefect.flow-run.heartbeat` events of a running flow run (default 30;
/// 0 turns heartbeats off).
pub const WEIR_FLOW_RUN_HEARTBEAT_SECONDS: &str = "WEIR_FLOW_RUN_HEARTBEAT_SECONDS";
/// Prefect's name for the flow-run heartbeat interval.
pub const PREFECT_RUNNER_HEARTBEAT_FREQUENCY: &str = "PREFECT_RUNNER_HEARTBEAT_FREQUENCY";
/// Prefixes of the server's background-service settings (`<prefix>SCHEDULER_LOOP_SECONDS`,
/// `<prefix>FOREMAN_LOOP_SECONDS`...), Weir's first: the first one set wins.
pub const SERVER_SERVICES_PREFIXES: [&str; 2] =
    ["WEIR_SERVER_SERVICES_", "PREFECT_SERVER_SERVICES_"];
/// A base job template file the worker makes its pool match at every start.
pub const WEIR_WORKER_BASE_JOB_TEMPLATE: &str = "WEIR_WORKER_BASE_JOB_TEMPLATE";
/// The port of the worker's `GET /health` endpoint.
pub const WEIR_WORKER_HEALTH_PORT: &str = "WEIR_WORKER_HEALTH_PORT";

/// The first of `names` set to a non-blank value, trimmed.
pub fn first_set(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        std::env::var(name)
            .ok()
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    })
}

/// `$WEIR_HOME`, or `~/.weir`.
pub fn weir_home() -> std::path::PathBuf {
    if let Some(home) = std::env::var_os(WEIR_HOME).filter(|h| !h.is_empty()) {
        return std::path::PathBuf::from(home);
    }
    let user_home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    user_home.join(".weir")
}
