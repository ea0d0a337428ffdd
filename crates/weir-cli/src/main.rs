//! The `weir` binary: the server, workers, and the verbs that manage work pools, queues,
//! deployments, flow runs, variables, blocks and API keys through the API. Arguments are parsed here; each verb lives
//! in its own module under `commands`, sharing the API client (`api`) and terminal output (`output`).
//!
//! Every failure ends as one line on stderr, `error: ...`, and a non-zero exit code: 2 for bad
//! arguments, 1 for everything else.

// The binary is where output to the terminal belongs; libraries log through tracing instead.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod api;
mod commands;
mod output;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Weir: a workflow orchestrator speaking Prefect 3's API.
#[derive(Parser)]
#[command(name = "weir", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run and manage the Weir server.
    Server {
        #[command(subcommand)]
        command: commands::server::ServerCommand,
    },
    /// Run workers that start the flow runs of a work pool.
    Worker {
        #[command(subcommand)]
        command: commands::worker::WorkerCommand,
    },
    /// Manage work pools.
    #[command(alias = "work-pools")]
    WorkPool {
        #[command(subcommand)]
        command: commands::work_pool::WorkPoolCommand,
    },
    /// Manage the queues of work pools.
    #[command(alias = "work-queues")]
    WorkQueue {
        #[command(subcommand)]
        command: commands::work_queue::WorkQueueCommand,
    },
    /// List, run and delete deployments.
    #[command(alias = "deployments")]
    Deployment {
        #[command(subcommand)]
        command: commands::deployment::DeploymentCommand,
    },
    /// List and inspect flow runs, read their logs, cancel them.
    #[command(alias = "flow-runs")]
    FlowRun {
        #[command(subcommand)]
        command: commands::flow_run::FlowRunCommand,
    },
    /// Manage variables.
    #[command(alias = "variables")]
    Variable {
        #[command(subcommand)]
        command: commands::variable::VariableCommand,
    },
    /// Register block types; list, inspect and delete blocks.
    #[command(alias = "blocks")]
    Block {
        #[command(subcommand)]
        command: commands::block::BlockCommand,
    },
    /// Create, list and revoke the server's API keys.
    #[command(alias = "api-keys")]
    ApiKey {
        #[command(subcommand)]
        command: commands::api_key::ApiKeyCommand,
    },
    /// Show Weir's settings.
    Config {
        #[command(subcommand)]
        command: commands::config::ConfigCommand,
    },
}

/// Parses the arguments; a usage error is one line and exit code 2 (help and version print as
/// usual).
fn parse() -> Result<Cli, ExitCode> {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            err.exit()
        }
        Err(err) => {
            // clap's first paragraph is the error (with, say, the missing arguments on the
            // lines after it); usage and tips follow.
            let text = err.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty())
                .collect();
            eprintln!("{} (see --help)", first.join(" "));
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // The long-running commands log what they do; the API verbs only warn.
    let quiet = !matches!(cli.command, Command::Server { .. } | Command::Worker { .. });
    init_tracing(if quiet { "warn" } else { "info,sqlx=warn" });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server { command } => commands::server::run(command).await,
            Command::Worker { command } => commands::worker::run(command).await,
            Command::WorkPool { command } => commands::work_pool::run(command).await,
            Command::WorkQueue { command } => commands::work_queue::run(command).await,
            Command::Deployment { command } => commands::deployment::run(command).await,
            Command::FlowRun { command } => commands::flow_run::run(command).await,
            Command::Variable { command } => commands::variable::run(command).await,
            Command::Block { command } => commands::block::run(command).await,
            Command::ApiKey { command } => commands::api_key::run(command).await,
            Command::Config { command } => commands::config::run(command),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, whatever the messages inside hold.
            let message = format!("{err:#}").replace(['\n', '\r'], " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(weir_core::env::RUST_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
