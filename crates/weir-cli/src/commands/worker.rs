//! `weir worker start`: serve a work pool with a process or Kubernetes worker.

use anyhow::Context;
use clap::{Args, Subcommand};
use weir_core::env;
use weir_core::job_template::BaseJobTemplate;
use weir_kube::{KubernetesInfrastructure, KubernetesSettings, SecretKeyRef};
use weir_worker::process::ProcessInfrastructure;
use weir_worker::{Worker, WorkerConfig};

#[derive(Subcommand)]
pub enum WorkerCommand {
    /// Start a worker that runs the flow runs of a work pool.
    Start(StartArgs),
}

#[derive(Args)]
pub struct StartArgs {
    /// The work pool to serve (created with the type's default template if it does not exist).
    #[arg(long, short = 'p')]
    pool: String,
    /// The infrastructure type.
    #[arg(long = "type", short = 't', default_value = "process")]
    worker_type: String,
    /// A queue to serve (repeatable); all of the pool's queues by default.
    #[arg(long = "work-queue", short = 'q')]
    work_queues: Vec<String>,
    /// At most this many flow runs at once.
    #[arg(long)]
    limit: Option<usize>,
    /// The worker's name (unique within the pool).
    #[arg(long, short = 'n')]
    name: Option<String>,
    /// Serve GET /health on this port (0.0.0.0).
    #[arg(long, env = env::WEIR_WORKER_HEALTH_PORT)]
    health_port: Option<u16>,
    /// A base job template (JSON file) the pool is made to match at every start: the pool is
    /// created with it, or updated when its template differs (the differences are logged).
    #[arg(long, env = env::WEIR_WORKER_BASE_JOB_TEMPLATE)]
    base_job_template: Option<std::path::PathBuf>,
    /// Seconds between timed polls (new runs are also picked up as soon as they are scheduled).
    #[arg(long, default_value_t = 10.0)]
    poll_seconds: f64,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 30)]
    heartbeat_seconds: u64,
    /// Kubernetes: a namespace to check permissions in and watch from the start, besides the
    /// pool's default (repeatable).
    #[arg(
        long = "namespace",
        env = "WEIR_KUBERNETES_NAMESPACES",
        value_delimiter = ','
    )]
    namespaces: Vec<String>,
    /// Kubernetes: pass the API key to flow pods as a reference to this Secret (NAME or
    /// NAME:KEY, key `key` by default) instead of its value.
    #[arg(long, env = "WEIR_KUBERNETES_API_KEY_SECRET")]
    api_key_secret: Option<String>,
    /// Kubernetes: pass the basic-auth string to flow pods as a reference to this Secret (NAME or
    /// NAME:KEY, key `auth-string` by default) instead of its value.
    #[arg(long, env = "WEIR_KUBERNETES_AUTH_STRING_SECRET")]
    auth_string_secret: Option<String>,
}

fn secret_ref(text: &str, default_key: &str) -> SecretKeyRef {
    let (name, key) = text.split_once(':').unwrap_or((text, default_key));
    SecretKeyRef {
        name: name.to_owned(),
        key: key.to_owned(),
    }
}

/// Reads and checks a base job template file, so a bad chart value stops the worker with one line.
fn read_base_job_template(
    path: &std::path::Path,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the base job template {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the base job template {} is not valid JSON", path.display()))?;
    let template: BaseJobTemplate = serde_json::from_value(value.clone())
        .map_err(|e| anyhow::anyhow!("base job template {}: {e}", path.display()))?;
    template
        .validate()
        .map_err(|e| anyhow::anyhow!("base job template {}: {e}", path.display()))?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => anyhow::bail!(
            "base job template {}: expected a JSON object",
            path.display()
        ),
    }
}

pub async fn run(command: WorkerCommand) -> anyhow::Result<()> {
    match command {
        WorkerCommand::Start(args) => start(args).await,
    }
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    let api_url = env::first_set(&[env::WEIR_API_URL, env::PREFECT_API_URL]).context(
        "no server to work for: set WEIR_API_URL (or PREFECT_API_URL), e.g. http://127.0.0.1:4200/api",
    )?;
    if !matches!(args.worker_type.as_str(), "process" | "kubernetes") {
        anyhow::bail!(
            "unknown worker type {:?}: weir has the `process` and `kubernetes` workers",
            args.worker_type
        );
    }
    let auth = weir_client::Auth::from_env();
    let mut config = WorkerConfig::new(&api_url, &args.pool);
    config.auth = auth.clone();
    config.queues = args.work_queues;
    config.limit = args.limit;
    if let Some(name) = args.name {
        config.name = name;
    }
    config.health_address = args
        .health_port
        .map(|port| std::net::SocketAddr::from(([0, 0, 0, 0], port)));
    if let Some(path) = &args.base_job_template {
        config.base_job_template = Some(read_base_job_template(path)?);
    }
    config.poll_seconds = args.poll_seconds;
    config.heartbeat_seconds = args.heartbeat_seconds;
    let outcome = if args.worker_type == "kubernetes" {
        let mut settings = KubernetesSettings::new(&api_url, auth);
        settings.namespaces = args.namespaces;
        settings.api_key_secret = args.api_key_secret.map(|s| secret_ref(&s, "key"));
        settings.auth_string_secret = args
            .auth_string_secret
            .map(|s| secret_ref(&s, "auth-string"));
        let worker = Worker::new(config, KubernetesInfrastructure::new(settings));
        worker.run(super::shutdown_signal()).await
    } else {
        let worker = Worker::new(config, ProcessInfrastructure::new(&api_url, auth));
        worker.run(super::shutdown_signal()).await
    };
    outcome.with_context(|| format!("cannot set up work pool {:?}", args.pool))
}
