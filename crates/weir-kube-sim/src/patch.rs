//! The patch formats of `PATCH` requests: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a
//! basic strategic merge patch.
//!
//! The strategic merge merges lists of objects by their key field (`name` for containers, env,
//! volumes and ports, `type` for conditions, `uid` for owner references) and honours the
//! `$patch: delete`/`$patch: replace` directives; other lists are replaced, as in a merge patch.
//! Server-side apply (`application/apply-patch+yaml`) is treated as a merge patch of a JSON body.

use serde_json::{Map, Value};

use crate::error::{ApiError, Result};

/// The patch formats understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (JSON bodies only).
    Apply,
}

impl PatchKind {
    /// The patch kind for a `Content-Type`.
    pub fn from_content_type(ct: &str) -> Result<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Applies `patch` of `kind` to `target`.
pub fn apply(kind: PatchKind, target: &Value, patch: &Value) -> Result<Value> {
    match kind {
        PatchKind::Merge | PatchKind::Apply => Ok(merge(target.clone(), patch)),
        PatchKind::Strategic => Ok(strategic(target.clone(), patch, "")),
        PatchKind::Json => json_patch(target.clone(), patch),
    }
}

/// RFC 7386 merge.
pub fn merge(mut target: Value, patch: &Value) -> Value {
    let Value::Object(patch_map) = patch else {
        return patch.clone();
    };
    if !target.is_object() {
        target = Value::Object(Map::new());
    }
    let map = target
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("made an object above"));
    for (k, v) in patch_map {
        if v.is_null() {
            map.remove(k);
        } else {
            let old = map.remove(k).unwrap_or(Value::Null);
            map.insert(k.clone(), merge(old, v));
        }
    }
    target
}

fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "ports"
        | "containerStatuses"
        | "initContainerStatuses" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

fn strategic(mut target: Value, patch: &Value, field: &str) -> Value {
    let Value::Object(patch_map) = patch else {
        return patch.clone();
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = patch_map.clone();
        p.remove("$patch");
        return Value::Object(p);
    }
    if !target.is_object() {
        target = Value::Object(Map::new());
    }
    let map = target
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("made an object above"));
    for (k, v) in patch_map {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            map.remove(k);
            continue;
        }
        let old = map.remove(k).unwrap_or(Value::Null);
        let merged = match (old, v) {
            (Value::Array(old_items), Value::Array(new_items)) => {
                if let Some(key) = merge_key(k) {
                    Value::Array(merge_list(old_items, new_items, key))
                } else if k == "finalizers" && field == "metadata" {
                    let mut all = old_items;
                    for item in new_items {
                        if !all.contains(item) {
                            all.push(item.clone());
                        }
                    }
                    Value::Array(all)
                } else {
                    Value::Array(new_items.clone())
                }
            }
            (old, v) => strategic(old, v, k),
        };
        map.insert(k.clone(), merged);
    }
    target
}

fn merge_list(mut old: Vec<Value>, patch: &[Value], key: &str) -> Vec<Value> {
    for item in patch {
        let id = item.get(key).cloned();
        let pos = id
            .as_ref()
            .and_then(|id| old.iter().position(|o| o.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                old.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => {
                let existing = std::mem::take(&mut old[i]);
                old[i] = strategic(existing, item, "");
            }
            (None, false) => old.push(strategic(Value::Null, item, "")),
        }
    }
    old
}

fn pointer_parts(path: &str) -> Result<Vec<String>> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent_mut<'a>(root: &'a mut Value, parts: &[String]) -> Result<&'a mut Value> {
    let mut cur = root;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get_mut(p),
            Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| ApiError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: path {p:?} not found")))?;
    }
    Ok(cur)
}

fn op_add(root: &mut Value, path: &str, value: Value) -> Result<()> {
    let parts = pointer_parts(path)?;
    let Some((last, parents)) = parts.split_last() else {
        *root = value;
        return Ok(());
    };
    match parent_mut(root, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let idx = if last == "-" {
                a.len()
            } else {
                last.parse().unwrap_or(usize::MAX)
            };
            if idx > a.len() {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!("index {last} out of range"),
                ));
            }
            a.insert(idx, value);
        }
        _ => {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!("cannot add at {path}"),
            ))
        }
    }
    Ok(())
}

fn op_remove(root: &mut Value, path: &str) -> Result<Value> {
    let parts = pointer_parts(path)?;
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| ApiError::new(422, "Invalid", "cannot remove the root"))?;
    let removed = match parent_mut(root, parents)? {
        Value::Object(m) => m.remove(last),
        Value::Array(a) => last
            .parse::<usize>()
            .ok()
            .filter(|i| *i < a.len())
            .map(|i| a.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| ApiError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: path {path} not found")))
}

/// RFC 6902 JSON patch.
pub fn json_patch(mut target: Value, patch: &Value) -> Result<Value> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        match op.get("op").and_then(Value::as_str).unwrap_or("") {
            "add" => op_add(&mut target, path, value)?,
            "remove" => {
                op_remove(&mut target, path)?;
            }
            "replace" => {
                op_remove(&mut target, path)?;
                op_add(&mut target, path, value)?;
            }
            "move" | "copy" => {
                let from = op.get("from").and_then(Value::as_str).unwrap_or("");
                let moved = if op["op"] == "move" {
                    op_remove(&mut target, from)?
                } else {
                    target.pointer(from).cloned().ok_or_else(|| {
                        ApiError::new(422, "Invalid", format!("path {from} not found"))
                    })?
                };
                op_add(&mut target, path, moved)?;
            }
            "test" => {
                if target.pointer(path) != Some(&value) {
                    return Err(ApiError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: testing value {path} failed")));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown json patch operation {other:?}"
                )))
            }
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_nulls() {
        let out = merge(
            json!({"a": 1, "b": {"c": 2, "d": 3}}),
            &json!({"b": {"c": null}, "e": [1]}),
        );
        assert_eq!(out, json!({"a": 1, "b": {"d": 3}, "e": [1]}));
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let target = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let patch = json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "a", "$patch": "delete"}]}});
        let out = strategic(target, &patch, "");
        assert_eq!(
            out,
            json!({"spec": {"containers": [{"name": "b", "image": "z"}]}})
        );
    }

    #[test]
    fn json_patch_ops() {
        let out = json_patch(
            json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]}),
            &json!([
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "replace", "path": "/list/0", "value": 9},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "test", "path": "/list/1", "value": 2}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2"}}, "list": [9, 2, 3]})
        );
        assert!(json_patch(
            json!({}),
            &json!([{"op": "test", "path": "/x", "value": 1}])
        )
        .is_err());
    }
}
