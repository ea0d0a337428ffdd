//! Secret values of block documents: masked in answers, and kept when a client sends the mask
//! back.
//!
//! A schema's `secret_fields` are dotted paths into the data (`token`, `auth.password`) or end in
//! a wildcard (`headers.*`: everything under `headers`). A masked value reads `********`, whatever
//! it was. Unlike Prefect, a secret whose value is a non-empty object is masked as a whole rather
//! than left readable.

use serde_json::{Map, Value};

/// What a secret value reads as when secrets are not asked for.
pub const OBFUSCATED: &str = "********";

/// A secret path split into its keys, and whether it ends with (or holds) a wildcard: then only
/// the keys before the wildcard count and everything under them is secret.
fn parse(path: &str) -> (Vec<&str>, bool) {
    let keys: Vec<&str> = path.split('.').collect();
    match keys.iter().position(|k| *k == "*") {
        Some(star) => (keys[..star].to_vec(), true),
        None => (keys, false),
    }
}

fn lookup_mut<'a>(data: &'a mut Map<String, Value>, keys: &[&str]) -> Option<&'a mut Value> {
    let (first, rest) = keys.split_first()?;
    let mut current = data.get_mut(*first)?;
    for key in rest {
        current = current.as_object_mut()?.get_mut(*key)?;
    }
    Some(current)
}

fn lookup<'a>(data: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    let mut current = data.get(*first)?;
    for key in rest {
        current = current.as_object()?.get(*key)?;
    }
    Some(current)
}

/// Replaces every leaf under `value` (itself, when it is not a non-empty object) by the mask.
fn mask_leaves(value: &mut Value) {
    match value {
        Value::Object(object) if !object.is_empty() => object.values_mut().for_each(mask_leaves),
        other => *other = Value::String(OBFUSCATED.into()),
    }
}

/// Masks the values of `data` at `secret_fields`. Absent and `null` values stay as they are
/// (except under a wildcard, where every leaf is masked).
pub fn obfuscate_secrets(data: &mut Map<String, Value>, secret_fields: &[String]) {
    for path in secret_fields {
        let (keys, wildcard) = parse(path);
        if wildcard {
            if keys.is_empty() {
                data.values_mut().for_each(mask_leaves);
            } else if let Some(value) = lookup_mut(data, &keys) {
                mask_leaves(value);
            }
        } else if let Some(value) = lookup_mut(data, &keys) {
            if !value.is_null() {
                *value = Value::String(OBFUSCATED.into());
            }
        }
    }
}

/// In an update's data, puts back the stored value wherever the client sent the mask of a
/// secret: a client that read a document without secrets and writes it back must not replace the
/// secrets with asterisks.
pub fn restore_obfuscated_secrets(
    update: &mut Map<String, Value>,
    current: &Map<String, Value>,
    secret_fields: &[String],
) {
    for path in secret_fields {
        let (keys, wildcard) = parse(path);
        if wildcard {
            let root: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
            let mut masked = Vec::new();
            let start = if keys.is_empty() {
                Some(Value::Object(update.clone()))
            } else {
                lookup(update, &keys).cloned()
            };
            if let Some(start) = start {
                masked_paths(&start, root, &mut masked);
            }
            for leaf in masked {
                let leaf: Vec<&str> = leaf.iter().map(String::as_str).collect();
                if let Some(stored) = lookup(current, &leaf).cloned() {
                    if let Some(slot) = lookup_mut(update, &leaf) {
                        *slot = stored;
                    }
                }
            }
        } else {
            let Some(stored) = lookup(current, &keys).filter(|v| !v.is_null()).cloned() else {
                continue;
            };
            if let Some(sent) = lookup_mut(update, &keys) {
                if sent.as_str() == Some(OBFUSCATED) {
                    *sent = stored;
                }
            }
        }
    }
}

/// The paths of the leaves under `value` (reached by `path`) that hold the mask.
fn masked_paths(value: &Value, path: Vec<String>, found: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            for (key, child) in object {
                let mut next = path.clone();
                next.push(key.clone());
                masked_paths(child, next, found);
            }
        }
        Value::String(text) if text == OBFUSCATED && !path.is_empty() => found.push(path),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn fields(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn top_level_nested_and_wildcard_secrets_are_masked() {
        let mut data = map(json!({
            "token": "abc",
            "empty": null,
            "auth": {"user": "u", "password": "p"},
            "headers": {"a": "1", "b": {"c": 2}},
            "json_secret": {"k": "v"},
            "plain": "visible"
        }));
        obfuscate_secrets(
            &mut data,
            &fields(&[
                "token",
                "empty",
                "auth.password",
                "headers.*",
                "json_secret",
                "missing.x",
            ]),
        );
        assert_eq!(
            Value::Object(data),
            json!({
                "token": OBFUSCATED,
                "empty": null,
                "auth": {"user": "u", "password": OBFUSCATED},
                "headers": {"a": OBFUSCATED, "b": {"c": OBFUSCATED}},
                "json_secret": OBFUSCATED,
                "plain": "visible"
            })
        );
    }

    #[test]
    fn a_sent_back_mask_keeps_the_stored_secret() {
        let current = map(json!({
            "token": "abc", "other": "x", "headers": {"a": "1", "b": "2"}
        }));
        let secret = fields(&["token", "headers.*"]);
        let mut update = map(json!({
            "token": OBFUSCATED, "other": "y", "headers": {"a": OBFUSCATED, "b": "new"}
        }));
        restore_obfuscated_secrets(&mut update, &current, &secret);
        assert_eq!(
            Value::Object(update),
            json!({"token": "abc", "other": "y", "headers": {"a": "1", "b": "new"}})
        );
        let mut changed = map(json!({"token": "new-token"}));
        restore_obfuscated_secrets(&mut changed, &current, &secret);
        assert_eq!(changed["token"], "new-token");
    }
}
