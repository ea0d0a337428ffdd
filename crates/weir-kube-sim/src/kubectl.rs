//! The real `kubectl` against a simulator, for tests: a kubeconfig for a loopback listener (plain
//! HTTP, or HTTPS where kubectl sends the token) and helpers that run kubectl with it.
//!
//! kubectl must be installed (or named by `WEIR_KUBECTL`); [`kubectl_binary`] panics with a
//! readable message when it does not run, so a test using it fails rather than skips.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::Simulator;

/// The kubectl to run: `WEIR_KUBECTL`, else `kubectl` on `PATH`. Panics when it does not run.
pub fn kubectl_binary() -> PathBuf {
    let path = std::env::var_os("WEIR_KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubectl"));
    let ok = std::process::Command::new(&path)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "kubectl is required by this test but {path:?} does not run; install it (see crates/weir-kube-sim/README.md) or set WEIR_KUBECTL"
    );
    path
}

/// kubectl with a kubeconfig for one simulator listener.
pub struct Kubectl {
    /// The kubectl binary.
    pub bin: PathBuf,
    /// The kubeconfig file (in a scratch folder of its own, also kubectl's `HOME`).
    pub kubeconfig: PathBuf,
}

impl Kubectl {
    /// Over plain HTTP, where kubectl sends no credentials (see the crate README).
    pub async fn start(sim: &Simulator, token: &str) -> Self {
        let addr = sim.listen(0).await.expect("listen on loopback");
        Self::with_kubeconfig(&Simulator::kubeconfig(addr, token))
    }

    /// Over HTTPS, where kubectl sends the kubeconfig's token.
    pub async fn start_tls(sim: &Simulator, token: &str) -> Self {
        let (addr, ca) = sim.listen_tls(0).await.expect("listen on loopback");
        Self::with_kubeconfig(&Simulator::kubeconfig_tls(addr, token, &ca))
    }

    /// With a kubeconfig of the caller's.
    pub fn with_kubeconfig(kubeconfig: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("weir-kubectl-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let path = dir.join("kubeconfig");
        std::fs::write(&path, kubeconfig).expect("kubeconfig written");
        Kubectl {
            bin: kubectl_binary(),
            kubeconfig: path,
        }
    }

    /// A kubectl command with `args` and this kubeconfig, killed when dropped.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env(
                "HOME",
                self.kubeconfig.parent().unwrap_or(Path::new("/tmp")),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs kubectl; returns (success, stdout, stderr). Panics after a minute.
    pub async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs kubectl and returns its stdout; panics with its stderr when it fails.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed: {err}\n{out}");
        out
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        if let Some(dir) = self.kubeconfig.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
