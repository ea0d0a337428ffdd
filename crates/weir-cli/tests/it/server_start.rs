//! `weir server start`: embedded default, PostgreSQL, `$PORT`, and bad settings.

use super::*;
use std::process::Command;
use weir_testkit::backend_test;

backend_test!(serves_the_api_on_each_backend, |db| {
    let server = start_server(&["--database-url", &db.url()], &[]);
    let client = weir_client::Client::new(&server.api_url, weir_client::Auth::None);
    assert!(client.health().await.unwrap());
    let flow = client.create_flow("from-cli").await.unwrap();
    assert_eq!(client.read_flow(flow.id).await.unwrap().name, "from-cli");
});

#[tokio::test]
async fn the_embedded_default_is_sqlite_in_weir_home() {
    let server = start_server(&[], &[]);
    let client = weir_client::Client::new(&server.api_url, weir_client::Auth::None);
    client.create_flow("embedded").await.unwrap();
    let home = server.home();
    assert!(
        home.join("weir.db").exists(),
        "the database lives in $WEIR_HOME"
    );
}

#[test]
fn version_and_bad_settings_give_one_clear_line() {
    let version = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("weir "));

    let bad_url = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "server",
            "start",
            "--database-url",
            "mysql://nope",
            "--port",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!bad_url.status.success());
    let stderr = String::from_utf8_lossy(&bad_url.stderr);
    assert!(
        stderr.contains("error: cannot open database mysql://nope"),
        "{stderr}"
    );
    assert!(
        stderr.contains("use sqlite://PATH or postgresql://"),
        "{stderr}"
    );

    let bad_port = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["server", "start"])
        .env("PORT", "eighty")
        .output()
        .unwrap();
    assert!(!bad_port.status.success());
    assert!(String::from_utf8_lossy(&bad_port.stderr).contains("invalid $PORT \"eighty\""));

    let bad_setting = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["server", "start", "--port", "0"])
        .env("WEIR_HOME", std::env::temp_dir().join("weir-bad-setting"))
        .env("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "often")
        .output()
        .unwrap();
    assert!(!bad_setting.status.success());
    let stderr = String::from_utf8_lossy(&bad_setting.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("invalid $PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS \"often\""),
        "{stderr}"
    );
}
