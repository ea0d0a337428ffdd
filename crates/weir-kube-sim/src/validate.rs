//! Admission: defaulting and validation of the objects clients send.
//!
//! Covers what a Job-submitting worker sends (names, labels, pod templates, restart policies,
//! containers, resource quantities, Job immutability) and the defaults the apiserver fills in, so a
//! client reading its object back sees what a cluster would return. Everything else is stored as sent.

use serde_json::{json, Map, Value};

use crate::error::{ApiError, FieldError, Result};
use crate::meta;
use crate::resources::ResourceType;

const MAX_SUBDOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SUBDOMAIN && s.split('.').all(is_dns_label)
}

fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= MAX_LABEL
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

fn is_qualified_name(s: &str) -> bool {
    let name = match s.rsplit_once('/') {
        Some((prefix, name)) => {
            if !is_dns_subdomain(prefix) {
                return false;
            }
            name
        }
        None => s,
    };
    !name.is_empty() && is_label_value(name)
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Checks a parsed quantity string such as `500m`, `1Gi` or `1e3`.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * mult)
}

/// Validates `metadata` of an object about to be created or updated.
pub fn validate_metadata(rt: &ResourceType, obj: &Value, errs: &mut Vec<FieldError>) {
    let name = meta::name(obj);
    if !name.is_empty() {
        let label_only = matches!(rt.plural, "namespaces" | "services");
        let ok = if label_only {
            is_dns_label(name)
        } else {
            is_dns_subdomain(name)
        };
        if !ok {
            let msg = if label_only { LABEL_MSG } else { SUBDOMAIN_MSG };
            errs.push(FieldError::invalid(
                "metadata.name",
                &Value::from(name),
                msg,
            ));
        } else if rt.plural == "jobs" && name.len() > MAX_LABEL {
            errs.push(FieldError::invalid(
                "metadata.name",
                &Value::from(name),
                "must be no more than 63 characters",
            ));
        }
    }
    for (k, v) in meta::labels(obj) {
        if !is_qualified_name(k) {
            errs.push(FieldError::invalid("metadata.labels", &Value::from(k), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
        }
        if !is_label_value(v) {
            errs.push(FieldError::invalid("metadata.labels", &Value::from(v), "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
        }
    }
}

fn default_container(c: &mut Value) {
    let image = meta::str_at(c, "image").to_string();
    let Some(m) = c.as_object_mut() else { return };
    m.entry("terminationMessagePath")
        .or_insert_with(|| "/dev/termination-log".into());
    m.entry("terminationMessagePolicy")
        .or_insert_with(|| "File".into());
    m.entry("resources").or_insert_with(|| json!({}));
    let tag = image
        .rsplit('/')
        .next()
        .unwrap_or("")
        .split_once(':')
        .map(|(_, t)| t.to_string());
    let policy = if image.contains('@') || tag.as_deref().is_some_and(|t| t != "latest") {
        "IfNotPresent"
    } else {
        "Always"
    };
    m.entry("imagePullPolicy").or_insert_with(|| policy.into());
}

/// Fills in the defaults of a pod spec.
pub fn default_pod_spec(spec: &mut Value, restart_default: &str) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    m.entry("restartPolicy")
        .or_insert_with(|| restart_default.into());
    m.entry("terminationGracePeriodSeconds")
        .or_insert_with(|| 30.into());
    m.entry("dnsPolicy")
        .or_insert_with(|| "ClusterFirst".into());
    m.entry("schedulerName")
        .or_insert_with(|| "default-scheduler".into());
    m.entry("securityContext").or_insert_with(|| json!({}));
    for field in ["containers", "initContainers"] {
        if let Some(cs) = m.get_mut(field).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(default_container);
        }
    }
}

/// Validates a pod spec at `path`; `job` restricts the restart policy to `Never`/`OnFailure`.
pub fn validate_pod_spec(spec: &Value, path: &str, job: bool, errs: &mut Vec<FieldError>) {
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => errs.push(FieldError::required(format!("{path}.containers"), "")),
        Some(cs) if cs.is_empty() => {
            errs.push(FieldError::required(format!("{path}.containers"), ""))
        }
        Some(_) => {}
    }
    let mut seen = Vec::new();
    for field in ["initContainers", "containers"] {
        for (i, c) in spec
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("{path}.{field}[{i}]");
            let name = meta::str_at(c, "name");
            if name.is_empty() {
                errs.push(FieldError::required(format!("{at}.name"), ""));
            } else if !is_dns_label(name) {
                errs.push(FieldError::invalid(
                    format!("{at}.name"),
                    &Value::from(name),
                    LABEL_MSG,
                ));
            } else if seen.contains(&name) {
                errs.push(FieldError {
                    reason: "FieldValueDuplicate",
                    field: format!("{at}.name"),
                    message: format!("Duplicate value: \"{name}\""),
                });
            }
            seen.push(name);
            if meta::str_at(c, "image").trim().is_empty() {
                errs.push(FieldError::required(format!("{at}.image"), ""));
            }
            validate_resources(c.get("resources"), &format!("{at}.resources"), errs);
        }
    }
    let restart = spec.get("restartPolicy").cloned().unwrap_or(Value::Null);
    let allowed: &[&str] = if job {
        &["OnFailure", "Never"]
    } else {
        &["Always", "OnFailure", "Never"]
    };
    match restart.as_str() {
        Some(r) if allowed.contains(&r) => {}
        None if !job => {}
        _ => errs.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            &restart,
            allowed,
        )),
    }
}

