//! An ETL flow with retries and a mapped fan-out, as a binary workers can run.
//!
//! ```sh
//! cargo run -p weir-sdk --example etl -- run etl --param rows=20
//! cargo run -p weir-sdk --example etl -- flows            # the flows and their parameter schemas
//! WEIR_FLOW_RUN_ID=<id> cargo run -p weir-sdk --example etl -- execute   # what a worker runs
//! ```

use serde::{Deserialize, Serialize};
use weir_sdk::{flow, task};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Row {
    id: u32,
    amount_cents: i64,
}

/// Reads the source; the first attempt of every run fails, to show retries.
#[task(retries = 3, retry_delay_seconds = [0.2, 1.0], retry_jitter_factor = 0.2)]
async fn extract(rows: u32) -> anyhow::Result<Vec<Row>> {
    static ATTEMPTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let attempt = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    anyhow::ensure!(
        attempt % 2 == 1,
        "the source timed out (attempt {})",
        attempt + 1
    );
    Ok((0..rows)
        .map(|id| Row {
            id,
            amount_cents: i64::from(id) * 125,
        })
        .collect())
}

/// Converts one row; mapped over all rows, concurrently.
#[task(timeout_seconds = 5)]
async fn transform(row: Row) -> anyhow::Result<Row> {
    Ok(Row {
        amount_cents: row.amount_cents * 11 / 10,
        ..row
    })
}

/// Writes the rows (a blocking task).
#[task]
fn load(rows: Vec<Row>) -> i64 {
    tracing::info!(rows = rows.len(), "loading");
    rows.iter().map(|r| r.amount_cents).sum()
}

#[flow(
    name = "etl",
    description = "Extracts, transforms and loads the day's rows"
)]
async fn etl(rows: u32) -> anyhow::Result<i64> {
    let extracted = extract(rows).await?;
    let transformed: Vec<Row> = transform::map(extracted)
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    Ok(load(transformed))
}

weir_sdk::main!(etl);
