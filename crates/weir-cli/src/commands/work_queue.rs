//! `weir work-queue`: create, list, inspect, pause, resume, limit and delete the queues of a work
//! pool. Names and flags follow `prefect work-queue`, with `--pool` required.

use crate::api::{self, ApiResultExt};
use crate::commands::work_pool::Format;
use crate::output::{self, Table};
use clap::{Args, Subcommand};
use weir_client::{Client, Error};
use weir_core::work_pools::{WorkQueue, WorkQueueCreate, WorkQueueUpdate};

#[derive(Subcommand)]
pub enum WorkQueueCommand {
    /// Add a queue to a work pool.
    Create(CreateArgs),
    /// List a work pool's queues, highest priority first.
    Ls {
        #[command(flatten)]
        pool: PoolArg,
        /// Output format: json.
        #[arg(long, short = 'o')]
        output: Option<Format>,
    },
    /// Show a queue as JSON.
    Inspect(QueueArgs),
    /// Pause a queue: workers take no new runs from it.
    Pause(QueueArgs),
    /// Resume a paused queue.
    Resume(QueueArgs),
    /// Set a queue's concurrency limit.
    SetConcurrencyLimit {
        name: String,
        limit: i64,
        #[command(flatten)]
        pool: PoolArg,
    },
    /// Remove a queue's concurrency limit.
    ClearConcurrencyLimit(QueueArgs),
    /// Delete a queue (not the pool's default queue).
    Delete(QueueArgs),
}

#[derive(Args)]
pub struct PoolArg {
    /// The work pool of the queue.
    #[arg(long, short = 'p')]
    pool: String,
}

#[derive(Args)]
pub struct QueueArgs {
    name: String,
    #[command(flatten)]
    pool: PoolArg,
}

#[derive(Args)]
pub struct CreateArgs {
    name: String,
    #[command(flatten)]
    pool: PoolArg,
    /// The queue's priority: lower numbers are served first.
    #[arg(long, short = 'q')]
    priority: Option<i64>,
    /// At most this many of the queue's runs at once.
    #[arg(long, short = 'l')]
    limit: Option<i64>,
}

pub async fn run(command: WorkQueueCommand) -> anyhow::Result<()> {
    let client = api::client();
    match command {
        WorkQueueCommand::Create(args) => create(&client, args).await,
        WorkQueueCommand::Ls { pool, output } => ls(&client, &pool.pool, output).await,
        WorkQueueCommand::Inspect(q) => {
            let queue = client
                .read_work_queue(&q.pool.pool, &q.name)
                .await
                .map_err(|err| not_found(err, &q.pool.pool, &q.name))?;
            output::json(&queue)
        }
        WorkQueueCommand::Pause(q) => {
            let change = WorkQueueUpdate {
                is_paused: Some(true),
                ..WorkQueueUpdate::default()
            };
            change_queue(&client, &q, change, "Paused").await
        }
        WorkQueueCommand::Resume(q) => {
            let change = WorkQueueUpdate {
                is_paused: Some(false),
                ..WorkQueueUpdate::default()
            };
            change_queue(&client, &q, change, "Resumed").await
        }
        WorkQueueCommand::SetConcurrencyLimit { name, limit, pool } => {
            let change = WorkQueueUpdate {
                concurrency_limit: Some(Some(limit)),
                ..WorkQueueUpdate::default()
            };
            let q = QueueArgs { name, pool };
            change_queue(&client, &q, change, "Set the concurrency limit of").await
        }
        WorkQueueCommand::ClearConcurrencyLimit(q) => {
            let change = WorkQueueUpdate {
                concurrency_limit: Some(None),
                ..WorkQueueUpdate::default()
            };
            change_queue(&client, &q, change, "Cleared the concurrency limit of").await
        }
        WorkQueueCommand::Delete(q) => {
            client
                .delete_work_queue(&q.pool.pool, &q.name)
                .await
                .map_err(|err| not_found(err, &q.pool.pool, &q.name))?;
            output::line(format!(
                "Deleted work queue {:?} of work pool {:?}.",
                q.name, q.pool.pool
            ));
            Ok(())
        }
    }
}

/// A 404 names whichever of the pool and the queue is missing (the server's detail says which).
fn not_found(err: Error, pool: &str, queue: &str) -> anyhow::Error {
    if !api::is_not_found(&err) {
        return anyhow::anyhow!(api::describe(&err));
    }
    let pool_missing = matches!(&err, Error::Status { body, .. } if body.contains("Work pool"));
    if pool_missing {
        anyhow::anyhow!("work pool {pool:?} not found")
    } else {
        anyhow::anyhow!("work queue {queue:?} not found in work pool {pool:?}")
    }
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<()> {
    let pool = &args.pool.pool;
    let create = WorkQueueCreate {
        name: args.name.clone(),
        description: None,
        is_paused: false,
        concurrency_limit: args.limit,
        priority: args.priority,
        filter: None,
    };
    let queue = client
        .create_work_queue(pool, &create)
        .await
        .map_err(|err| {
            if api::is_conflict(&err) {
                anyhow::anyhow!(
                    "work queue {:?} already exists in work pool {pool:?}",
                    args.name
                )
            } else {
                not_found(err, pool, &args.name)
            }
        })?;
    output::line(format!(
        "Created work queue {:?} in work pool {pool:?}.",
        queue.name
    ));
    output::details(&[
        ("id", queue.id.to_string()),
        ("priority", queue.priority.to_string()),
        (
            "concurrency limit",
            output::or_dash(queue.concurrency_limit),
        ),
    ]);
    output::line(format!(
        "Start a worker for it with: weir worker start --pool {pool:?} --work-queue {:?}",
        queue.name
    ));
    Ok(())
}

fn status(queue: &WorkQueue) -> String {
    queue
        .status
        .and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "-".to_owned())
}

async fn ls(client: &Client, pool: &str, format: Option<Format>) -> anyhow::Result<()> {
    let mut queues = client
        .list_work_queues(pool)
        .await
        .or_not_found(|| format!("work pool {pool:?}"))?;
    queues.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    if matches!(format, Some(Format::Json)) {
        return output::json(&queues);
    }
    let mut table = Table::new(&["NAME", "PRIORITY", "CONCURRENCY LIMIT", "STATUS", "ID"]);
    for queue in &queues {
        table.row(vec![
            queue.name.clone(),
            queue.priority.to_string(),
            output::or_dash(queue.concurrency_limit),
            status(queue),
            queue.id.to_string(),
        ]);
    }
    table.print();
    Ok(())
}

async fn change_queue(
    client: &Client,
    q: &QueueArgs,
    change: WorkQueueUpdate,
    done: &str,
) -> anyhow::Result<()> {
    client
        .update_work_queue(&q.pool.pool, &q.name, &change)
        .await
        .map_err(|err| not_found(err, &q.pool.pool, &q.name))?;
    output::line(format!(
        "{done} work queue {:?} of work pool {:?}.",
        q.name, q.pool.pool
    ));
    Ok(())
}
