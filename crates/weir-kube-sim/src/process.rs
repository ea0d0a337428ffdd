//! The `run-local` and `run-local-image` scenarios: a pod's container command run as a local child
//! process.
//!
//! The child gets only the pod's environment (resolved `value`, `secretKeyRef`, `configMapKeyRef`,
//! `fieldRef` and `envFrom`) plus `PATH`, `HOME` (a folder of the pod's own for an image),
//! `HOSTNAME` and what [`crate::podfiles`] adds: volumes, the service-account folder and the
//! in-cluster variables. Its stdout and stderr become the container log. Dropping the kill switch
//! (pod deleted) kills the child.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::logs::LogBuf;
use crate::meta;
use crate::podfiles::PodFiles;
use crate::resources::known;
use crate::scenario::Scenario;
use crate::sim::Shared;

fn decoded(obj: &Value, key: &str) -> Option<String> {
    if let Some(s) = obj["stringData"][key].as_str() {
        return Some(s.to_string());
    }
    let raw = obj["data"][key].as_str()?;
    if obj["kind"] == "Secret" {
        let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
        String::from_utf8(bytes).ok()
    } else {
        Some(raw.to_string())
    }
}

fn field_ref(pod: &Value, path: &str) -> String {
    if let Some(label) = path
        .strip_prefix("metadata.labels['")
        .and_then(|r| r.strip_suffix("']"))
    {
        return meta::labels(pod)
            .into_iter()
            .find(|(k, _)| *k == label)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
    }
    if let Some(a) = path
        .strip_prefix("metadata.annotations['")
        .and_then(|r| r.strip_suffix("']"))
    {
        return meta::annotation(pod, a).unwrap_or("").to_string();
    }
    meta::str_at(pod, path).to_string()
}

/// `text` with each `$(NAME)` of a variable in `env` replaced by its value, as the kubelet expands
/// `command`, `args` and env values: `$$` is a literal `$`, unknown references stay as written.
pub(crate) fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('(')
            .and_then(|inner| inner.split_once(')'))
        {
            match env.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The variables a container defines (`env` and `envFrom`), as the kubelet would resolve them:
/// `value`s may refer to `base` (the variables the kubelet itself sets) and to earlier variables
/// as `$(NAME)`.
pub(crate) fn container_env(
    sim: &Shared,
    pod: &Value,
    container: &Value,
    base: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let ns = meta::namespace(pod);
    let mut env = BTreeMap::new();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = meta::str_at(from, "prefix");
        for (field, rt) in [
            ("secretRef", known::secrets()),
            ("configMapRef", known::configmaps()),
        ] {
            let Some(r) = from.get(field) else { continue };
            if let Some(obj) = sim.store.get(rt, ns, meta::str_at(r, "name")) {
                for src in ["data", "stringData"] {
                    for k in obj[src].as_object().into_iter().flat_map(|m| m.keys()) {
                        if let Some(v) = decoded(&obj, k) {
                            env.insert(format!("{prefix}{k}"), v);
                        }
                    }
                }
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = meta::str_at(e, "name").to_string();
        let value = if let Some(v) = e["value"].as_str() {
            let mut visible = base.clone();
            visible.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
            expand(v, &visible)
        } else if let Some(r) = e["valueFrom"].get("secretKeyRef") {
            sim.store
                .get(known::secrets(), ns, meta::str_at(r, "name"))
                .and_then(|s| decoded(&s, meta::str_at(r, "key")))
                .unwrap_or_default()
        } else if let Some(r) = e["valueFrom"].get("configMapKeyRef") {
            sim.store
                .get(known::configmaps(), ns, meta::str_at(r, "name"))
                .and_then(|s| decoded(&s, meta::str_at(r, "key")))
                .unwrap_or_default()
        } else if let Some(r) = e["valueFrom"].get("fieldRef") {
            field_ref(pod, meta::str_at(r, "fieldPath"))
        } else {
            String::new()
        };
        env.insert(name, value);
    }
    env
}

fn pump<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
    buf: Arc<LogBuf>,
    sim: Arc<Shared>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            buf.push(sim.clock.now(), line);
        }
    })
}

