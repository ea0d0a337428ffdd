//! Hello, Weir: a flow calling two tasks.
//!
//! ```sh
//! cargo run -p weir-sdk --example hello -- Ada
//! ```
//!
//! With no server configured the SDK starts one inside the program on `~/.weir/weir.db`, so this
//! works on a fresh machine; `weir server start` later shows the run. To report to a running
//! server instead (Weir or Prefect), set `WEIR_API_URL=http://127.0.0.1:4200/api`.

use weir_sdk::{flow, task};

/// Builds the greeting.
#[task(retries = 2, retry_delay_seconds = [1, 2])]
async fn greet(name: String) -> anyhow::Result<String> {
    Ok(format!("Hello, {name}!"))
}

/// Counts its letters (a blocking task: plain `fn`).
#[task]
fn count_letters(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphabetic()).count()
}

#[flow(name = "hello", description = "Greets someone and counts the letters")]
async fn hello(name: String) -> anyhow::Result<usize> {
    let greeting = greet(name).await?;
    tracing::info!(%greeting, "greeted");
    Ok(count_letters(&greeting))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "world".to_owned());
    let letters = hello(name).await?;
    tracing::info!(letters, "flow finished");
    Ok(())
}
