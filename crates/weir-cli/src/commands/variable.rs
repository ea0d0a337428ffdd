//! `weir variable`: set, get, list, inspect and unset variables. Names and flags follow
//! `prefect variable`: a value is read as JSON when it parses, else as text, and `get` prints JSON.

use crate::api::{self, ApiResultExt};
use crate::commands::work_pool::Format;
use crate::output::{self, Table};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use weir_client::Client;
use weir_core::variables::{VariableCreate, VariableUpdate};

#[derive(Subcommand)]
pub enum VariableCommand {
    /// Create a variable, or with --overwrite replace an existing one.
    Set(SetArgs),
    /// Print a variable's value as JSON.
    Get { name: String },
    /// List variables by name.
    Ls {
        /// At most this many variables.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Output format: json.
        #[arg(long, short = 'o')]
        output: Option<Format>,
    },
    /// Show a variable as JSON.
    Inspect { name: String },
    /// Delete a variable.
    #[command(alias = "delete")]
    Unset { name: String },
}

#[derive(Args)]
pub struct SetArgs {
    name: String,
    /// The value: JSON when it parses (`3`, `true`, `{"a": 1}`), else text.
    value: String,
    /// Replace the variable if it exists.
    #[arg(long)]
    overwrite: bool,
    /// A tag for the variable (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
}

pub async fn run(command: VariableCommand) -> anyhow::Result<()> {
    let client = api::client();
    match command {
        VariableCommand::Set(args) => set(&client, args).await,
        VariableCommand::Get { name } => {
            let variable = client
                .read_variable_by_name(&name)
                .await
                .or_not_found(|| format!("variable {name:?}"))?;
            output::line(variable.value.to_string());
            Ok(())
        }
        VariableCommand::Ls { limit, output } => ls(&client, limit, output).await,
        VariableCommand::Inspect { name } => {
            let variable = client
                .read_variable_by_name(&name)
                .await
                .or_not_found(|| format!("variable {name:?}"))?;
            output::json(&variable)
        }
        VariableCommand::Unset { name } => {
            client
                .delete_variable_by_name(&name)
                .await
                .or_not_found(|| format!("variable {name:?}"))?;
            output::line(format!("Unset variable {name:?}."));
            Ok(())
        }
    }
}

async fn set(client: &Client, args: SetArgs) -> anyhow::Result<()> {
    let name = args.name;
    let value = serde_json::from_str(&args.value).unwrap_or(Value::String(args.value));
    let exists = match client.read_variable_by_name(&name).await {
        Ok(_) => true,
        Err(err) if api::is_not_found(&err) => false,
        Err(err) => anyhow::bail!(api::describe(&err)),
    };
    let taken =
        || anyhow::anyhow!("variable {name:?} already exists: use --overwrite to replace it");
    if exists {
        if !args.overwrite {
            return Err(taken());
        }
        let update = VariableUpdate {
            name: None,
            value: Some(value),
            tags: Some(args.tags),
        };
        client
            .update_variable_by_name(&name, &update)
            .await
            .or_not_found(|| format!("variable {name:?}"))?;
    } else {
        let create = VariableCreate {
            name: name.clone(),
            value,
            tags: args.tags,
        };
        client.create_variable(&create).await.map_err(|err| {
            if api::is_conflict(&err) {
                taken()
            } else {
                anyhow::anyhow!(api::describe(&err))
            }
        })?;
    }
    output::line(format!("Set variable {name:?}."));
    Ok(())
}

async fn ls(client: &Client, limit: i64, format: Option<Format>) -> anyhow::Result<()> {
    // The server answers at most 200 per request.
    let mut variables = Vec::new();
    let limit = limit.max(0);
    while (variables.len() as i64) < limit {
        let page_size = (limit - variables.len() as i64).min(200);
        let filter = json!({"sort": "NAME_ASC", "limit": page_size, "offset": variables.len()});
        let page = client.filter_variables(&filter).await.api()?;
        let done = (page.len() as i64) < page_size;
        variables.extend(page);
        if done {
            break;
        }
    }
    if matches!(format, Some(Format::Json)) {
        return output::json(&variables);
    }
    if variables.is_empty() {
        output::line("No variables found.");
        return Ok(());
    }
    let mut table = Table::new(&["NAME", "VALUE", "TAGS", "UPDATED"]);
    for variable in &variables {
        table.row(vec![
            variable.name.clone(),
            output::short_json(&variable.value, 50),
            variable.tags.join(", "),
            output::when(variable.updated),
        ]);
    }
    table.print();
    Ok(())
}
