//! Checking a base job template when a work pool is created or updated, and job variables against
//! the template's `variables` schema when a deployment or flow run carries them.
//!
//! The schema checker is a small validator for the part of JSON Schema that Prefect's templates use,
//! not a general one: `type` (one name or a list), `enum`, `const`, `minimum`/`maximum`,
//! `properties`, `required`, `additionalProperties` (`false` or a schema), `items` (a schema or a
//! list of positional schemas), `anyOf`, `allOf`, `oneOf` (checked like `anyOf`), and `$ref` to
//! `#/definitions/...`, `#/$defs/...` or any other pointer into the variables schema. Other keywords
//! (`format`, `pattern`, `title`, ...) are ignored.
//!
//! Two leniencies follow Prefect's server, which rewrites the Pydantic-generated schemas before it
//! validates: `null` passes the `type` of a declared property that its object does not list in
//! `required` (other keywords such as `enum` still apply), and where a `$ref` points at a block
//! type's schema (one with `block_type_slug`), a block reference `{"$ref": ...}` is accepted in place
//! of the block's fields.

use super::placeholder::{self, PlaceholderKind};
use super::render::ExternalReference;
use super::{BaseJobTemplate, JobVariablesError, JsonType, TemplateError};
use serde_json::{Map, Value};
use std::cell::Cell;

/// How deep a schema may nest, counting each `$ref` followed, before checking stops.
const MAX_DEPTH: usize = 64;
/// How many (schema, value) pairs one check may visit: `anyOf` over recursive `$ref`s can otherwise
/// take exponential time.
const MAX_STEPS: usize = 50_000;

/// Which rules [`validate_job_variables`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobVariablesCheck {
    /// Report a property listed in `required` that is absent. Only the last layer can be judged.
    pub required: bool,
    /// Report top-level variables the template does not declare in `variables.properties`, unless
    /// the schema itself says otherwise with `additionalProperties`. Stricter than Prefect 3.9.1,
    /// whose schema check lets undeclared variables through (its templates do not set
    /// `additionalProperties`); turn it off to accept what Prefect accepts.
    pub reject_unknown: bool,
}

impl JobVariablesCheck {
    /// For a deployment's `job_variables`: one layer of several, so `required` is not checked.
    pub const DEPLOYMENT: Self = Self {
        required: false,
        reject_unknown: true,
    };
    /// For a flow run: pass the merged variables of
    /// [`resolve_variables`](super::resolve_variables) (defaults, deployment, flow run), the last
    /// layer, so `required` is checked.
    pub const FLOW_RUN: Self = Self {
        required: true,
        reject_unknown: true,
    };
}

/// Checks job variables against the template's `variables` schema; error paths start at
/// `job_variables`. Dotted keys are checked in their expanded form (`"env.FOO"` as
/// `env: {FOO: ...}`). A template without a `variables` schema accepts anything, as in Prefect.
pub fn validate_job_variables(
    template: &BaseJobTemplate,
    job_variables: &Map<String, Value>,
    check: JobVariablesCheck,
) -> Result<(), JobVariablesError> {
    let Some(schema) = template.variables.as_object().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let expanded = super::expand_dotted_keys(job_variables);
    if check.reject_unknown && !schema.contains_key("additionalProperties") {
        if let Some(Value::Object(properties)) = schema.get("properties") {
            if let Some(unknown) = expanded.keys().find(|k| !properties.contains_key(*k)) {
                let mut declared: Vec<String> = properties.keys().cloned().collect();
                declared.sort();
                return Err(JobVariablesError::UnknownVariable {
                    path: format!("job_variables.{unknown}"),
                    declared,
                });
            }
        }
    }
    Validator::new(&template.variables, check.required).check(
        &template.variables,
        &Value::Object(expanded),
        "job_variables",
        false,
        0,
    )
}

/// Checks a base job template; see [`BaseJobTemplate::validate`].
pub(super) fn validate_template(template: &BaseJobTemplate) -> Result<(), TemplateError> {
    if template.is_empty() {
        return Ok(());
    }
    let job_configuration = non_empty_object("job_configuration", &template.job_configuration)?;
    let variables = non_empty_object("variables", &template.variables)?;
    if let Some(kind) = variables.get("type") {
        if kind != "object" {
            return Err(invalid("variables.type", "expected \"object\""));
        }
    }
    check_schema(&template.variables, &template.variables, "variables", 0)?;
    let empty = Map::new();
    let properties = match variables.get("properties") {
        Some(Value::Object(properties)) => properties,
        _ => &empty,
    };
    for (name, property) in properties {
        let Some(default) = property.get("default") else {
            continue;
        };
        if default.is_null() || is_block_reference(default) {
            continue;
        }
        let path = format!("variables.properties.{name}.default");
        Validator::new(&template.variables, false)
            .check(property, default, &path, false, 0)
            .map_err(TemplateError::InvalidDefault)?;
    }
    check_placeholders(job_configuration, properties)
}

