//! The real Prefect 3.9.1 client's concurrency features against Weir, on both backends
//! (`tests/compat/prefect_concurrency_check.py` asserts the details): holders of a global limit
//! of 1 taken with `prefect.concurrency`'s context managers never overlap, tasks tagged with a
//! tag limited to 1 never overlap, holders of `prefect.concurrency.v1`'s context manager on that
//! tag never overlap, and the slots are free afterwards. The script also checks that the client
//! went through the lease endpoints and the v1 `/increment` and `/decrement`.

use super::*;
use std::path::PathBuf;
use weir_testkit::backend_test;

backend_test!(the_prefect_client_respects_concurrency_limits, |db| {
    let server = TestServer::start(weir_testkit::open(&db).await).await;
    let python = weir_testkit::prefect::prefect_venv().join("bin/python");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/compat/prefect_concurrency_check.py");
    let api_url = server.api_url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .env("PREFECT_API_URL", api_url)
            .output()
            .expect("run the Prefect concurrency script")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("concurrency compat: ok"),
        "concurrency compat check failed:\n{stdout}\n{stderr}"
    );
});
