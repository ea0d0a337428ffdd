//! Deletion, garbage collection and the namespace controller.
//!
//! [`delete`] implements the API's DELETE: preconditions, propagation policy (Orphan is the default
//! for Jobs, Background elsewhere), graceful pod deletion and finalizers. [`collect`] is the garbage
//! collector: it deletes dependents whose owners are gone, empties objects held by the `orphan` and
//! `foregroundDeletion` finalizers, and [`namespaces`] empties terminating namespaces.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::error::{ApiError, Result};
use crate::meta;
use crate::resources::{known, ResourceType};
use crate::sim::Shared;
use crate::store::WriteScope;

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents lose their owner reference and stay.
    Orphan,
    /// The owner goes at once; the garbage collector deletes dependents afterwards.
    Background,
    /// The owner stays (with `deletionTimestamp`) until its dependents are gone.
    Foreground,
}

/// The parsed `DeleteOptions`.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Propagation policy; `None` means the resource's default.
    pub propagation: Option<Propagation>,
    /// Grace period for pods.
    pub grace: Option<i64>,
    /// Precondition on the uid.
    pub uid: Option<String>,
    /// Precondition on the resourceVersion.
    pub resource_version: Option<String>,
    /// Whether nothing is persisted.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// From query parameters and an optional `DeleteOptions` body; the body wins.
    pub fn from_request(params: &crate::api::Params, body: Option<&Value>) -> Self {
        let parse = |s: &str| match s {
            "Orphan" => Some(Propagation::Orphan),
            "Background" => Some(Propagation::Background),
            "Foreground" => Some(Propagation::Foreground),
            _ => None,
        };
        let mut o = DeleteOptions {
            propagation: params.get("propagationPolicy").and_then(|p| parse(p)),
            grace: params
                .get("gracePeriodSeconds")
                .and_then(|g| g.parse().ok()),
            dry_run: params.get("dryRun").is_some_and(|d| d == "All"),
            ..Default::default()
        };
        if params.get("orphanDependents").is_some_and(|v| v == "true") {
            o.propagation = Some(Propagation::Orphan);
        }
        if let Some(b) = body {
            if let Some(p) = b["propagationPolicy"].as_str().and_then(parse) {
                o.propagation = Some(p);
            }
            if let Some(orphan) = b["orphanDependents"].as_bool() {
                o.propagation = Some(if orphan {
                    Propagation::Orphan
                } else {
                    Propagation::Background
                });
            }
            if let Some(g) = b["gracePeriodSeconds"].as_i64() {
                o.grace = Some(g);
            }
            o.uid = b["preconditions"]["uid"].as_str().map(str::to_string);
            o.resource_version = b["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_string);
            if b["dryRun"]
                .as_array()
                .is_some_and(|d| d.iter().any(|v| v == "All"))
            {
                o.dry_run = true;
            }
        }
        o
    }
}

fn default_propagation(rt: &ResourceType) -> Propagation {
    // batch/v1 Jobs (and the legacy extensions groups) orphan by default.
    if rt.group == "batch" && rt.plural == "jobs" {
        Propagation::Orphan
    } else {
        Propagation::Background
    }
}

fn has_dependents(sim: &Shared, uid: &str) -> bool {
    sim.store
        .all()
        .iter()
        .any(|(_, o)| meta::owner_uids(o).contains(&uid))
}

