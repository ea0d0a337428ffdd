//! Unknown-field handling for the objects a worker sends (Jobs, Pods and their templates).
//!
//! The apiserver drops fields its schema does not know and, depending on `fieldValidation`, warns
//! (`Warn`, the default), refuses with 400 (`Strict`, kubectl's default) or says nothing (`Ignore`).
//! Prefect's default Job template, for one, puts `completions` and `parallelism` inside the pod spec,
//! where a cluster drops them. Only the object kinds listed here are checked.

use serde_json::Value;

const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];
const JOB_SPEC: &[&str] = &[
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "podFailurePolicy",
    "successPolicy",
    "backoffLimit",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "selector",
    "manualSelector",
    "template",
    "ttlSecondsAfterFinished",
    "completionMode",
    "suspend",
    "podReplacementPolicy",
    "managedBy",
];
const POD_SPEC: &[&str] = &[
    "volumes",
    "initContainers",
    "containers",
    "ephemeralContainers",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "nodeSelector",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "affinity",
    "schedulerName",
    "tolerations",
    "hostAliases",
    "priorityClassName",
    "priority",
    "dnsConfig",
    "readinessGates",
    "runtimeClassName",
    "enableServiceLinks",
    "preemptionPolicy",
    "overhead",
    "topologySpreadConstraints",
    "setHostnameAsFQDN",
    "os",
    "hostUsers",
    "schedulingGates",
    "resourceClaims",
    "resources",
    "hostnameOverride",
    "workloadRef",
];
const CONTAINER: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "restartPolicyRules",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
];
const TOP: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
const TEMPLATE: &[&str] = &["metadata", "spec"];

fn prune(obj: &mut Value, known: &[&str], path: &str, dropped: &mut Vec<String>) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let unknown: Vec<String> = map
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        map.remove(&key);
        dropped.push(if path.is_empty() {
            key
        } else {
            format!("{path}.{key}")
        });
    }
}

fn prune_pod_spec(spec: &mut Value, path: &str, dropped: &mut Vec<String>) {
    prune(spec, POD_SPEC, path, dropped);
    for field in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(field).and_then(Value::as_array_mut) {
            for (i, c) in cs.iter_mut().enumerate() {
                prune(c, CONTAINER, &format!("{path}.{field}[{i}]"), dropped);
            }
        }
    }
}

/// Drops the fields unknown to the schema of a Job or Pod; returns their paths.
pub fn prune_unknown(kind: &str, obj: &mut Value) -> Vec<String> {
    let mut dropped = Vec::new();
    match kind {
        "Job" => {
            prune(obj, TOP, "", &mut dropped);
            prune(&mut obj["metadata"], OBJECT_META, "metadata", &mut dropped);
            if let Some(spec) = obj.get_mut("spec") {
                prune(spec, JOB_SPEC, "spec", &mut dropped);
                if let Some(t) = spec.get_mut("template") {
                    prune(t, TEMPLATE, "spec.template", &mut dropped);
                    if let Some(m) = t.get_mut("metadata") {
                        prune(m, OBJECT_META, "spec.template.metadata", &mut dropped);
                    }
                    if let Some(s) = t.get_mut("spec") {
                        prune_pod_spec(s, "spec.template.spec", &mut dropped);
                    }
                }
            }
        }
        "Pod" => {
            prune(obj, TOP, "", &mut dropped);
            prune(&mut obj["metadata"], OBJECT_META, "metadata", &mut dropped);
            if let Some(s) = obj.get_mut("spec") {
                prune_pod_spec(s, "spec", &mut dropped);
            }
        }
        _ => {}
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_fields_misplaced_in_the_pod_spec() {
        let mut job = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"completions": 1, "containers": [{"name": "c", "bogus": 1}]}}}});
        let dropped = prune_unknown("Job", &mut job);
        assert_eq!(
            dropped,
            vec![
                "spec.template.spec.completions",
                "spec.template.spec.containers[0].bogus"
            ]
        );
        assert_eq!(
            job["spec"]["template"]["spec"],
            json!({"containers": [{"name": "c"}]})
        );
    }
}
