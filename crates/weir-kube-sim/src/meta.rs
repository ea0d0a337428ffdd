//! Small accessors for the `metadata` of objects held as `serde_json::Value`.
//!
//! The simulator keeps every object untyped, so these helpers are the one place that knows where
//! names, labels, finalizers and owner references live.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// The string at a dotted path, or `""`.
pub fn str_at<'a>(obj: &'a Value, path: &str) -> &'a str {
    value_at(obj, path).and_then(Value::as_str).unwrap_or("")
}

/// The value at a dotted path.
pub fn value_at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// `metadata.name`.
pub fn name(obj: &Value) -> &str {
    str_at(obj, "metadata.name")
}

/// `metadata.namespace`.
pub fn namespace(obj: &Value) -> &str {
    str_at(obj, "metadata.namespace")
}

/// `metadata.uid`.
pub fn uid(obj: &Value) -> &str {
    str_at(obj, "metadata.uid")
}

/// `metadata.resourceVersion`.
pub fn resource_version(obj: &Value) -> &str {
    str_at(obj, "metadata.resourceVersion")
}

/// The `metadata` map, created if absent.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("just made an object"));
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
        .unwrap_or_else(|| unreachable!("just made an object"))
}

/// A map-valued field inside `metadata` (labels, annotations), created if absent.
pub fn meta_map_mut<'a>(obj: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    let meta = metadata_mut(obj);
    let entry = meta
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("just made an object"))
}

/// `metadata.labels` as pairs.
pub fn labels(obj: &Value) -> Vec<(&str, &str)> {
    string_map(obj.get("metadata").and_then(|m| m.get("labels")))
}

/// A `{string: string}` map as pairs.
pub fn string_map(map: Option<&Value>) -> Vec<(&str, &str)> {
    map.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.annotations[key]`.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces `metadata.finalizers`, removing the field when empty.
pub fn set_finalizers(obj: &mut Value, finalizers: Vec<String>) {
    let meta = metadata_mut(obj);
    if finalizers.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), Value::from(finalizers));
    }
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|v| !v.is_null())
}

/// `metadata.ownerReferences`.
pub fn owner_refs(obj: &Value) -> Vec<Value> {
    obj.get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The uids named by `metadata.ownerReferences`, without copying them.
pub fn owner_uids(obj: &Value) -> Vec<&str> {
    obj.get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The owner reference marked `controller: true`.
pub fn controller_ref(obj: &Value) -> Option<Value> {
    owner_refs(obj)
        .into_iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

/// An RFC 3339 timestamp in whole seconds, the format of `metav1.Time`.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An RFC 3339 timestamp with microseconds, the format of `metav1.MicroTime`.
pub fn micro_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a `metav1.Time`.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Five random lowercase alphanumerics, as generateName appends.
pub fn random_suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}