/// Deletes an object as the API does; returns the HTTP code and body.
pub(crate) fn delete(
    sim: &Shared,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<(u16, Value)> {
    let obj = sim
        .store
        .get(rt, ns, name)
        .ok_or_else(|| ApiError::not_found(rt, name))?;
    if let Some(uid) = &opts.uid {
        if uid != meta::uid(&obj) {
            return Err(ApiError::conflict(
                rt,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(&obj)
                ),
            ));
        }
    }
    if let Some(rv) = &opts.resource_version {
        if rv != meta::resource_version(&obj) {
            return Err(ApiError::conflict(rt, name, &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}", meta::resource_version(&obj))));
        }
    }
    if opts.dry_run {
        return Ok((200, (*obj).clone()));
    }
    let policy = opts.propagation.unwrap_or_else(|| default_propagation(rt));
    let is_pod = rt.group.is_empty() && rt.plural == "pods";
    let phase = meta::str_at(&obj, "status.phase");
    let bound = !meta::str_at(&obj, "spec.nodeName").is_empty();
    let grace = if is_pod && bound && phase != "Succeeded" && phase != "Failed" {
        opts.grace
            .unwrap_or_else(|| {
                obj["spec"]["terminationGracePeriodSeconds"]
                    .as_i64()
                    .unwrap_or(30)
            })
            .max(0)
    } else {
        0
    };
    let uid = meta::uid(&obj).to_string();
    let mut finalizers = meta::finalizers(&obj);
    match policy {
        Propagation::Orphan if has_dependents(sim, &uid) => finalizers.push(ORPHAN.into()),
        Propagation::Foreground if has_dependents(sim, &uid) => finalizers.push(FOREGROUND.into()),
        _ => {}
    }
    finalizers.dedup();
    let namespace_held = rt.plural == "namespaces" && rt.group.is_empty();
    if meta::is_deleting(&obj) {
        // A repeated delete may only shorten a pod's grace period.
        if is_pod && grace == 0 && opts.grace == Some(0) {
            let updated = sim
                .store
                .update(rt, ns, name, WriteScope::Internal, false, |cur| {
                    let mut next = cur.clone();
                    meta::metadata_mut(&mut next)
                        .insert("deletionGracePeriodSeconds".into(), 0.into());
                    Ok(next)
                })?;
            return Ok((200, (*updated).clone()));
        }
        return Ok((200, (*obj).clone()));
    }
    if finalizers.is_empty() && grace == 0 && !namespace_held {
        let last = sim
            .store
            .remove(rt, ns, name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        if is_pod {
            sim.logs.forget_pod(meta::uid(&last));
        }
        return Ok((200, crate::api::success_status(rt, &last)));
    }
    let when = sim.clock.now() + chrono::Duration::seconds(grace);
    let updated = sim
        .store
        .update(rt, ns, name, WriteScope::Internal, false, |cur| {
            let mut next = cur.clone();
            meta::set_finalizers(&mut next, finalizers);
            let m = meta::metadata_mut(&mut next);
            m.insert("deletionTimestamp".into(), meta::time(when).into());
            m.insert("deletionGracePeriodSeconds".into(), grace.into());
            if namespace_held {
                next["status"]["phase"] = "Terminating".into();
            }
            Ok(next)
        })?;
    Ok((200, (*updated).clone()))
}

fn remove_finalizer(sim: &Shared, rt: &'static ResourceType, obj: &Value, finalizer: &str) {
    let result = sim.store.update(
        rt,
        meta::namespace(obj),
        meta::name(obj),
        WriteScope::Internal,
        false,
        |cur| {
            let mut next = cur.clone();
            let kept = meta::finalizers(cur)
                .into_iter()
                .filter(|f| f != finalizer)
                .collect();
            meta::set_finalizers(&mut next, kept);
            Ok(next)
        },
    );
    if let Err(err) = result {
        tracing::debug!(%err, "could not remove finalizer");
    }
}

/// Deletes events older than the event TTL.
pub(crate) fn expire_events(sim: &Shared) {
    let ttl = chrono::Duration::from_std(sim.config.event_ttl).unwrap_or_default();
    let now = sim.clock.now();
    for rt in [known::events()] {
        for obj in sim.store.list(rt, None).0 {
            let created = meta::parse_time(meta::str_at(&obj, "metadata.creationTimestamp"));
            if created.is_some_and(|c| now - c > ttl) {
                sim.store
                    .remove(rt, meta::namespace(&obj), meta::name(&obj));
            }
        }
    }
}

/// One pass of the garbage collector.
pub(crate) fn collect(sim: &Shared) {
    // Events own nothing and are owned by nothing; leaving them out keeps the pass short.
    let all = sim.store.all_where(|rt| rt.plural != "events");
    let uids: HashSet<&str> = all.iter().map(|(_, o)| meta::uid(o)).collect();
    for (rt, obj) in &all {
        let refs = meta::owner_uids(obj);
        if refs.is_empty() || meta::is_deleting(obj) {
            continue;
        }
        if refs.iter().all(|r| !uids.contains(r)) {
            let opts = DeleteOptions {
                propagation: Some(Propagation::Background),
                ..Default::default()
            };
            if let Err(err) = delete(sim, rt, meta::namespace(obj), meta::name(obj), &opts) {
                tracing::debug!(%err, "garbage collection failed");
            }
        }
    }
    let mut by_owner: HashMap<&str, Vec<&(&'static ResourceType, Arc<Value>)>> = HashMap::new();
    for entry in &all {
        for r in meta::owner_uids(&entry.1) {
            if let Some(owner) = uids.get(r) {
                by_owner.entry(owner).or_default().push(entry);
            }
        }
    }
    for (rt, owner) in all.iter().filter(|(_, o)| meta::is_deleting(o)) {
        let finalizers = meta::finalizers(owner);
        if !finalizers.iter().any(|f| f == ORPHAN || f == FOREGROUND) {
            continue;
        }
        let uid = meta::uid(owner);
        let dependents: Vec<_> = by_owner.get(uid).cloned().unwrap_or_default();
        if finalizers.iter().any(|f| f == ORPHAN) {
            for (drt, dep) in &dependents {
                let _ = sim.store.update(
                    drt,
                    meta::namespace(dep),
                    meta::name(dep),
                    WriteScope::Internal,
                    false,
                    |cur| {
                        let mut next = cur.clone();
                        let refs: Vec<Value> = meta::owner_refs(cur)
                            .into_iter()
                            .filter(|r| r["uid"] != uid)
                            .collect();
                        let m = meta::metadata_mut(&mut next);
                        if refs.is_empty() {
                            m.remove("ownerReferences");
                        } else {
                            m.insert("ownerReferences".into(), refs.into());
                        }
                        Ok(next)
                    },
                );
            }
            remove_finalizer(sim, rt, owner, ORPHAN);
        } else if finalizers.iter().any(|f| f == FOREGROUND) {
            for (drt, dep) in dependents.iter().filter(|(_, d)| !meta::is_deleting(d)) {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Foreground),
                    ..Default::default()
                };
                let _ = delete(sim, drt, meta::namespace(dep), meta::name(dep), &opts);
            }
            if dependents.is_empty() {
                remove_finalizer(sim, rt, owner, FOREGROUND);
            }
        }
    }
}

/// One pass of the namespace controller: terminating namespaces are emptied, then removed.
pub(crate) fn namespaces(sim: &Shared) {
    let (all_ns, _) = sim.store.list(known::namespaces(), None);
    for ns in all_ns.iter() {
        let name = meta::name(ns);
        let status_ok = ns["status"]["phase"] == "Active" || meta::is_deleting(ns);
        if !meta::is_deleting(ns) {
            if status_ok
                && sim
                    .store
                    .get(known::serviceaccounts(), name, "default")
                    .is_none()
            {
                let sa = json!({"metadata": {"name": "default", "namespace": name}});
                let _ = sim
                    .store
                    .create(known::serviceaccounts(), sa, false, |_| Ok(()));
            }
            continue;
        }
        if sim.config.namespaces_stuck {
            continue;
        }
        let contents: Vec<_> = sim
            .store
            .all()
            .into_iter()
            .filter(|(rt, o)| rt.namespaced && meta::namespace(o) == name)
            .collect();
        for (rt, obj) in contents.iter().filter(|(_, o)| !meta::is_deleting(o)) {
            let opts = DeleteOptions {
                propagation: Some(Propagation::Background),
                grace: Some(0),
                ..Default::default()
            };
            let _ = delete(sim, rt, name, meta::name(obj), &opts);
        }
        if contents.is_empty() {
            let _ = sim.store.update(
                known::namespaces(),
                "",
                name,
                WriteScope::Internal,
                false,
                |cur| {
                    let mut next = cur.clone();
                    next["spec"]["finalizers"] = json!([]);
                    Ok(next)
                },
            );
        }
    }
}
