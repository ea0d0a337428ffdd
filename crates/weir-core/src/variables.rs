//! Variables: named JSON values with tags, in Prefect 3.9.1's wire shapes, with the rules Prefect's
//! server applies to them (name charset and length, value size) and the filter of
//! `POST /variables/filter` and `/count`.
//!
//! Pure: the checks return messages for the server to wrap in a 422 naming the field.

use crate::filters::{Operator, Predicate, SqlValue};
use crate::time::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest variable name Prefect accepts, in characters.
pub const MAX_VARIABLE_NAME_LENGTH: usize = 255;
/// The longest value Prefect accepts, in bytes of its compact JSON.
pub const MAX_VARIABLE_VALUE_LENGTH: usize = 5000;
/// The page size of `/variables/filter` when none is given, and the largest allowed.
pub const DEFAULT_VARIABLE_LIMIT: i64 = 200;

/// A stored variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Variable {
    pub id: Uuid,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub name: String,
    #[schema(value_type = Object)]
    pub value: Value,
    pub tags: Vec<String>,
}

/// Body of `POST /variables/`. `value` is required but may be `null`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableCreate {
    pub name: String,
    #[schema(value_type = Object)]
    pub value: Value,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `Some(value)` for a present field, even `null`; `None` when absent.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Body of `PATCH /variables/{id}` and `/variables/name/{name}`: absent fields stay as they are;
/// `"value": null` sets the value to `null`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// Checks a variable name: lowercase ASCII letters, digits, `-` and `_`, at most 255 characters.
/// Like Prefect, the empty name passes.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.chars().count() > MAX_VARIABLE_NAME_LENGTH {
        return Err(format!(
            "must be at most {MAX_VARIABLE_NAME_LENGTH} characters long"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
    {
        return Err(format!(
            "{bad:?} is not allowed: use lowercase letters, digits, '-' and '_'"
        ));
    }
    Ok(())
}

/// Checks a value's size: its compact JSON must be at most 5000 bytes (`null` always passes).
pub fn check_value(value: &Value) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let size = serde_json::to_string(value).map_or(0, |text| text.len());
    if size > MAX_VARIABLE_VALUE_LENGTH {
        return Err(format!(
            "is {size} characters as JSON; the limit is {MAX_VARIABLE_VALUE_LENGTH}"
        ));
    }
    Ok(())
}

/// `variables.id`: `any_`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableFilterId {
    pub any_: Option<Vec<Uuid>>,
}

/// `variables.name`: `any_` and `like_` (case-insensitive substring).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableFilterName {
    pub any_: Option<Vec<String>>,
    pub like_: Option<String>,
}

/// `variables.tags`: `all_` (has every tag) and `is_null_` (has no tags).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableFilterTags {
    #[serde(default)]
    pub operator: Operator,
    pub all_: Option<Vec<String>>,
    pub is_null_: Option<bool>,
}

/// The `variables` filter.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableFilter {
    #[serde(default)]
    pub operator: Operator,
    pub id: Option<VariableFilterId>,
    pub name: Option<VariableFilterName>,
    pub tags: Option<VariableFilterTags>,
}

fn text(values: impl IntoIterator<Item = String>) -> Vec<SqlValue> {
    values.into_iter().map(SqlValue::Text).collect()
}

fn in_list(column: &'static str, values: Vec<SqlValue>) -> Predicate {
    if values.is_empty() {
        Predicate::False
    } else {
        Predicate::In(column, values)
    }
}

impl VariableFilter {
    /// The predicate over the `variable` table's `id`, `name` and `tags` columns.
    pub fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        if let Some(ids) = self.id.as_ref().and_then(|f| f.any_.as_ref()) {
            parts.push(in_list("id", text(ids.iter().map(Uuid::to_string))));
        }
        if let Some(name) = &self.name {
            let mut both = Vec::new();
            if let Some(names) = &name.any_ {
                both.push(in_list("name", text(names.iter().cloned())));
            }
            if let Some(like) = name.like_.as_ref().filter(|l| !l.is_empty()) {
                both.push(Predicate::Contains("name", like.clone()));
            }
            parts.push(Predicate::combine(Operator::And, both));
        }
        if let Some(tags) = &self.tags {
            let mut both = Vec::new();
            for tag in tags.all_.iter().flatten() {
                both.push(Predicate::HasTag("tags", tag.clone()));
            }
            let none = SqlValue::Text("|".into());
            match tags.is_null_ {
                Some(true) => both.push(Predicate::Compare("tags", "=", none)),
                Some(false) => both.push(Predicate::Compare("tags", ">", none)),
                None => {}
            }
            parts.push(Predicate::combine(tags.operator, both));
        }
        Predicate::combine(self.operator, parts)
    }
}

