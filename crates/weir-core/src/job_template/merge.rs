//! Layering job variables: the work pool's defaults, then the deployment's `job_variables`, then the
//! flow run's, into the one set of values a flow run's job configuration is rendered with. The rules
//! are on [`resolve_variables`].

use super::BaseJobTemplate;
use serde_json::{Map, Value};

/// The values a flow run's job configuration is rendered with: the template's defaults, overlaid by
/// the deployment's job variables, overlaid by the flow run's. A variable without a default that no
/// layer sets is absent.
///
/// The rules, in the order they apply to each layer:
///
/// 1. **Dotted keys are paths.** `"resources.limits.cpu": "1"` means `{"resources": {"limits":
///    {"cpu": "1"}}}`. Segments are split on `.` only (brackets are not indices here). Within one
///    layer, dotted keys apply in key order, and a plain key for the same variable wins over them
///    where they overlap (objects are merged deeply, anything else is replaced), as in Prefect.
/// 2. **A plain key replaces the variable**, whole: `"image": "x"` or `"labels": {...}` discards the
///    earlier layer's value.
/// 3. **Except `env`, which merges**: the layer's `env` members are set one by one over the earlier
///    `env` (later layers win per key), so the pool's defaults, the deployment's and the flow run's
///    environment add up. This holds only while both sides are objects; otherwise `env` is replaced.
/// 4. **A variable set only through dotted keys edits the earlier value** instead of replacing it:
///    `"env.FOO": "1"` at the flow run keeps the deployment's other `env` members, and
///    `"resources.limits.cpu"` keeps `resources.requests`. Objects on the way are created as needed;
///    a non-object on the way is replaced by an object.
///
/// Defaults come from `variables.properties.<name>.default`; a `null` default counts as no default,
/// so the variable is absent and its placeholders vanish when rendered (Prefect drops them for the
/// same reason). Defaults that are block references (`{"$ref": {...}}`) are kept as they are.
pub fn resolve_variables(
    template: &BaseJobTemplate,
    deployment_job_variables: &Map<String, Value>,
    flow_run_job_variables: &Map<String, Value>,
) -> Map<String, Value> {
    let mut variables = template.defaults();
    apply_layer(&mut variables, deployment_job_variables);
    apply_layer(&mut variables, flow_run_job_variables);
    variables
}

/// One layer with its dotted keys expanded into nested objects (plain keys winning where they
/// overlap), e.g. for validation. Keys with no dot pass through unchanged.
pub fn expand_dotted_keys(layer: &Map<String, Value>) -> Map<String, Value> {
    expand(layer).0
}

/// Expands a layer and reports, per top-level variable, whether a plain key set it.
fn expand(layer: &Map<String, Value>) -> (Map<String, Value>, Vec<&str>) {
    let mut dotted: Vec<(&String, &Value)> =
        layer.iter().filter(|(k, _)| k.contains('.')).collect();
    dotted.sort_by(|a, b| a.0.cmp(b.0));
    let mut expanded = Map::new();
    for (key, value) in dotted {
        let segments: Vec<&str> = key.split('.').collect();
        set_path(&mut expanded, &segments, value.clone());
    }
    let mut plain = Vec::new();
    for (key, value) in layer.iter().filter(|(k, _)| !k.contains('.')) {
        plain.push(key.as_str());
        match expanded.get_mut(key) {
            Some(existing) => deep_merge(existing, value.clone()),
            None => {
                expanded.insert(key.clone(), value.clone());
            }
        }
    }
    (expanded, plain)
}

fn apply_layer(variables: &mut Map<String, Value>, layer: &Map<String, Value>) {
    let (expanded, plain) = expand(layer);
    for (key, value) in expanded {
        let earlier = variables.get_mut(&key);
        match earlier {
            Some(Value::Object(earlier_env)) if key == "env" && plain.contains(&"env") => {
                if let Value::Object(env) = value {
                    earlier_env.extend(env);
                } else {
                    variables.insert(key, value);
                }
            }
            Some(earlier) if !plain.contains(&key.as_str()) => deep_merge(earlier, value),
            _ => {
                variables.insert(key, value);
            }
        }
    }
}

/// Sets `value` at `segments` inside `map`, creating objects on the way and replacing non-objects.
fn set_path(map: &mut Map<String, Value>, segments: &[&str], value: Value) {
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut current = map;
    for segment in parents {
        let slot = current
            .entry(segment.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            unreachable!("made an object just above")
        };
        current = next;
    }
    current.insert(last.to_string(), value);
}

