//! Cache keys: what makes two task calls "the same" so the second can reuse the first's result.
//!
//! A [`CachePolicy`] combines the parts Prefect's policies are made of — the inputs, the task's
//! source, the flow run — plus the task's key, which Weir always includes so two different tasks
//! with the same inputs never share a result. A [`CacheKeyFn`] replaces the policy with the
//! user's own key.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::ops::Add;
use uuid::Uuid;

/// The parts a cache key is computed from. Combine them with `+`, as in Prefect
/// (`CachePolicy::INPUTS + CachePolicy::TASK_SOURCE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CachePolicy {
    /// The call's arguments (as JSON).
    pub inputs: bool,
    /// The function's source (a hash of its tokens, taken at compile time).
    pub task_source: bool,
    /// The flow run the call belongs to: results are reused within one run only.
    pub run_id: bool,
    /// The flow run's parameters.
    pub flow_parameters: bool,
}

impl CachePolicy {
    /// Never cache.
    pub const NONE: CachePolicy = CachePolicy {
        inputs: false,
        task_source: false,
        run_id: false,
        flow_parameters: false,
    };
    /// Prefect's default: the inputs, the source and the flow run.
    pub const DEFAULT: CachePolicy = CachePolicy {
        inputs: true,
        task_source: true,
        run_id: true,
        flow_parameters: false,
    };
    /// The call's arguments.
    pub const INPUTS: CachePolicy = CachePolicy {
        inputs: true,
        ..CachePolicy::NONE
    };
    /// The function's source.
    pub const TASK_SOURCE: CachePolicy = CachePolicy {
        task_source: true,
        ..CachePolicy::NONE
    };
    /// The flow run.
    pub const RUN_ID: CachePolicy = CachePolicy {
        run_id: true,
        ..CachePolicy::NONE
    };
    /// The flow run's parameters.
    pub const FLOW_PARAMETERS: CachePolicy = CachePolicy {
        flow_parameters: true,
        ..CachePolicy::NONE
    };

    /// Whether this policy caches at all.
    pub fn is_none(&self) -> bool {
        *self == CachePolicy::NONE
    }
}

impl Add for CachePolicy {
    type Output = CachePolicy;

    fn add(self, other: CachePolicy) -> CachePolicy {
        CachePolicy {
            inputs: self.inputs || other.inputs,
            task_source: self.task_source || other.task_source,
            run_id: self.run_id || other.run_id,
            flow_parameters: self.flow_parameters || other.flow_parameters,
        }
    }
}

/// What a cache key function sees of the call.
#[derive(Debug)]
pub struct CacheKeyContext<'a> {
    /// The task's name.
    pub task_name: &'a str,
    /// The task's key (`module::function`).
    pub task_key: &'a str,
    /// The call's arguments by name, as JSON.
    pub inputs: &'a Map<String, Value>,
    /// The flow run the call belongs to, if any.
    pub flow_run_id: Option<Uuid>,
    /// That flow run's parameters.
    pub flow_parameters: &'a Map<String, Value>,
}

/// A user-defined cache key: `None` means "do not cache this call".
pub type CacheKeyFn = fn(&CacheKeyContext<'_>) -> Option<String>;

/// The key of a call under `policy`, or `None` when the policy caches nothing.
pub(crate) fn policy_key(
    policy: CachePolicy,
    source_hash: &str,
    context: &CacheKeyContext<'_>,
) -> Option<String> {
    if policy.is_none() {
        return None;
    }
    let mut parts = Map::new();
    parts.insert("task".into(), Value::from(context.task_key));
    if policy.inputs {
        parts.insert("inputs".into(), Value::Object(context.inputs.clone()));
    }
    if policy.task_source {
        parts.insert("source".into(), Value::from(source_hash));
    }
    if policy.run_id {
        let run = context.flow_run_id.map(|id| id.to_string());
        parts.insert("run_id".into(), Value::from(run));
    }
    if policy.flow_parameters {
        let parameters = Value::Object(context.flow_parameters.clone());
        parts.insert("flow_parameters".into(), parameters);
    }
    // serde_json's maps are sorted by key, so the text (and the hash) is canonical.
    Some(hex_sha256(Value::Object(parts).to_string().as_bytes()))
}

/// A key safe to use as a file name: the key itself when it is plain, else its hash.
pub(crate) fn storage_name(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= 128
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        key.to_owned()
    } else {
        hex_sha256(key.as_bytes())
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context<'a>(
        inputs: &'a Map<String, Value>,
        run: Option<Uuid>,
        empty: &'a Map<String, Value>,
    ) -> CacheKeyContext<'a> {
        CacheKeyContext {
            task_name: "t",
            task_key: "m::t",
            inputs,
            flow_run_id: run,
            flow_parameters: empty,
        }
    }

    #[test]
    fn keys_follow_exactly_the_parts_of_the_policy() {
        let empty = Map::new();
        let a = json!({"n": 1}).as_object().cloned().unwrap();
        let b = json!({"n": 2}).as_object().cloned().unwrap();
        let (r1, r2) = (Some(Uuid::now_v7()), Some(Uuid::now_v7()));
        let key = |policy, inputs, run| policy_key(policy, "src", &context(inputs, run, &empty));
        assert_eq!(key(CachePolicy::NONE, &a, r1), None);
        let inputs = CachePolicy::INPUTS;
        assert_eq!(key(inputs, &a, r1), key(inputs, &a, r2));
        assert_ne!(key(inputs, &a, r1), key(inputs, &b, r1));
        let default = CachePolicy::DEFAULT;
        assert_ne!(key(default, &a, r1), key(default, &a, r2));
        assert_eq!(key(default, &a, r1), key(default, &a, r1));
        assert_eq!(
            CachePolicy::INPUTS + CachePolicy::TASK_SOURCE + CachePolicy::RUN_ID,
            default
        );
        let other_source = policy_key(default, "changed", &context(&a, r1, &empty));
        assert_ne!(key(default, &a, r1), other_source);
    }

    #[test]
    fn storage_names_are_plain_file_names() {
        assert_eq!(storage_name("daily-report_2026.11"), "daily-report_2026.11");
        for risky in ["../etc/passwd", "", ".hidden", "a/b", &"x".repeat(200)] {
            let name = storage_name(risky);
            assert_eq!(name.len(), 64, "{risky:?} → {name}");
            assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }
}
