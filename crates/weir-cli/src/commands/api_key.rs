//! `weir api-key`: create (prints the key, and only the key, on stdout — the one time it is
//! shown), list and revoke the server's API keys.
//!
//! By default the verbs go through the API with the configured credentials. With
//! `--database-url` they work on the database directly, without a server: that is how the first key
//! of a server started with `WEIR_SERVER_REQUIRE_API_KEY=true` and no bootstrap key is made. A key
//! revoked that way stops working on running servers within their key cache's lifetime (5 s).

use crate::api::{self, ApiResultExt};
use crate::commands::server::redact;
use crate::commands::work_pool::Format;
use crate::output::{self, Table};
use anyhow::Context;
use clap::{Args, Subcommand};
use uuid::Uuid;
use weir_client::Client;
use weir_core::api_keys::{parse_duration, ApiKey, ApiKeyCreate, KeyStatus};
use weir_core::Timestamp;
use weir_storage::Store;

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it (only it, on stdout); the server keeps only its hash.
    Create(CreateArgs),
    /// List keys: name, id, prefix, dates and status (never the key).
    Ls {
        /// Output format: json.
        #[arg(long, short = 'o')]
        output: Option<Format>,
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a key, by name (the unrevoked key of that name), id or prefix.
    Revoke {
        /// The key's name, id (UUID) or prefix (`weir_...`).
        key: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Args)]
pub struct CreateArgs {
    /// The key's name (unique among unrevoked keys).
    #[arg(long)]
    name: String,
    /// Expire the key after this long: a number and a unit, like 30d, 12h, 45m or 90s.
    #[arg(long, value_parser = parse_duration)]
    expires_in: Option<u64>,
    #[command(flatten)]
    target: Target,
}

/// Where the keys live.
#[derive(Args, Default)]
pub struct Target {
    /// Work on this database directly instead of through the API (sqlite://PATH or
    /// postgresql://...), e.g. to make a server's first key.
    #[arg(long)]
    database_url: Option<String>,
}

/// The keys, reached through the API or the database.
enum Keys {
    Api(Client),
    Database(Store),
}

impl Keys {
    async fn open(target: Target) -> anyhow::Result<Keys> {
        match target.database_url {
            None => Ok(Keys::Api(api::client())),
            Some(url) => Store::open(&url)
                .await
                .map(Keys::Database)
                .with_context(|| format!("cannot open database {}", redact(&url))),
        }
    }

    async fn create(
        &self,
        name: &str,
        expires_in: Option<u64>,
    ) -> anyhow::Result<(ApiKey, String)> {
        match self {
            Keys::Api(client) => {
                let create = ApiKeyCreate {
                    name: name.to_owned(),
                    expires_in_seconds: expires_in,
                };
                let created = client.create_api_key(&create).await.api()?;
                Ok((created.api_key, created.key))
            }
            Keys::Database(store) => Ok(store.issue_api_key(name, expires_in).await?),
        }
    }

    async fn list(&self) -> anyhow::Result<Vec<ApiKey>> {
        match self {
            Keys::Api(client) => client.list_api_keys().await.api(),
            Keys::Database(store) => Ok(store.list_api_keys().await?),
        }
    }

    async fn revoke(&self, id: Uuid) -> anyhow::Result<ApiKey> {
        match self {
            Keys::Api(client) => client.revoke_api_key(id).await.api(),
            Keys::Database(store) => Ok(store.revoke_api_key(id).await?),
        }
    }

    async fn close(self) {
        if let Keys::Database(store) = self {
            store.close().await;
        }
    }
}

pub async fn run(mut command: ApiKeyCommand) -> anyhow::Result<()> {
    let target = match &mut command {
        ApiKeyCommand::Create(CreateArgs { target, .. })
        | ApiKeyCommand::Ls { target, .. }
        | ApiKeyCommand::Revoke { target, .. } => std::mem::take(target),
    };
    let keys = Keys::open(target).await?;
    let result = match command {
        ApiKeyCommand::Create(args) => create(&keys, &args.name, args.expires_in).await,
        ApiKeyCommand::Ls { output, .. } => ls(&keys, output).await,
        ApiKeyCommand::Revoke { key, .. } => revoke(&keys, &key).await,
    };
    keys.close().await;
    result
}

async fn create(keys: &Keys, name: &str, expires_in: Option<u64>) -> anyhow::Result<()> {
    let (api_key, key) = keys.create(name, expires_in).await?;
    output::line(key);
    // stderr, so `$(weir api-key create ...)` captures only the key.
    output::note(format!(
        "Created API key {:?} ({}); it is shown only this once.",
        api_key.name, api_key.prefix
    ));
    Ok(())
}

async fn ls(keys: &Keys, format: Option<Format>) -> anyhow::Result<()> {
    let all = keys.list().await?;
    if matches!(format, Some(Format::Json)) {
        return output::json(&all);
    }
    if all.is_empty() {
        output::line("No API keys found.");
        return Ok(());
    }
    let now = Timestamp::now();
    let mut table = Table::new(&["NAME", "ID", "PREFIX", "CREATED", "EXPIRES", "STATUS"]);
    for key in &all {
        table.row(vec![
            key.name.clone(),
            key.id.to_string(),
            key.prefix.clone(),
            output::when(key.created),
            key.expires.map_or_else(|| "never".to_owned(), output::when),
            key.status(&now).as_str().to_owned(),
        ]);
    }
    table.print();
    Ok(())
}

async fn revoke(keys: &Keys, wanted: &str) -> anyhow::Result<()> {
    let all = keys.list().await?;
    let by_id = Uuid::parse_str(wanted).ok();
    let matching: Vec<&ApiKey> = all
        .iter()
        .filter(|k| Some(k.id) == by_id || k.prefix == wanted || k.name == wanted)
        .collect();
    let now = Timestamp::now();
    let target = matching
        .iter()
        .find(|k| k.status(&now) != KeyStatus::Revoked)
        .or(matching.first())
        .with_context(|| format!("API key {wanted:?} not found"))?;
    if target.revoked.is_some() {
        anyhow::bail!("API key {wanted:?} is already revoked");
    }
    let revoked = keys.revoke(target.id).await?;
    output::line(format!(
        "Revoked API key {:?} ({}).",
        revoked.name, revoked.prefix
    ));
    Ok(())
}
