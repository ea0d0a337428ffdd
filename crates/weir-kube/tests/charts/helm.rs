//! Running `helm` and `kubernetes-validate`, and picking manifests out of a rendering.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The release every test renders, and its namespace.
pub const RELEASE: &str = "r";
pub const NAMESPACE: &str = "weir";

pub use weir_testkit::helm_binary;

/// `charts/<chart>` of the repository.
pub fn chart_dir(chart: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../charts")
        .join(chart)
}

/// The chart's `ci/*.yaml` values files, sorted.
pub fn ci_values(chart: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart_dir(chart).join("ci"))
        .expect("the chart has a ci folder")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{chart}: too few ci values files");
    files
}

/// A ci values file of the chart by name (`defaults` → `ci/defaults.yaml`).
pub fn ci_file(chart: &str, name: &str) -> PathBuf {
    let path = chart_dir(chart).join("ci").join(format!("{name}.yaml"));
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// The text of a bad values file's first line, `# expect: TEXT`: what helm's refusal must say.
pub fn expected_refusal(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let expected = first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{} must start with `# expect: `", path.display()));
    assert!(!expected.trim().is_empty());
    expected.to_owned()
}

/// `helm template` of the chart in [`NAMESPACE`]: the manifests, or helm's error output.
pub fn render(chart: &str, values: &[&Path], set: &[&str]) -> Result<String, String> {
    let mut command = Command::new(helm_binary());
    command
        .args(["template", RELEASE])
        .arg(chart_dir(chart))
        .args(["--namespace", NAMESPACE]);
    for file in values {
        command.arg("-f").arg(file);
    }
    for assignment in set {
        command.args(["--set", assignment]);
    }
    let output = command.output().expect("helm runs");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("helm prints UTF-8"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The manifests of a rendering, for a chart and values that must render.
pub fn manifests(chart: &str, values_name: &str) -> Manifests {
    let file = ci_file(chart, values_name);
    let text = render(chart, &[&file], &[])
        .unwrap_or_else(|e| panic!("{chart} with {values_name} does not render: {e}"));
    Manifests::parse(&text)
}

/// The manifests of one rendering.
pub struct Manifests(pub Vec<Value>);

impl Manifests {
    pub fn parse(text: &str) -> Manifests {
        let documents: Vec<Value> =
            serde_saphyr::from_multiple(text).expect("helm renders YAML documents");
        Manifests(documents.into_iter().filter(|d| !d.is_null()).collect())
    }

    /// Every manifest of this kind.
    pub fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.0.iter().filter(|m| m["kind"] == kind).collect()
    }

    /// The one manifest of this kind; fails when there are none or several.
    pub fn one(&self, kind: &str) -> &Value {
        let found = self.of_kind(kind);
        assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
        found[0]
    }

    /// The first container of the one Deployment.
    pub fn container(&self) -> &Value {
        &self.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    }

    /// The container's args as strings.
    pub fn args(&self) -> Vec<String> {
        self.container()["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("string args").to_owned())
            .collect()
    }

    /// The container's env entry of this name.
    pub fn env(&self, name: &str) -> Option<&Value> {
        self.container()["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == name)
    }
}

/// Validates every rendering with `kubernetes-validate` against the Kubernetes 1.33 schemas in
/// strict mode (unknown fields are errors), and checks that every manifest was looked at.
pub fn validate_manifests(renderings: &[(String, String)]) {
    let python = std::env::var_os("WEIR_KUBE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/weir/kube-venv/bin/python"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("charts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    let mut expected = 0;
    for (index, (_, text)) in renderings.iter().enumerate() {
        let file = dir.join(format!("rendering-{index}.yaml"));
        std::fs::write(&file, text).unwrap();
        files.push(file);
        expected += Manifests::parse(text).0.len();
    }
    let output = Command::new(&python)
        .args([
            "-m",
            "kubernetes_validate",
            "--kubernetes-version",
            "1.33.0",
            "--strict",
        ])
        .args(&files)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.unwrap_or_else(|e| panic!("{python:?} does not run: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named kubernetes_validate"),
        "kubernetes-validate is required by the chart tests but {python:?} cannot import it; \
         install it as .ci/run does or set WEIR_KUBE_PYTHON"
    );
    let names: Vec<&str> = renderings.iter().map(|(name, _)| name.as_str()).collect();
    assert!(
        output.status.success(),
        "the Kubernetes 1.33 schemas refuse some manifests (renderings in order: {names:?}):\n{stdout}{stderr}"
    );
    let passed = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| line.contains("passed for resource") && line.contains("version 1.33"))
        .count();
    assert_eq!(
        passed, expected,
        "not every manifest was validated:\n{stdout}{stderr}"
    );
}
