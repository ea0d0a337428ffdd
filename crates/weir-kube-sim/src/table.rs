//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for.
//!
//! Columns follow what kubectl shows against a cluster for pods and jobs (NAME, READY, STATUS,
//! RESTARTS, AGE; NAME, STATUS, COMPLETIONS, DURATION, AGE), events and nodes; other resources get NAME
//! and AGE.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::meta;
use crate::resources::ResourceType;

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

fn age(created: &str, now: DateTime<Utc>) -> String {
    let Some(t) = meta::parse_time(created) else {
        return "<unknown>".into();
    };
    human(now - t)
}

fn human(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn pod_cells(pod: &Value) -> Vec<Value> {
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = pod["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = statuses
        .iter()
        .filter(|s| s["ready"].as_bool() == Some(true))
        .count();
    let restarts: i64 = statuses
        .iter()
        .map(|s| s["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let mut status = meta::str_at(pod, "status.phase").to_string();
    if let Some(r) = pod["status"]["reason"].as_str() {
        status = r.to_string();
    }
    for s in &statuses {
        if let Some(r) = s["state"]["waiting"]["reason"].as_str() {
            status = r.to_string();
        } else if let Some(r) = s["state"]["terminated"]["reason"].as_str() {
            status = r.to_string();
        }
    }
    if meta::is_deleting(pod) {
        status = "Terminating".into();
    }
    vec![
        format!("{ready}/{total}").into(),
        status.into(),
        restarts.into(),
    ]
}

fn job_cells(job: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let conds = job["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has = |t: &str| {
        conds
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if has("FailureTarget") || has("SuccessCriteriaMet") {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else {
        "Running"
    };
    let completions = format!(
        "{}/{}",
        job["status"]["succeeded"].as_i64().unwrap_or(0),
        job["spec"]["completions"].as_i64().unwrap_or(1)
    );
    let duration = match meta::parse_time(meta::str_at(job, "status.startTime")) {
        Some(start) => {
            let end = meta::parse_time(meta::str_at(job, "status.completionTime")).unwrap_or(now);
            human(end - start)
        }
        None => String::new(),
    };
    vec![status.into(), completions.into(), duration.into()]
}

/// A Table for `items`.
pub fn table(
    rt: &ResourceType,
    items: &[Arc<Value>],
    list_meta: &Value,
    now: DateTime<Utc>,
) -> Value {
    let col = |name: &str, ty: &str, priority: u8| json!({"name": name, "type": ty, "format": if name == "Name" { "name" } else { "" }, "description": name, "priority": priority});
    let columns: Vec<Value> = match rt.plural {
        "pods" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "integer", 0),
            col("Age", "string", 0),
        ],
        "jobs" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Completions", "string", 0),
            col("Duration", "string", 0),
            col("Age", "string", 0),
        ],
        "events" => vec![
            col("Last Seen", "string", 0),
            col("Type", "string", 0),
            col("Reason", "string", 0),
            col("Object", "string", 0),
            col("Message", "string", 0),
            col("Name", "string", 1),
        ],
        "nodes" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Roles", "string", 0),
            col("Age", "string", 0),
            col("Version", "string", 0),
        ],
        _ => vec![col("Name", "string", 0), col("Age", "string", 0)],
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let name = Value::from(meta::name(obj));
            let created = age(meta::str_at(obj, "metadata.creationTimestamp"), now);
            let cells: Vec<Value> = match rt.plural {
                "pods" => [vec![name], pod_cells(obj), vec![created.into()]].concat(),
                "jobs" => [vec![name], job_cells(obj, now), vec![created.into()]].concat(),
                "events" => {
                    let involved = obj
                        .get("involvedObject")
                        .or_else(|| obj.get("regarding"))
                        .cloned()
                        .unwrap_or_default();
                    let object = format!(
                        "{}/{}",
                        meta::str_at(&involved, "kind").to_lowercase(),
                        meta::str_at(&involved, "name")
                    );
                    let last = obj
                        .get("lastTimestamp")
                        .or_else(|| obj.get("deprecatedLastTimestamp"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let message = obj
                        .get("message")
                        .or_else(|| obj.get("note"))
                        .cloned()
                        .unwrap_or_default();
                    vec![
                        age(last, now).into(),
                        obj["type"].clone(),
                        obj["reason"].clone(),
                        object.into(),
                        message,
                        name,
                    ]
                }
                "nodes" => vec![
                    name,
                    "Ready".into(),
                    "<none>".into(),
                    created.into(),
                    meta::str_at(obj, "status.nodeInfo.kubeletVersion").into(),
                ],
                _ => vec![name, created.into()],
            };
            let partial = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"].clone(),
            });
            json!({"cells": cells, "object": partial})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}
