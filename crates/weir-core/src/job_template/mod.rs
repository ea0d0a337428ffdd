//! Work pools' base job templates, with Prefect 3's semantics: what the server checks when a pool is
//! created or updated and when deployments and flow runs carry `job_variables`, and what a worker
//! does to turn a flow run's job variables into the configuration it starts (a process spec, a
//! Kubernetes Job manifest).
//!
//! A template ([`BaseJobTemplate`]) is a `job_configuration`, any JSON whose strings may hold
//! `{{ name }}` placeholders, plus `variables`, a JSON schema whose `properties` declare the
//! variables, their types and defaults. A flow run is turned into a job configuration in three steps:
//!
//! 1. [`resolve_variables`]: the pool's defaults, overlaid by the deployment's job variables, overlaid
//!    by the flow run's (`env` merges per key; dotted keys set paths).
//! 2. [`render`]: placeholders replaced by variables and `{{ $ENV }}` by the environment; a missing
//!    whole-string placeholder removes its member.
//! 3. [`external_references`] then [`render_with`]: the `{{ prefect.blocks.* }}` and
//!    `{{ prefect.variables.* }}` placeholders left by step 2, filled with what the worker fetched.
//!
//! The server side is [`BaseJobTemplate::validate`] for a pool's template and
//! [`validate_job_variables`] for deployment and flow-run job variables.
//!
//! Pure: no I/O. The environment comes in as a lookup function and API values as a second pass, so
//! the server and every worker share these rules and tests run in microseconds.

mod drift;
mod merge;
mod placeholder;
mod render;
mod validate;

#[cfg(test)]
mod tests;

pub use drift::template_drift;
pub use merge::{expand_dotted_keys, resolve_variables};
pub use placeholder::{
    kind_of, placeholders, whole as whole_placeholder, Placeholder, PlaceholderKind, Placeholders,
};
pub use render::{external_references, render, render_with, ExternalReference, RenderError};
pub use validate::{validate_job_variables, JobVariablesCheck};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Prefect 3.9.1's process work pool template, as `prefect work-pool create --type process` makes it
/// (from `ProcessWorker.get_default_base_job_template()`).
pub const PROCESS_DEFAULT_JSON: &str = include_str!("process-default.json");

/// prefect-kubernetes 0.8.0's Kubernetes work pool template.
pub const KUBERNETES_DEFAULT_JSON: &str = include_str!("kubernetes-default.json");

/// A work pool's `base_job_template`: the job configuration a worker renders for each flow run and
/// the schema of the variables that fill it. `{}` (both absent) is the empty template a pool may
/// have; its `job_configuration` and `variables` are then `null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BaseJobTemplate {
    /// Any JSON whose strings may hold `{{ name }}` placeholders.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub job_configuration: Value,
    /// A JSON schema of `type: object` whose `properties` declare the variables.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub variables: Value,
}

/// The template of Prefect's process work pool (see [`PROCESS_DEFAULT_JSON`]).
pub fn default_process_template() -> BaseJobTemplate {
    serde_json::from_str(PROCESS_DEFAULT_JSON).expect("the bundled process template is valid JSON")
}

/// The template of a prefect-kubernetes 0.8.0 work pool (see [`KUBERNETES_DEFAULT_JSON`]).
pub fn default_kubernetes_template() -> BaseJobTemplate {
    serde_json::from_str(KUBERNETES_DEFAULT_JSON)
        .expect("the bundled kubernetes template is valid JSON")
}

impl BaseJobTemplate {
    /// Whether this is the empty template `{}`.
    pub fn is_empty(&self) -> bool {
        self.job_configuration.is_null() && self.variables.is_null()
    }

    /// The declared variables, `variables.properties`.
    pub fn properties(&self) -> Option<&Map<String, Value>> {
        self.variables.get("properties")?.as_object()
    }

    /// Each declared variable's non-null `default`.
    pub fn defaults(&self) -> Map<String, Value> {
        self.properties()
            .into_iter()
            .flatten()
            .filter_map(|(name, property)| {
                let default = property.get("default").filter(|d| !d.is_null())?;
                Some((name.clone(), default.clone()))
            })
            .collect()
    }

    /// Checks the template as the server does when a work pool is created or updated:
    ///
    /// - `{}` is valid; otherwise `job_configuration` and `variables` must both be non-empty objects;
    /// - `variables` is a schema of `type: object` whose keywords have the shapes the validator reads
    ///   and whose `$ref`s resolve;
    /// - each variable's `default` satisfies its own schema (block references are not checked);
    /// - every `{{ name }}` in `job_configuration` names a declared variable or a path into one
    ///   (`env.FOO`), the environment (`$NAME`), or a well-formed `prefect.blocks.*` or
    ///   `prefect.variables.*` reference. (Prefect 3.9.1 wants exact property names here and so
    ///   refuses paths, `$NAME`, and block and variable references in `job_configuration`.)
    pub fn validate(&self) -> Result<(), TemplateError> {
        validate::validate_template(self)
    }
}

