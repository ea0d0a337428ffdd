//! Filling a job configuration's placeholders: the step a worker takes between "this flow run's job
//! variables" and "the manifest or process spec it starts".
//!
//! Rendering happens in two passes because the second needs the API. [`render`] fills job variables
//! and `{{ $ENV }}` and leaves `{{ prefect.blocks.* }}` and `{{ prefect.variables.* }}` untouched;
//! [`external_references`] lists what those untouched placeholders need; the worker fetches it and
//! [`render_with`] fills it in.

use super::placeholder::{self, Placeholder, PlaceholderKind, BLOCK_PREFIX, VARIABLE_PREFIX};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// How deep a job configuration may nest before rendering refuses it (Kubernetes manifests nest about
/// ten levels; the limit keeps a hostile template from exhausting the stack).
const MAX_DEPTH: usize = 128;

/// Why a job configuration could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The job configuration nests deeper than 128 levels.
    #[error("job_configuration: nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// `job_configuration.env` is a literal object, so the `env` variable is merged into it, but the
    /// variable is not an object.
    #[error(
        "job_variables.env: expected an object to merge into job_configuration.env, got {got}"
    )]
    EnvNotObject {
        /// The `env` variable as given, as compact JSON.
        got: String,
    },
    /// A `prefect.blocks.*` or `prefect.variables.*` placeholder that does not name what it must.
    #[error("placeholder {placeholder} is malformed: expected {expected}")]
    MalformedReference {
        /// The placeholder, `{{ name }}`.
        placeholder: String,
        /// The form it should have.
        expected: &'static str,
    },
}

/// A value the API holds that a job configuration refers to; the worker fetches these between
/// [`render`] and [`render_with`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExternalReference {
    /// `{{ prefect.blocks.<block_type_slug>.<block_document_name>[.<key_path>] }}`: the block
    /// document's data, or the value at `key_path` inside it.
    Block {
        /// The placeholder name, the key for [`render_with`]'s lookup.
        placeholder: String,
        /// The block type's slug, e.g. `secret`.
        block_type_slug: String,
        /// The block document's name.
        block_document_name: String,
        /// The dotted path inside the document's data, if any.
        key_path: Option<String>,
    },
    /// `{{ prefect.variables.<name> }}`: the value of a Prefect variable.
    Variable {
        /// The placeholder name, the key for [`render_with`]'s lookup.
        placeholder: String,
        /// The variable's name.
        name: String,
    },
}

impl ExternalReference {
    /// The placeholder name the reference came from; answer it in [`render_with`]'s lookup.
    pub fn placeholder(&self) -> &str {
        match self {
            Self::Block { placeholder, .. } | Self::Variable { placeholder, .. } => placeholder,
        }
    }

    /// Reads a `prefect.blocks.*` or `prefect.variables.*` placeholder name; `None` for any other.
    pub fn parse(name: &str) -> Option<Result<Self, RenderError>> {
        let malformed = |expected| RenderError::MalformedReference {
            placeholder: format!("{{{{ {name} }}}}"),
            expected,
        };
        if let Some(rest) = name.strip_prefix(BLOCK_PREFIX) {
            let mut parts = rest.splitn(3, '.');
            let slug = parts.next().unwrap_or_default();
            let document = parts.next().unwrap_or_default();
            if slug.is_empty() || document.is_empty() {
                return Some(Err(malformed(
                    "prefect.blocks.<block-type-slug>.<block-document-name>[.<path>]",
                )));
            }
            return Some(Ok(Self::Block {
                placeholder: name.to_owned(),
                block_type_slug: slug.to_owned(),
                block_document_name: document.to_owned(),
                key_path: parts.next().map(str::to_owned),
            }));
        }
        let variable = name.strip_prefix(VARIABLE_PREFIX)?;
        if variable.is_empty() {
            return Some(Err(malformed("prefect.variables.<name>")));
        }
        Some(Ok(Self::Variable {
            placeholder: name.to_owned(),
            name: variable.to_owned(),
        }))
    }
}

