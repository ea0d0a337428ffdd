//! Subflows and caching: a report flow runs one subflow per day; each day's fetch is cached on its
//! inputs for an hour, so running the example twice shows the second run's fetches as Cached.
//!
//! ```sh
//! cargo run -p weir-sdk --example report -- run report --param 'days=["2026-11-25","2026-11-26"]'
//! ```

use weir_sdk::{flow, task};

/// Fetches a day's numbers (slow, so worth caching).
#[task(cache_policy = "inputs", cache_expiration = 3600)]
async fn fetch_day(day: String) -> anyhow::Result<Vec<u32>> {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    Ok(day.bytes().map(u32::from).collect())
}

#[task]
async fn total(numbers: Vec<u32>) -> u32 {
    numbers.iter().sum()
}

/// One day: a subflow, linked to the report run through a task run of its own.
#[flow(name = "day-summary")]
async fn day_summary(day: String) -> anyhow::Result<u32> {
    let numbers = fetch_day(day).await?;
    Ok(total(numbers).await)
}

#[flow(name = "report")]
async fn report(days: Vec<String>) -> anyhow::Result<u32> {
    let mut sum = 0;
    for day in days {
        sum += day_summary(day).await?;
    }
    tracing::info!(sum, "report ready");
    Ok(sum)
}

weir_sdk::main!(report);
