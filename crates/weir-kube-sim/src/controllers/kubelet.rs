//! The fake kubelet (and scheduler): drives each pod through the lifecycle its scenario describes.
//!
//! Stages: bind to the one node, create containers (or stall in CreateContainerConfigError or the
//! image-pull back-off loop), run while writing log lines, then terminate with the scenario's exit
//! code, OOMKilled, eviction or node loss. Deleted pods are killed and released (grace period zero).
//! The `run-local` scenarios run the container command as a local process.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::record_event;
use crate::meta;
use crate::resources::known;
use crate::scenario::Scenario;
use crate::sim::Shared;
use crate::store::WriteScope;

/// The name of the simulated node.
pub const NODE: &str = "sim-node-1";

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    New,
    Creating(DateTime<Utc>),
    ConfigError(String),
    Pulling {
        failures: u32,
        next: DateTime<Utc>,
        backoff: bool,
    },
    Running(DateTime<Utc>),
    Restarting(DateTime<Utc>),
    NodeLost(DateTime<Utc>),
    Done,
}

/// The kubelet's memory of one pod.
pub(crate) struct PodRun {
    scenario: Scenario,
    stage: Stage,
    emitted: usize,
    restarts: i64,
    exit: Option<Arc<Mutex<Option<i32>>>>,
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    pid: Option<u32>,
    term_sent: bool,
}

pub(crate) fn reconcile_all(sim: &Arc<Shared>) {
    let (pods, _) = sim.store.list(known::pods(), None);
    let now = sim.clock.now();
    let mut state = sim.controllers.lock().unwrap_or_else(|e| e.into_inner());
    let live: std::collections::HashSet<&str> = pods.iter().map(|p| meta::uid(p)).collect();
    let gone: Vec<String> = state
        .kubelet
        .keys()
        .filter(|u| !live.contains(u.as_str()))
        .cloned()
        .collect();
    for uid in gone {
        state.kubelet.remove(&uid);
        sim.logs.forget_pod(&uid);
    }
    sim.tokens.retain_pods(&live);
    crate::podfiles::retain(sim, &live);
    for pod in &pods {
        step(sim, &mut state.kubelet, pod, now);
    }
}

fn write(sim: &Shared, pod: &Value, f: impl FnOnce(&mut Value)) {
    let result = sim.store.update(
        known::pods(),
        meta::namespace(pod),
        meta::name(pod),
        WriteScope::Internal,
        false,
        |cur| {
            let mut next = cur.clone();
            f(&mut next);
            Ok(next)
        },
    );
    if let Err(err) = result {
        tracing::debug!(%err, pod = meta::name(pod), "kubelet could not write pod");
    }
}

fn cond(kind: &str, ok: bool, reason: Option<&str>, now: DateTime<Utc>) -> Value {
    let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": meta::time(now)});
    if let Some(r) = reason {
        c["reason"] = r.into();
    }
    c
}

fn conditions(now: DateTime<Utc>, ready: bool, started: bool, reason: &str) -> Value {
    let r = if ready { None } else { Some(reason) };
    json!([
        cond("PodReadyToStartContainers", started, None, now),
        cond("Initialized", true, None, now),
        cond("Ready", ready, r, now),
        cond("ContainersReady", ready, r, now),
        cond("PodScheduled", true, None, now),
    ])
}

fn statuses(pod: &Value, state: &Value, ready: bool, restarts: i64, last: &Value) -> Value {
    let running = state.get("running").is_some() || state.get("terminated").is_some();
    let cs: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let name = meta::str_at(c, "name");
            let mut s = json!({
                "name": name,
                "image": c["image"],
                "imageID": if running { format!("sim://sha256:{}", &meta::uid(pod).replace('-', "")) } else { String::new() },
                "state": state,
                "lastState": last,
                "ready": ready,
                "restartCount": restarts,
                "started": state.get("running").is_some(),
            });
            if running {
                s["containerID"] = format!("sim://{}-{name}", meta::uid(pod)).into();
            }
            s
        })
        .collect();
    Value::from(cs)
}