/// Fills a job configuration from resolved job variables (see
/// [`resolve_variables`](super::resolve_variables)) and the environment.
///
/// - A string that is exactly one placeholder, `"{{ name }}"`, becomes the variable's value with its
///   type: an object, array, number, boolean or null stays one.
/// - When that value is missing, the member holding the string is removed from its object, or the
///   element from its array (`serviceAccountName` vanishes from a Job when no service account is
///   set). Emptied objects stay: `"limits": {}`.
/// - Placeholders inside a longer string are replaced by the value's text: a string as is, anything
///   else as compact JSON, a missing value as nothing.
/// - A placeholder may be a path into a variable: `{{ env.FOO }}`, `{{ command[0] }}`.
/// - `{{ $NAME }}` reads `env_lookup("NAME")`, with the same rules for a missing value. (Prefect
///   3.9.1 leaves `""` for a whole-string `{{ $NAME }}` that is unset; here the member goes, like
///   any other missing value.)
/// - `{{ prefect.blocks.* }}` and `{{ prefect.variables.* }}` stay as written, for
///   [`external_references`] and [`render_with`].
/// - Values are inserted as they are: a placeholder inside a variable's value is never expanded.
/// - If `job_configuration.env` is a literal object rather than a placeholder, the `env` variable's
///   members are merged into it (the variable wins per key), as Prefect does.
///
/// A job configuration that is itself one missing placeholder renders as `null`.
pub fn render(
    job_configuration: &Value,
    variables: &Map<String, Value>,
    env_lookup: impl Fn(&str) -> Option<String>,
) -> Result<Value, RenderError> {
    let resolve = |p: &Placeholder<'_>| match p.kind() {
        PlaceholderKind::Variable => placeholder::lookup(variables, p.name)
            .cloned()
            .map_or(Resolution::Missing, Resolution::Value),
        PlaceholderKind::Env => env_lookup(p.env_name())
            .map_or(Resolution::Missing, |s| Resolution::Value(Value::String(s))),
        PlaceholderKind::Block | PlaceholderKind::PrefectVariable => Resolution::Keep,
    };
    let mut rendered = substitute(job_configuration, &resolve, 0)?.unwrap_or(Value::Null);
    merge_literal_env(job_configuration, &mut rendered, variables)?;
    Ok(rendered)
}

/// Fills every placeholder whose name `lookup` knows, with [`render`]'s rules for a known value
/// (typed when the string is exactly the placeholder, text otherwise), and leaves the others as
/// written. A worker calls it after [`render`] with the block documents and Prefect variables it
/// fetched for [`external_references`], keyed by [`ExternalReference::placeholder`]; to make a member
/// disappear, answer for it in the first pass instead.
pub fn render_with(
    template: &Value,
    lookup: impl Fn(&str) -> Option<Value>,
) -> Result<Value, RenderError> {
    let resolve = |p: &Placeholder<'_>| lookup(p.name).map_or(Resolution::Keep, Resolution::Value);
    Ok(substitute(template, &resolve, 0)?.unwrap_or(Value::Null))
}

