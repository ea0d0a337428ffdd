//! `weir-kube-sim`: serves the simulated Kubernetes API on 127.0.0.1 and writes a kubeconfig for it.
//!
//! `cargo run -p weir-kube-sim -- --port 0 --kubeconfig /tmp/sim.kubeconfig` then
//! `KUBECONFIG=/tmp/sim.kubeconfig kubectl get ns`.

use std::path::PathBuf;

use clap::Parser;
use weir_kube_sim::{
    Config, GenerateNameMode, JobConditionOrder, Rbac, Scenario, ScenarioTable, Simulator, User,
};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "weir-kube-sim",
    about = "A simulated Kubernetes API server for tests"
)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write a kubeconfig for the simulator.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Bearer token written to the kubeconfig.
    #[arg(long, default_value = "weir-sim-admin")]
    token: String,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    clock_speed: f64,
    /// Changes kept for watch resumption before 410 Expired.
    #[arg(long, default_value_t = 1000)]
    history_window: usize,
    /// Answer generateName collisions with 409 instead of retrying.
    #[arg(long)]
    generate_name_collide: bool,
    /// Add Complete/Failed at once (Kubernetes 1.30 and earlier).
    #[arg(long)]
    legacy_job_conditions: bool,
    /// Refuse `sendInitialEvents` watches.
    #[arg(long)]
    no_streaming_lists: bool,
    /// Serve HTTPS with a throw-away CA (kubectl sends tokens only over HTTPS).
    #[arg(long)]
    tls: bool,
    /// A scenario for an image, `IMAGE=SCENARIO` (e.g. `busybox*=exit:3`); repeatable.
    #[arg(long = "scenario", value_name = "IMAGE=SCENARIO")]
    scenarios: Vec<String>,
    /// A JSON token table: `{"tokens": {"TOKEN": {"name": "...", "groups": [], "rules": [...]}}}`,
    /// optionally with `"anonymous": {...}`. Without it everyone is an admin.
    #[arg(long)]
    rbac_file: Option<PathBuf>,
}

#[derive(serde::Deserialize)]
struct RbacFile {
    #[serde(default)]
    tokens: std::collections::BTreeMap<String, User>,
    #[serde(default)]
    anonymous: Option<User>,
}

fn load_rbac(path: &std::path::Path) -> anyhow::Result<Rbac> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let file: RbacFile = serde_json::from_str(&text)
        .with_context(|| format!("invalid token table {}", path.display()))?;
    let mut rbac = Rbac::closed();
    for (token, user) in file.tokens {
        rbac = rbac.with_token(&token, user);
    }
    if let Some(user) = file.anonymous {
        rbac = rbac.with_anonymous(user);
    }
    Ok(rbac)
}

fn scenario_table(specs: &[String]) -> anyhow::Result<ScenarioTable> {
    let mut table = ScenarioTable::default();
    for spec in specs {
        let (image, text) = spec
            .split_once('=')
            .ok_or_else(|| anyhow::format_err!("--scenario {spec:?} is not IMAGE=SCENARIO"))?;
        table.insert(
            image,
            Scenario::parse(text).map_err(|e| anyhow::format_err!("{e}"))?,
        );
    }
    Ok(table)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "weir_kube_sim=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = Config {
        clock_speed: args.clock_speed,
        history_window: args.history_window,
        generate_name: if args.generate_name_collide {
            GenerateNameMode::Collide
        } else {
            GenerateNameMode::Retry
        },
        job_conditions: if args.legacy_job_conditions {
            JobConditionOrder::Legacy
        } else {
            JobConditionOrder::Modern
        },
        streaming_lists: !args.no_streaming_lists,
        scenarios: scenario_table(&args.scenarios)?,
        rbac: match &args.rbac_file {
            Some(path) => load_rbac(path)?,
            None => Rbac::open(),
        },
        ..Config::default()
    };
    let sim = Simulator::with_config(config);
    let (addr, kubeconfig) = if args.tls {
        let (addr, ca) = sim.listen_tls(args.port).await?;
        (addr, Simulator::kubeconfig_tls(addr, &args.token, &ca))
    } else {
        let addr = sim.listen(args.port).await?;
        (addr, Simulator::kubeconfig(addr, &args.token))
    };
    if let Some(path) = &args.kubeconfig {
        use anyhow::Context;
        std::fs::write(path, kubeconfig)
            .with_context(|| format!("failed to write kubeconfig {}", path.display()))?;
    }
    let scheme = if args.tls { "https" } else { "http" };
    tracing::info!(%addr, "weir-kube-sim listening on {scheme}://{addr}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
