//! Label and field selectors, as sent in `labelSelector` and `fieldSelector`.
//!
//! Parsing follows the string grammar of the API (`a=b,c!=d,e in (f,g),!h`). Matching works on
//! untyped objects; field selectors are checked against the fields each resource type supports.

use serde_json::Value;

use crate::error::{ApiError, Result};
use crate::meta;
use crate::resources::ResourceType;

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default)]
pub struct LabelSelector(Vec<LabelReq>);

impl LabelSelector {
    /// Parses the `labelSelector` query string.
    pub fn parse(s: &str) -> Result<Self> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_label_req(part).ok_or_else(|| {
                ApiError::bad_request(format!("unable to parse requirement: {part:?}"))
            })?);
        }
        Ok(LabelSelector(reqs))
    }

    /// A selector from a `matchLabels`/`matchExpressions` object, as Jobs and Deployments carry.
    pub fn from_object(sel: &Value) -> Self {
        let mut reqs = Vec::new();
        for (k, v) in meta::string_map(sel.get("matchLabels")) {
            reqs.push(LabelReq::Eq(k.to_string(), v.to_string()));
        }
        for expr in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = meta::str_at(expr, "key").to_string();
            let values: Vec<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            reqs.push(match meta::str_at(expr, "operator") {
                "In" => LabelReq::In(key, values),
                "NotIn" => LabelReq::NotIn(key, values),
                "Exists" => LabelReq::Exists(key),
                _ => LabelReq::NotExists(key),
            });
        }
        LabelSelector(reqs)
    }

    /// Whether the labels of `obj` satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = meta::labels(obj);
        let get = |k: &str| labels.iter().find(|(lk, _)| *lk == k).map(|(_, v)| *v);
        self.0.iter().all(|req| match req {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }

    /// Whether the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

fn parse_label_req(part: &str) -> Option<LabelReq> {
    if let Some(key) = part.strip_prefix('!') {
        return Some(LabelReq::NotExists(key.trim().to_string()));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Some(LabelReq::NotEq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Some(LabelReq::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Some(LabelReq::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, rest)) = part.split_once(" notin ") {
        return Some(LabelReq::NotIn(k.trim().into(), parse_set(rest)?));
    }
    if let Some((k, rest)) = part.split_once(" in ") {
        return Some(LabelReq::In(k.trim().into(), parse_set(rest)?));
    }
    let key = part.trim();
    if key.contains(' ') || key.contains('(') {
        return None;
    }
    Some(LabelReq::Exists(key.to_string()))
}

/// A parsed field selector; empty matches everything.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses `fieldSelector` and checks each field is supported for `rt`.
    pub fn parse(s: &str, rt: &ResourceType) -> Result<Self> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, eq, value) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !rt.fields.contains(&field)
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            reqs.push((field.to_string(), eq, value.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether `obj` satisfies every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, eq, want)| {
            let actual = field_value(obj, field);
            (actual == *want) == *eq
        })
    }

    /// The value required for `metadata.name`, if the selector pins one.
    pub fn pinned_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, eq, _)| f == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }
}

fn field_value(obj: &Value, field: &str) -> String {
    match field {
        "status.successful" => obj["status"]["succeeded"].as_i64().unwrap_or(0).to_string(),
        "source" => meta::str_at(obj, "source.component").to_string(),
        "spec.unschedulable" => obj["spec"]["unschedulable"]
            .as_bool()
            .unwrap_or(false)
            .to_string(),
        _ => match meta::value_at(obj, field) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_grammar() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "db"}}});
        for (sel, want) in [
            ("app=web", true),
            ("app==web,tier=db", true),
            ("app!=web", false),
            ("app in (web, api)", true),
            ("tier notin (db)", false),
            ("app", true),
            ("!missing", true),
            ("!app", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&obj),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn field_selector_rejects_unknown_fields() {
        let pods = crate::resources::known::pods();
        assert!(FieldSelector::parse("status.phase=Running", pods).is_ok());
        let err = FieldSelector::parse("spec.bogus=1", pods).unwrap_err();
        assert_eq!(err.code, 400);
    }
}
