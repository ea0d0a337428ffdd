//! The Job controller.
//!
//! Creates pods from the template (generateName `<job>-`, owner reference, job labels, the
//! `batch.kubernetes.io/job-tracking` finalizer), counts finished pods and releases their finalizer,
//! re-creates failed pods with exponential back-off until `backoffLimit`, enforces
//! `activeDeadlineSeconds`, adds conditions in the 1.31+ order (`SuccessCriteriaMet`/`FailureTarget`
//! first, `Complete`/`Failed` once all pods have terminated) or the legacy order, handles `suspend`
//! and deletes finished Jobs after `ttlSecondsAfterFinished`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::gc::{self, DeleteOptions, Propagation};
use super::record_event;
use crate::meta;
use crate::resources::known;
use crate::sim::{JobConditionOrder, Shared};
use crate::store::WriteScope;

/// The finalizer the Job controller puts on its pods.
pub const TRACKING: &str = "batch.kubernetes.io/job-tracking";

fn is_terminal(pod: &Value) -> bool {
    matches!(meta::str_at(pod, "status.phase"), "Succeeded" | "Failed")
}

fn release(sim: &Shared, pod: &Value) {
    let _ = sim.store.update(
        known::pods(),
        meta::namespace(pod),
        meta::name(pod),
        WriteScope::Internal,
        false,
        |cur| {
            let mut next = cur.clone();
            let kept = meta::finalizers(cur)
                .into_iter()
                .filter(|f| f != TRACKING)
                .collect();
            meta::set_finalizers(&mut next, kept);
            Ok(next)
        },
    );
}

pub(crate) fn reconcile_all(sim: &Arc<Shared>) {
    let (jobs, _) = sim.store.list(known::jobs(), None);
    let (pods, _) = sim.store.list(known::pods(), None);
    let uids: HashSet<&str> = jobs.iter().map(|j| meta::uid(j)).collect();
    // Pods by the uid of their controlling owner, so each Job finds its pods without a scan.
    let mut by_owner: HashMap<String, Vec<Arc<Value>>> = HashMap::new();
    for pod in &pods {
        let tracked = meta::finalizers(pod).iter().any(|f| f == TRACKING);
        let owner = meta::controller_ref(pod).and_then(|r| r["uid"].as_str().map(str::to_string));
        let owned = owner.as_deref().is_some_and(|u| uids.contains(u));
        if tracked && !owned {
            release(sim, pod);
        }
        if let (Some(owner), true) = (owner, owned) {
            by_owner.entry(owner).or_default().push(pod.clone());
        }
    }
    for job in &jobs {
        let owned = by_owner
            .get(meta::uid(job))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        reconcile(sim, job, owned);
    }
}

fn condition(kind: &str, reason: &str, message: &str, now: DateTime<Utc>) -> Value {
    json!({
        "type": kind,
        "status": "True",
        "lastProbeTime": meta::time(now),
        "lastTransitionTime": meta::time(now),
        "reason": reason,
        "message": message,
    })
}

fn has(conds: &[Value], kind: &str) -> Option<Value> {
    conds
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
        .cloned()
}

