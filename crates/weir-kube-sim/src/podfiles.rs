//! The files and environment a kubelet gives a container, for pods run as local processes: the
//! pod's volumes (configMap, secret, emptyDir), its service-account folder (token, `ca.crt`,
//! `namespace`) and the in-cluster variables `KUBERNETES_SERVICE_HOST`/`_PORT`.
//!
//! A local process shares the host's filesystem, so nothing can appear at a volume's `mountPath`.
//! Each pod gets a folder of its own instead ([`pod_dir`]), each volume a folder in it, and every
//! path the container spec names inside a `mountPath` — in the command line, in env values
//! (also after a `--flag=`) and in `workingDir` — is rewritten to the volume's folder, as the
//! container's mount namespace would resolve it. Paths a program builds by itself are not seen;
//! the one that matters, the service-account folder client libraries hard-code, is also named by
//! [`SERVICE_ACCOUNT_DIR_ENV`], which Weir's in-cluster configuration reads.
//!
//! The service-account token is minted per pod by [`crate::rbac::BoundTokens`]; it authenticates as
//! `system:serviceaccount:<namespace>:<name>` until the pod is gone. In-cluster variables are set
//! only while the simulator serves HTTPS ([`crate::Simulator::listen_tls`]), since in-cluster
//! clients speak nothing else.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::meta;
use crate::resources::known;
use crate::sim::Shared;

