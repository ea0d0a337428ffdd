//! Finding `{{ name }}` placeholders in strings and reading a placeholder's value out of the job
//! variables.
//!
//! The grammar is Prefect's: `{{`, optional whitespace, a name of one or more letters, digits, `_`,
//! `.`, `-`, `[`, `]` or `$`, optional whitespace, `}}`. Anything else between braces (an empty name,
//! a space inside the name, a Jinja filter) is plain text, not a placeholder.

use serde_json::{Map, Value};

/// One `{{ name }}` occurrence in a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placeholder<'a> {
    /// The whole occurrence, braces and whitespace included: `{{ image }}`.
    pub text: &'a str,
    /// The name between the braces: `image`.
    pub name: &'a str,
    /// Byte offset of `text` in the scanned string.
    pub start: usize,
}

/// What a placeholder refers to, decided by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlaceholderKind {
    /// A job variable, or a path into one: `{{ image }}`, `{{ env.FOO }}`, `{{ command[0] }}`.
    Variable,
    /// An environment variable of the process that renders: `{{ $HOME }}`.
    Env,
    /// A field of a block document: `{{ prefect.blocks.<type-slug>.<name>[.<path>] }}`.
    Block,
    /// A Prefect variable: `{{ prefect.variables.<name> }}`.
    PrefectVariable,
}

/// The name prefix of a block-document placeholder.
pub const BLOCK_PREFIX: &str = "prefect.blocks.";
/// The name prefix of a Prefect-variable placeholder.
pub const VARIABLE_PREFIX: &str = "prefect.variables.";

impl<'a> Placeholder<'a> {
    /// What the placeholder refers to.
    pub fn kind(&self) -> PlaceholderKind {
        kind_of(self.name)
    }

    /// Byte offset just past the closing braces.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }

    /// The environment variable name of an [`PlaceholderKind::Env`] placeholder (`$HOME` -> `HOME`).
    pub fn env_name(&self) -> &'a str {
        self.name.trim_start_matches('$')
    }

    /// The placeholder in canonical spelling, `{{ name }}`, for messages.
    pub fn canonical(&self) -> String {
        format!("{{{{ {} }}}}", self.name)
    }
}

/// What a placeholder name refers to.
pub fn kind_of(name: &str) -> PlaceholderKind {
    if name.starts_with(BLOCK_PREFIX) {
        PlaceholderKind::Block
    } else if name.starts_with(VARIABLE_PREFIX) {
        PlaceholderKind::PrefectVariable
    } else if name.starts_with('$') {
        PlaceholderKind::Env
    } else {
        PlaceholderKind::Variable
    }
}

/// Every placeholder in `text`, left to right, without overlaps.
pub fn placeholders(text: &str) -> Placeholders<'_> {
    Placeholders { text, pos: 0 }
}

/// The placeholder that makes up all of `text`, if `text` is exactly one placeholder
/// (`"{{ image }}"`, not `"{{ name }}-"` or `"{{ a }}{{ b }}"`).
pub fn whole(text: &str) -> Option<Placeholder<'_>> {
    match_at(text, 0).filter(|p| p.text.len() == text.len())
}

/// Iterator over the placeholders of a string; see [`placeholders`].
#[derive(Clone, Debug)]
pub struct Placeholders<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Placeholders<'a> {
    type Item = Placeholder<'a>;

    fn next(&mut self) -> Option<Placeholder<'a>> {
        while self.pos < self.text.len() {
            let candidate = self.pos + self.text[self.pos..].find("{{")?;
            match match_at(self.text, candidate) {
                Some(found) => {
                    self.pos = found.end();
                    return Some(found);
                }
                // `{` is one byte, so the next byte starts a character.
                None => self.pos = candidate + 1,
            }
        }
        None
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']' | '$')
}

/// The placeholder starting exactly at byte `start`, if there is one.
fn match_at(text: &str, start: usize) -> Option<Placeholder<'_>> {
    let after_open = text.get(start..)?.strip_prefix("{{")?;
    let name_part = after_open.trim_start();
    let name_len = name_part
        .find(|c: char| !is_name_char(c))
        .unwrap_or(name_part.len());
    if name_len == 0 {
        return None;
    }
    let (name, rest) = name_part.split_at(name_len);
    let rest = rest.trim_start().strip_prefix("}}")?;
    let end = text.len() - rest.len();
    Some(Placeholder {
        text: &text[start..end],
        name,
        start,
    })
}

