//! The API values a job configuration refers to, fetched when a run is prepared.
//!
//! Two forms reach a worker, as in Prefect:
//!
//! - a job variable holding `{"$ref": {"block_document_id": "<id>"}}` (how Prefect's UI and
//!   client store a block chosen for a variable such as `cluster_config`) becomes that block
//!   document's data, secrets included;
//! - a `{{ prefect.blocks.<type>.<name>[.<path>] }}` or `{{ prefect.variables.<name> }}`
//!   placeholder left in the rendered configuration becomes the document's data (its `value`
//!   when that is its only field, as for a Secret) or the variable's value.

use serde_json::{Map, Value};
use weir_client::{Client, Method};
use weir_core::job_template::{external_references, render_with, ExternalReference};

/// Replaces each `{"$ref": {"block_document_id": ...}}` among the variables by the document's data.
pub(crate) async fn resolve_block_refs(
    client: &Client,
    variables: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut resolved = Map::new();
    for (name, value) in variables {
        let value = resolve_value(client, value, &name, 0).await?;
        resolved.insert(name, value);
    }
    Ok(resolved)
}

fn block_document_id(value: &Value) -> Option<&str> {
    let reference = value.as_object().filter(|o| o.len() == 1)?.get("$ref")?;
    reference
        .get("block_document_id")
        .and_then(Value::as_str)
        .or_else(|| reference.as_str())
}

/// Nested documents can refer to others, so this recurses (to a sane depth).
fn resolve_value<'a>(
    client: &'a Client,
    value: Value,
    path: &'a str,
    depth: usize,
) -> futures::future::BoxFuture<'a, Result<Value, String>> {
    Box::pin(async move {
        if depth > 16 {
            return Err(format!(
                "job_variables.{path}: block references nest too deeply"
            ));
        }
        if let Some(id) = block_document_id(&value) {
            let document = fetch(
                client,
                &format!("/block_documents/{id}?include_secrets=true"),
                &format!("job_variables.{path}: block document {id}"),
            )
            .await?;
            let data = document.get("data").cloned().unwrap_or(Value::Null);
            return resolve_value(client, data, path, depth + 1).await;
        }
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    let item = resolve_value(client, item, path, depth + 1).await?;
                    out.insert(key, item);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(resolve_value(client, item, path, depth + 1).await?);
                }
                Ok(Value::Array(out))
            }
            other => Ok(other),
        }
    })
}

/// Fills the `prefect.blocks.*` and `prefect.variables.*` placeholders of a rendered configuration.
pub(crate) async fn fill_external(client: &Client, rendered: Value) -> Result<Value, String> {
    let references = external_references(&rendered).map_err(|e| e.to_string())?;
    if references.is_empty() {
        return Ok(rendered);
    }
    let mut values = std::collections::HashMap::new();
    for reference in &references {
        let value = match reference {
            ExternalReference::Block {
                block_type_slug,
                block_document_name,
                key_path,
                ..
            } => {
                let document = fetch(
                    client,
                    &format!(
                        "/block_types/slug/{block_type_slug}/block_documents/name/{block_document_name}?include_secrets=true"
                    ),
                    &format!("block {block_type_slug}/{block_document_name}"),
                )
                .await?;
                let data = document.get("data").cloned().unwrap_or(Value::Null);
                // A document with one `value` field (a Secret, a String) stands for that value.
                let data = match data.as_object() {
                    Some(fields) if fields.len() == 1 && fields.contains_key("value") => {
                        fields["value"].clone()
                    }
                    _ => data,
                };
                match key_path {
                    Some(path) => path
                        .split('.')
                        .try_fold(&data, |at, key| at.get(key))
                        .cloned()
                        .ok_or_else(|| {
                            format!("block {block_type_slug}/{block_document_name} has no {path}")
                        })?,
                    None => data,
                }
            }
            ExternalReference::Variable { name, .. } => {
                let variable = fetch(
                    client,
                    &format!("/variables/name/{name}"),
                    &format!("variable {name}"),
                )
                .await?;
                variable.get("value").cloned().unwrap_or(Value::Null)
            }
        };
        values.insert(reference.placeholder().to_owned(), value);
    }
    render_with(&rendered, |name| values.get(name).cloned()).map_err(|e| e.to_string())
}

async fn fetch(client: &Client, path: &str, what: &str) -> Result<Value, String> {
    match client.request(Method::GET, path, None::<&Value>).await {
        Ok((_, body)) => Ok(body),
        Err(error) if error.status().is_some_and(|s| s.as_u16() == 404) => {
            Err(format!("{what} does not exist"))
        }
        Err(error) => Err(format!("cannot read {what}: {error}")),
    }
}