fn command_line(c: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    for field in ["command", "args"] {
        for p in c[field].as_array().into_iter().flatten() {
            parts.push(p.as_str().unwrap_or("").to_string());
        }
    }
    if parts.is_empty() {
        meta::str_at(c, "image").to_string()
    } else {
        parts.join(" ")
    }
}

fn missing_config(sim: &Shared, pod: &Value) -> Option<String> {
    let ns = meta::namespace(pod);
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for env in c["env"].as_array().into_iter().flatten() {
            for (field, rt, kind) in [
                ("secretKeyRef", known::secrets(), "Secret"),
                ("configMapKeyRef", known::configmaps(), "ConfigMap"),
            ] {
                let Some(r) = env["valueFrom"].get(field) else {
                    continue;
                };
                if r["optional"].as_bool() == Some(true) {
                    continue;
                }
                let (name, key) = (meta::str_at(r, "name"), meta::str_at(r, "key"));
                match sim.store.get(rt, ns, name) {
                    None => return Some(format!("{} \"{name}\" not found", kind.to_lowercase())),
                    Some(obj)
                        if obj["data"].get(key).is_none()
                            && obj["stringData"].get(key).is_none() =>
                    {
                        return Some(format!("couldn't find key {key} in {kind} {ns}/{name}"))
                    }
                    _ => {}
                }
            }
        }
        for from in c["envFrom"].as_array().into_iter().flatten() {
            for (field, rt, kind) in [
                ("secretRef", known::secrets(), "secret"),
                ("configMapRef", known::configmaps(), "configmap"),
            ] {
                let Some(r) = from.get(field) else { continue };
                if r["optional"].as_bool() != Some(true)
                    && sim.store.get(rt, ns, meta::str_at(r, "name")).is_none()
                {
                    return Some(format!("{kind} \"{}\" not found", meta::str_at(r, "name")));
                }
            }
        }
    }
    None
}

