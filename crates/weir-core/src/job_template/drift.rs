//! Where two base job templates differ: what a worker that reconciles its pool from a file (the Helm
//! chart's template) reports as drift before it puts its own template back.

use serde_json::Value;

/// The dotted paths at which `current` differs from `desired`, in document order, descending into
/// objects; arrays and scalars are compared whole. Empty when the two are equal.
pub fn template_drift(current: &Value, desired: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    diff_into(current, desired, String::new(), &mut paths);
    paths
}

fn diff_into(current: &Value, desired: &Value, path: String, paths: &mut Vec<String>) {
    match (current, desired) {
        (Value::Object(have), Value::Object(want)) => {
            let keys = want
                .keys()
                .chain(have.keys().filter(|key| !want.contains_key(*key)));
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (have.get(key), want.get(key)) {
                    (Some(a), Some(b)) => diff_into(a, b, child, paths),
                    _ => paths.push(child),
                }
            }
        }
        (a, b) if a == b => {}
        _ => paths.push(if path.is_empty() {
            "(root)".into()
        } else {
            path
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::template_drift;
    use serde_json::json;

    #[test]
    fn equal_templates_have_no_drift() {
        let t = json!({"job_configuration": {"a": [1, 2]}, "variables": {"properties": {}}});
        assert!(template_drift(&t, &t.clone()).is_empty());
    }

    #[test]
    fn changed_added_and_removed_members_are_named_by_path() {
        let current = json!({
            "job_configuration": {"namespace": "{{ namespace }}", "stale": 1},
            "variables": {"properties": {"namespace": {"default": "default"}}}
        });
        let desired = json!({
            "job_configuration": {"namespace": "{{ namespace }}", "env": {}},
            "variables": {"properties": {"namespace": {"default": "jobs"}}, "required": []}
        });
        assert_eq!(
            template_drift(&current, &desired),
            vec![
                "job_configuration.env",
                "job_configuration.stale",
                "variables.properties.namespace.default",
                "variables.required",
            ]
        );
    }

    #[test]
    fn arrays_and_type_changes_are_compared_whole() {
        let current = json!({"command": ["a", "b"], "n": 1});
        let desired = json!({"command": ["a", "c"], "n": "1"});
        assert_eq!(template_drift(&current, &desired), vec!["command", "n"]);
        assert_eq!(template_drift(&json!(1), &json!(2)), vec!["(root)"]);
    }
}
