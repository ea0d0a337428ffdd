//! `weir work-pool`: create, list, inspect, update, pause, resume and delete work pools, and print a
//! pool type's default base job template. Names and flags follow `prefect work-pool`.

use crate::api::{self, ApiResultExt};
use crate::output::{self, Table};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::{Path, PathBuf};
use weir_client::Client;
use weir_core::schemas::JsonObject;
use weir_core::work_pools::{WorkPool, WorkPoolCreate, WorkPoolUpdate};

#[derive(Subcommand)]
pub enum WorkPoolCommand {
    /// Create a work pool (or, with --overwrite, update the existing one).
    Create(CreateArgs),
    /// List work pools.
    Ls(LsArgs),
    /// Show a work pool as JSON.
    Inspect { name: String },
    /// Change a work pool's base job template, concurrency limit or description.
    Update(UpdateArgs),
    /// Pause a work pool: its workers start no new runs.
    Pause { name: String },
    /// Resume a paused work pool.
    Resume { name: String },
    /// Delete a work pool and its queues.
    Delete { name: String },
    /// Set a work pool's concurrency limit.
    SetConcurrencyLimit { name: String, limit: i64 },
    /// Remove a work pool's concurrency limit.
    ClearConcurrencyLimit { name: String },
    /// Print the default base job template of a work pool type.
    GetDefaultBaseJobTemplate {
        /// The work pool type (process, kubernetes).
        #[arg(long = "type", short = 't')]
        pool_type: String,
        /// Write the template to this file instead of printing it.
        #[arg(long, short = 'f')]
        file: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct CreateArgs {
    name: String,
    /// The infrastructure type: process or kubernetes (default: process).
    #[arg(long = "type", short = 't')]
    pool_type: Option<String>,
    /// A JSON file holding the base job template (default: the type's default template).
    #[arg(long)]
    base_job_template: Option<PathBuf>,
    /// Create the pool paused.
    #[arg(long)]
    paused: bool,
    /// At most this many of the pool's runs at once.
    #[arg(long)]
    concurrency_limit: Option<i64>,
    /// Update the pool if it exists.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args)]
pub struct LsArgs {
    /// Output format: json.
    #[arg(long, short = 'o')]
    output: Option<Format>,
}

/// `--output` formats of `ls`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Json,
}

#[derive(Args)]
pub struct UpdateArgs {
    name: String,
    /// A JSON file holding the new base job template.
    #[arg(long)]
    base_job_template: Option<PathBuf>,
    /// The new concurrency limit.
    #[arg(long)]
    concurrency_limit: Option<i64>,
    /// The new description.
    #[arg(long)]
    description: Option<String>,
}

pub async fn run(command: WorkPoolCommand) -> anyhow::Result<()> {
    let client = api::client();
    match command {
        WorkPoolCommand::Create(args) => create(&client, args).await,
        WorkPoolCommand::Ls(args) => ls(&client, args).await,
        WorkPoolCommand::Inspect { name } => output::json(&read(&client, &name).await?),
        WorkPoolCommand::Update(args) => update(&client, args).await,
        WorkPoolCommand::Pause { name } => {
            let change = WorkPoolUpdate {
                is_paused: Some(true),
                ..WorkPoolUpdate::default()
            };
            change_pool(&client, &name, change, "Paused").await
        }
        WorkPoolCommand::Resume { name } => {
            let change = WorkPoolUpdate {
                is_paused: Some(false),
                ..WorkPoolUpdate::default()
            };
            change_pool(&client, &name, change, "Resumed").await
        }
        WorkPoolCommand::SetConcurrencyLimit { name, limit } => {
            let change = WorkPoolUpdate {
                concurrency_limit: Some(Some(limit)),
                ..WorkPoolUpdate::default()
            };
            change_pool(&client, &name, change, "Set the concurrency limit of").await
        }
        WorkPoolCommand::ClearConcurrencyLimit { name } => {
            let change = WorkPoolUpdate {
                concurrency_limit: Some(None),
                ..WorkPoolUpdate::default()
            };
            change_pool(&client, &name, change, "Cleared the concurrency limit of").await
        }
        WorkPoolCommand::Delete { name } => {
            client
                .delete_work_pool(&name)
                .await
                .or_not_found(|| format!("work pool {name:?}"))?;
            output::line(format!("Deleted work pool {name:?}."));
            Ok(())
        }
        WorkPoolCommand::GetDefaultBaseJobTemplate { pool_type, file } => {
            let template = default_template(&client, &pool_type).await?;
            let text = serde_json::to_string_pretty(&template)?;
            match file {
                Some(path) => std::fs::write(&path, text + "\n")
                    .with_context(|| format!("cannot write {}", path.display())),
                None => {
                    output::line(text);
                    Ok(())
                }
            }
        }
    }
}

async fn read(client: &Client, name: &str) -> anyhow::Result<WorkPool> {
    client
        .read_work_pool(name)
        .await
        .or_not_found(|| format!("work pool {name:?}"))
}

/// Reads a JSON object from a file given on the command line.
pub fn read_json_object(path: &Path) -> anyhow::Result<JsonObject> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => anyhow::bail!("{} must hold a JSON object", path.display()),
        Err(err) => anyhow::bail!("{} is not valid JSON: {err}", path.display()),
    }
}