fn validate_resources(res: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(res) = res else { return };
    let mut parsed: [Map<String, Value>; 2] = Default::default();
    for (slot, field) in ["limits", "requests"].iter().enumerate() {
        for (k, v) in res
            .get(*field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            match parse_quantity(&text) {
                Some(q) if q >= 0.0 => {
                    parsed[slot].insert(k.clone(), q.into());
                }
                Some(_) => errs.push(FieldError::invalid(format!("{path}.{field}[{k}]"), v, "must be greater than or equal to 0")),
                None => errs.push(FieldError::invalid(format!("{path}.{field}[{k}]"), v, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")),
            }
        }
    }
    for (k, req) in &parsed[1] {
        if let (Some(lim), Some(req)) = (parsed[0].get(k).and_then(Value::as_f64), req.as_f64()) {
            if req > lim {
                let v = res["requests"][k].clone();
                errs.push(FieldError::invalid(
                    format!("{path}.requests"),
                    &v,
                    &format!(
                        "must be less than or equal to {k} limit of {}",
                        res["limits"][k].as_str().unwrap_or("")
                    ),
                ));
            }
        }
    }
}

/// The QoS class of a pod spec: Guaranteed when every container's cpu and memory requests equal its
/// limits, BestEffort when nothing is requested or limited, Burstable otherwise.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let set = |c: &Value, kind: &str| {
        c["resources"][kind]
            .as_object()
            .is_some_and(|m| !m.is_empty())
    };
    if containers
        .iter()
        .all(|c| !set(c, "requests") && !set(c, "limits"))
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = c["resources"]["limits"][*r]
                .as_str()
                .and_then(parse_quantity);
            let request = c["resources"]["requests"][*r]
                .as_str()
                .and_then(parse_quantity)
                .or(limit);
            limit.is_some() && limit == request
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Defaults and validates an object on create. Runs after the store assigned name and uid.
pub fn admit_create(rt: &ResourceType, obj: &mut Value) -> Result<()> {
    let mut errs = Vec::new();
    validate_metadata(rt, obj, &mut errs);
    match (rt.group, rt.plural) {
        ("batch", "jobs") => {
            obj["status"] = json!({});
            default_job(obj);
            validate_pod_spec(
                &obj["spec"]["template"]["spec"],
                "spec.template.spec",
                true,
                &mut errs,
            );
            validate_job_counts(obj, &mut errs);
        }
        ("", "pods") => {
            default_pod_spec(&mut obj["spec"], "Always");
            let spec = obj["spec"].as_object_mut();
            if let Some(spec) = spec {
                spec.entry("serviceAccountName")
                    .or_insert_with(|| "default".into());
                spec.entry("enableServiceLinks")
                    .or_insert_with(|| true.into());
                spec.entry("priority").or_insert_with(|| 0.into());
            }
            validate_pod_spec(&obj["spec"], "spec", false, &mut errs);
            let qos = qos_class(&obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        ("apps", "deployments") => {
            let spec = &mut obj["spec"];
            if let Some(m) = spec.as_object_mut() {
                m.entry("replicas").or_insert_with(|| 1.into());
                m.entry("revisionHistoryLimit").or_insert_with(|| 10.into());
                m.entry("progressDeadlineSeconds")
                    .or_insert_with(|| 600.into());
            }
            default_pod_spec(&mut spec["template"]["spec"], "Always");
            validate_pod_spec(
                &spec["template"]["spec"],
                "spec.template.spec",
                false,
                &mut errs,
            );
            validate_deployment_selector(spec, &mut errs);
        }
        ("", "namespaces") => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            let name = meta::name(obj).to_string();
            meta::meta_map_mut(obj, "labels")
                .insert("kubernetes.io/metadata.name".into(), name.into());
        }
        ("", "secrets") if obj.get("type").is_none() => {
            obj["type"] = "Opaque".into();
        }
        ("", "services") => {
            if let Some(m) = obj["spec"].as_object_mut() {
                m.entry("type").or_insert_with(|| "ClusterIP".into());
                let ip = format!(
                    "10.96.{}.{}",
                    rand::random::<u8>(),
                    1 + rand::random::<u8>() % 254
                );
                m.entry("clusterIP").or_insert_with(|| ip.into());
            }
        }
        _ => {}
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rt, meta::name(obj), &errs))
    }
}

