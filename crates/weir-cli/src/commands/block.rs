//! `weir block`: register a block type and schema from a JSON schema file, list, inspect and delete
//! block documents, and list block types. Documents are named `TYPE-SLUG/NAME`, as `prefect block`
//! names them; `inspect` shows secret values masked.
//!
//! `register --file` reads a block schema in Prefect's shape: a JSON schema object with
//! `block_type_slug` (the type's slug), `title`, optional `description`, `properties`,
//! `secret_fields` and `block_schema_references` — what `Block::schema()` of the Rust SDK and
//! `model_json_schema()` of a Python block produce. The type is created when its slug is new (named
//! `--name`, else the schema's title) and its description updated when it differs; the schema is
//! created unless one with the same checksum and version exists.

use crate::api::{self, ApiResultExt};
use crate::commands::work_pool::Format;
use crate::output::{self, Table};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use weir_client::Client;
use weir_core::blocks::{
    BlockDocument, BlockSchemaCreate, BlockTypeCreate, BlockTypeUpdate,
    DEFAULT_BLOCK_SCHEMA_VERSION,
};

#[derive(Subcommand)]
pub enum BlockCommand {
    /// Register a block type and its schema from a JSON schema file.
    Register(RegisterArgs),
    /// List block documents.
    Ls {
        /// Output format: json.
        #[arg(long, short = 'o')]
        output: Option<Format>,
    },
    /// Show a block document as JSON (secret values masked).
    Inspect {
        /// The document: TYPE-SLUG/NAME.
        slug_name: String,
    },
    /// Delete a block document.
    Delete {
        /// The document: TYPE-SLUG/NAME.
        slug_name: String,
    },
    /// Block types.
    Type {
        #[command(subcommand)]
        command: BlockTypeCommand,
    },
}

#[derive(Subcommand)]
pub enum BlockTypeCommand {
    /// List block types.
    Ls {
        /// Output format: json.
        #[arg(long, short = 'o')]
        output: Option<Format>,
    },
}

#[derive(Args)]
pub struct RegisterArgs {
    /// A JSON file holding the block schema (with `block_type_slug`).
    #[arg(long)]
    file: PathBuf,
    /// The block type's display name (default: the schema's `title`).
    #[arg(long)]
    name: Option<String>,
    /// The schema's version.
    #[arg(long, default_value = DEFAULT_BLOCK_SCHEMA_VERSION)]
    schema_version: String,
    /// A capability of the schema (repeatable).
    #[arg(long = "capability")]
    capabilities: Vec<String>,
}

pub async fn run(command: BlockCommand) -> anyhow::Result<()> {
    let client = api::client();
    match command {
        BlockCommand::Register(args) => register(&client, args).await,
        BlockCommand::Ls { output } => ls(&client, output).await,
        BlockCommand::Inspect { slug_name } => {
            let document = read(&client, &slug_name).await?;
            output::json(&document)
        }
        BlockCommand::Delete { slug_name } => {
            let document = read(&client, &slug_name).await?;
            client
                .delete_block_document(document.id)
                .await
                .or_not_found(|| format!("block {slug_name:?}"))?;
            output::line(format!("Deleted block {slug_name:?}."));
            Ok(())
        }
        BlockCommand::Type {
            command: BlockTypeCommand::Ls { output },
        } => type_ls(&client, output).await,
    }
}

/// `TYPE-SLUG/NAME` split in two.
fn split_slug_name(slug_name: &str) -> anyhow::Result<(&str, &str)> {
    match slug_name.split_once('/') {
        Some((slug, name)) if !slug.is_empty() && !name.is_empty() => Ok((slug, name)),
        _ => anyhow::bail!("{slug_name:?} is not TYPE-SLUG/NAME, e.g. secret/my-token"),
    }
}

async fn read(client: &Client, slug_name: &str) -> anyhow::Result<BlockDocument> {
    let (slug, name) = split_slug_name(slug_name)?;
    client
        .read_block_document_by_name(slug, name, false)
        .await
        .or_not_found(|| format!("block {slug_name:?}"))
}

async fn register(client: &Client, args: RegisterArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let fields: Map<String, Value> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON object", args.file.display()))?;
    let text_field = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
    let slug = text_field("block_type_slug").with_context(|| {
        format!(
            "{} has no \"block_type_slug\": a block schema names its block type's slug",
            args.file.display()
        )
    })?;
    let name = args
        .name
        .or_else(|| text_field("title"))
        .with_context(|| format!("{} has no \"title\": pass --name", args.file.display()))?;
    let description = text_field("description");
    let block_type = match client.read_block_type_by_slug(&slug).await {
        Ok(found) => {
            let update = BlockTypeUpdate {
                description: Some(description),
                ..Default::default()
            };
            if update.changes(&found) {
                client.update_block_type(found.id, &update).await.api()?;
            }
            found
        }
        Err(err) if api::is_not_found(&err) => {
            let create = BlockTypeCreate {
                name,
                slug: slug.clone(),
                logo_url: None,
                documentation_url: None,
                description,
                code_example: None,
            };
            client.create_block_type(&create).await.api()?
        }
        Err(err) => anyhow::bail!(api::describe(&err)),
    };
    let create = BlockSchemaCreate {
        fields,
        block_type_id: block_type.id,
        capabilities: args.capabilities,
        version: args.schema_version,
    };
    let schema = client.create_block_schema(&create).await.api()?;
    output::line(format!(
        "Registered block type {slug:?} with schema {} (version {}).",
        schema.checksum, schema.version
    ));
    Ok(())
}

async fn ls(client: &Client, format: Option<Format>) -> anyhow::Result<()> {
    // The server answers at most 200 per request.
    let mut documents = Vec::new();
    loop {
        let filter =
            json!({"sort": "BLOCK_TYPE_AND_NAME_ASC", "limit": 200, "offset": documents.len()});
        let page = client.filter_block_documents(&filter).await.api()?;
        let done = page.len() < 200;
        documents.extend(page);
        if done {
            break;
        }
    }
    if matches!(format, Some(Format::Json)) {
        return output::json(&documents);
    }
    if documents.is_empty() {
        output::line("No blocks found.");
        return Ok(());
    }
    let mut table = Table::new(&["BLOCK", "TYPE", "ID", "UPDATED"]);
    for document in &documents {
        let slug = document
            .block_type
            .as_ref()
            .map_or("-", |t| t.slug.as_str());
        table.row(vec![
            format!("{slug}/{}", document.name.as_deref().unwrap_or("-")),
            document.block_type_name.clone().unwrap_or_default(),
            document.id.to_string(),
            output::when(document.updated),
        ]);
    }
    table.print();
    Ok(())
}

async fn type_ls(client: &Client, format: Option<Format>) -> anyhow::Result<()> {
    let types = client
        .filter_block_types(&json!({"limit": 200}))
        .await
        .api()?;
    if matches!(format, Some(Format::Json)) {
        return output::json(&types);
    }
    let mut table = Table::new(&["SLUG", "NAME", "PROTECTED", "UPDATED"]);
    for block_type in &types {
        table.row(vec![
            block_type.slug.clone(),
            block_type.name.clone(),
            if block_type.is_protected { "yes" } else { "no" }.to_owned(),
            output::when(block_type.updated),
        ]);
    }
    table.print();
    Ok(())
}
