//! `weir deployment`: list, inspect, run (and watch) and delete deployments, named
//! `FLOW/DEPLOYMENT`. Names and flags follow `prefect deployment`.

use crate::api::{self, ApiResultExt};
use crate::commands::flow_run;
use crate::commands::work_pool::Format;
use crate::output::{self, Table};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::Read;
use uuid::Uuid;
use weir_client::Client;
use weir_core::deployments::{Deployment, DeploymentFlowRunCreate, DeploymentStatus};
use weir_core::schemas::JsonObject;

#[derive(Subcommand)]
pub enum DeploymentCommand {
    /// List deployments.
    Ls {
        /// Output format: json.
        #[arg(long, short = 'o')]
        output: Option<Format>,
    },
    /// Show a deployment as JSON.
    Inspect { name: String },
    /// Create a flow run of a deployment, scheduled for now.
    Run(RunArgs),
    /// Delete a deployment (its runs are kept).
    Delete { name: String },
}

#[derive(Args)]
pub struct RunArgs {
    /// The deployment, as FLOW/DEPLOYMENT.
    name: String,
    /// A parameter as KEY=VALUE; VALUE is read as JSON when it parses, else as text (repeatable).
    #[arg(long = "param", short = 'p')]
    params: Vec<String>,
    /// Parameters as a JSON object, or `-` to read it from stdin; --param wins on conflicts.
    #[arg(long = "params", allow_hyphen_values = true)]
    multiparams: Option<String>,
    /// A job variable as KEY=VALUE, read like --param (repeatable).
    #[arg(long = "job-variable")]
    job_variables: Vec<String>,
    /// A tag for the flow run (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// The flow run's name.
    #[arg(long)]
    flow_run_name: Option<String>,
    /// Follow the run until it ends: exit 0 if it completes, 1 otherwise.
    #[arg(long)]
    watch: bool,
    /// Seconds between polls with --watch.
    #[arg(long, default_value_t = 2.0)]
    watch_interval: f64,
    /// Stop watching after this many seconds.
    #[arg(long)]
    watch_timeout: Option<f64>,
}

pub async fn run(command: DeploymentCommand) -> anyhow::Result<()> {
    let client = api::client();
    match command {
        DeploymentCommand::Ls { output } => ls(&client, output).await,
        DeploymentCommand::Inspect { name } => output::json(&read(&client, &name).await?),
        DeploymentCommand::Run(args) => run_deployment(&client, args).await,
        DeploymentCommand::Delete { name } => {
            let deployment = read(&client, &name).await?;
            client
                .delete_deployment(deployment.id)
                .await
                .or_not_found(|| format!("deployment {name:?}"))?;
            output::line(format!("Deleted deployment {name:?}."));
            Ok(())
        }
    }
}

/// Reads the deployment named `FLOW/DEPLOYMENT`.
async fn read(client: &Client, name: &str) -> anyhow::Result<Deployment> {
    let Some((flow, deployment)) = name
        .split_once('/')
        .filter(|(f, d)| !f.is_empty() && !d.is_empty())
    else {
        anyhow::bail!("invalid deployment name {name:?}: expected FLOW/DEPLOYMENT");
    };
    client
        .read_deployment_by_name(flow, deployment)
        .await
        .or_not_found(|| format!("deployment {name:?}"))
}

/// Flow names by id, for the flows of `deployments`.
async fn flow_names(
    client: &Client,
    deployments: &[Deployment],
) -> anyhow::Result<HashMap<Uuid, String>> {
    let ids: HashSet<Uuid> = deployments.iter().map(|d| d.flow_id).collect();
    let flows = client
        .filter_flows(&json!({"flows": {"id": {"any_": ids}}}))
        .await
        .api()?;
    Ok(flows.into_iter().map(|f| (f.id, f.name)).collect())
}

async fn ls(client: &Client, format: Option<Format>) -> anyhow::Result<()> {
    let deployments = client.filter_deployments(&json!({})).await.api()?;
    if matches!(format, Some(Format::Json)) {
        return output::json(&deployments);
    }
    if deployments.is_empty() {
        output::line("No deployments found.");
        return Ok(());
    }
    let flows = flow_names(client, &deployments).await?;
    let mut rows: Vec<Vec<String>> = deployments
        .iter()
        .map(|d| {
            let flow = flows.get(&d.flow_id).map_or("?", String::as_str);
            let status = match (d.paused, d.status) {
                (true, _) => "PAUSED",
                (false, Some(DeploymentStatus::Ready)) => "READY",
                (false, _) => "NOT_READY",
            };
            vec![
                format!("{flow}/{}", d.name),
                d.work_pool_name.clone().unwrap_or_else(|| "-".to_owned()),
                status.to_owned(),
                d.id.to_string(),
            ]
        })
        .collect();
    rows.sort();
    let mut table = Table::new(&["NAME", "WORK POOL", "STATUS", "ID"]);
    for row in rows {
        table.row(row);
    }
    table.print();
    Ok(())
}