/// Asks a process to stop with SIGTERM (through the `kill` utility: this crate has no unsafe code).
pub(crate) fn terminate(pid: u32) {
    tokio::spawn(async move {
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if let Err(err) = sent {
            tracing::warn!(%err, pid, "could not send SIGTERM");
        }
    });
}

/// The exit code of a finished process; 128 + the signal number when a signal ended it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(137)
}

/// The outcome cell, kill switch and process id of a started command.
pub(crate) type Started = (
    Arc<Mutex<Option<i32>>>,
    tokio::sync::oneshot::Sender<()>,
    Option<u32>,
);

/// Starts the first container's command as `scenario` maps it, with its volumes, service
/// account and environment (see [`crate::podfiles`]); returns the exit-code cell, the kill switch
/// and the pid.
pub(crate) fn spawn(sim: &Arc<Shared>, pod: &Value, scenario: &Scenario) -> Started {
    let exit = Arc::new(Mutex::new(None));
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let container = pod["spec"]["containers"][0].clone();
    let buf = sim
        .logs
        .buf(meta::uid(pod), meta::str_at(&container, "name"));
    let fail = |message: String, code: i32| {
        buf.push(sim.clock.now(), message);
        *exit.lock().unwrap_or_else(|e| e.into_inner()) = Some(code);
    };
    let files = match PodFiles::prepare(sim, pod, &container) {
        Ok(files) => files,
        Err(message) => {
            fail(format!("run-local scenario: {message}"), 128);
            return (exit, kill_tx, None);
        }
    };
    // The container's values name paths as the container sees them and are mapped to the pod's
    // folder; the kubelet's own (`files.env`) are local paths already.
    let mut env = files.env.clone();
    for (name, value) in container_env(sim, pod, &container, &files.env) {
        env.insert(name, files.rewrite(&value));
    }
    let argv: Vec<String> = scenario
        .local_argv(&container)
        .unwrap_or_default()
        .iter()
        .map(|arg| expand(&files.rewrite(arg), &env))
        .collect();
    let Some((program, args)) = argv.split_first() else {
        fail(
            "run-local scenario: the container has no command".into(),
            127,
        );
        return (exit, kill_tx, None);
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    if matches!(scenario, Scenario::RunLocalImage { .. }) {
        // An image brings its own home, not the host's.
        let home = files.root.join("home");
        if let Err(err) = std::fs::create_dir_all(&home) {
            fail(
                format!("run-local scenario: could not make a home folder: {err}"),
                128,
            );
            return (exit, kill_tx, None);
        }
        cmd.env("HOME", home);
    }
    cmd.env("HOSTNAME", meta::name(pod));
    cmd.envs(&env);
    if let Some(dir) = container["workingDir"].as_str() {
        cmd.current_dir(files.rewrite(dir));
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => {
            fail(
                format!("run-local scenario: could not start {program:?}: {err}"),
                128,
            );
            return (exit, kill_tx, None);
        }
    };
    let pid = child.id();
    let out = child
        .stdout
        .take()
        .map(|o| pump(o, buf.clone(), sim.clone()));
    let err = child
        .stderr
        .take()
        .map(|e| pump(e, buf.clone(), sim.clone()));
    let cell = exit.clone();
    let sim = sim.clone();
    tokio::spawn(async move {
        let code = tokio::select! {
            status = child.wait() => status.map(exit_code).unwrap_or(137),
            _ = kill_rx => {
                let _ = child.kill().await;
                137
            }
        };
        for task in [out, err].into_iter().flatten() {
            let _ = task.await;
        }
        *cell.lock().unwrap_or_else(|e| e.into_inner()) = Some(code);
        sim.store.changed.notify_one();
    });
    (exit, kill_tx, pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_like_the_kubelets() {
        let env = BTreeMap::from([("POD".to_string(), "w-1".to_string())]);
        assert_eq!(expand("--name=$(POD)", &env), "--name=w-1");
        assert_eq!(expand("$(POD)-$(POD)", &env), "w-1-w-1");
        assert_eq!(expand("$(MISSING) stays", &env), "$(MISSING) stays");
        assert_eq!(expand("$$(POD) is escaped", &env), "$(POD) is escaped");
        assert_eq!(expand("cost: $5 $(", &env), "cost: $5 $(");
    }
}
