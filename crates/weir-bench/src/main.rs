//! `weir-bench`: the load generator behind `bench/run_side_by_side.py`. It drives any
//! Prefect-3-compatible server (Weir or Prefect itself) with the workloads and prints one
//! JSON document:
//!
//! - **create**: `--runs` `POST /flow_runs/` (PENDING) from `--concurrency` clients, each with its
//!   own keep-alive connection; runs/s, latency percentiles, errors (never retried).
//! - **transitions**: `--transitions` `set_state` calls walking runs PENDING → RUNNING → COMPLETED,
//!   one run per client at a time; transitions/s, percentiles, errors, ACCEPT count.
//! - RSS of `--pid` (and its children) idle, after each workload.
//!
//! Written in Rust because a Python client tops out near 400 requests/s on this 2-core machine,
//! which would measure the client rather than Weir.

#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::Parser;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// API base URL, e.g. http://127.0.0.1:4200/api.
    #[arg(long)]
    url: String,
    /// Server process id, for RSS (summed with its children).
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long, default_value_t = 2000)]
    runs: usize,
    #[arg(long, default_value_t = 10000)]
    transitions: usize,
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Stop a workload after this many seconds (its numbers then cover what finished).
    #[arg(long, default_value_t = 240.0)]
    max_seconds: f64,
}

/// Latencies and outcomes of one workload.
#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    ok: usize,
    errors: usize,
    http_503: usize,
    accept: usize,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_ms.extend(other.latencies_ms);
        self.ok += other.ok;
        self.errors += other.errors;
        self.http_503 += other.http_503;
        self.accept += other.accept;
    }

    fn report(mut self, wall: Duration, attempted: usize) -> Value {
        self.latencies_ms.sort_by(f64::total_cmp);
        let pct = |p: f64| -> f64 {
            if self.latencies_ms.is_empty() {
                return 0.0;
            }
            let index = ((p / 100.0) * (self.latencies_ms.len() - 1) as f64).round() as usize;
            (self.latencies_ms[index] * 100.0).round() / 100.0
        };
        json!({
            "attempted": attempted, "ok": self.ok, "errors": self.errors, "http_503": self.http_503,
            "accept": self.accept, "wall_s": wall.as_secs_f64(),
            "ok_per_s": (self.ok as f64 / wall.as_secs_f64() * 10.0).round() / 10.0,
            "p50_ms": pct(50.0), "p90_ms": pct(90.0), "p99_ms": pct(99.0), "max_ms": pct(100.0),
        })
    }
}

fn rss_kb(pid: Option<u32>) -> Option<u64> {
    let pid = pid?;
    let mut total = 0;
    let mut pending = vec![pid];
    while let Some(p) = pending.pop() {
        let status = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) {
            pending.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    Some(total)
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (Option<u16>, Option<Value>) {
    match client.post(url).json(body).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (Some(status), response.json::<Value>().await.ok())
        }
        Err(_) => (None, None),
    }
}

fn record(tally: &mut Tally, started: Instant, status: Option<u16>) -> bool {
    tally
        .latencies_ms
        .push(started.elapsed().as_secs_f64() * 1000.0);
    match status {
        Some(s) if (200..300).contains(&s) => {
            tally.ok += 1;
            true
        }
        Some(503) => {
            tally.errors += 1;
            tally.http_503 += 1;
            false
        }
        _ => {
            tally.errors += 1;
            false
        }
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// Workload A: `runs` creates spread over `concurrency` clients. Returns the tally and the ids made.
async fn create_runs(args: &Args, flow_id: &str) -> anyhow::Result<(Value, Vec<String>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_seconds);
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, next, url, runs) = (
            client()?,
            next.clone(),
            format!("{}/flow_runs/", args.url),
            args.runs,
        );
        let body = json!({"flow_id": flow_id, "state": {"type": "PENDING", "name": "Pending"}});
        workers.push(tokio::spawn(async move {
            let (mut tally, mut ids) = (Tally::default(), Vec::new());
            while next.fetch_add(1, Ordering::Relaxed) < runs && Instant::now() < deadline {
                let started = Instant::now();
                let (status, answer) = post(&client, &url, &body).await;
                if record(&mut tally, started, status) {
                    if let Some(id) = answer.as_ref().and_then(|a| a["id"].as_str()) {
                        ids.push(id.to_owned());
                    }
                }
            }
            (tally, ids)
        }));
    }
    let (mut tally, mut ids) = (Tally::default(), Vec::new());
    for worker in futures::future::join_all(workers).await {
        let (t, i) = worker?;
        tally.merge(t);
        ids.extend(i);
    }
    Ok((tally.report(start.elapsed(), args.runs), ids))
}

/// Workload B: each client walks its share of runs PENDING → RUNNING → COMPLETED.
async fn transitions(args: &Args, runs: Vec<String>) -> anyhow::Result<Value> {
    let runs = Arc::new(runs);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_seconds);
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, next, runs, base) = (client()?, next.clone(), runs.clone(), args.url.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= runs.len() || Instant::now() >= deadline {
                    break;
                }
                let url = format!("{base}/flow_runs/{}/set_state", runs[index]);
                for (state, name) in [("RUNNING", "Running"), ("COMPLETED", "Completed")] {
                    let body = json!({"state": {"type": state, "name": name}, "force": false});
                    let started = Instant::now();
                    let (status, answer) = post(&client, &url, &body).await;
                    record(&mut tally, started, status);
                    if answer.as_ref().and_then(|a| a["status"].as_str()) == Some("ACCEPT") {
                        tally.accept += 1;
                    }
                }
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for worker in futures::future::join_all(workers).await {
        tally.merge(worker?);
    }
    Ok(tally.report(start.elapsed(), runs.len() * 2))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let setup = client()?;
    let flow: Value = setup
        .post(format!("{}/flows/", args.url))
        .json(&json!({"name": "weir-bench", "tags": [], "labels": {}}))
        .send()
        .await
        .context("create the benchmark flow")?
        .json()
        .await?;
    let flow_id = flow["id"].as_str().context("flow id")?.to_owned();
    let rss_idle = rss_kb(args.pid);
    let (create, mut ids) = create_runs(&args, &flow_id).await?;
    let rss_after_create = rss_kb(args.pid);
    // Top up to enough PENDING runs for the transitions (not measured).
    let needed = args.transitions.div_ceil(2);
    while ids.len() < needed {
        let body = json!({"flow_id": flow_id, "state": {"type": "PENDING", "name": "Pending"}});
        let (status, answer) = post(&setup, &format!("{}/flow_runs/", args.url), &body).await;
        match (status, answer) {
            (Some(s), Some(a)) if (200..300).contains(&s) => {
                ids.push(a["id"].as_str().unwrap_or_default().to_owned())
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    ids.truncate(needed);
    let transitions = transitions(&args, ids).await?;
    let report = json!({
        "url": args.url, "concurrency": args.concurrency,
        "rss_idle_kb": rss_idle, "rss_after_create_kb": rss_after_create, "rss_after_load_kb": rss_kb(args.pid),
        "create_runs": create, "transitions": transitions,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
