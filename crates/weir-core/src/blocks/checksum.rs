//! Block schema checksums, computed the way Prefect computes them, so a schema registered by the
//! Python client and the same schema seeded by Weir share one checksum.
//!
//! The checksum is `sha256:` and the hex SHA-256 of Python's `json.dumps(((fields,), {}),
//! sort_keys=True)`, where `fields` is the schema without any `secret_fields` key (at any depth)
//! and with `definitions` cut down to those that are not blocks and that the schema reaches.
//! [`python_json`] reproduces Python's output byte for byte: `", "` and `": "` separators, sorted
//! keys, non-ASCII escaped as `\uXXXX`, and floats in Python's `repr`.
//!
//! This module also derives a nested schema's fields from its parent's `definitions`, which is how
//! a schema's referenced schemas get registered along with it.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The checksum of a block schema's `fields`.
pub fn schema_checksum(fields: &Map<String, Value>) -> String {
    let mut fields = without_key(&Value::Object(fields.clone()), "secret_fields");
    if let Some(object) = fields.as_object_mut() {
        let definitions = object
            .get("definitions")
            .and_then(Value::as_object)
            .cloned();
        if let Some(definitions) = definitions.filter(|d| !d.is_empty()) {
            let kept = non_block_definitions(&Value::Object(object.clone()), &definitions);
            if kept.is_empty() {
                object.remove("definitions");
            } else {
                object.insert("definitions".into(), Value::Object(kept));
            }
        }
    }
    let hashed = Value::Array(vec![Value::Array(vec![fields]), Value::Object(Map::new())]);
    let digest = Sha256::digest(python_json(&hashed).as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// `value` without any object key named `key`, at any depth (arrays are left as they are, as
/// Prefect's helper does).
fn without_key(value: &Value, key: &str) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(k, _)| k.as_str() != key)
                .map(|(k, v)| (k.clone(), without_key(v, key)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every `$ref` string under `value`, in document order.
pub fn reference_strings(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_references(value, &mut found);
    found
}

fn collect_references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                found.push(reference.clone());
            }
            for child in object.values() {
                collect_references(child, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_references(item, found);
            }
        }
        _ => {}
    }
}

fn definition_key(reference: &str) -> &str {
    reference
        .strip_prefix("#/definitions/")
        .unwrap_or(reference)
}

/// The definitions reached from `value` (through other definitions too) that are not blocks
/// (have no `block_type_slug`).
pub fn non_block_definitions(
    value: &Value,
    definitions: &Map<String, Value>,
) -> Map<String, Value> {
    let mut kept = Map::new();
    let mut pending = reference_strings(value);
    while let Some(reference) = pending.pop() {
        let key = definition_key(&reference);
        if kept.contains_key(key) {
            continue;
        }
        if let Some(definition) = definitions.get(key) {
            if definition.get("block_type_slug").is_none() {
                kept.insert(key.to_owned(), definition.clone());
                pending.extend(reference_strings(definition));
            }
        }
    }
    kept
}

/// The definitions reached from `value`, blocks included (what a nested schema keeps of its
/// parent's definitions).
pub fn reachable_definitions(
    value: &Value,
    definitions: &Map<String, Value>,
) -> Map<String, Value> {
    let mut kept = Map::new();
    let mut pending = reference_strings(value);
    while let Some(reference) = pending.pop() {
        let key = definition_key(&reference);
        if kept.contains_key(key) {
            continue;
        }
        if let Some(definition) = definitions.get(key) {
            kept.insert(key.to_owned(), definition.clone());
            pending.extend(reference_strings(definition));
        }
    }
    kept
}

/// The fields of the schema nested under property `property` of `parent`, taken from
/// `definitions`: the one definition the property refers to, or among several (a union) the one
/// whose `block_type_slug` is `slug`. The result carries the definitions it reaches.
pub fn nested_schema_fields(
    parent: &Map<String, Value>,
    definitions: &Map<String, Value>,
    property: &str,
    slug: &str,
) -> Option<Map<String, Value>> {
    let spec = parent.get("properties")?.get(property)?;
    let references = reference_strings(spec);
    let chosen = if references.len() == 1 {
        definitions.get(definition_key(&references[0]))
    } else {
        references
            .iter()
            .filter_map(|r| definitions.get(definition_key(r)))
            .find(|d| d.get("block_type_slug").and_then(Value::as_str) == Some(slug))
    };
    let mut fields = chosen?.as_object()?.clone();
    let reached = reachable_definitions(&Value::Object(fields.clone()), definitions);
    if !reached.is_empty() {
        fields.insert("definitions".into(), Value::Object(reached));
    }
    Some(fields)
}