/// The default base job template of `pool_type`, from the server's worker metadata.
async fn default_template(client: &Client, pool_type: &str) -> anyhow::Result<JsonObject> {
    let metadata = client.worker_metadata().await.api()?;
    let workers: Vec<&Value> = metadata
        .as_object()
        .into_iter()
        .flat_map(|collections| collections.values())
        .filter_map(Value::as_object)
        .flat_map(|workers| workers.values())
        .collect();
    let found = workers
        .iter()
        .find(|w| w["type"].as_str() == Some(pool_type))
        .and_then(|w| w["default_base_job_configuration"].as_object());
    match found {
        Some(template) => Ok(template.clone()),
        None => {
            let mut known: Vec<&str> = workers.iter().filter_map(|w| w["type"].as_str()).collect();
            known.sort_unstable();
            anyhow::bail!(
                "unknown work pool type {pool_type:?}: choose from {}",
                known.join(", ")
            )
        }
    }
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<()> {
    let name = args.name;
    if name.trim().is_empty() {
        anyhow::bail!("a work pool name must not be empty");
    }
    let template = match &args.base_job_template {
        Some(path) => Some(read_json_object(path)?),
        None => None,
    };
    let existing = match client.read_work_pool(&name).await {
        Ok(pool) => Some(pool),
        Err(err) if api::is_not_found(&err) => None,
        Err(err) => anyhow::bail!(api::describe(&err)),
    };
    let (pool, action) = if let Some(existing) = existing {
        if !args.overwrite {
            anyhow::bail!("work pool {name:?} already exists: use --overwrite to update it");
        }
        // Like Prefect, an existing pool keeps its type; only what was given changes.
        let change = WorkPoolUpdate {
            is_paused: Some(args.paused),
            base_job_template: template,
            concurrency_limit: args.concurrency_limit.map(Some),
            ..WorkPoolUpdate::default()
        };
        client
            .update_work_pool(&existing.name, &change)
            .await
            .api()?;
        (read(client, &name).await?, "Updated")
    } else {
        let pool_type = args.pool_type.unwrap_or_else(|| "process".to_owned());
        let default = default_template(client, &pool_type).await?;
        let create = WorkPoolCreate {
            name: name.clone(),
            description: None,
            pool_type,
            base_job_template: template.unwrap_or(default),
            is_paused: args.paused,
            concurrency_limit: args.concurrency_limit,
            storage_configuration: Default::default(),
        };
        let pool = client.create_work_pool(&create).await.map_err(|err| {
            if api::is_conflict(&err) {
                anyhow::anyhow!("work pool {name:?} already exists: use --overwrite to update it")
            } else {
                anyhow::anyhow!(api::describe(&err))
            }
        })?;
        (pool, "Created")
    };
    output::line(format!("{action} work pool {:?}.", pool.name));
    output::details(&[
        ("id", pool.id.to_string()),
        ("type", pool.pool_type.clone()),
        ("status", status(&pool)),
        ("concurrency limit", output::or_dash(pool.concurrency_limit)),
    ]);
    if !pool.is_paused {
        output::line(format!(
            "Start a worker for it with: weir worker start --pool {:?}",
            pool.name
        ));
    }
    Ok(())
}

fn status(pool: &WorkPool) -> String {
    pool.status
        .and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "-".to_owned())
}

async fn ls(client: &Client, args: LsArgs) -> anyhow::Result<()> {
    let mut pools = client.list_work_pools().await.api()?;
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    if matches!(args.output, Some(Format::Json)) {
        return output::json(&pools);
    }
    if pools.is_empty() {
        output::line("No work pools found.");
        return Ok(());
    }
    let mut table = Table::new(&["NAME", "TYPE", "STATUS", "CONCURRENCY LIMIT", "ID"]);
    for pool in &pools {
        table.row(vec![
            pool.name.clone(),
            pool.pool_type.clone(),
            status(pool),
            output::or_dash(pool.concurrency_limit),
            pool.id.to_string(),
        ]);
    }
    table.print();
    Ok(())
}

async fn update(client: &Client, args: UpdateArgs) -> anyhow::Result<()> {
    let template = match &args.base_job_template {
        Some(path) => Some(read_json_object(path)?),
        None => None,
    };
    if template.is_none() && args.concurrency_limit.is_none() && args.description.is_none() {
        anyhow::bail!(
            "nothing to update: give --base-job-template, --concurrency-limit or --description"
        );
    }
    let change = WorkPoolUpdate {
        base_job_template: template,
        concurrency_limit: args.concurrency_limit.map(Some),
        description: args.description.map(Some),
        ..WorkPoolUpdate::default()
    };
    change_pool(client, &args.name, change, "Updated").await
}

async fn change_pool(
    client: &Client,
    name: &str,
    change: WorkPoolUpdate,
    done: &str,
) -> anyhow::Result<()> {
    client
        .update_work_pool(name, &change)
        .await
        .or_not_found(|| format!("work pool {name:?}"))?;
    output::line(format!("{done} work pool {name:?}."));
    Ok(())
}