fn step(
    sim: &Arc<Shared>,
    runs: &mut std::collections::HashMap<String, PodRun>,
    pod: &Value,
    now: DateTime<Utc>,
) {
    let uid = meta::uid(pod).to_string();
    let phase = meta::str_at(pod, "status.phase");
    let terminal = phase == "Succeeded" || phase == "Failed";
    if meta::is_deleting(pod) {
        if pod["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0)
            == 0
        {
            return;
        }
        let bound = !meta::str_at(pod, "spec.nodeName").is_empty();
        // A local process gets SIGTERM and the grace period to exit, then SIGKILL, as from a kubelet.
        let mut code = 143;
        if let Some(run) = runs.get_mut(&uid).filter(|r| r.exit.is_some() && !terminal) {
            let exited = run
                .exit
                .as_ref()
                .and_then(|e| *e.lock().unwrap_or_else(|p| p.into_inner()));
            match exited {
                Some(c) => code = c,
                None => {
                    if !run.term_sent {
                        run.term_sent = true;
                        if let Some(pid) = run.pid {
                            crate::process::terminate(pid);
                        }
                        record_event(
                            sim,
                            pod,
                            "Normal",
                            "Killing",
                            "Stopping container",
                            "kubelet",
                        );
                    }
                    let deadline =
                        meta::parse_time(meta::str_at(pod, "metadata.deletionTimestamp"));
                    if deadline.is_none_or(|d| now < d) {
                        return;
                    }
                    run.kill.take();
                    code = 137;
                }
            }
        }
        let announced = runs.get(&uid).is_some_and(|r| r.term_sent);
        runs.remove(&uid);
        write(sim, pod, |p| {
            if bound && !terminal {
                let started = p["status"]["startTime"].clone();
                let reason = if code == 0 { "Completed" } else { "Error" };
                let term = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": meta::time(now)}});
                p["status"]["containerStatuses"] = statuses(p, &term, false, 0, &json!({}));
                p["status"]["phase"] = if code == 0 { "Succeeded" } else { "Failed" }.into();
                p["status"]["conditions"] = conditions(now, false, false, "PodCompleted");
            }
            p["metadata"]["deletionGracePeriodSeconds"] = 0.into();
        });
        for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
            sim.logs.buf(&uid, meta::str_at(c, "name")).finish();
        }
        if bound && !terminal && !announced {
            record_event(
                sim,
                pod,
                "Normal",
                "Killing",
                "Stopping container",
                "kubelet",
            );
        }
        return;
    }
    if terminal {
        return;
    }
    let run = runs.entry(uid.clone()).or_insert_with(|| {
        let table = sim.scenarios.read().unwrap_or_else(|e| e.into_inner());
        let scenario = table
            .for_pod(pod)
            .unwrap_or_else(|msg| Scenario::CreateContainerConfigError { message: Some(msg) });
        PodRun {
            scenario,
            stage: Stage::New,
            emitted: 0,
            restarts: 0,
            exit: None,
            kill: None,
            pid: None,
            term_sent: false,
        }
    });
    let image = meta::str_at(&pod["spec"]["containers"][0], "image").to_string();
    match run.stage.clone() {
        Stage::New => {
            if run.scenario == Scenario::Unschedulable {
                let msg = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
                write(sim, pod, |p| {
                    let mut c = cond("PodScheduled", false, Some("Unschedulable"), now);
                    c["message"] = msg.into();
                    p["status"]["conditions"] = json!([c]);
                });
                record_event(
                    sim,
                    pod,
                    "Warning",
                    "FailedScheduling",
                    msg,
                    "default-scheduler",
                );
                run.stage = Stage::Done;
                return;
            }
            let initializing = pod["spec"]["initContainers"]
                .as_array()
                .is_some_and(|a| !a.is_empty());
            let reason = if initializing {
                "PodInitializing"
            } else {
                "ContainerCreating"
            };
            let waiting = json!({"waiting": {"reason": reason}});
            write(sim, pod, |p| {
                p["spec"]["nodeName"] = NODE.into();
                p["status"]["phase"] = "Pending".into();
                p["status"]["hostIP"] = "10.0.0.1".into();
                p["status"]["hostIPs"] = json!([{"ip": "10.0.0.1"}]);
                p["status"]["startTime"] = meta::time(now).into();
                p["status"]["conditions"] = conditions(now, false, false, "ContainersNotReady");
                p["status"]["containerStatuses"] = statuses(p, &waiting, false, 0, &json!({}));
            });
            let msg = format!(
                "Successfully assigned {}/{} to {NODE}",
                meta::namespace(pod),
                meta::name(pod)
            );
            record_event(sim, pod, "Normal", "Scheduled", &msg, "default-scheduler");
            run.stage = Stage::Creating(now);
        }
        Stage::Creating(at) | Stage::Restarting(at)
            if now < at + chrono::Duration::milliseconds(100) => {}
        Stage::Creating(_) | Stage::ConfigError(_) => {
            let forced = match &run.scenario {
                Scenario::CreateContainerConfigError { message } => Some((
                    "CreateContainerConfigError",
                    message
                        .clone()
                        .unwrap_or_else(|| "secret \"missing\" not found".into()),
                )),
                Scenario::CreateContainerError { message } => Some((
                    "CreateContainerError",
                    message.clone().unwrap_or_else(|| {
                        "failed to create containerd container: error unpacking image".into()
                    }),
                )),
                _ => None,
            };
            let failure = forced
                .or_else(|| missing_config(sim, pod).map(|m| ("CreateContainerConfigError", m)));
            if let Some((reason, msg)) = failure {
                if run.stage != Stage::ConfigError(msg.clone()) {
                    let waiting = json!({"waiting": {"reason": reason, "message": msg}});
                    write(sim, pod, |p| {
                        p["status"]["containerStatuses"] =
                            statuses(p, &waiting, false, 0, &json!({}))
                    });
                    record_event(
                        sim,
                        pod,
                        "Warning",
                        "Failed",
                        &format!("Error: {msg}"),
                        "kubelet",
                    );
                    run.stage = Stage::ConfigError(msg);
                }
                return;
            }
            if run.scenario == Scenario::ImagePullBackOff {
                record_event(
                    sim,
                    pod,
                    "Normal",
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                    "kubelet",
                );
                run.stage = Stage::Pulling {
                    failures: 0,
                    next: now,
                    backoff: true,
                };
                return;
            }
            start(sim, run, pod, now, &image);
        }
        Stage::Pulling {
            failures,
            next,
            backoff,
        } if now >= next => {
            let (reason, msg, wait) = if backoff {
                let msg = format!("failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": not found");
                record_event(
                    sim,
                    pod,
                    "Warning",
                    "Failed",
                    &format!("Failed to pull image \"{image}\": {msg}"),
                    "kubelet",
                );
                record_event(
                    sim,
                    pod,
                    "Warning",
                    "Failed",
                    "Error: ErrImagePull",
                    "kubelet",
                );
                ("ErrImagePull", msg, chrono::Duration::seconds(1))
            } else {
                let msg = format!("Back-off pulling image \"{image}\"");
                record_event(sim, pod, "Normal", "BackOff", &msg, "kubelet");
                record_event(
                    sim,
                    pod,
                    "Warning",
                    "Failed",
                    "Error: ImagePullBackOff",
                    "kubelet",
                );
                (
                    "ImagePullBackOff",
                    msg,
                    chrono::Duration::seconds((10i64 << failures.min(5)).min(300)),
                )
            };
            let waiting = json!({"waiting": {"reason": reason, "message": msg}});
            write(sim, pod, |p| {
                p["status"]["containerStatuses"] = statuses(p, &waiting, false, 0, &json!({}))
            });
            let failures = if backoff { failures } else { failures + 1 };
            run.stage = Stage::Pulling {
                failures,
                next: now + wait,
                backoff: !backoff,
            };
        }
        Stage::Restarting(_) => start(sim, run, pod, now, &image),
        Stage::Running(since) => running(sim, run, pod, now, since),
        Stage::NodeLost(at)
            if now
                >= at
                    + chrono::Duration::from_std(sim.config.node_loss_grace)
                        .unwrap_or_default() =>
        {
            write(sim, pod, |p| {
                let mut c = cond(
                    "DisruptionTarget",
                    true,
                    Some("DeletionByTaintManager"),
                    now,
                );
                c["message"] = "Taint manager: deleting due to NoExecute taint".into();
                if let Some(cs) = p["status"]["conditions"].as_array_mut() {
                    cs.push(c);
                }
                p["status"]["phase"] = "Failed".into();
                let m = meta::metadata_mut(p);
                m.insert("deletionTimestamp".into(), meta::time(now).into());
                m.insert("deletionGracePeriodSeconds".into(), 0.into());
            });
            record_event(
                sim,
                pod,
                "Normal",
                "TaintManagerEviction",
                &format!(
                    "Marking for deletion Pod {}/{}",
                    meta::namespace(pod),
                    meta::name(pod)
                ),
                "taint-eviction-controller",
            );
            run.stage = Stage::Done;
        }
        _ => {}
    }
}

fn start(sim: &Arc<Shared>, run: &mut PodRun, pod: &Value, now: DateTime<Utc>, image: &str) {
    if run.restarts > 0 {
        for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
            sim.logs
                .buf(meta::uid(pod), meta::str_at(c, "name"))
                .restart();
        }
    }
    if run.restarts == 0 {
        record_event(
            sim,
            pod,
            "Normal",
            "Pulled",
            &format!("Container image \"{image}\" already present on machine"),
            "kubelet",
        );
    }
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        let name = meta::str_at(c, "name");
        record_event(
            sim,
            pod,
            "Normal",
            "Created",
            &format!("Created container: {name}"),
            "kubelet",
        );
        record_event(
            sim,
            pod,
            "Normal",
            "Started",
            &format!("Started container {name}"),
            "kubelet",
        );
    }
    let restarts = run.restarts;
    let state = json!({"running": {"startedAt": meta::time(now)}});
    write(sim, pod, |p| {
        let last = p["status"]["containerStatuses"][0]["lastState"].clone();
        let last = if last.is_null() { json!({}) } else { last };
        p["status"]["phase"] = "Running".into();
        let ip = format!(
            "10.244.0.{}",
            2 + (meta::uid(p).bytes().map(u32::from).sum::<u32>() % 250)
        );
        p["status"]["podIP"] = ip.clone().into();
        p["status"]["podIPs"] = json!([{"ip": ip}]);
        p["status"]["conditions"] = conditions(now, true, true, "");
        p["status"]["containerStatuses"] = statuses(p, &state, true, restarts, &last);
        // Init containers are not simulated one by one: they have all completed by now.
        let inits: Vec<Value> = p["spec"]["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| json!({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": true, "restartCount": 0, "started": false,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": meta::time(now), "finishedAt": meta::time(now)}},
                "lastState": {},
            }))
            .collect();
        if !inits.is_empty() {
            p["status"]["initContainerStatuses"] = inits.into();
        }
    });
    run.emitted = 0;
    if run.scenario.runs_locally() {
        let (exit, kill, pid) = crate::process::spawn(sim, pod, &run.scenario);
        run.exit = Some(exit);
        run.kill = Some(kill);
        run.pid = pid;
    }
    run.stage = Stage::Running(now);
    running(sim, run, pod, now, now);
}

