//! Flows the worker tests deploy: a binary whose `execute` subcommand workers start.

use weir_sdk::{flow, task};

#[task]
async fn step(n: u32) -> u32 {
    n + 1
}

/// Completes.
#[flow(name = "ok-flow")]
async fn ok_flow(n: u32) -> u32 {
    step(n).await
}

/// Fails (the process exits 1 after reporting Failed).
#[flow(name = "failing-flow")]
async fn failing_flow() -> anyhow::Result<()> {
    anyhow::bail!("boom")
}

/// Runs for a while (for cancellation).
#[flow(name = "sleepy-flow")]
async fn sleepy_flow(seconds: f64) {
    tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)).await;
}

/// Dies without reporting anything, as a crashed process would.
#[flow(name = "dying-flow")]
async fn dying_flow(code: i32) {
    std::process::exit(code);
}

weir_sdk::main!(ok_flow, failing_flow, sleepy_flow, dying_flow);
