//! The Deployment controller: keeps `spec.replicas` pods of a Deployment's current template.
//!
//! It creates the pods itself, without ReplicaSets: each pod is named `<deployment>-<hash>-xxxxx`,
//! carries the template's labels plus `pod-template-hash` (a hash of the template) and a
//! controlling owner reference to the Deployment, so deleting the Deployment collects them.
//! Pods of an older template are deleted as soon as the template changes (no surge limits; under
//! the `Recreate` strategy new pods wait until the old ones are gone),
//! deleted or finished pods are replaced, extra pods are deleted (newest first), and the status
//! reports replicas, updated, ready and available counts with the Available and Progressing
//! conditions `kubectl rollout status` reads.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::gc::{self, DeleteOptions};
use super::record_event;
use crate::meta;
use crate::resources::{known, lookup};
use crate::sim::Shared;
use crate::store::WriteScope;

/// The label holding the hash of the template a pod was made from.
pub const TEMPLATE_HASH: &str = "pod-template-hash";

const COMPONENT: &str = "deployment-controller";

fn deployments() -> &'static crate::resources::ResourceType {
    lookup("apps", "v1", "deployments").unwrap_or_else(|| unreachable!("deployments are served"))
}

pub(crate) fn reconcile_all(sim: &Arc<Shared>) {
    let (deployments, _) = sim.store.list(deployments(), None);
    if deployments.is_empty() {
        return;
    }
    let (pods, _) = sim.store.list(known::pods(), None);
    let mut by_owner: HashMap<&str, Vec<&Value>> = HashMap::new();
    for pod in &pods {
        if let Some(owner) = pod["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["controller"] == true && r["kind"] == "Deployment")
        {
            if let Some(uid) = owner["uid"].as_str() {
                by_owner.entry(uid).or_default().push(pod);
            }
        }
    }
    for deployment in deployments.iter().filter(|d| !meta::is_deleting(d)) {
        let owned = by_owner.remove(meta::uid(deployment)).unwrap_or_default();
        reconcile(sim, deployment, &owned);
    }
}

/// A stable hash of the pod template, as the `pod-template-hash` label (10 hex digits).
fn template_hash(template: &Value) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    template.to_string().hash(&mut hasher);
    format!("{:010x}", hasher.finish() & 0xff_ffff_ffff)
}