/// `value` as Python's `json.dumps(value, sort_keys=True)` writes it.
pub fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_python(value, &mut out);
    out
}

fn write_python(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(int), _, _) => out.push_str(&int.to_string()),
            (_, Some(int), _) => out.push_str(&int.to_string()),
            (_, _, Some(float)) => out.push_str(&python_float(float)),
            _ => out.push_str(&number.to_string()),
        },
        Value::String(text) => write_python_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python(item, out);
            }
            out.push(']');
        }
        Value::Object(object) => {
            // UTF-8 byte order is code point order, which is how Python sorts `str` keys.
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_string(key, out);
                out.push_str(": ");
                write_python(&object[key], out);
            }
            out.push('}');
        }
    }
}

/// A string the way `json.dumps` writes it with `ensure_ascii=True`.
fn write_python_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// A float as Python's `repr` writes it: the shortest digits that read back the same, in
/// positional notation for exponents from -4 to 15 (with `.0` when whole), else `1.5e+16`.
fn python_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. `-1.25e-5`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if (point as usize) >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (whole, fraction) = digits.split_at(point as usize);
            format!("{whole}.{fraction}")
        };
        format!("{sign}{text}")
    } else {
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exponent_sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_json_matches_json_dumps() {
        let value = json!({"b": [1, 2.5, null, true], "a": {"é": "ü\n\"\\\u{1F600}"}, "c": {}});
        assert_eq!(
            python_json(&value),
            r#"{"a": {"\u00e9": "\u00fc\n\"\\\ud83d\ude00"}, "b": [1, 2.5, null, true], "c": {}}"#
        );
        assert_eq!(python_json(&json!([[], {}])), "[[], {}]");
    }

    #[test]
    fn floats_follow_pythons_repr() {
        for (value, text) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-1.25e-7, "-1.25e-07"),
            (0.0, "0.0"),
            (1e300, "1e+300"),
        ] {
            assert_eq!(python_float(value), text, "{value}");
        }
    }

    #[test]
    fn secret_fields_and_block_definitions_do_not_count() {
        let base = json!({
            "title": "A", "type": "object", "block_type_slug": "a",
            "properties": {"x": {"$ref": "#/definitions/B"}, "y": {"$ref": "#/definitions/Plain"}},
            "block_schema_references": {}
        });
        let mut with_extra = base.as_object().unwrap().clone();
        with_extra.insert("secret_fields".into(), json!(["x"]));
        with_extra.insert(
            "definitions".into(),
            json!({"B": {"block_type_slug": "b"}, "Plain": {"type": "string"}}),
        );
        let mut with_plain = base.as_object().unwrap().clone();
        with_plain.insert("definitions".into(), json!({"Plain": {"type": "string"}}));
        assert_eq!(schema_checksum(&with_extra), schema_checksum(&with_plain));
        assert_ne!(
            schema_checksum(&with_plain),
            schema_checksum(base.as_object().unwrap())
        );
        assert!(schema_checksum(&with_plain).starts_with("sha256:"));
    }

    #[test]
    fn nested_fields_come_from_the_parents_definitions() {
        let parent = json!({
            "properties": {"creds": {"anyOf": [{"$ref": "#/definitions/C"}, {"type": "null"}]}},
            "definitions": {
                "C": {"block_type_slug": "c", "properties": {"cfg": {"$ref": "#/definitions/K"}}},
                "K": {"block_type_slug": "k", "properties": {}},
                "Unused": {"type": "string"}
            }
        });
        let parent = parent.as_object().unwrap();
        let definitions = parent["definitions"].as_object().unwrap();
        let fields = nested_schema_fields(parent, definitions, "creds", "c").unwrap();
        assert_eq!(fields["block_type_slug"], "c");
        assert_eq!(
            fields["definitions"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["K"]
        );
        assert!(nested_schema_fields(parent, definitions, "missing", "c").is_none());
    }
}
