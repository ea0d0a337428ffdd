//! The filters of `/block_types/filter`, `/block_schemas/filter` and `/block_documents/filter`
//! (and `/count`), as predicates over the `block_type`, `block_schema` and `block_document` tables.
//!
//! A document filter that says nothing about `is_anonymous` leaves anonymous documents out, as
//! Prefect's does; `"is_anonymous": null` turns that off.

use crate::filters::{Operator, Predicate, SqlValue};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The page size of the block `/filter` endpoints when none is given, and the largest allowed.
pub const DEFAULT_BLOCK_LIMIT: i64 = 200;

fn ids(values: &[Uuid]) -> Predicate {
    texts(values.iter().map(Uuid::to_string))
}

fn texts(values: impl IntoIterator<Item = String>) -> Predicate {
    let values: Vec<SqlValue> = values.into_iter().map(SqlValue::Text).collect();
    if values.is_empty() {
        Predicate::False
    } else {
        Predicate::In("", values)
    }
}

/// `column IN values` (an empty list matches nothing).
fn in_list(column: &'static str, list: Predicate) -> Predicate {
    match list {
        Predicate::In(_, values) => Predicate::In(column, values),
        other => other,
    }
}

/// `any_` over ids.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdAny {
    pub any_: Option<Vec<Uuid>>,
}

/// `any_` over strings.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextAny {
    pub any_: Option<Vec<String>>,
}

/// `block_types.name`: `like_` (case-insensitive substring).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockTypeFilterName {
    pub like_: Option<String>,
}

/// The `block_types` filter.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockTypeFilter {
    pub name: Option<BlockTypeFilterName>,
    pub slug: Option<TextAny>,
}

impl BlockTypeFilter {
    /// The predicate over the `block_type` table.
    pub fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        if let Some(like) = self
            .name
            .as_ref()
            .and_then(|n| n.like_.as_ref())
            .filter(|l| !l.is_empty())
        {
            parts.push(Predicate::Contains("name", like.clone()));
        }
        if let Some(slugs) = self.slug.as_ref().and_then(|s| s.any_.as_ref()) {
            parts.push(in_list("slug", texts(slugs.iter().cloned())));
        }
        Predicate::combine(Operator::And, parts)
    }
}

/// `block_schemas.block_capabilities`: `all_` (the schema has every one).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockSchemaFilterCapabilities {
    pub all_: Option<Vec<String>>,
}

/// The `block_schemas` filter.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockSchemaFilter {
    #[serde(default)]
    pub operator: Operator,
    pub block_type_id: Option<IdAny>,
    pub block_capabilities: Option<BlockSchemaFilterCapabilities>,
    pub id: Option<IdAny>,
    pub version: Option<TextAny>,
}

impl BlockSchemaFilter {
    /// The predicate over the `block_schema` table.
    pub fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        if let Some(types) = self.block_type_id.as_ref().and_then(|f| f.any_.as_ref()) {
            parts.push(in_list("block_type_id", ids(types)));
        }
        if let Some(all) = self
            .block_capabilities
            .as_ref()
            .and_then(|f| f.all_.as_ref())
        {
            let each = all
                .iter()
                .map(|c| Predicate::HasTag("capabilities", c.clone()))
                .collect();
            parts.push(Predicate::combine(Operator::And, each));
        }
        if let Some(list) = self.id.as_ref().and_then(|f| f.any_.as_ref()) {
            parts.push(in_list("id", ids(list)));
        }
        if let Some(versions) = self.version.as_ref().and_then(|f| f.any_.as_ref()) {
            parts.push(in_list("version", texts(versions.iter().cloned())));
        }
        Predicate::combine(self.operator, parts)
    }
}

/// `block_documents.is_anonymous`: `eq_`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockDocumentFilterIsAnonymous {
    pub eq_: Option<bool>,
}

/// `block_documents.name`: `any_` and `like_` (case-insensitive substring).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockDocumentFilterName {
    pub any_: Option<Vec<String>>,
    pub like_: Option<String>,
}