fn is_terminal(pod: &Value) -> bool {
    matches!(meta::str_at(pod, "status.phase"), "Succeeded" | "Failed")
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn reconcile(sim: &Shared, deployment: &Value, owned: &[&Value]) {
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let hash = template_hash(&deployment["spec"]["template"]);
    let live: Vec<&Value> = owned
        .iter()
        .copied()
        .filter(|p| !meta::is_deleting(p))
        .collect();
    let current = |p: &&Value| meta::str_at(p, &format!("metadata.labels.{TEMPLATE_HASH}")) == hash;
    let mut stale: Vec<&Value> = live
        .iter()
        .copied()
        .filter(|p| !current(p) || is_terminal(p))
        .collect();
    let mut active: Vec<&Value> = live
        .iter()
        .copied()
        .filter(|p| current(p) && !is_terminal(p))
        .collect();
    if active.len() > replicas {
        active.sort_by_key(|p| std::cmp::Reverse(meta::str_at(p, "metadata.creationTimestamp")));
        let extra = active.len() - replicas;
        stale.extend(active.drain(..extra));
    }
    for pod in &stale {
        let deleted = gc::delete(
            sim,
            known::pods(),
            meta::namespace(pod),
            meta::name(pod),
            &DeleteOptions::default(),
        );
        if deleted.is_ok() {
            let message = format!("Deleted pod: {}", meta::name(pod));
            record_event(
                sim,
                deployment,
                "Normal",
                "SuccessfulDelete",
                &message,
                COMPONENT,
            );
        }
    }
    // The Recreate strategy starts new pods only once every pod of an older template is gone.
    let recreating = meta::str_at(deployment, "spec.strategy.type") == "Recreate"
        && owned.iter().any(|p| !current(p) && !is_terminal(p));
    if !recreating {
        for _ in active.len()..replicas {
            create_pod(sim, deployment, &hash);
        }
    }
    write_status(sim, deployment, &live, &hash, replicas);
}

fn create_pod(sim: &Shared, deployment: &Value, hash: &str) {
    let ns = meta::namespace(deployment);
    let name = meta::name(deployment);
    let template = &deployment["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels[TEMPLATE_HASH] = hash.into();
    let mut pod = json!({
        "metadata": {
            "generateName": format!("{name}-{hash}-"),
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
                "uid": meta::uid(deployment),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": template["spec"].clone(),
    });
    if let Some(annotations) = template["metadata"].get("annotations") {
        pod["metadata"]["annotations"] = annotations.clone();
    }
    let created = crate::api::check_service_account(sim, &pod["spec"], ns, &format!("{name}-"))
        .and_then(|()| {
            sim.store.create(known::pods(), pod, false, |o| {
                crate::validate::admit_create(known::pods(), o)
            })
        });
    match created {
        Ok(created) => record_event(
            sim,
            deployment,
            "Normal",
            "SuccessfulCreate",
            &format!("Created pod: {}", meta::name(&created)),
            COMPONENT,
        ),
        Err(err) => record_event(
            sim,
            deployment,
            "Warning",
            "FailedCreate",
            &format!("Error creating: {}", err.message),
            COMPONENT,
        ),
    }
}

fn condition(
    previous: &Value,
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let old = previous["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind);
    let unchanged = old.is_some_and(|c| c["status"] == status && c["reason"] == reason);
    let transition = match old {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => meta::time(now).into(),
    };
    let update = match old {
        Some(c) if unchanged => c["lastUpdateTime"].clone(),
        _ => meta::time(now).into(),
    };
    json!({
        "type": kind, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": transition, "lastUpdateTime": update,
    })
}

fn write_status(sim: &Shared, deployment: &Value, live: &[&Value], hash: &str, replicas: usize) {
    let now = sim.clock.now();
    let name = meta::name(deployment);
    let updated: Vec<&&Value> = live
        .iter()
        .filter(|p| meta::str_at(p, &format!("metadata.labels.{TEMPLATE_HASH}")) == hash)
        .filter(|p| !is_terminal(p))
        .collect();
    let ready = live.iter().filter(|p| is_ready(p)).count();
    let available = ready >= replicas;
    let complete = updated.len() == replicas && live.len() == replicas && available;
    let rs = format!("{name}-{hash}");
    let (progress_reason, progress_message) = if complete {
        (
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{rs}\" has successfully progressed."),
        )
    } else {
        (
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{rs}\" is progressing."),
        )
    };
    let (available_reason, available_message) = if available {
        (
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let mut status = json!({
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": live.len(),
        "updatedReplicas": updated.len(),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            condition(deployment, "Available", available, available_reason, available_message, now),
            condition(deployment, "Progressing", true, progress_reason, &progress_message, now),
        ],
    });
    if replicas > ready {
        status["unavailableReplicas"] = (replicas - ready).into();
    }
    if deployment["status"] == status {
        return;
    }
    let written = sim.store.update(
        deployments(),
        meta::namespace(deployment),
        name,
        WriteScope::Status,
        false,
        |cur| {
            let mut next = cur.clone();
            next["status"] = status;
            Ok(next)
        },
    );
    if let Err(err) = written {
        tracing::debug!(%err, deployment = name, "could not write a Deployment's status");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hashes_are_stable_and_follow_the_template() {
        let a = json!({"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}});
        let b = json!({"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "c", "image": "x:2"}]}});
        assert_eq!(template_hash(&a), template_hash(&a.clone()));
        assert_ne!(template_hash(&a), template_hash(&b));
        assert_eq!(template_hash(&a).len(), 10);
    }
}