fn running(
    sim: &Arc<Shared>,
    run: &mut PodRun,
    pod: &Value,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) {
    if let Some(ads) = pod["spec"]["activeDeadlineSeconds"].as_i64() {
        let started = meta::parse_time(meta::str_at(pod, "status.startTime"));
        if started.is_some_and(|t| now >= t + chrono::Duration::seconds(ads)) {
            let msg = "Pod was active on the node longer than the specified deadline";
            run.kill.take();
            let term = json!({"terminated": {"exitCode": 137, "reason": "Error", "startedAt": meta::time(since), "finishedAt": meta::time(now)}});
            write(sim, pod, |p| {
                p["status"]["phase"] = "Failed".into();
                p["status"]["reason"] = "DeadlineExceeded".into();
                p["status"]["message"] = msg.into();
                p["status"]["conditions"] = conditions(now, false, false, "PodFailed");
                p["status"]["containerStatuses"] =
                    statuses(p, &term, false, run.restarts, &json!({}));
            });
            record_event(sim, pod, "Normal", "DeadlineExceeded", msg, "kubelet");
            for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
                sim.logs
                    .buf(meta::uid(pod), meta::str_at(c, "name"))
                    .finish();
            }
            run.stage = Stage::Done;
            return;
        }
    }
    let uid = meta::uid(pod);
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let run_secs = run.scenario.run_seconds();
    if !run.scenario.runs_locally() {
        let scripted = run.scenario.logs().map(<[String]>::to_vec);
        let total = run_secs.unwrap_or(0.0);
        loop {
            let i = run.emitted;
            let mut pushed = false;
            for c in &containers {
                let lines = scripted.clone().unwrap_or_else(|| vec![command_line(c)]);
                let Some(line) = lines.get(i) else { continue };
                let at = if scripted.is_some() {
                    total * (i as f64 + 1.0) / (lines.len() as f64 + 1.0)
                } else {
                    0.0
                };
                let when = since + chrono::Duration::milliseconds((at * 1000.0) as i64);
                if when > now {
                    continue;
                }
                sim.logs
                    .buf(uid, meta::str_at(c, "name"))
                    .push(when, line.clone());
                pushed = true;
            }
            if !pushed {
                break;
            }
            run.emitted += 1;
        }
    }
    let ended = run_secs
        .is_some_and(|s| now >= since + chrono::Duration::milliseconds((s * 1000.0) as i64));
    let local_exit = run
        .exit
        .as_ref()
        .and_then(|e| *e.lock().unwrap_or_else(|p| p.into_inner()));
    let outcome: Option<(i32, &str)> = match (&run.scenario, ended, local_exit) {
        (scenario, _, Some(code)) if scenario.runs_locally() => {
            Some((code, if code == 0 { "Completed" } else { "Error" }))
        }
        (Scenario::Succeed { .. }, true, _) => Some((0, "Completed")),
        (Scenario::Exit { code, .. }, true, _) => {
            Some((*code, if *code == 0 { "Completed" } else { "Error" }))
        }
        (Scenario::OomKilled { .. }, true, _) => Some((137, "OOMKilled")),
        (Scenario::Evicted { .. }, true, _) => {
            evict(sim, run, pod, now, since);
            None
        }
        (Scenario::NodeLost { .. }, true, _) => {
            write(sim, pod, |p| {
                p["status"]["phase"] = "Unknown".into();
                p["status"]["conditions"] = conditions(now, false, true, "NodeLost");
                if let Some(c) = p["status"]["conditions"][2].as_object_mut() {
                    c.insert("message".into(), "Node is not ready".into());
                }
            });
            record_event(
                sim,
                pod,
                "Warning",
                "NodeNotReady",
                "Node is not ready",
                "node-controller",
            );
            run.stage = Stage::NodeLost(now);
            None
        }
        _ => None,
    };
    let Some((code, reason)) = outcome else {
        return;
    };
    let term = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": meta::time(since), "finishedAt": meta::time(now), "containerID": format!("sim://{uid}")}});
    let restart = match meta::str_at(pod, "spec.restartPolicy") {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    };
    for c in &containers {
        sim.logs.buf(uid, meta::str_at(c, "name")).finish();
    }
    if restart {
        run.restarts += 1;
        let restarts = run.restarts;
        let backoff = (10i64 << (restarts - 1).min(5)).min(300);
        let name = meta::str_at(&containers[0], "name").to_string();
        let waiting = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off {backoff}s restarting failed container={name} pod={}_{}({uid})", meta::name(pod), meta::namespace(pod))}});
        write(sim, pod, |p| {
            p["status"]["conditions"] = conditions(now, false, true, "ContainersNotReady");
            p["status"]["containerStatuses"] = statuses(p, &waiting, false, restarts, &term);
        });
        record_event(
            sim,
            pod,
            "Warning",
            "BackOff",
            "Back-off restarting failed container",
            "kubelet",
        );
        run.stage = Stage::Restarting(now + chrono::Duration::seconds(backoff));
        return;
    }
    write(sim, pod, |p| {
        p["status"]["phase"] = if code == 0 { "Succeeded" } else { "Failed" }.into();
        p["status"]["conditions"] = conditions(now, false, false, "PodCompleted");
        p["status"]["containerStatuses"] = statuses(p, &term, false, 0, &json!({}));
    });
    run.stage = Stage::Done;
}

fn evict(sim: &Shared, run: &mut PodRun, pod: &Value, now: DateTime<Utc>, since: DateTime<Utc>) {
    let msg = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 10Mi. ";
    let term = json!({"terminated": {"exitCode": 137, "reason": "Error", "startedAt": meta::time(since), "finishedAt": meta::time(now)}});
    write(sim, pod, |p| {
        p["status"]["phase"] = "Failed".into();
        p["status"]["reason"] = "Evicted".into();
        p["status"]["message"] = msg.into();
        let mut c = cond("DisruptionTarget", true, Some("TerminationByKubelet"), now);
        c["message"] = msg.into();
        let mut conds = conditions(now, false, false, "PodFailed");
        if let Some(a) = conds.as_array_mut() {
            a.push(c);
        }
        p["status"]["conditions"] = conds;
        p["status"]["containerStatuses"] = statuses(p, &term, false, 0, &json!({}));
    });
    record_event(sim, pod, "Warning", "Evicted", msg, "kubelet");
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        sim.logs
            .buf(meta::uid(pod), meta::str_at(c, "name"))
            .finish();
    }
    run.stage = Stage::Done;
}
