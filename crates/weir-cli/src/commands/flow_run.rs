//! `weir flow-run`: list, inspect, read the logs of (and follow), and cancel flow runs. Also the
//! watch loop `weir deployment run --watch` uses. Names and flags follow `prefect flow-run`.

use crate::api::{self, ApiResultExt};
use crate::commands::work_pool::Format;
use crate::output::{self, Table};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;
use weir_client::Client;
use weir_core::schemas::{FlowRun, Log, SetStateStatus};
use weir_core::{StateCreate, StateType, Timestamp};

#[derive(Subcommand)]
pub enum FlowRunCommand {
    /// List recent flow runs, latest expected start first.
    Ls(LsArgs),
    /// Show a flow run as JSON.
    Inspect { id: Uuid },
    /// Print a flow run's logs.
    Logs {
        id: Uuid,
        /// Keep printing new logs until the run reaches a final state.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Seconds between polls with --follow.
        #[arg(long, default_value_t = 1.0, hide = true)]
        poll_interval: f64,
    },
    /// Ask for a flow run to be cancelled (its state becomes CANCELLING).
    Cancel { id: Uuid },
}

#[derive(Args)]
pub struct LsArgs {
    /// At most this many runs.
    #[arg(long, default_value_t = 15)]
    limit: i64,
    /// Only runs whose state has this name, e.g. Running, Late, COMPLETED (repeatable).
    #[arg(long)]
    state: Vec<String>,
    /// Only runs whose state has this type, e.g. RUNNING (repeatable).
    #[arg(long)]
    state_type: Vec<String>,
    /// Only runs of this flow (repeatable).
    #[arg(long)]
    flow_name: Vec<String>,
    /// Output format: json.
    #[arg(long, short = 'o')]
    output: Option<Format>,
}

pub async fn run(command: FlowRunCommand) -> anyhow::Result<()> {
    let client = api::client();
    match command {
        FlowRunCommand::Ls(args) => ls(&client, args).await,
        FlowRunCommand::Inspect { id } => output::json(&read(&client, id).await?),
        FlowRunCommand::Logs {
            id,
            follow,
            poll_interval,
        } => logs(&client, id, follow, seconds(poll_interval)?).await,
        FlowRunCommand::Cancel { id } => cancel(&client, id).await,
    }
}

/// A positive number of seconds as a duration.
pub fn seconds(value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("invalid interval {value}: expected seconds above 0"))
}

async fn read(client: &Client, id: Uuid) -> anyhow::Result<FlowRun> {
    client
        .read_flow_run(id)
        .await
        .or_not_found(|| format!("flow run {:?}", id.to_string()))
}

/// Prefect's state names, matched whatever the case the user typed.
const STATE_NAMES: [&str; 13] = [
    "Scheduled",
    "Pending",
    "Running",
    "Completed",
    "Failed",
    "Cancelled",
    "Crashed",
    "Paused",
    "Cancelling",
    "Suspended",
    "AwaitingRetry",
    "Retrying",
    "Late",
];

async fn ls(client: &Client, args: LsArgs) -> anyhow::Result<()> {
    let mut state = serde_json::Map::new();
    if !args.state.is_empty() {
        let names: Vec<String> = args
            .state
            .iter()
            .map(|given| {
                STATE_NAMES
                    .iter()
                    .find(|name| name.eq_ignore_ascii_case(given))
                    .map_or_else(|| given.clone(), |name| (*name).to_owned())
            })
            .collect();
        state.insert("name".into(), json!({ "any_": names }));
    }
    if !args.state_type.is_empty() {
        let mut types = Vec::new();
        for given in &args.state_type {
            let Some(parsed) = StateType::parse(&given.to_ascii_uppercase()) else {
                let all: Vec<&str> = StateType::ALL.iter().map(|t| t.as_str()).collect();
                anyhow::bail!(
                    "invalid state type {given:?}: choose from {}",
                    all.join(", ")
                );
            };
            types.push(parsed.as_str());
        }
        state.insert("type".into(), json!({ "any_": types }));
    }
    let mut filter = json!({"sort": "EXPECTED_START_TIME_DESC", "limit": args.limit.max(0)});
    if !state.is_empty() {
        filter["flow_runs"] = json!({ "state": state });
    }
    if !args.flow_name.is_empty() {
        filter["flows"] = json!({"name": {"any_": args.flow_name}});
    }
    let runs = client.filter_flow_runs(&filter).await.api()?;
    if matches!(args.output, Some(Format::Json)) {
        return output::json(&runs);
    }
    if runs.is_empty() {
        output::line("No flow runs found.");
        return Ok(());
    }
    let flow_ids: HashSet<Uuid> = runs.iter().map(|r| r.flow_id).collect();
    let flows = client
        .filter_flows(&json!({"flows": {"id": {"any_": flow_ids}}}))
        .await
        .api()?;
    let flow_names: HashMap<Uuid, String> = flows.into_iter().map(|f| (f.id, f.name)).collect();
    let mut table = Table::new(&["ID", "FLOW", "NAME", "STATE", "WHEN"]);
    for run in &runs {
        let when = run.state.as_ref().map(|s| {
            if s.state_type == StateType::Scheduled {
                s.state_details.scheduled_time.unwrap_or(s.timestamp)
            } else {
                s.timestamp
            }
        });
        table.row(vec![
            run.id.to_string(),
            flow_names.get(&run.flow_id).cloned().unwrap_or_default(),
            run.name.clone(),
            output::state_name(run.state.as_ref()),
            when.map_or_else(|| "-".to_owned(), output::when),
        ]);
    }
    table.print();
    Ok(())
}