/// The segments of a placeholder path: `a.b[0].c` -> `a`, `b`, `0`, `c` (brackets are another way
/// to write a dot, as in Prefect).
fn path_segments(name: &str) -> impl Iterator<Item = &str> {
    name.split(['.', '[']).map(|s| s.trim_end_matches(']'))
}

/// The value a variable placeholder names: the variable itself, or a path into it. Object members are
/// found by key, array elements by index (negative indices count from the end); a path through a
/// scalar, or to a member that does not exist, finds nothing.
pub fn lookup<'v>(variables: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    let mut segments = path_segments(name);
    let mut current = variables.get(segments.next()?)?;
    for segment in segments {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => {
                let index: i64 = segment.parse().ok()?;
                let index = if index < 0 {
                    items
                        .len()
                        .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
                } else {
                    usize::try_from(index).ok()?
                };
                items.get(index)?
            }
            _ => return None,
        };
    }
    Some(current)
}

/// The variable a placeholder path starts from: `env.FOO` -> `env`, `command[0]` -> `command`.
pub fn root_variable(name: &str) -> &str {
    path_segments(name).next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_placeholders_like_prefect() {
        let cases: &[(&str, &[&str])] = &[
            ("{{ image }}", &["image"]),
            ("{{image}}", &["image"]),
            ("{{\n\timage  }}", &["image"]),
            ("{{ name }}-", &["name"]),
            ("{{ a }}{{ b }}", &["a", "b"]),
            (
                "x {{ env.FOO }} {{ $HOME }} {{ list[0] }}",
                &["env.FOO", "$HOME", "list[0]"],
            ),
            (
                "{{ prefect.blocks.secret.tok }}",
                &["prefect.blocks.secret.tok"],
            ),
            ("{{{ a }}}", &["a"]),
            ("{{ }}", &[]),
            ("{{ a b }}", &[]),
            ("{{ a | upper }}", &[]),
            ("{ a }", &[]),
            ("{{ a }", &[]),
            ("{{ ünïcode_名 }}", &["ünïcode_名"]),
            ("", &[]),
        ];
        for (text, want) in cases {
            let got: Vec<&str> = placeholders(text).map(|p| p.name).collect();
            assert_eq!(&got, want, "in {text:?}");
        }
    }

    #[test]
    fn whole_only_when_the_string_is_one_placeholder() {
        assert_eq!(whole("{{ image }}").map(|p| p.name), Some("image"));
        assert_eq!(whole("{{image}}").map(|p| p.name), Some("image"));
        assert_eq!(whole("{{ name }}-"), None);
        assert_eq!(whole(" {{ name }}"), None);
        assert_eq!(whole("{{ a }}{{ b }}"), None);
        assert_eq!(whole("plain"), None);
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of("image"), PlaceholderKind::Variable);
        assert_eq!(kind_of("$HOME"), PlaceholderKind::Env);
        assert_eq!(kind_of("prefect.blocks.s.n"), PlaceholderKind::Block);
        assert_eq!(
            kind_of("prefect.variables.v"),
            PlaceholderKind::PrefectVariable
        );
        assert_eq!(kind_of("prefect.other"), PlaceholderKind::Variable);
    }

    #[test]
    fn lookup_paths() {
        let vars = json!({"env": {"FOO": "bar"}, "cmd": ["a", "b"], "n": 3, "nested": [{"k": 1}]});
        let vars = vars.as_object().unwrap();
        let cases = [
            ("env", Some(json!({"FOO": "bar"}))),
            ("env.FOO", Some(json!("bar"))),
            ("env.MISSING", None),
            ("cmd[1]", Some(json!("b"))),
            ("cmd.0", Some(json!("a"))),
            ("cmd[-1]", Some(json!("b"))),
            ("cmd[-3]", None),
            ("cmd[9]", None),
            ("cmd[x]", None),
            ("nested[0].k", Some(json!(1))),
            ("n.x", None),
            ("missing", None),
        ];
        for (name, want) in cases {
            assert_eq!(lookup(vars, name).cloned(), want, "{name}");
        }
        assert_eq!(root_variable("env.FOO"), "env");
        assert_eq!(root_variable("cmd[0]"), "cmd");
    }
}
