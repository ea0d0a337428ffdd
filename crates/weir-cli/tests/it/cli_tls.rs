//! The command line and the Python-free clients reaching a Weir server over `https://`: a
//! TLS-terminating proxy in front of `weir server start`, its CA trusted through `SSL_CERT_FILE`
//! as a system CA bundle would be (the container image ships one).

use super::cli_verbs::{command, Run};
use super::*;

/// Runs `weir` off the async runtime, which keeps serving the proxy meanwhile.
async fn weir(url: &str, args: &[&str], ca_file: Option<&std::path::Path>) -> Run {
    let mut cmd = command(url, args);
    if let Some(ca_file) = ca_file {
        cmd.env("SSL_CERT_FILE", ca_file);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("weir runs").into())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_talks_to_a_server_over_https() {
    let server = start_server(&[], &[]);
    let upstream: std::net::SocketAddr = server
        .api_url
        .trim_start_matches("http://")
        .trim_end_matches("/api")
        .parse()
        .expect("the server's address");
    let (proxy, ca_pem) = weir_kube_sim::tls_proxy(upstream).await.unwrap();
    let ca_file = std::env::temp_dir().join(format!("weir-ca-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&ca_file, ca_pem).unwrap();
    let url = format!("https://localhost:{}/api", proxy.port());

    let created = weir(
        &url,
        &["work-pool", "create", "over-tls", "--type", "process"],
        Some(&ca_file),
    )
    .await;
    created.ok();
    let listed = weir(&url, &["work-pool", "ls", "-o", "json"], Some(&ca_file)).await;
    let names: Vec<String> = listed
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|pool| pool["name"].as_str().map(str::to_owned))
        .collect();
    assert!(names.contains(&"over-tls".to_owned()), "{names:?}");

    // A server certificate no trusted CA signed is refused, in one line.
    let untrusted = weir(&url, &["work-pool", "ls"], None).await;
    untrusted.fails_with("cannot reach the server");
    std::fs::remove_file(&ca_file).unwrap();
}
