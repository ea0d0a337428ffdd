//! The compatibility test: the real Prefect 3.9.1 client runs a flow with three tasks (one fails once
//! and is retried) and logs against `weir server start`, then reads everything back through the
//! Prefect client (`tests/compat/prefect_flow_check.py` asserts the details).

use super::*;
use std::path::PathBuf;
use std::process::Command;
use weir_testkit::backend_test;

/// The virtualenv holding `prefect==3.9.1` and `prefect-kubernetes==0.8.0` (`.ci/run` creates it).
fn prefect_python() -> PathBuf {
    let venv = std::env::var("WEIR_PREFECT_VENV")
        .unwrap_or_else(|_| "/var/cache/weir/prefect-venv".into());
    let python = PathBuf::from(venv).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run .ci/run, or `python3 -m venv DIR && DIR/bin/pip install prefect==3.9.1 prefect-kubernetes==0.8.0` and set WEIR_PREFECT_VENV=DIR",
        python.display()
    );
    python
}

fn check_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat/prefect_flow_check.py")
}

/// Runs the compat script with `extra_env` and returns what it did.
fn prefect_flow_output(api_url: &str, extra_env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(prefect_python());
    for name in [
        "PREFECT_API_KEY",
        "PREFECT_API_AUTH_STRING",
        "PREFECT_CLIENT_CUSTOM_HEADERS",
    ] {
        command.env_remove(name);
    }
    command
        .arg(check_script())
        .env("PREFECT_API_URL", api_url)
        .envs(extra_env.iter().copied())
        .output()
        .expect("run the Prefect compat script")
}

fn run_prefect_flow(api_url: &str, extra_env: &[(&str, &str)]) {
    let output = prefect_flow_output(api_url, extra_env);
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

/// The real Prefect client against a server that requires API keys. Prefect 3.9.1 sends
/// `PREFECT_API_KEY` as `Authorization: Bearer` on HTTP, but its events websocket (which carries the
/// task runs) sends only the auth string; so the key also goes on the websocket upgrade as a custom
/// header (what Prefect Cloud's events client does), or as `PREFECT_API_AUTH_STRING` (HTTP Basic and
/// the websocket token). Both runs record the flow run COMPLETED and its three task runs; a wrong
/// key fails.
#[tokio::test]
async fn the_prefect_client_authenticates_with_an_api_key() {
    let bootstrap = "compat-bootstrap-key-0123456789";
    let server = start_server(&[], &[("WEIR_SERVER_BOOTSTRAP_API_KEY", bootstrap)]);
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "api-key",
            "create",
            "--name",
            "prefect",
            "--expires-in",
            "1h",
        ])
        .env("WEIR_API_URL", &server.api_url)
        .env("WEIR_API_KEY", bootstrap)
        .output()
        .expect("weir api-key create");
    assert!(created.status.success(), "{created:?}");
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let bearer_header = serde_json::json!({ "Authorization": format!("Bearer {key}") }).to_string();
    run_prefect_flow(
        &server.api_url,
        &[
            ("PREFECT_API_KEY", &key),
            ("PREFECT_CLIENT_CUSTOM_HEADERS", &bearer_header),
        ],
    );
    run_prefect_flow(&server.api_url, &[("PREFECT_API_AUTH_STRING", &key)]);

    let last = if key.ends_with('A') { "B" } else { "A" };
    let wrong = format!("{}{last}", &key[..key.len() - 1]);
    let output = prefect_flow_output(&server.api_url, &[("PREFECT_API_KEY", &wrong)]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "a wrong key must fail: {all}");
    assert!(all.contains("401"), "{all}");
}

/// The real `prefect worker start --type process` runs a Python deployment created with the
/// Prefect client to COMPLETED against `weir server start`, and `prefect flow-run cancel` stops it.
#[tokio::test]
async fn the_prefect_process_worker_runs_and_cancels_deployments_on_weir() {
    let server = start_server(&[], &[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/compat/prefect_worker_check.py");
    let home = tempfile_dir();
    let output = Command::new(prefect_python())
        .arg(script)
        .env("PREFECT_API_URL", &server.api_url)
        .env("PREFECT_HOME", &home)
        .output()
        .expect("run the Prefect worker compat script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("worker compat: ok"),
        "worker compat check failed:\n{stdout}\n{stderr}"
    );
}

// `prefect block register -m prefect_kubernetes` against `weir server start` on each backend
// finds Weir's built-in Kubernetes blocks, and the Python client saves and loads a
// KubernetesClusterConfig, KubernetesCredentials nesting it, and a Secret
// (`tests/compat/prefect_blocks_check.py` asserts the details).
backend_test!(
    prefect_kubernetes_blocks_register_save_and_load_on_weir,
    |db| {
        let server = start_server(&["--database-url", &db.url()], &[]);
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/compat/prefect_blocks_check.py");
        let output = Command::new(prefect_python())
            .arg(script)
            .env("PREFECT_API_URL", &server.api_url)
            .output()
            .expect("run the Prefect blocks compat script");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("blocks compat: ok"),
            "blocks compat check failed:\n{stdout}\n{stderr}"
        );
    }
);

/// A fresh folder for `PREFECT_HOME`, so the test never reads a developer's Prefect profile.
fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-prefect-home-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a PREFECT_HOME");
    dir
}