fn not_anonymous() -> Option<BlockDocumentFilterIsAnonymous> {
    Some(BlockDocumentFilterIsAnonymous { eq_: Some(false) })
}

/// The `block_documents` filter.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockDocumentFilter {
    #[serde(default)]
    pub operator: Operator,
    pub id: Option<IdAny>,
    /// Absent: only named documents; `null`: anonymous ones too.
    #[serde(default = "not_anonymous")]
    pub is_anonymous: Option<BlockDocumentFilterIsAnonymous>,
    pub block_type_id: Option<IdAny>,
    pub name: Option<BlockDocumentFilterName>,
}

impl Default for BlockDocumentFilter {
    fn default() -> Self {
        BlockDocumentFilter {
            operator: Operator::And,
            id: None,
            is_anonymous: not_anonymous(),
            block_type_id: None,
            name: None,
        }
    }
}

impl BlockDocumentFilter {
    /// Matches every document, anonymous ones included.
    pub fn everything() -> Self {
        BlockDocumentFilter {
            is_anonymous: None,
            ..Default::default()
        }
    }

    /// The predicate over the `block_document` table.
    pub fn predicate(&self) -> Predicate {
        let mut parts = Vec::new();
        if let Some(list) = self.id.as_ref().and_then(|f| f.any_.as_ref()) {
            parts.push(in_list("id", ids(list)));
        }
        if let Some(anonymous) = self.is_anonymous.as_ref().and_then(|f| f.eq_) {
            parts.push(Predicate::Compare(
                "is_anonymous",
                "=",
                SqlValue::Int(i64::from(anonymous)),
            ));
        }
        if let Some(types) = self.block_type_id.as_ref().and_then(|f| f.any_.as_ref()) {
            parts.push(in_list("block_type_id", ids(types)));
        }
        if let Some(name) = &self.name {
            let mut both = Vec::new();
            if let Some(names) = &name.any_ {
                both.push(in_list("name", texts(names.iter().cloned())));
            }
            if let Some(like) = name.like_.as_ref().filter(|l| !l.is_empty()) {
                both.push(Predicate::Contains("name", like.clone()));
            }
            parts.push(Predicate::combine(Operator::And, both));
        }
        Predicate::combine(self.operator, parts)
    }
}

/// The predicate of a document filter together with the type and schema filters beside it.
pub fn document_predicate(
    documents: Option<&BlockDocumentFilter>,
    types: Option<&BlockTypeFilter>,
    schemas: Option<&BlockSchemaFilter>,
) -> Predicate {
    let mut parts = vec![documents.cloned().unwrap_or_default().predicate()];
    if let Some(types) = types {
        parts.push(Predicate::InSubquery {
            column: "block_type_id",
            table: "block_type",
            key: "id",
            predicate: Box::new(types.predicate()),
        });
    }
    if let Some(schemas) = schemas {
        parts.push(Predicate::InSubquery {
            column: "block_schema_id",
            table: "block_schema",
            key: "id",
            predicate: Box::new(schemas.predicate()),
        });
    }
    Predicate::combine(Operator::And, parts)
}

/// The predicate of a type filter together with a schema filter (types having a matching schema).
pub fn type_predicate(
    types: Option<&BlockTypeFilter>,
    schemas: Option<&BlockSchemaFilter>,
) -> Predicate {
    let mut parts = vec![types.map_or(Predicate::True, BlockTypeFilter::predicate)];
    if let Some(schemas) = schemas {
        parts.push(Predicate::InSubquery {
            column: "id",
            table: "block_schema",
            key: "block_type_id",
            predicate: Box::new(schemas.predicate()),
        });
    }
    Predicate::combine(Operator::And, parts)
}

/// Checks a page, `(limit, offset)`, or names the offending field.
pub fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), (&'static str, String)> {
    let limit = limit.unwrap_or(DEFAULT_BLOCK_LIMIT);
    if !(0..=DEFAULT_BLOCK_LIMIT).contains(&limit) {
        return Err((
            "limit",
            format!("must be between 0 and {DEFAULT_BLOCK_LIMIT}"),
        ));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(("offset", "must be greater than or equal to 0".into()));
    }
    Ok((limit, offset))
}