/// Where a pod's service-account folder is mounted in a real container.
pub const SERVICE_ACCOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The variable naming the service-account folder for a local process (Weir reads it instead of
/// [`SERVICE_ACCOUNT_PATH`]).
pub const SERVICE_ACCOUNT_DIR_ENV: &str = "WEIR_KUBERNETES_SERVICE_ACCOUNT_DIR";

/// The folder holding a pod's volumes and service-account files.
pub(crate) fn pod_dir(uid: &str) -> PathBuf {
    std::env::temp_dir().join("weir-kube-sim-pods").join(uid)
}

/// Removes the folders of pods that are gone: those not in `live`.
pub(crate) fn retain(sim: &Shared, live: &HashSet<&str>) {
    let mut dirs = sim.pod_dirs.lock().unwrap_or_else(|e| e.into_inner());
    dirs.retain(|uid| {
        let keep = live.contains(uid.as_str());
        if !keep {
            remove(uid);
        }
        keep
    });
}

/// Removes a pod's folder.
pub(crate) fn remove(uid: &str) {
    let dir = pod_dir(uid);
    if let Err(err) = std::fs::remove_dir_all(&dir) {
        tracing::debug!(%err, dir = %dir.display(), "could not remove a pod's folder");
    }
}

/// A container's mounts mapped to local folders, and the variables the kubelet adds.
pub(crate) struct PodFiles {
    /// The pod's folder.
    pub root: PathBuf,
    /// `mountPath` → local folder, longest `mountPath` first.
    mounts: Vec<(String, PathBuf)>,
    /// Variables the kubelet sets before the container's own.
    pub env: BTreeMap<String, String>,
}

impl PodFiles {
    /// Writes the volumes `container` mounts and the service-account folder under the pod's
    /// folder. Fails, naming it, when a volume's ConfigMap or Secret (or one of its items) is
    /// missing and not optional.
    pub fn prepare(sim: &Shared, pod: &Value, container: &Value) -> Result<PodFiles, String> {
        let root = pod_dir(meta::uid(pod));
        let io = |err: std::io::Error| format!("could not write the pod's files: {err}");
        sim.pod_dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(meta::uid(pod).to_string());
        std::fs::create_dir_all(root.join("volumes")).map_err(io)?;
        let mut mounts = Vec::new();
        let volumes: Vec<&Value> = pod["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            let name = meta::str_at(mount, "name");
            let volume = volumes
                .iter()
                .find(|v| meta::str_at(v, "name") == name)
                .ok_or_else(|| format!("volumeMount {name:?} names no volume of the pod"))?;
            let dir = root.join("volumes").join(name);
            if !dir.exists() {
                write_volume(sim, meta::namespace(pod), volume, &dir)?;
            }
            let sub = meta::str_at(mount, "subPath");
            let local = if sub.is_empty() { dir } else { dir.join(sub) };
            mounts.push((meta::str_at(mount, "mountPath").to_string(), local));
        }
        let mut env = BTreeMap::new();
        let tls = sim.tls_endpoint();
        if let Some((addr, _)) = &tls {
            let port = addr.port().to_string();
            env.insert("KUBERNETES_SERVICE_HOST".into(), addr.ip().to_string());
            env.insert("KUBERNETES_SERVICE_PORT".into(), port.clone());
            env.insert("KUBERNETES_SERVICE_PORT_HTTPS".into(), port);
            env.insert("KUBERNETES_PORT".into(), format!("tcp://{addr}"));
        }
        if automount(sim, pod) {
            let dir = root.join("serviceaccount");
            std::fs::create_dir_all(&dir).map_err(io)?;
            let ns = meta::namespace(pod);
            let token = sim.tokens.mint(ns, service_account(pod), meta::uid(pod));
            std::fs::write(dir.join("token"), token).map_err(io)?;
            std::fs::write(dir.join("namespace"), ns).map_err(io)?;
            if let Some((_, ca)) = &tls {
                std::fs::write(dir.join("ca.crt"), ca).map_err(io)?;
            }
            if !mounts.iter().any(|(path, _)| path == SERVICE_ACCOUNT_PATH) {
                mounts.push((SERVICE_ACCOUNT_PATH.to_string(), dir.clone()));
            }
            env.insert(SERVICE_ACCOUNT_DIR_ENV.into(), dir.display().to_string());
        }
        mounts.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        Ok(PodFiles { root, mounts, env })
    }

    /// `text` with a path inside a mount (the whole text, or what follows the first `=`) mapped to
    /// the mount's local folder.
    pub fn rewrite(&self, text: &str) -> String {
        if let Some(mapped) = self.map_path(text) {
            return mapped;
        }
        if let Some((flag, value)) = text.split_once('=') {
            if let Some(mapped) = self.map_path(value) {
                return format!("{flag}={mapped}");
            }
        }
        text.to_string()
    }

    fn map_path(&self, path: &str) -> Option<String> {
        self.mounts.iter().find_map(|(mount, local)| {
            let mount = mount.trim_end_matches('/');
            let rest = path.strip_prefix(mount)?;
            if rest.is_empty() {
                Some(local.display().to_string())
            } else {
                rest.strip_prefix('/')
                    .map(|rest| local.join(rest).display().to_string())
            }
        })
    }
}

fn service_account(pod: &Value) -> &str {
    match meta::str_at(pod, "spec.serviceAccountName") {
        "" => "default",
        name => name,
    }
}

/// Whether the pod gets a token: its own `automountServiceAccountToken`, else its service
/// account's, else yes.
fn automount(sim: &Shared, pod: &Value) -> bool {
    if let Some(own) = pod["spec"]["automountServiceAccountToken"].as_bool() {
        return own;
    }
    sim.store
        .get(
            known::serviceaccounts(),
            meta::namespace(pod),
            service_account(pod),
        )
        .and_then(|sa| sa["automountServiceAccountToken"].as_bool())
        .unwrap_or(true)
}

/// The files of a ConfigMap or Secret: every key, or the listed `items` at their paths.
fn source_files(
    sim: &Shared,
    ns: &str,
    source: &Value,
    secret: bool,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let (rt, name, kind) = if secret {
        (
            known::secrets(),
            meta::str_at(source, "secretName"),
            "secret",
        )
    } else {
        (
            known::configmaps(),
            meta::str_at(source, "name"),
            "configmap",
        )
    };
    let optional = source["optional"].as_bool() == Some(true);
    let Some(obj) = sim.store.get(rt, ns, name) else {
        return if optional {
            Ok(Vec::new())
        } else {
            Err(format!(
                "MountVolume.SetUp failed: {kind} \"{name}\" not found"
            ))
        };
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).ok();
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (field, base64_encoded) in [
        ("data", secret),
        ("binaryData", true),
        ("stringData", false),
    ] {
        for (key, value) in obj[field].as_object().into_iter().flatten() {
            let text = value.as_str().unwrap_or("");
            let bytes = if base64_encoded {
                b64(text)
            } else {
                Some(text.as_bytes().to_vec())
            };
            if let Some(bytes) = bytes {
                data.insert(key.clone(), bytes);
            }
        }
    }
    match source["items"].as_array() {
        Some(items) => items
            .iter()
            .filter_map(|item| {
                let key = meta::str_at(item, "key");
                match data.get(key) {
                    Some(bytes) => Some(Ok((meta::str_at(item, "path").to_string(), bytes.clone()))),
                    None if optional => None,
                    None => Some(Err(format!(
                        "MountVolume.SetUp failed: configmap references non-existent config key: {key}"
                    ))),
                }
            })
            .collect(),
        None => Ok(data.into_iter().collect()),
    }
}

fn write_volume(sim: &Shared, ns: &str, volume: &Value, dir: &Path) -> Result<(), String> {
    let files = if let Some(source) = volume.get("configMap") {
        source_files(sim, ns, source, false)?
    } else if let Some(source) = volume.get("secret") {
        source_files(sim, ns, source, true)?
    } else {
        // emptyDir, and kinds the simulator has no content for: an empty folder.
        Vec::new()
    };
    let io = |err: std::io::Error| format!("could not write volume files: {err}");
    std::fs::create_dir_all(dir).map_err(io)?;
    for (path, bytes) in files {
        if path.split('/').any(|part| part == "..") {
            return Err(format!("volume item path {path:?} must not contain '..'"));
        }
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(file, bytes).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_mounts_are_rewritten() {
        let files = PodFiles {
            root: PathBuf::from("/pods/u"),
            mounts: vec![
                (
                    "/etc/weir/templates".into(),
                    PathBuf::from("/pods/u/volumes/t"),
                ),
                ("/tmp/".into(), PathBuf::from("/pods/u/volumes/tmp")),
            ],
            env: BTreeMap::new(),
        };
        assert_eq!(
            files.rewrite("/etc/weir/templates/base.json"),
            "/pods/u/volumes/t/base.json"
        );
        assert_eq!(
            files.rewrite("--base-job-template=/etc/weir/templates/base.json"),
            "--base-job-template=/pods/u/volumes/t/base.json"
        );
        assert_eq!(files.rewrite("/tmp"), "/pods/u/volumes/tmp");
        assert_eq!(files.rewrite("/tmpfoo"), "/tmpfoo");
        assert_eq!(
            files.rewrite("/etc/weir/templatesx"),
            "/etc/weir/templatesx"
        );
        assert_eq!(files.rewrite("worker"), "worker");
    }
}