/// Sort orders of `/variables/filter`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VariableSort {
    CreatedDesc,
    UpdatedDesc,
    NameDesc,
    #[default]
    NameAsc,
}

impl VariableSort {
    /// The `ORDER BY` clause body for this sort.
    pub fn order_by(self) -> &'static str {
        match self {
            VariableSort::CreatedDesc => "created DESC, id",
            VariableSort::UpdatedDesc => "updated DESC, id",
            VariableSort::NameDesc => "name DESC, id",
            VariableSort::NameAsc => "name ASC, id",
        }
    }
}

/// Body of `POST /variables/filter`. Top-level keys other than these are ignored, as FastAPI does;
/// unknown keys inside `variables` are refused.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct VariableFilterBody {
    pub variables: Option<VariableFilter>,
    #[serde(default)]
    pub sort: VariableSort,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl VariableFilterBody {
    /// The page to read, `(limit, offset)`, or the offending field and why it is refused.
    pub fn page(&self) -> Result<(i64, i64), (&'static str, String)> {
        let limit = self.limit.unwrap_or(DEFAULT_VARIABLE_LIMIT);
        if limit < 0 {
            return Err(("limit", "must be greater than or equal to 0".into()));
        }
        if limit > DEFAULT_VARIABLE_LIMIT {
            return Err((
                "limit",
                format!("must be less than or equal to {DEFAULT_VARIABLE_LIMIT}"),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(("offset", "must be greater than or equal to 0".into()));
        }
        Ok((limit, offset))
    }
}

/// Body of `POST /variables/count`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct VariableCountBody {
    pub variables: Option<VariableFilter>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_prefects_charset_and_length() {
        assert!(check_name("my_var-2").is_ok());
        assert!(
            check_name("").is_ok(),
            "Prefect's pattern admits the empty name"
        );
        assert!(check_name("My").unwrap_err().contains("'M'"));
        assert!(check_name("a b").is_err());
        assert!(check_name("é").is_err());
        assert!(check_name(&"a".repeat(255)).is_ok());
        assert!(check_name(&"a".repeat(256)).unwrap_err().contains("255"));
    }

    #[test]
    fn values_are_limited_by_their_json_size() {
        assert!(check_value(&Value::Null).is_ok());
        // `"…"` adds two quote characters.
        assert!(check_value(&json!("x".repeat(4998))).is_ok());
        assert!(check_value(&json!("x".repeat(4999))).is_err());
        assert!(check_value(&json!({"a": [1, 2, {"b": true}]})).is_ok());
    }

    #[test]
    fn an_update_tells_a_null_value_from_an_absent_one() {
        let set_null: VariableUpdate = serde_json::from_value(json!({"value": null})).unwrap();
        assert_eq!(set_null.value, Some(Value::Null));
        let absent: VariableUpdate = serde_json::from_value(json!({"tags": []})).unwrap();
        assert_eq!(absent.value, None);
        assert_eq!(serde_json::to_value(&absent).unwrap(), json!({"tags": []}));
        assert!(serde_json::from_value::<VariableCreate>(json!({"name": "a"})).is_err());
        assert!(
            serde_json::from_value::<VariableCreate>(json!({"name": "a", "value": null})).is_ok()
        );
    }

    #[test]
    fn filters_become_predicates() {
        let body: VariableFilterBody = serde_json::from_value(json!({
            "variables": {"name": {"any_": ["a", "b"]}, "tags": {"all_": ["x"]}},
            "sort": "CREATED_DESC",
            "ignored": true
        }))
        .unwrap();
        assert_eq!(body.sort, VariableSort::CreatedDesc);
        assert_eq!(
            body.variables.unwrap().predicate(),
            Predicate::And(vec![
                Predicate::In(
                    "name",
                    vec![SqlValue::Text("a".into()), SqlValue::Text("b".into())]
                ),
                Predicate::HasTag("tags", "x".into()),
            ])
        );
        let err = serde_json::from_value::<VariableFilterBody>(json!({
            "variables": {"name": {"startswith_": "a"}}
        }))
        .unwrap_err();
        assert!(err.to_string().contains("startswith_"), "{err}");
        assert_eq!(VariableFilter::default().predicate(), Predicate::True);
    }

    #[test]
    fn pages_are_bounded_like_prefects() {
        let page = |v: Value| {
            serde_json::from_value::<VariableFilterBody>(v)
                .unwrap()
                .page()
        };
        assert_eq!(page(json!({})), Ok((200, 0)));
        assert_eq!(page(json!({"limit": 5, "offset": 2})), Ok((5, 2)));
        assert_eq!(page(json!({"limit": 201})).unwrap_err().0, "limit");
        assert_eq!(page(json!({"limit": -1})).unwrap_err().0, "limit");
        assert_eq!(page(json!({"offset": -1})).unwrap_err().0, "offset");
    }
}