/// Python's logging level names.
fn level_name(level: i64) -> String {
    match level {
        10 => "DEBUG".into(),
        20 => "INFO".into(),
        30 => "WARNING".into(),
        40 => "ERROR".into(),
        50 => "CRITICAL".into(),
        other => format!("Level {other}"),
    }
}

fn print_log(log: &Log) {
    let stamp = log.timestamp.to_canonical();
    let stamp = stamp.get(..23).unwrap_or(&stamp).replacen('T', " ", 1);
    output::line(format!(
        "{stamp} | {:<7} | {}",
        level_name(log.level),
        log.message
    ));
}

/// Logs read per request.
const LOG_PAGE: usize = 200;
/// How far back each poll looks again, for logs that arrive after later-stamped ones.
const LOG_WINDOW_SECONDS: f64 = 5.0;

/// Prints the run's logs not printed yet (`seen`), oldest first.
async fn print_new_logs(
    client: &Client,
    id: Uuid,
    seen: &mut HashSet<Uuid>,
    latest: &mut Option<Timestamp>,
) -> anyhow::Result<()> {
    let mut logs_filter = json!({"flow_run_id": {"any_": [id]}});
    if let Some(latest) = latest {
        logs_filter["timestamp"] = json!({"after_": latest.plus_seconds(-LOG_WINDOW_SECONDS)});
    }
    let mut offset = 0;
    loop {
        let filter = json!({
            "logs": logs_filter, "sort": "TIMESTAMP_ASC", "limit": LOG_PAGE, "offset": offset
        });
        let page = client.filter_logs(&filter).await.api()?;
        for log in &page {
            if seen.insert(log.id) {
                print_log(log);
                *latest = Some(latest.map_or(log.timestamp, |t| t.max(log.timestamp)));
            }
        }
        if page.len() < LOG_PAGE {
            return Ok(());
        }
        offset += page.len();
    }
}

async fn logs(client: &Client, id: Uuid, follow: bool, interval: Duration) -> anyhow::Result<()> {
    read(client, id).await?;
    let mut seen = HashSet::new();
    let mut latest = None;
    loop {
        // The state is read before the logs, so every log written before a final state is printed.
        let finished = !follow
            || read(client, id)
                .await?
                .state_type
                .is_some_and(StateType::is_terminal);
        print_new_logs(client, id, &mut seen, &mut latest).await?;
        if finished {
            if follow {
                // Logs shipped just after the final state.
                tokio::time::sleep(interval).await;
                print_new_logs(client, id, &mut seen, &mut latest).await?;
            }
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

async fn cancel(client: &Client, id: Uuid) -> anyhow::Result<()> {
    let result = client
        .set_flow_run_state(id, &StateCreate::of_type(StateType::Cancelling), false)
        .await
        .or_not_found(|| format!("flow run {:?}", id.to_string()))?;
    if result.status == SetStateStatus::Accept {
        output::line(format!("Flow run {id} is being cancelled."));
        return Ok(());
    }
    let details = serde_json::to_value(&result.details).unwrap_or(Value::Null);
    let reason = details["reason"].as_str().unwrap_or("no reason given");
    anyhow::bail!("flow run {id} cannot be cancelled: {reason}")
}

/// Polls a run every `interval`, printing each new state, until it reaches a final state:
/// Ok for COMPLETED, an error naming the state otherwise (or when `timeout` passes first).
pub async fn watch(
    client: &Client,
    id: Uuid,
    interval: Duration,
    timeout: Option<Duration>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last: Option<String> = None;
    loop {
        let run = read(client, id).await?;
        let name = output::state_name(run.state.as_ref());
        if last.as_ref() != Some(&name) {
            output::line(format!(
                "{} flow run {:?} is {name}",
                output::when(Timestamp::now()),
                run.name
            ));
            last = Some(name.clone());
        }
        match run.state_type {
            Some(StateType::Completed) => {
                output::line(format!("Flow run {:?} finished in state {name}.", run.name));
                return Ok(());
            }
            Some(t) if t.is_terminal() => {
                anyhow::bail!("flow run {:?} finished in state {name}", run.name)
            }
            _ => {}
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            anyhow::bail!(
                "stopped watching flow run {:?} after {:?}: it is {name}",
                run.name,
                start.elapsed()
            );
        }
        tokio::time::sleep(interval).await;
    }
}
