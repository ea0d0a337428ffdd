//! `weir-sdk-bench`: the Rust half of the SDK benchmark (`bench/run_sdk_side_by_side.py`). It
//! runs the Windmill-style workloads with the Weir SDK against the server at `--url`:
//!
//! - **sequential**: a flow calling a trivial task 100 times, one after the other;
//! - **concurrent**: a flow mapping the same task over 100 inputs.
//!
//! For each repetition it measures the wall time from the flow call to its return, and the time
//! until the server lists all 100 task runs of that flow run as COMPLETED (polled every 10 ms).
//! It prints one JSON document.

#![allow(clippy::print_stdout)]

use clap::Parser;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;
use weir_sdk::{flow, task, with_api, ApiConfig};

#[derive(Parser)]
struct Args {
    /// API base URL, e.g. http://127.0.0.1:4200/api.
    #[arg(long)]
    url: String,
    /// Measured repetitions of each workload (after one unmeasured warm-up).
    #[arg(long, default_value_t = 10)]
    repeats: usize,
    /// Tasks per flow run.
    #[arg(long, default_value_t = 100)]
    tasks: u64,
}

#[task]
async fn trivial(i: u64) -> u64 {
    i
}

#[flow(name = "bench-sequential")]
async fn sequential(tasks: u64) -> Option<Uuid> {
    for i in 0..tasks {
        trivial(i).await;
    }
    weir_sdk::current_flow_run_id()
}

#[flow(name = "bench-concurrent")]
async fn concurrent(tasks: u64) -> Option<Uuid> {
    let values: Vec<u64> = trivial::map(0..tasks).await;
    assert_eq!(values.len() as u64, tasks);
    weir_sdk::current_flow_run_id()
}

/// Polls until the flow run has `tasks` COMPLETED task runs; returns when that was seen.
async fn all_completed(client: &weir_client::Client, flow_run: Uuid, tasks: u64) -> Instant {
    let filter = json!({
        "flow_runs": {"id": {"any_": [flow_run]}},
        "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
        "limit": 200,
    });
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let done = client
            .filter_task_runs(&filter)
            .await
            .map(|runs| runs.len() as u64)
            .unwrap_or(0);
        if done >= tasks || Instant::now() > give_up {
            return Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn summary(samples: &mut [f64]) -> Value {
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    json!({"median": median, "min": samples[0], "max": samples[samples.len() - 1], "samples": samples})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = weir_client::Client::new(&args.url, weir_client::Auth::None);
    let api = ApiConfig::new(&args.url);
    let mut report = serde_json::Map::new();
    for workload in ["sequential", "concurrent"] {
        let (mut wall, mut recorded, mut lag) = (Vec::new(), Vec::new(), Vec::new());
        for repeat in 0..=args.repeats {
            let started = Instant::now();
            let run = match workload {
                "sequential" => with_api(api.clone(), sequential(args.tasks)).await,
                _ => with_api(api.clone(), concurrent(args.tasks)).await,
            };
            let returned = Instant::now();
            let run = run.ok_or_else(|| anyhow::anyhow!("the flow did not see its run id"))?;
            let seen = all_completed(&client, run, args.tasks).await;
            if repeat == 0 {
                continue; // warm-up: connections, flow creation
            }
            wall.push((returned - started).as_secs_f64() * 1e3);
            recorded.push((seen - started).as_secs_f64() * 1e3);
            lag.push((seen - returned).as_secs_f64() * 1e3);
        }
        let per_task: Vec<f64> = wall.iter().map(|w| w / args.tasks as f64).collect();
        report.insert(
            workload.to_owned(),
            json!({
                "wall_ms": summary(&mut wall),
                "per_task_ms": summary(&mut per_task.clone()),
                "all_recorded_after_call_ms": summary(&mut recorded),
                "all_recorded_after_return_ms": summary(&mut lag),
            }),
        );
    }
    report.insert("tasks".into(), json!(args.tasks));
    report.insert("repeats".into(), json!(args.repeats));
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
