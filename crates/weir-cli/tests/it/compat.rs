//! The compatibility test: the real Prefect 3.9.1 client runs a flow with three tasks (one fails once
//! and is retried) and logs against `weir server start`, then reads everything back through the
//! Prefect client (`tests/compat/prefect_flow_check.py` asserts the details).

use super::*;
use std::path::PathBuf;
use std::process::Command;
use weir_testkit::backend_test;

/// The virtualenv holding `prefect==3.9.1` (`.ci/run` creates it).
fn prefect_python() -> PathBuf {
    let venv = std::env::var("WEIR_PREFECT_VENV")
        .unwrap_or_else(|_| "/var/cache/weir/prefect-venv".into());
    let python = PathBuf::from(venv).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run .ci/run, or `python3 -m venv DIR && DIR/bin/pip install prefect==3.9.1` and set WEIR_PREFECT_VENV=DIR",
        python.display()
    );
    python
}

fn check_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/prefect_flow_check.py")
}

fn run_prefect_flow(api_url: &str, extra_env: &[(&str, &str)]) {
    let output = Command::new(prefect_python())
        .arg(check_script())
        .env("PREFECT_API_URL", api_url)
        .envs(extra_env.iter().copied())
        .output()
        .expect("run the Prefect compat script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "compat check failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("compat: ok"), "{stdout}");
}

backend_test!(the_prefect_client_runs_a_flow_against_weir, |db| {
    let server = start_server(&["--database-url", &db.url()], &[]);
    run_prefect_flow(&server.api_url, &[]);
});

#[tokio::test]
async fn the_prefect_client_authenticates_with_the_auth_string() {
    let server = start_server(&[], &[("WEIR_SERVER_API_AUTH_STRING", "admin:pw")]);
    run_prefect_flow(&server.api_url, &[("PREFECT_API_AUTH_STRING", "admin:pw")]);
}