fn non_empty_object<'v>(
    field: &'static str,
    value: &'v Value,
) -> Result<&'v Map<String, Value>, TemplateError> {
    match value {
        Value::Object(map) if !map.is_empty() => Ok(map),
        Value::Null | Value::Object(_) => Err(TemplateError::Missing { field }),
        other => Err(TemplateError::NotObject {
            field,
            got: other.clone(),
        }),
    }
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> TemplateError {
    TemplateError::InvalidSchema {
        path: path.into(),
        reason: reason.into(),
    }
}

/// Every `{{ name }}` in the job configuration must name a declared variable (or a path into one),
/// the environment, or a well-formed block or Prefect-variable reference.
fn check_placeholders(
    job_configuration: &Map<String, Value>,
    properties: &Map<String, Value>,
) -> Result<(), TemplateError> {
    let mut stack: Vec<(String, &Value)> = job_configuration
        .iter()
        .map(|(k, v)| (format!("job_configuration.{k}"), v))
        .collect();
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::String(text) => {
                for p in placeholder::placeholders(text) {
                    match p.kind() {
                        PlaceholderKind::Variable => {
                            if !properties.contains_key(p.name)
                                && !properties.contains_key(placeholder::root_variable(p.name))
                            {
                                return Err(TemplateError::UndeclaredPlaceholder {
                                    path,
                                    placeholder: p.canonical(),
                                });
                            }
                        }
                        PlaceholderKind::Env => {}
                        PlaceholderKind::Block | PlaceholderKind::PrefectVariable => {
                            if let Some(Err(err)) = ExternalReference::parse(p.name) {
                                return Err(TemplateError::Placeholder { path, source: err });
                            }
                        }
                    }
                }
            }
            Value::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (format!("{path}[{i}]"), item)),
            ),
            Value::Object(map) => {
                stack.extend(map.iter().map(|(k, v)| (format!("{path}.{k}"), v)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks that `schema` (at `path`) uses the keywords the validator reads with the right shapes, and
/// that its `$ref`s resolve against `root`.
fn check_schema(
    root: &Value,
    schema: &Value,
    path: &str,
    depth: usize,
) -> Result<(), TemplateError> {
    if depth > MAX_DEPTH {
        return Err(invalid(path, "nested too deeply"));
    }
    let schema = match schema {
        Value::Bool(_) => return Ok(()),
        Value::Object(schema) => schema,
        other => {
            return Err(invalid(
                path,
                format!(
                    "expected a schema (an object or a boolean), got {}",
                    super::Shown(other)
                ),
            ))
        }
    };
    let sub = |key: &str| format!("{path}.{key}");
    for (key, value) in schema {
        match key.as_str() {
            "type" => {
                let names: Vec<&Value> = match value {
                    Value::Array(names) if !names.is_empty() => names.iter().collect(),
                    Value::String(_) => vec![value],
                    _ => return Err(invalid(sub(key), "expected a type name or a list of them")),
                };
                for name in names {
                    if name.as_str().and_then(JsonType::parse).is_none() {
                        return Err(invalid(
                            sub(key),
                            format!(
                                "unknown type {}; expected string, integer, number, boolean, object, array or null",
                                super::Shown(name)
                            ),
                        ));
                    }
                }
            }
            "enum" if !value.is_array() => return Err(invalid(sub(key), "expected a list")),
            "required" => {
                let ok = value
                    .as_array()
                    .is_some_and(|names| names.iter().all(Value::is_string));
                if !ok {
                    return Err(invalid(sub(key), "expected a list of property names"));
                }
            }
            "minimum" | "maximum" if !value.is_number() => {
                return Err(invalid(sub(key), "expected a number"))
            }
            "properties" | "definitions" | "$defs" => {
                let Value::Object(members) = value else {
                    return Err(invalid(sub(key), "expected an object of schemas"));
                };
                for (name, member) in members {
                    check_schema(root, member, &format!("{path}.{key}.{name}"), depth + 1)?;
                }
            }
            "additionalProperties" | "not" => check_schema(root, value, &sub(key), depth + 1)?,
            "items" => match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        check_schema(root, item, &format!("{path}.items[{i}]"), depth + 1)?;
                    }
                }
                other => check_schema(root, other, &sub(key), depth + 1)?,
            },
            "anyOf" | "allOf" | "oneOf" => {
                let Some(branches) = value.as_array().filter(|b| !b.is_empty()) else {
                    return Err(invalid(sub(key), "expected a non-empty list of schemas"));
                };
                for (i, branch) in branches.iter().enumerate() {
                    check_schema(root, branch, &format!("{path}.{key}[{i}]"), depth + 1)?;
                }
            }
            "$ref" => {
                let Value::String(reference) = value else {
                    return Err(invalid(
                        sub(key),
                        "expected a reference such as \"#/definitions/Name\"",
                    ));
                };
                if resolve_ref(root, reference).is_none() {
                    return Err(TemplateError::UnresolvedRef {
                        path: sub(key),
                        reference: reference.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The schema a `$ref` points at: a JSON pointer into the variables schema, `#` being its root.
fn resolve_ref<'s>(root: &'s Value, reference: &str) -> Option<&'s Value> {
    root.pointer(reference.strip_prefix('#')?)
}

/// A reference to a block document, `{"$ref": "<id>"}` or `{"$ref": {"block_document_id": ...}}`,
/// which Prefect accepts wherever a block's fields are expected.
fn is_block_reference(value: &Value) -> bool {
    match value.get("$ref") {
        Some(Value::String(_)) => true,
        Some(Value::Object(fields)) => !fields.is_empty() && fields.values().all(Value::is_string),
        _ => false,
    }
}

/// The schema checker for values; see the module docs for the keywords it reads.
struct Validator<'s> {
    root: &'s Value,
    check_required: bool,
    steps: Cell<usize>,
}

impl<'s> Validator<'s> {
    fn new(root: &'s Value, check_required: bool) -> Self {
        Self {
            root,
            check_required,
            steps: Cell::new(0),
        }
    }

    /// Checks `value` at `path` against `schema`. `nullable` says `null` passes `type`: the value
    /// is an optional declared property.
    fn check(
        &self,
        schema: &Value,
        value: &Value,
        path: &str,
        nullable: bool,
        depth: usize,
    ) -> Result<(), JobVariablesError> {
        self.steps.set(self.steps.get() + 1);
        if depth > MAX_DEPTH || self.steps.get() > MAX_STEPS {
            return Err(JobVariablesError::TooComplex { path: path.into() });
        }
        let schema = match schema {
            Value::Bool(false) => return Err(JobVariablesError::NotAllowed { path: path.into() }),
            Value::Object(schema) => schema,
            _ => return Ok(()),
        };
        if let Some(Value::String(reference)) = schema.get("$ref") {
            let target = resolve_ref(self.root, reference).ok_or_else(|| {
                JobVariablesError::UnresolvedRef {
                    path: path.into(),
                    reference: reference.clone(),
                }
            })?;
            let block_reference =
                target.get("block_type_slug").is_some() && is_block_reference(value);
            if !block_reference {
                self.check(target, value, path, nullable, depth + 1)?;
            }
        }
        if let Some(kind) = schema.get("type") {
            let expected = type_names(kind);
            let passes = expected.is_empty()
                || (nullable && value.is_null())
                || expected.iter().any(|t| t.matches(value));
            if !passes {
                return Err(JobVariablesError::Type {
                    path: path.into(),
                    expected,
                    got: value.clone(),
                });
            }
        }
        if let Some(Value::Array(allowed)) = schema.get("enum") {
            if !allowed.contains(value) {
                return Err(JobVariablesError::NotInEnum {
                    path: path.into(),
                    allowed: allowed.clone(),
                    got: value.clone(),
                });
            }
        }
        if let Some(expected) = schema.get("const") {
            if expected != value {
                return Err(JobVariablesError::NotConst {
                    path: path.into(),
                    expected: expected.clone(),
                    got: value.clone(),
                });
            }
        }
        self.check_range(schema, value, path)?;
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = schema.get(key) {
                self.any_of(branches, value, path, depth)?;
            }
        }
        if let Some(Value::Array(branches)) = schema.get("allOf") {
            for branch in branches {
                self.check(branch, value, path, nullable, depth + 1)?;
            }
        }
        match value {
            Value::Object(members) => self.check_object(schema, members, path, depth),
            Value::Array(items) => self.check_array(schema, items, path, depth),
            _ => Ok(()),
        }
    }

    fn check_range(
        &self,
        schema: &Map<String, Value>,
        value: &Value,
        path: &str,
    ) -> Result<(), JobVariablesError> {
        let Some(number) = value.as_f64() else {
            return Ok(());
        };
        let out_of_range = |bound: &str, limit: &Value| JobVariablesError::OutOfRange {
            path: path.into(),
            bound: format!("{bound} {limit}"),
            got: value.clone(),
        };
        if let Some(limit) = schema.get("minimum") {
            if limit.as_f64().is_some_and(|min| number < min) {
                return Err(out_of_range("at least", limit));
            }
        }
        if let Some(limit) = schema.get("maximum") {
            if limit.as_f64().is_some_and(|max| number > max) {
                return Err(out_of_range("at most", limit));
            }
        }
        Ok(())
    }

    /// At least one branch must pass. When none does, report the most useful failure: a combined
    /// type error when every branch wanted another type ("expected a string or null"), the one
    /// branch that failed for another reason, or a general mismatch.
    fn any_of(
        &self,
        branches: &[Value],
        value: &Value,
        path: &str,
        depth: usize,
    ) -> Result<(), JobVariablesError> {
        if branches.is_empty() {
            return Ok(());
        }
        let mut wanted_types = Vec::new();
        let mut others = Vec::new();
        for branch in branches {
            match self.check(branch, value, path, false, depth + 1) {
                Ok(()) => return Ok(()),
                Err(err @ JobVariablesError::TooComplex { .. }) => return Err(err),
                Err(JobVariablesError::Type {
                    path: at, expected, ..
                }) if at == path => wanted_types.extend(expected),
                Err(err) => others.push(err),
            }
        }
        if others.is_empty() {
            let mut expected: Vec<JsonType> = Vec::new();
            for kind in wanted_types {
                if !expected.contains(&kind) {
                    expected.push(kind);
                }
            }
            return Err(JobVariablesError::Type {
                path: path.into(),
                expected,
                got: value.clone(),
            });
        }
        if others.len() == 1 {
            return Err(others.remove(0));
        }
        Err(JobVariablesError::NoMatch {
            path: path.into(),
            got: value.clone(),
        })
    }

    fn check_object(
        &self,
        schema: &Map<String, Value>,
        members: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Result<(), JobVariablesError> {
        let properties = schema.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (key, value) in members {
            let member_path = format!("{path}.{key}");
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                let nullable = !required.contains(&key.as_str());
                self.check(property, value, &member_path, nullable, depth + 1)?;
            } else if let Some(additional) = schema.get("additionalProperties") {
                self.check(additional, value, &member_path, false, depth + 1)?;
            }
        }
        if self.check_required {
            if let Some(missing) = required.iter().find(|name| !members.contains_key(**name)) {
                return Err(JobVariablesError::Missing {
                    path: format!("{path}.{missing}"),
                });
            }
        }
        Ok(())
    }

    fn check_array(
        &self,
        schema: &Map<String, Value>,
        items: &[Value],
        path: &str,
        depth: usize,
    ) -> Result<(), JobVariablesError> {
        match schema.get("items") {
            Some(Value::Array(positional)) => {
                for (i, (item, item_schema)) in items.iter().zip(positional).enumerate() {
                    self.check(item_schema, item, &format!("{path}[{i}]"), false, depth + 1)?;
                }
            }
            Some(item_schema) => {
                for (i, item) in items.iter().enumerate() {
                    self.check(item_schema, item, &format!("{path}[{i}]"), false, depth + 1)?;
                }
            }
            None => {}
        }
        Ok(())
    }
}

/// The types a `type` keyword allows; names the validator does not know are skipped (the template
/// check rejects them).
fn type_names(kind: &Value) -> Vec<JsonType> {
    match kind {
        Value::String(name) => JsonType::parse(name).into_iter().collect(),
        Value::Array(names) => names
            .iter()
            .filter_map(|n| n.as_str().and_then(JsonType::parse))
            .collect(),
        _ => Vec::new(),
    }
}
