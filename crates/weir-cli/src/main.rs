//! The `weir` binary: the server, and (as they land) the workers and the command line verbs.
//! Arguments are parsed here; each verb lives in its own module under `commands`.

// The binary is where output to the terminal belongs; libraries log through tracing instead.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod commands;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
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
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(weir_core::env::RUST_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
