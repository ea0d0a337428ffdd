//! Programs the tests run: example binaries cargo builds beside the test binary, and `helm`.

use std::path::PathBuf;
use std::process::Command;

/// The example binary `name` of the crate under test (`target/<profile>/examples/<name>`), which
/// cargo builds with the crate's integration tests.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = profile_dir.join("examples").join(name);
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}

/// `$WEIR_HELM`, else `helm` on the PATH; fails (never skips) when neither runs.
pub fn helm_binary() -> PathBuf {
    let path = std::env::var_os("WEIR_HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("helm"));
    let runs = Command::new(&path)
        .args(["version", "--short"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "helm is required by the chart tests but {path:?} does not run; install it with \
         `bash ../shared/tools/install-helm-kubectl.sh /var/cache/weir/tools/bin` (as .ci/run does) \
         or set WEIR_HELM"
    );
    path
}
