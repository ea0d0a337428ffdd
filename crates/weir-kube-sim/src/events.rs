//! Conversion between core/v1 and events.k8s.io/v1 Events.
//!
//! Both API groups serve the same stored events, as on a real cluster: objects are stored in the
//! core/v1 shape and converted on the way in and out of `events.k8s.io/v1` (`involvedObject` ↔
//! `regarding`, `message` ↔ `note`, `reportingComponent` ↔ `reportingController`, `source`,
//! `firstTimestamp`, `lastTimestamp` and `count` ↔ their `deprecated*` forms).

use serde_json::{Map, Value};

const PAIRS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

const SHARED: &[&str] = &[
    "metadata",
    "eventTime",
    "series",
    "reportingInstance",
    "action",
    "reason",
    "related",
    "type",
];

fn rename(obj: &Value, from_core: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for key in SHARED {
        if let Some(v) = obj.get(*key) {
            out.insert((*key).into(), v.clone());
        }
    }
    for (core, v1) in PAIRS {
        let (src, dst) = if from_core { (core, v1) } else { (v1, core) };
        if let Some(v) = obj.get(*src) {
            out.insert((*dst).into(), v.clone());
        }
    }
    out
}

/// A stored (core/v1) event as events.k8s.io/v1 shows it.
pub fn to_v1(core: &Value) -> Value {
    if core["kind"] != "Event" {
        return core.clone();
    }
    let mut out = rename(core, true);
    out.insert("apiVersion".into(), "events.k8s.io/v1".into());
    out.insert("kind".into(), "Event".into());
    Value::Object(out)
}

/// An events.k8s.io/v1 event in the stored core/v1 shape.
pub fn to_core(v1: &Value) -> Value {
    let mut out = rename(v1, false);
    out.insert("apiVersion".into(), "v1".into());
    out.insert("kind".into(), "Event".into());
    Value::Object(out)
}

/// A field selector written against events.k8s.io/v1 fields, rewritten for core/v1 fields.
pub fn core_field_selector(selector: &str) -> String {
    selector
        .replace("regarding.", "involvedObject.")
        .replace("reportingController", "reportingComponent")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"name": "p"}, "message": "m", "reason": "R", "count": 2});
        let v1 = to_v1(&core);
        assert_eq!(v1["regarding"]["name"], "p");
        assert_eq!(v1["note"], "m");
        assert_eq!(v1["deprecatedCount"], 2);
        assert_eq!(to_core(&v1), core);
    }
}