/// A Deployment needs a selector, and its template's labels must match it.
fn validate_deployment_selector(spec: &Value, errs: &mut Vec<FieldError>) {
    let Some(wanted) = spec["selector"]["matchLabels"].as_object() else {
        if spec["selector"]["matchExpressions"].is_null() {
            errs.push(FieldError::required("spec.selector", ""));
        }
        return;
    };
    let labels = &spec["template"]["metadata"]["labels"];
    if wanted.iter().any(|(k, v)| labels.get(k) != Some(v)) {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            labels,
            "`selector` does not match template `labels`",
        ));
    }
}

fn validate_job_counts(job: &Value, errs: &mut Vec<FieldError>) {
    for field in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ] {
        if let Some(v) = job["spec"].get(field) {
            let ok = v.as_i64().is_some_and(|n| {
                if field == "activeDeadlineSeconds" {
                    n > 0
                } else {
                    n >= 0
                }
            });
            if !v.is_null() && !ok {
                let detail = if field == "activeDeadlineSeconds" {
                    "must be greater than 0"
                } else {
                    "must be greater than or equal to 0"
                };
                errs.push(FieldError::invalid(format!("spec.{field}"), v, detail));
            }
        }
    }
}

/// Fills in the Job defaults, its selector and its template labels.
pub fn default_job(job: &mut Value) {
    let uid = meta::uid(job).to_string();
    let name = meta::name(job).to_string();
    let spec = &mut job["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    let completions_set = m.get("completions").is_some_and(|v| !v.is_null());
    let parallelism_set = m.get("parallelism").is_some_and(|v| !v.is_null());
    if !completions_set && !parallelism_set {
        m.insert("completions".into(), 1.into());
    }
    m.entry("parallelism").or_insert_with(|| 1.into());
    m.entry("backoffLimit").or_insert_with(|| 6.into());
    m.entry("completionMode")
        .or_insert_with(|| "NonIndexed".into());
    m.entry("suspend").or_insert_with(|| false.into());
    if m.get("podFailurePolicy").is_none() {
        m.entry("podReplacementPolicy")
            .or_insert_with(|| "TerminatingOrFailed".into());
    }
    let manual = m.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual {
        m.insert(
            "selector".into(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
    let template = m.entry("template").or_insert_with(|| json!({}));
    let labels = meta::meta_map_mut(template, "labels");
    labels.insert(
        "batch.kubernetes.io/controller-uid".into(),
        uid.clone().into(),
    );
    labels.insert("batch.kubernetes.io/job-name".into(), name.clone().into());
    labels.insert("controller-uid".into(), uid.into());
    labels.insert("job-name".into(), name.into());
    default_pod_spec(&mut template["spec"], "Never");
}

/// Validates an update against the stored object: immutable fields and the rules of create.
pub fn admit_update(rt: &ResourceType, old: &Value, new: &mut Value) -> Result<()> {
    let mut errs = Vec::new();
    validate_metadata(rt, new, &mut errs);
    match (rt.group, rt.plural) {
        ("batch", "jobs") => {
            // Defaults are re-applied so an update that omits them does not look like a change.
            let mut candidate = new.clone();
            meta::metadata_mut(&mut candidate).insert("uid".into(), meta::uid(old).into());
            default_job(&mut candidate);
            for field in ["template", "selector", "completions", "completionMode"] {
                if candidate["spec"].get(field) != old["spec"].get(field) {
                    errs.push(FieldError::invalid(
                        format!("spec.{field}"),
                        &candidate["spec"][field],
                        "field is immutable",
                    ));
                }
            }
            *new = candidate;
        }
        ("", "pods") => {
            let mut filled = new["spec"].clone();
            default_pod_spec(&mut filled, "Always");
            if let (Some(old_spec), Some(m)) = (old["spec"].as_object(), filled.as_object_mut()) {
                for k in [
                    "serviceAccountName",
                    "serviceAccount",
                    "enableServiceLinks",
                    "priority",
                    "nodeName",
                ] {
                    if let (false, Some(v)) = (m.contains_key(k), old_spec.get(k)) {
                        m.insert(k.into(), v.clone());
                    }
                }
            }
            let strip = |spec: &Value| {
                let mut s = spec.clone();
                if let Some(m) = s.as_object_mut() {
                    m.remove("activeDeadlineSeconds");
                    m.remove("tolerations");
                    for c in m
                        .get_mut("containers")
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(c) = c.as_object_mut() {
                            c.remove("image");
                        }
                    }
                }
                s
            };
            if strip(&old["spec"]) != strip(&filled) {
                errs.push(FieldError::forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
            }
            new["spec"] = filled;
        }
        _ => {}
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rt, meta::name(old), &errs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("12x"), None);
    }

    #[test]
    fn qos_classes() {
        let spec =
            |res: Value| json!({"containers": [{"name": "c", "image": "i", "resources": res}]});
        assert_eq!(qos_class(&spec(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&spec(json!({"requests": {"cpu": "500m"}}))),
            "Burstable"
        );
        assert_eq!(
            qos_class(&spec(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
    }

    #[test]
    fn names() {
        assert!(is_dns_subdomain("a.b-c"));
        assert!(!is_dns_subdomain("Upper"));
        assert!(!is_dns_label("a.b"));
        assert!(is_qualified_name("batch.kubernetes.io/job-name"));
    }
}
