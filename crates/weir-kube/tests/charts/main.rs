//! The Helm charts in `charts/` (`weir-worker`, `weir-server`) rendered by the real `helm`: every
//! `ci/*.yaml` values file lints and renders into manifests that the Kubernetes 1.33 schemas accept
//! (the `kubernetes-validate` package, strict), every `ci/bad/*.yaml` is refused with the message
//! its `# expect:` line names, and what the charts render is checked against the code it must match:
//! the worker's Roles against [`weir_kube::preflight::REQUIRED_RULES`] and its base job template
//! against Weir's Kubernetes template.
//!
//! These tests live with `weir-kube` because it owns the RBAC rules; they are their own test target
//! so that they build without the simulator's end-to-end rig.

mod helm;
mod server;
mod worker;

use helm::{chart_dir, ci_values, expected_refusal, helm_binary, render, validate_manifests};

#[test]
fn every_ci_values_file_lints_strictly() {
    for chart in ["weir-worker", "weir-server"] {
        for values in ci_values(chart) {
            let output = std::process::Command::new(helm_binary())
                .arg("lint")
                .arg("--strict")
                .arg(chart_dir(chart))
                .arg("-f")
                .arg(&values)
                .output()
                .expect("helm runs");
            assert!(
                output.status.success(),
                "helm lint {chart} -f {}:\n{}{}",
                values.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[test]
fn every_rendering_matches_the_kubernetes_1_33_schemas() {
    let mut files = Vec::new();
    for chart in ["weir-worker", "weir-server"] {
        for values in ci_values(chart) {
            let rendered = render(chart, &[&values], &[]).unwrap_or_else(|e| {
                panic!("{chart} does not render with {}: {e}", values.display())
            });
            files.push((format!("{chart} with {}", values.display()), rendered));
        }
    }
    validate_manifests(&files);
}

#[test]
fn bad_values_are_refused_with_a_message_naming_the_value() {
    for chart in ["weir-worker", "weir-server"] {
        let bad_dir = chart_dir(chart).join("ci").join("bad");
        let mut checked = 0;
        for entry in std::fs::read_dir(&bad_dir).expect("ci/bad exists") {
            let path = entry.unwrap().path();
            let expected = expected_refusal(&path);
            let error = match render(chart, &[&path], &[]) {
                Ok(_) => panic!("{} was accepted", path.display()),
                Err(error) => error,
            };
            assert!(
                error.contains(&expected),
                "{} was refused, but without {expected:?}:\n{error}",
                path.display()
            );
            checked += 1;
        }
        assert!(checked >= 8, "{chart}: only {checked} bad values files");
    }
}

#[test]
fn the_charts_ship_the_workspace_version() {
    for chart in ["weir-worker", "weir-server"] {
        let text = std::fs::read_to_string(chart_dir(chart).join("Chart.yaml")).unwrap();
        let chart_yaml: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            chart_yaml["appVersion"],
            env!("CARGO_PKG_VERSION"),
            "{chart}: appVersion must be the workspace version (the image tag it defaults to)"
        );
    }
}

#[test]
fn a_dry_run_install_prints_the_notes() {
    for chart in ["weir-worker", "weir-server"] {
        for values in ci_values(chart) {
            let output = std::process::Command::new(helm_binary())
                .args(["install", helm::RELEASE])
                .arg(chart_dir(chart))
                .args(["--namespace", helm::NAMESPACE, "--dry-run=client", "-f"])
                .arg(&values)
                .output()
                .expect("helm runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "helm install --dry-run {chart} -f {}:\n{stdout}{}",
                values.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            let notes = stdout
                .split_once("NOTES:")
                .map(|(_, notes)| notes)
                .unwrap_or_else(|| panic!("{chart} printed no notes:\n{stdout}"));
            assert!(
                notes.contains(&format!(
                    "kubectl -n {} logs deploy/r-{chart}",
                    helm::NAMESPACE
                )),
                "{chart} with {}: {notes}",
                values.display()
            );
        }
    }
}