fn reconcile(sim: &Shared, job: &Value, pods: &[Arc<Value>]) {
    let now = sim.clock.now();
    let uid = meta::uid(job).to_string();
    let ns = meta::namespace(job).to_string();
    let name = meta::name(job).to_string();
    let spec = &job["spec"];
    let status = &job["status"];
    let mut conds: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    let owned: Vec<&Arc<Value>> = pods.iter().collect();
    let mut succeeded = status["succeeded"].as_i64().unwrap_or(0);
    let mut failed = status["failed"].as_i64().unwrap_or(0);
    let mut finished_pods = Vec::new();
    for pod in &owned {
        if !meta::finalizers(pod).iter().any(|f| f == TRACKING) {
            continue;
        }
        let unbound_deleted =
            meta::is_deleting(pod) && meta::str_at(pod, "spec.nodeName").is_empty();
        if is_terminal(pod) || unbound_deleted {
            if meta::str_at(pod, "status.phase") == "Succeeded" {
                succeeded += 1;
            } else {
                failed += 1;
                let mut state = sim.controllers.lock().unwrap_or_else(|e| e.into_inner());
                state.job_backoff.insert(uid.clone(), now);
            }
            finished_pods.push(*pod);
        }
    }
    let running: Vec<&&Arc<Value>> = owned.iter().filter(|p| !is_terminal(p)).collect();
    let active = running.iter().filter(|p| !meta::is_deleting(p)).count() as i64;
    let terminating = running.len() as i64 - active;
    let ready = running
        .iter()
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count() as i64;
    let finished = has(&conds, "Complete").is_some() || has(&conds, "Failed").is_some();
    let suspended = spec["suspend"].as_bool() == Some(true);
    let mut start_time = status["startTime"].as_str().map(str::to_string);
    let mut completion_time = status["completionTime"].as_str().map(str::to_string);
    if !finished {
        if start_time.is_none() && !suspended {
            start_time = Some(meta::time(now));
        }
        let completions = spec["completions"].as_i64();
        let parallelism = spec["parallelism"].as_i64().unwrap_or(1);
        let success = match completions {
            Some(c) => succeeded >= c,
            None => succeeded >= 1,
        };
        let deadline = spec["activeDeadlineSeconds"]
            .as_i64()
            .zip(start_time.as_deref().and_then(meta::parse_time));
        let deadline_exceeded =
            deadline.is_some_and(|(secs, start)| now >= start + chrono::Duration::seconds(secs));
        let backoff_exceeded = failed > spec["backoffLimit"].as_i64().unwrap_or(6);
        let mut interim =
            has(&conds, "SuccessCriteriaMet").or_else(|| has(&conds, "FailureTarget"));
        if interim.is_none() {
            let new = if success {
                Some(condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                ))
            } else if backoff_exceeded {
                Some(condition(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    now,
                ))
            } else if deadline_exceeded {
                Some(condition(
                    "FailureTarget",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                    now,
                ))
            } else {
                None
            };
            if let Some(c) = &new {
                if c["type"] == "FailureTarget" {
                    let reason = c["reason"].as_str().unwrap_or("");
                    record_event(
                        sim,
                        job,
                        "Warning",
                        reason,
                        c["message"].as_str().unwrap_or(""),
                        "job-controller",
                    );
                }
                if sim.config.job_conditions == JobConditionOrder::Modern {
                    conds.push(c.clone());
                }
            }
            interim = new;
        }
        if let Some(target) = &interim {
            for pod in running.iter().filter(|p| !meta::is_deleting(p)) {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..Default::default()
                };
                if gc::delete(sim, known::pods(), &ns, meta::name(pod), &opts).is_ok() {
                    record_event(
                        sim,
                        job,
                        "Normal",
                        "SuccessfulDelete",
                        &format!("Deleted pod: {}", meta::name(pod)),
                        "job-controller",
                    );
                }
            }
            let legacy = sim.config.job_conditions == JobConditionOrder::Legacy;
            if legacy || running.is_empty() {
                let ok = target["type"] == "SuccessCriteriaMet";
                let (kind, reason, message) = if ok {
                    (
                        "Complete",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    )
                } else {
                    (
                        "Failed",
                        target["reason"].as_str().unwrap_or("BackoffLimitExceeded"),
                        target["message"].as_str().unwrap_or(""),
                    )
                };
                conds.push(condition(kind, reason, message, now));
                if ok {
                    completion_time = Some(meta::time(now));
                    record_event(
                        sim,
                        job,
                        "Normal",
                        "Completed",
                        "Job completed",
                        "job-controller",
                    );
                }
            }
        } else if meta::is_deleting(job) {
            // A Job being deleted (orphan or foreground) gets no new pods.
        } else if suspended {
            for pod in running.iter().filter(|p| !meta::is_deleting(p)) {
                let _ = gc::delete(
                    sim,
                    known::pods(),
                    &ns,
                    meta::name(pod),
                    &DeleteOptions::default(),
                );
            }
            if has(&conds, "Suspended").is_none() {
                conds.retain(|c| c["type"] != "Suspended");
                conds.push(condition("Suspended", "JobSuspended", "Job suspended", now));
                record_event(
                    sim,
                    job,
                    "Normal",
                    "Suspended",
                    "Job suspended",
                    "job-controller",
                );
            }
        } else {
            if let Some(pos) = conds
                .iter()
                .position(|c| c["type"] == "Suspended" && c["status"] == "True")
            {
                conds[pos]["status"] = "False".into();
                conds[pos]["reason"] = "JobResumed".into();
                conds[pos]["message"] = "Job resumed".into();
                record_event(
                    sim,
                    job,
                    "Normal",
                    "Resumed",
                    "Job resumed",
                    "job-controller",
                );
            }
            let remaining = match completions {
                Some(c) => (c - succeeded).max(0).min(parallelism),
                None if succeeded > 0 => 0,
                None => parallelism,
            };
            let want = remaining - active - terminating;
            let allowed = {
                let state = sim.controllers.lock().unwrap_or_else(|e| e.into_inner());
                match state.job_backoff.get(&uid) {
                    Some(last) if failed > 0 => {
                        let exp = (failed - 1).clamp(0, 16) as u32;
                        let delay = sim
                            .config
                            .job_backoff
                            .saturating_mul(2u32.saturating_pow(exp))
                            .min(std::time::Duration::from_secs(360));
                        now >= *last + chrono::Duration::from_std(delay).unwrap_or_default()
                    }
                    _ => true,
                }
            };
            if allowed {
                for _ in 0..want.max(0) {
                    create_pod(sim, job);
                }
            }
        }
    }
    let mut new_status = json!({
        "conditions": conds,
        "ready": ready,
        "terminating": terminating,
        "uncountedTerminatedPods": {},
    });
    for (field, n) in [
        ("active", active),
        ("succeeded", succeeded),
        ("failed", failed),
    ] {
        if n > 0 {
            new_status[field] = n.into();
        }
    }
    if let Some(t) = start_time {
        new_status["startTime"] = t.into();
    }
    if let Some(t) = completion_time {
        new_status["completionTime"] = t.into();
    }
    if new_status["conditions"]
        .as_array()
        .is_some_and(Vec::is_empty)
    {
        new_status.as_object_mut().map(|m| m.remove("conditions"));
    }
    if new_status != *status {
        let result = sim.store.update(
            known::jobs(),
            &ns,
            &name,
            WriteScope::Internal,
            false,
            |cur| {
                let mut next = cur.clone();
                next["status"] = new_status;
                Ok(next)
            },
        );
        if let Err(err) = result {
            tracing::debug!(%err, job = %name, "could not update job status");
            return;
        }
    }
    for pod in finished_pods {
        release(sim, pod);
    }
    if finished {
        ttl(sim, job, now);
    }
}