/// Why a base job template was refused. Messages start with the path of the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// One of the two sections is absent or empty while the template is not `{}`.
    #[error(
        "{field}: missing or empty; a base job template needs both job_configuration and variables"
    )]
    Missing {
        /// `job_configuration` or `variables`.
        field: &'static str,
    },
    /// A section is not a JSON object.
    #[error("{field}: expected an object, got {}", Shown(.got))]
    NotObject {
        /// `job_configuration` or `variables`.
        field: &'static str,
        /// What was there instead.
        got: Value,
    },
    /// A keyword of the variables schema has a shape the validator cannot read.
    #[error("{path}: invalid schema: {reason}")]
    InvalidSchema {
        /// Where in the template, e.g. `variables.properties.cpu.type`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A `$ref` in the variables schema points nowhere.
    #[error("{path}: {reference} does not resolve within variables")]
    UnresolvedRef {
        /// Where the `$ref` is.
        path: String,
        /// The reference, e.g. `#/definitions/Missing`.
        reference: String,
    },
    /// A variable's `default` does not satisfy its schema.
    #[error(transparent)]
    InvalidDefault(JobVariablesError),
    /// A placeholder in `job_configuration` names no declared variable.
    #[error("{path}: placeholder {placeholder} is not a declared variable")]
    UndeclaredPlaceholder {
        /// Where the placeholder is, e.g. `job_configuration.env`.
        path: String,
        /// The placeholder, `{{ name }}`.
        placeholder: String,
    },
    /// A `prefect.blocks.*` or `prefect.variables.*` placeholder is malformed.
    #[error("{path}: {source}")]
    Placeholder {
        /// Where the placeholder is.
        path: String,
        /// What is wrong with it.
        source: RenderError,
    },
}

/// Why job variables do not satisfy a template's variables schema. Messages start with the path of
/// the offending value, e.g. `job_variables.cpu_request: expected a string, got 3`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobVariablesError {
    /// A top-level variable the template does not declare.
    #[error("{path}: not a variable of the work pool's base job template (declared: {})", Names(.declared))]
    UnknownVariable {
        /// `job_variables.<name>`.
        path: String,
        /// The declared variables.
        declared: Vec<String>,
    },
    /// A member the schema forbids (`additionalProperties: false`, or a `false` schema).
    #[error("{path}: not allowed here")]
    NotAllowed {
        /// Where.
        path: String,
    },
    /// A value of the wrong JSON type.
    #[error("{path}: expected {}, got {}", Types(.expected), Shown(.got))]
    Type {
        /// Where.
        path: String,
        /// The types the schema allows.
        expected: Vec<JsonType>,
        /// The value given.
        got: Value,
    },
    /// A value outside the schema's `enum`.
    #[error("{path}: expected one of {}, got {}", Values(.allowed), Shown(.got))]
    NotInEnum {
        /// Where.
        path: String,
        /// The allowed values.
        allowed: Vec<Value>,
        /// The value given.
        got: Value,
    },
    /// A value other than the schema's `const`.
    #[error("{path}: expected {}, got {}", Shown(.expected), Shown(.got))]
    NotConst {
        /// Where.
        path: String,
        /// The one allowed value.
        expected: Value,
        /// The value given.
        got: Value,
    },
    /// A number below `minimum` or above `maximum`.
    #[error("{path}: expected {bound}, got {}", Shown(.got))]
    OutOfRange {
        /// Where.
        path: String,
        /// The bound broken, e.g. `at least 0`.
        bound: String,
        /// The value given.
        got: Value,
    },
    /// A `required` property that is absent.
    #[error("{path}: required but missing")]
    Missing {
        /// Where it should be.
        path: String,
    },
    /// A value that satisfies none of an `anyOf`'s schemas, for several reasons.
    #[error("{path}: {} matches none of the allowed schemas", Shown(.got))]
    NoMatch {
        /// Where.
        path: String,
        /// The value given.
        got: Value,
    },
    /// The schema's `$ref` points nowhere (a template the server never accepted).
    #[error("{path}: the schema's {reference} does not resolve")]
    UnresolvedRef {
        /// Where the value is.
        path: String,
        /// The reference.
        reference: String,
    },
    /// The schema nests or recurses too deeply, or the check took too many steps.
    #[error("{path}: the value or its schema nests too deeply to check")]
    TooComplex {
        /// Where checking stopped.
        path: String,
    },
}

/// The JSON types a schema's `type` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JsonType {
    String,
    /// A number without a fractional part (`1` and `1.0`).
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

impl JsonType {
    /// The type a JSON Schema type name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "object" => Self::Object,
            "array" => Self::Array,
            "null" => Self::Null,
            _ => return None,
        })
    }

    /// Whether `value` is of this type.
    pub fn matches(self, value: &Value) -> bool {
        match (self, value) {
            (Self::String, Value::String(_))
            | (Self::Number, Value::Number(_))
            | (Self::Boolean, Value::Bool(_))
            | (Self::Object, Value::Object(_))
            | (Self::Array, Value::Array(_))
            | (Self::Null, Value::Null) => true,
            (Self::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::String => "a string",
            Self::Integer => "an integer",
            Self::Number => "a number",
            Self::Boolean => "a boolean",
            Self::Object => "an object",
            Self::Array => "an array",
            Self::Null => "null",
        })
    }
}

/// A value in a message: compact JSON, cut short when long.
struct Shown<'a>(&'a Value);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LIMIT: usize = 80;
        let text = self.0.to_string();
        match text.char_indices().nth(LIMIT) {
            Some((cut, _)) => write!(f, "{}…", &text[..cut]),
            None => f.write_str(&text),
        }
    }
}

/// `a string or null`, `a string, an integer or null`.
struct Types<'a>(&'a [JsonType]);

impl fmt::Display for Types<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == self.0.len() { " or " } else { ", " })?;
            }
            write!(f, "{kind}")?;
        }
        Ok(())
    }
}

/// `"a", "b", "c"`.
struct Values<'a>(&'a [Value]);

impl fmt::Display for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, value) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Shown(value))?;
        }
        Ok(())
    }
}

/// `a, b, c`.
struct Names<'a>(&'a [String]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}