/// Merges `overlay` into `base`: objects member by member, recursively; anything else replaces.
fn deep_merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> BaseJobTemplate {
        serde_json::from_value(json!({
            "job_configuration": {"x": "{{ image }}"},
            "variables": {"type": "object", "properties": {
                "image": {"type": "string", "default": "base:1"},
                "namespace": {"type": "string", "default": "default"},
                "env": {"type": "object", "default": {"POOL": "p", "SHARED": "pool"}},
                "labels": {"type": "object", "default": {"a": "1"}},
                "resources": {"type": "object", "default": {"requests": {"cpu": "100m"}}},
                "nullable": {"type": ["string", "null"], "default": null},
                "nodefault": {"type": "string"},
            }},
        }))
        .unwrap()
    }

    fn obj(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn layering() {
        let defaults = json!({
            "image": "base:1", "namespace": "default",
            "env": {"POOL": "p", "SHARED": "pool"}, "labels": {"a": "1"},
            "resources": {"requests": {"cpu": "100m"}},
        });
        // (deployment, flow run, resolved variables)
        let cases = [
            // Defaults only; null defaults and variables without one are absent.
            (json!({}), json!({}), defaults.clone()),
            // Later layers replace plain variables.
            (
                json!({"image": "dep:2", "labels": {"b": "2"}}),
                json!({"image": "run:3"}),
                json!({"image": "run:3", "namespace": "default",
                       "env": {"POOL": "p", "SHARED": "pool"}, "labels": {"b": "2"},
                       "resources": {"requests": {"cpu": "100m"}}}),
            ),
            // env adds up across all three layers, later wins per key.
            (
                json!({"env": {"DEP": "d", "SHARED": "dep"}}),
                json!({"env": {"RUN": "r", "SHARED": "run"}}),
                json!({"image": "base:1", "namespace": "default",
                       "env": {"POOL": "p", "DEP": "d", "RUN": "r", "SHARED": "run"},
                       "labels": {"a": "1"}, "resources": {"requests": {"cpu": "100m"}}}),
            ),
            // Dotted keys edit paths inside the earlier value.
            (
                json!({"env": {"DEP": "d"}}),
                json!({"env.RUN": "r", "resources.limits.cpu": "1", "labels.c": "3"}),
                json!({"image": "base:1", "namespace": "default",
                       "env": {"POOL": "p", "SHARED": "pool", "DEP": "d", "RUN": "r"},
                       "labels": {"a": "1", "c": "3"},
                       "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}}}),
            ),
            // Dotted keys create variables and objects, and replace scalars on the way.
            (
                json!({"new.deep.key": 1, "image.tag": "t"}),
                json!({}),
                json!({"image": {"tag": "t"}, "namespace": "default",
                       "env": {"POOL": "p", "SHARED": "pool"}, "labels": {"a": "1"},
                       "resources": {"requests": {"cpu": "100m"}},
                       "new": {"deep": {"key": 1}}}),
            ),
            // In one layer, the plain key wins over dotted keys where they overlap, and replaces
            // the earlier value.
            (
                json!({"labels.x": "dot", "labels.y": "dot", "labels": {"x": "plain"}}),
                json!({}),
                json!({"image": "base:1", "namespace": "default",
                       "env": {"POOL": "p", "SHARED": "pool"},
                       "labels": {"x": "plain", "y": "dot"},
                       "resources": {"requests": {"cpu": "100m"}}}),
            ),
            // A non-object env replaces; a later object env then replaces it too.
            (
                json!({"env": null}),
                json!({"env": {"A": "1"}}),
                json!({"image": "base:1", "namespace": "default", "env": {"A": "1"},
                       "labels": {"a": "1"}, "resources": {"requests": {"cpu": "100m"}}}),
            ),
            // Explicit nulls are values, kept as given.
            (
                json!({"nullable": null}),
                json!({"image": null}),
                json!({"image": null, "namespace": "default", "nullable": null,
                       "env": {"POOL": "p", "SHARED": "pool"}, "labels": {"a": "1"},
                       "resources": {"requests": {"cpu": "100m"}}}),
            ),
        ];
        for (deployment, flow_run, want) in cases {
            let got = resolve_variables(
                &template(),
                &obj(deployment.clone()),
                &obj(flow_run.clone()),
            );
            assert_eq!(
                Value::Object(got),
                want,
                "deployment {deployment}, flow run {flow_run}"
            );
        }
    }

    #[test]
    fn expand_dotted_keys_for_validation() {
        let layer =
            obj(json!({"env.A": "1", "env.B": "2", "a.b.c": true, "plain": 1, "": 2, "x.": 3}));
        assert_eq!(
            Value::Object(expand_dotted_keys(&layer)),
            json!({"env": {"A": "1", "B": "2"}, "a": {"b": {"c": true}}, "plain": 1, "": 2, "x": {"": 3}})
        );
    }
}