fn ttl(sim: &Shared, job: &Value, now: DateTime<Utc>) {
    let Some(ttl) = job["spec"]["ttlSecondsAfterFinished"].as_i64() else {
        return;
    };
    let conds = job["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let finished_at = has(&conds, "Complete")
        .or_else(|| has(&conds, "Failed"))
        .and_then(|c| meta::parse_time(c["lastTransitionTime"].as_str().unwrap_or("")));
    if finished_at.is_some_and(|t| now >= t + chrono::Duration::seconds(ttl))
        && !meta::is_deleting(job)
    {
        let opts = DeleteOptions {
            propagation: Some(Propagation::Background),
            ..Default::default()
        };
        let _ = gc::delete(
            sim,
            known::jobs(),
            meta::namespace(job),
            meta::name(job),
            &opts,
        );
    }
}

fn create_pod(sim: &Shared, job: &Value) {
    let ns = meta::namespace(job);
    let name = meta::name(job);
    let template = &job["spec"]["template"];
    let mut pod = json!({
        "metadata": {
            "generateName": format!("{name}-"),
            "namespace": ns,
            "labels": template["metadata"]["labels"].clone(),
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": name,
                "uid": meta::uid(job),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
            "finalizers": [TRACKING],
        },
        "spec": template["spec"].clone(),
    });
    if let Some(a) = template["metadata"].get("annotations") {
        pod["metadata"]["annotations"] = a.clone();
    }
    if let Err(err) = crate::api::check_service_account(sim, &pod["spec"], ns, &format!("{name}-"))
    {
        record_event(
            sim,
            job,
            "Warning",
            "FailedCreate",
            &format!("Error creating: {}", err.message),
            "job-controller",
        );
        return;
    }
    match sim.store.create(known::pods(), pod, false, |o| {
        crate::validate::admit_create(known::pods(), o)
    }) {
        Ok(created) => record_event(
            sim,
            job,
            "Normal",
            "SuccessfulCreate",
            &format!("Created pod: {}", meta::name(&created)),
            "job-controller",
        ),
        Err(err) => record_event(
            sim,
            job,
            "Warning",
            "FailedCreate",
            &format!("Error creating: {}", err.message),
            "job-controller",
        ),
    }
}