/// The block documents and Prefect variables a (rendered) job configuration still refers to, sorted
/// and without repeats. A malformed `prefect.blocks.*` or `prefect.variables.*` placeholder is an
/// error, as it could never be fetched.
pub fn external_references(template: &Value) -> Result<Vec<ExternalReference>, RenderError> {
    let mut found = BTreeSet::new();
    let mut stack = vec![template];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(text) => {
                for p in placeholder::placeholders(text) {
                    if let Some(reference) = ExternalReference::parse(p.name) {
                        found.insert(reference?);
                    }
                }
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    Ok(found.into_iter().collect())
}

/// What to put in place of one placeholder.
enum Resolution {
    /// This value.
    Value(Value),
    /// Nothing: the holding member or element goes, or the text is dropped.
    Missing,
    /// The placeholder text itself, for a later pass.
    Keep,
}

/// Renders `template`; `None` means "remove me" (a missing whole-string placeholder).
fn substitute(
    template: &Value,
    resolve: &dyn Fn(&Placeholder<'_>) -> Resolution,
    depth: usize,
) -> Result<Option<Value>, RenderError> {
    if depth > MAX_DEPTH {
        return Err(RenderError::TooDeep);
    }
    Ok(match template {
        Value::String(text) => substitute_str(text, resolve),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.extend(substitute(item, resolve, depth + 1)?);
            }
            Some(Value::Array(out))
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                if let Some(rendered) = substitute(value, resolve, depth + 1)? {
                    out.insert(key.clone(), rendered);
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    })
}

fn substitute_str(text: &str, resolve: &dyn Fn(&Placeholder<'_>) -> Resolution) -> Option<Value> {
    if let Some(p) = placeholder::whole(text) {
        return match resolve(&p) {
            Resolution::Value(value) => Some(value),
            Resolution::Missing => None,
            Resolution::Keep => Some(Value::String(text.to_owned())),
        };
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for p in placeholder::placeholders(text) {
        out.push_str(&text[copied..p.start]);
        match resolve(&p) {
            Resolution::Value(value) => out.push_str(&as_text(&value)),
            Resolution::Missing => {}
            Resolution::Keep => out.push_str(p.text),
        }
        copied = p.end();
    }
    out.push_str(&text[copied..]);
    Some(Value::String(out))
}

/// A value as it reads inside a longer string: strings without quotes, the rest as compact JSON.
pub(super) fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Merges the `env` variable into a literal `job_configuration.env` object.
fn merge_literal_env(
    job_configuration: &Value,
    rendered: &mut Value,
    variables: &Map<String, Value>,
) -> Result<(), RenderError> {
    let Some(Value::Object(_)) = job_configuration.get("env") else {
        return Ok(());
    };
    let Some(Value::Object(rendered_env)) = rendered.get_mut("env") else {
        return Ok(());
    };
    match variables.get("env") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(env)) => {
            for (key, value) in env {
                rendered_env.insert(key.clone(), value.clone());
            }
            Ok(())
        }
        Some(other) => Err(RenderError::EnvNotObject {
            got: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/weir".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn placeholder_rules() {
        let variables = vars(json!({
            "image": "repo/img:1",
            "count": 3,
            "ratio": 0.5,
            "flag": false,
            "nothing": null,
            "labels": {"team": "data"},
            "command": ["python", "-m", "flow"],
            "env": {"FOO": "bar"},
            "tricky": "{{ image }}",
        }));
        // (template, rendered); a rendered `None` means the member was removed.
        let cases: Vec<(Value, Option<Value>)> = vec![
            // Typed replacement.
            (json!("{{ image }}"), Some(json!("repo/img:1"))),
            (json!("{{count}}"), Some(json!(3))),
            (json!("{{ ratio }}"), Some(json!(0.5))),
            (json!("{{ flag }}"), Some(json!(false))),
            (json!("{{ nothing }}"), Some(json!(null))),
            (json!("{{ labels }}"), Some(json!({"team": "data"}))),
            (
                json!("{{ command }}"),
                Some(json!(["python", "-m", "flow"])),
            ),
            // Paths into a variable.
            (json!("{{ env.FOO }}"), Some(json!("bar"))),
            (json!("{{ command[1] }}"), Some(json!("-m"))),
            // Missing: the member goes.
            (json!("{{ missing }}"), None),
            (json!("{{ env.NOPE }}"), None),
            // Text interpolation.
            (json!("{{ image }}-x"), Some(json!("repo/img:1-x"))),
            (
                json!("n={{ count }} f={{ flag }}"),
                Some(json!("n=3 f=false")),
            ),
            (
                json!("l={{ labels }}"),
                Some(json!("l={\"team\":\"data\"}")),
            ),
            (
                json!("c={{ command }}"),
                Some(json!("c=[\"python\",\"-m\",\"flow\"]")),
            ),
            (json!("z={{ nothing }}"), Some(json!("z=null"))),
            (json!("[{{ missing }}]"), Some(json!("[]"))),
            (json!("{{ a }}{{ image }}"), Some(json!("repo/img:1"))),
            // Inserted values are not expanded again.
            (json!("{{ tricky }}"), Some(json!("{{ image }}"))),
            (json!("<{{ tricky }}>"), Some(json!("<{{ image }}>"))),
            // The environment.
            (json!("{{ $HOME }}"), Some(json!("/home/weir"))),
            (json!("{{ $EMPTY }}"), Some(json!(""))),
            (json!("{{ $UNSET }}"), None),
            (
                json!("{{ $HOME }}/bin:{{ $UNSET }}"),
                Some(json!("/home/weir/bin:")),
            ),
            // API references wait for the second pass.
            (
                json!("{{ prefect.blocks.secret.tok }}"),
                Some(json!("{{ prefect.blocks.secret.tok }}")),
            ),
            (
                json!("a {{ prefect.variables.v }}"),
                Some(json!("a {{ prefect.variables.v }}")),
            ),
            // Not placeholders.
            (json!("{{ a b }}"), Some(json!("{{ a b }}"))),
            (json!(7), Some(json!(7))),
        ];
        for (template, want) in cases {
            let config = json!({"k": template.clone(), "list": [template.clone(), "end"]});
            let got = render(&config, &variables, env).unwrap();
            let want_config = match &want {
                Some(value) => json!({"k": value, "list": [value, "end"]}),
                None => json!({"list": ["end"]}),
            };
            assert_eq!(got, want_config, "template {template}");
        }
    }

    #[test]
    fn empty_objects_stay_and_root_placeholder_can_vanish() {
        let variables = vars(json!({}));
        let config = json!({"limits": {"cpu": "{{ cpu }}"}, "args": ["{{ a }}"]});
        assert_eq!(
            render(&config, &variables, env).unwrap(),
            json!({"limits": {}, "args": []})
        );
        assert_eq!(
            render(&json!("{{ a }}"), &variables, env).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn literal_env_is_merged_with_the_env_variable() {
        let config = json!({"env": {"A": "1", "B": "{{ $HOME }}", "C": "{{ name }}"}, "x": 1});
        let cases = [
            (
                json!({"env": {"B": "2", "D": "4"}, "name": "n"}),
                json!({"A": "1", "B": "2", "C": "n", "D": "4"}),
            ),
            (
                json!({"name": "n"}),
                json!({"A": "1", "B": "/home/weir", "C": "n"}),
            ),
            (json!({"env": null}), json!({"A": "1", "B": "/home/weir"})),
            // Values merged in are not expanded.
            (
                json!({"env": {"E": "{{ name }}"}, "name": "n"}),
                json!({"A": "1", "B": "/home/weir", "C": "n", "E": "{{ name }}"}),
            ),
        ];
        for (variables, want_env) in cases {
            let got = render(&config, &vars(variables.clone()), env).unwrap();
            assert_eq!(
                got,
                json!({"env": want_env, "x": 1}),
                "variables {variables}"
            );
        }
        let err = render(&config, &vars(json!({"env": "oops"})), env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "job_variables.env: expected an object to merge into job_configuration.env, got \"oops\""
        );
        // A placeholder `env` is replaced, not merged.
        let config = json!({"env": "{{ env }}"});
        let got = render(&config, &vars(json!({"env": {"X": "1"}})), env).unwrap();
        assert_eq!(got, json!({"env": {"X": "1"}}));
    }

    #[test]
    fn second_pass_fills_what_the_caller_knows() {
        let first = render(
            &json!({
                "token": "{{ prefect.blocks.secret.api-token }}",
                "url": "https://{{ prefect.variables.host }}/x",
                "cfg": "{{ prefect.blocks.kubernetes-cluster-config.prod.config.clusters[0] }}",
                "unknown": "{{ prefect.variables.nope }}",
                "image": "{{ image }}",
            }),
            &vars(json!({"image": "i"})),
            env,
        )
        .unwrap();
        let refs = external_references(&first).unwrap();
        let names: Vec<&str> = refs.iter().map(ExternalReference::placeholder).collect();
        assert_eq!(
            names,
            [
                "prefect.blocks.kubernetes-cluster-config.prod.config.clusters[0]",
                "prefect.blocks.secret.api-token",
                "prefect.variables.host",
                "prefect.variables.nope",
            ]
        );
        assert_eq!(
            refs[0],
            ExternalReference::Block {
                placeholder: names[0].to_owned(),
                block_type_slug: "kubernetes-cluster-config".into(),
                block_document_name: "prod".into(),
                key_path: Some("config.clusters[0]".into()),
            }
        );
        assert_eq!(
            refs[2],
            ExternalReference::Variable {
                placeholder: "prefect.variables.host".into(),
                name: "host".into(),
            }
        );
        let second = render_with(&first, |name| match name {
            "prefect.blocks.secret.api-token" => Some(json!({"value": "s3cr3t"})),
            "prefect.variables.host" => Some(json!("example.com")),
            _ => None,
        })
        .unwrap();
        assert_eq!(second["token"], json!({"value": "s3cr3t"}));
        assert_eq!(second["url"], json!("https://example.com/x"));
        assert_eq!(second["unknown"], json!("{{ prefect.variables.nope }}"));
        assert_eq!(second["image"], json!("i"));
    }

    #[test]
    fn malformed_references() {
        for name in [
            "prefect.blocks.secret",
            "prefect.blocks..x",
            "prefect.variables.",
        ] {
            let template = json!({"a": format!("{{{{ {name} }}}}")});
            let err = external_references(&template).unwrap_err();
            assert!(
                matches!(&err, RenderError::MalformedReference { placeholder, .. } if placeholder.contains(name)),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn too_deep_is_an_error() {
        let mut deep = json!("{{ x }}");
        for _ in 0..=MAX_DEPTH {
            deep = json!([deep]);
        }
        assert_eq!(render(&deep, &Map::new(), env), Err(RenderError::TooDeep));
        assert_eq!(render_with(&deep, |_| None), Err(RenderError::TooDeep));
    }
}
