//! Tests of the `weir` binary as users run it: `weir server start` on each backend, its errors, the
//! API verbs (`work-pool`, `work-queue`, `deployment`, `flow-run`, `variable`, `block`, `config`), the
//! real Prefect 3.9.1 client (and prefect-kubernetes 0.8.0's blocks) against it, the Kubernetes
//! worker against the simulator, also installed from the worker Helm chart, and the static binary
//! in a root holding only the container image.

mod cli_api_keys;
mod cli_blocks;
mod cli_runs;
mod cli_tls;
mod cli_verbs;
mod compat;
mod image;
mod kubernetes_worker;
mod server_start;
mod worker_chart;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `weir server start` process, killed when dropped.
pub struct WeirServer {
    child: Child,
    home: std::path::PathBuf,
    pub api_url: String,
}

impl WeirServer {
    /// The server's `$WEIR_HOME`.
    pub fn home(&self) -> &std::path::Path {
        &self.home
    }
}

impl Drop for WeirServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Starts `weir server start --port 0` with `args` and waits for its "listening" line.
pub fn start_server(args: &[&str], envs: &[(&str, &str)]) -> WeirServer {
    let home = std::env::temp_dir().join(format!("weir-home-{}", uuid::Uuid::new_v4()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .args(["server", "start", "--host", "127.0.0.1", "--port", "0"])
        .args(args)
        .env("WEIR_HOME", &home)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn weir");
    let api_url = wait_for_listening(&mut child);
    WeirServer {
        child,
        home,
        api_url,
    }
}

/// Waits for the "listening on URL" line of a `weir server start` whose stderr is piped; its URL.
pub fn wait_for_listening(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = sender.send(url);
            }
        }
    });
    receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("weir server start printed its address")
}

/// Waits up to `timeout` for `check` to hold.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
