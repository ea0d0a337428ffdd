//! `weir server start`: serve the API on SQLite (`$WEIR_HOME/weir.db`) or PostgreSQL, with the
//! credentials the environment sets (auth string, bootstrap API key, required API keys).

use anyhow::Context;
use clap::{Args, Subcommand};
use weir_core::env;

#[derive(Subcommand)]
pub enum ServerCommand {
    /// Start the server.
    Start(StartArgs),
}

#[derive(Args)]
pub struct StartArgs {
    /// Address to bind (use 0.0.0.0 to listen on every interface).
    #[arg(long, env = env::WEIR_SERVER_HOST, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; falls back to $PORT, then 4200.
    #[arg(long)]
    port: Option<u16>,
    /// Database URL: sqlite://PATH or postgresql://USER@HOST/DB. Default: $WEIR_HOME/weir.db.
    #[arg(long, env = env::WEIR_DATABASE_URL)]
    database_url: Option<String>,
}

pub async fn run(command: ServerCommand) -> anyhow::Result<()> {
    match command {
        ServerCommand::Start(args) => start(args).await,
    }
}

pub use weir_core::env::weir_home;

fn resolve_port(flag: Option<u16>) -> anyhow::Result<u16> {
    if let Some(port) = flag {
        return Ok(port);
    }
    match std::env::var(env::PORT) {
        Ok(text) if !text.is_empty() => text
            .parse()
            .with_context(|| format!("invalid $PORT {text:?}: expected a number from 0 to 65535")),
        _ => Ok(4200),
    }
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    let port = resolve_port(args.port)?;
    let auth_string = std::env::var(env::WEIR_SERVER_API_AUTH_STRING)
        .or_else(|_| std::env::var(env::PREFECT_SERVER_API_AUTH_STRING))
        .ok()
        .filter(|s| !s.is_empty());
    let mut config = weir_server::ServerConfig {
        auth_string,
        bootstrap_api_key: bootstrap_api_key()?,
        require_api_key: require_api_key()?,
        ..weir_server::ServerConfig::default()
    };
    super::server_settings::apply(&mut config, |name| std::env::var(name).ok())?;
    let store = match &args.database_url {
        Some(url) => weir_storage::Store::open(url)
            .await
            .with_context(|| format!("cannot open database {}", redact(url)))?,
        None => {
            let path = weir_home().join("weir.db");
            weir_storage::Store::open_sqlite_file(&path)
                .await
                .with_context(|| format!("cannot open database {}", path.display()))?
        }
    };
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {}:{port}", args.host))?;
    let addr = listener.local_addr()?;
    if config.auth_string.is_some() || config.bootstrap_api_key.is_some() || config.require_api_key
    {
        tracing::info!(
            auth_string = config.auth_string.is_some(),
            bootstrap_api_key = config.bootstrap_api_key.is_some(),
            "credentials required: API keys (`weir api-key create`)"
        );
    }
    tracing::info!(
        backend = ?store.backend(),
        "Weir server listening on http://{addr}/api (docs at http://{addr}/docs)"
    );
    let server = weir_server::Server::new(store.clone(), config);
    server.serve(listener, super::shutdown_signal()).await?;
    store.close().await;
    Ok(())
}

/// `$WEIR_SERVER_BOOTSTRAP_API_KEY`, refused when too short to be a secret.
fn bootstrap_api_key() -> anyhow::Result<Option<String>> {
    let Some(key) = env::first_set(&[env::WEIR_SERVER_BOOTSTRAP_API_KEY]) else {
        return Ok(None);
    };
    let min = weir_core::api_keys::MIN_BOOTSTRAP_KEY_LENGTH;
    if key.chars().count() < min {
        anyhow::bail!(
            "${} is too short: use at least {min} random characters (e.g. `openssl rand -hex 32`)",
            env::WEIR_SERVER_BOOTSTRAP_API_KEY
        );
    }
    Ok(Some(key))
}

/// `$WEIR_SERVER_REQUIRE_API_KEY` as a boolean (unset: false).
fn require_api_key() -> anyhow::Result<bool> {
    let Some(text) = env::first_set(&[env::WEIR_SERVER_REQUIRE_API_KEY]) else {
        return Ok(false);
    };
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => anyhow::bail!(
            "invalid ${} {text:?}: expected true or false",
            env::WEIR_SERVER_REQUIRE_API_KEY
        ),
    }
}

/// A database URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