/// Body of `POST /block_types/filter`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct BlockTypeFilterBody {
    pub block_types: Option<BlockTypeFilter>,
    pub block_schemas: Option<BlockSchemaFilter>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Body of `POST /block_schemas/filter`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct BlockSchemaFilterBody {
    pub block_schemas: Option<BlockSchemaFilter>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Sort orders of `/block_documents/filter`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BlockDocumentSort {
    NameDesc,
    #[default]
    NameAsc,
    BlockTypeAndNameAsc,
}

impl BlockDocumentSort {
    /// The `ORDER BY` clause body for this sort.
    pub fn order_by(self) -> &'static str {
        match self {
            BlockDocumentSort::NameDesc => "name DESC, id",
            BlockDocumentSort::NameAsc => "name ASC, id",
            BlockDocumentSort::BlockTypeAndNameAsc => "block_type_name ASC, name ASC, id",
        }
    }
}

/// Body of `POST /block_documents/filter`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct BlockDocumentFilterBody {
    pub block_documents: Option<BlockDocumentFilter>,
    pub block_types: Option<BlockTypeFilter>,
    pub block_schemas: Option<BlockSchemaFilter>,
    #[serde(default)]
    pub include_secrets: bool,
    #[serde(default)]
    pub sort: Option<BlockDocumentSort>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Body of `POST /block_documents/count`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct BlockDocumentCountBody {
    pub block_documents: Option<BlockDocumentFilter>,
    pub block_types: Option<BlockTypeFilter>,
    pub block_schemas: Option<BlockSchemaFilter>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anonymous_documents_are_left_out_unless_asked_for() {
        let absent: BlockDocumentFilter = serde_json::from_value(json!({})).unwrap();
        assert_eq!(
            absent.predicate(),
            Predicate::Compare("is_anonymous", "=", SqlValue::Int(0))
        );
        let null: BlockDocumentFilter =
            serde_json::from_value(json!({"is_anonymous": null})).unwrap();
        assert_eq!(null.predicate(), Predicate::True);
        let yes: BlockDocumentFilter =
            serde_json::from_value(json!({"is_anonymous": {"eq_": true}})).unwrap();
        assert_eq!(
            yes.predicate(),
            Predicate::Compare("is_anonymous", "=", SqlValue::Int(1))
        );
        assert_eq!(
            document_predicate(None, None, None),
            Predicate::Compare("is_anonymous", "=", SqlValue::Int(0))
        );
    }

    #[test]
    fn type_and_schema_filters_become_subqueries() {
        let body: BlockDocumentFilterBody = serde_json::from_value(json!({
            "block_types": {"slug": {"any_": ["secret"]}},
            "block_schemas": {"block_capabilities": {"all_": ["a"]}},
            "sort": "BLOCK_TYPE_AND_NAME_ASC"
        }))
        .unwrap();
        let predicate = document_predicate(
            body.block_documents.as_ref(),
            body.block_types.as_ref(),
            body.block_schemas.as_ref(),
        );
        let Predicate::And(parts) = predicate else {
            panic!("{predicate:?}")
        };
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts[1],
            Predicate::InSubquery {
                column: "block_type_id",
                table: "block_type",
                key: "id",
                predicate: Box::new(Predicate::In("slug", vec![SqlValue::Text("secret".into())])),
            }
        );
        assert_eq!(body.sort, Some(BlockDocumentSort::BlockTypeAndNameAsc));
        let empty: BlockSchemaFilter = serde_json::from_value(json!({"id": {"any_": []}})).unwrap();
        assert_eq!(empty.predicate(), Predicate::False);
        assert!(serde_json::from_value::<BlockSchemaFilter>(json!({"nope": 1})).is_err());
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(None, None), Ok((200, 0)));
        assert_eq!(page(Some(201), None).unwrap_err().0, "limit");
        assert_eq!(page(Some(-1), None).unwrap_err().0, "limit");
        assert_eq!(page(None, Some(-1)).unwrap_err().0, "offset");
    }
}