/// `KEY=VALUE` options as a JSON object; each VALUE is JSON when it parses, else text.
pub fn key_values(options: &[String], flag: &str) -> anyhow::Result<JsonObject> {
    let mut object = JsonObject::new();
    for option in options {
        let Some((key, value)) = option.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            anyhow::bail!("invalid {flag} {option:?}: expected KEY=VALUE");
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        object.insert(key.to_owned(), value);
    }
    Ok(object)
}

/// The parameters of `--params` (JSON or `-` for stdin) overlaid with those of `--param`.
fn parameters(args: &RunArgs) -> anyhow::Result<JsonObject> {
    let mut parameters = match &args.multiparams {
        None => JsonObject::new(),
        Some(text) => {
            let text = if text == "-" {
                let mut input = String::new();
                std::io::stdin()
                    .read_to_string(&mut input)
                    .context("cannot read --params from stdin")?;
                input
            } else {
                text.clone()
            };
            match serde_json::from_str(&text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => anyhow::bail!("--params must be a JSON object"),
                Err(err) => anyhow::bail!("--params is not valid JSON: {err}"),
            }
        }
    };
    parameters.extend(key_values(&args.params, "--param")?);
    Ok(parameters)
}

/// Refuses parameters the deployment's parameter schema does not declare (when it has one).
fn check_parameters(name: &str, deployment: &Deployment, given: &JsonObject) -> anyhow::Result<()> {
    let Some(declared) = deployment
        .parameter_openapi_schema
        .as_ref()
        .and_then(|schema| schema["properties"].as_object())
    else {
        return Ok(());
    };
    let unknown: Vec<&str> = given
        .keys()
        .filter(|k| !declared.contains_key(*k))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let accepted: Vec<&str> = declared.keys().map(String::as_str).collect();
    let accepted = if accepted.is_empty() {
        "it takes no parameters".to_owned()
    } else {
        format!("it takes {}", accepted.join(", "))
    };
    anyhow::bail!(
        "deployment {name:?} has no parameter {}: {accepted}",
        unknown.join(", ")
    )
}

async fn run_deployment(client: &Client, args: RunArgs) -> anyhow::Result<()> {
    let parameters = parameters(&args)?;
    let job_variables = key_values(&args.job_variables, "--job-variable")?;
    let interval = flow_run::seconds(args.watch_interval)?;
    let timeout = args.watch_timeout.map(flow_run::seconds).transpose()?;
    let deployment = read(client, &args.name).await?;
    check_parameters(&args.name, &deployment, &parameters)?;
    let create = DeploymentFlowRunCreate {
        name: args.flow_run_name.clone(),
        parameters,
        tags: args.tags.clone(),
        job_variables: Some(job_variables),
        ..DeploymentFlowRunCreate::default()
    };
    let run = client
        .create_flow_run_from_deployment(deployment.id, &create)
        .await
        .or_not_found(|| format!("deployment {:?}", args.name))?;
    output::line(format!(
        "Created flow run {:?} of deployment {:?}.",
        run.name, args.name
    ));
    output::details(&[
        ("id", run.id.to_string()),
        (
            "parameters",
            Value::Object(run.parameters.clone()).to_string(),
        ),
        (
            "job variables",
            Value::Object(run.job_variables.clone()).to_string(),
        ),
        ("state", output::state_name(run.state.as_ref())),
    ]);
    if args.watch {
        flow_run::watch(client, run.id, interval, timeout).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_when_they_parse() {
        let options: Vec<String> = ["n=3", "s=hello", "l=[1, 2]", "q=\"7\"", "e=", "x=a=b"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let parsed = key_values(&options, "--param").unwrap();
        assert_eq!(
            Value::Object(parsed),
            json!({"n": 3, "s": "hello", "l": [1, 2], "q": "7", "e": "", "x": "a=b"})
        );
        assert!(key_values(&["novalue".into()], "--param").is_err());
        assert!(key_values(&["=v".into()], "--param").is_err());
    }
}
