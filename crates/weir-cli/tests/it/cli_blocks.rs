//! `weir block` as users run it against `weir server start` on SQLite: the built-in types, a type
//! and schema registered from a file (twice, changing nothing the second time), documents listed,
//! inspected with their secrets masked, and deleted, and the one-line errors of bad input.

use super::cli_verbs::{weir, weir_args};
use super::*;
use serde_json::json;
use weir_client::{Auth, Client};
use weir_core::blocks::BlockDocumentCreate;

#[tokio::test]
async fn block_verbs() {
    let server = start_server(&[], &[]);
    let types = weir(&server, "block type ls");
    let lines: Vec<&str> = types.ok().lines().collect();
    assert!(lines[0].starts_with("SLUG"), "{}", lines[0]);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("secret") && l.contains(" yes ")),
        "{lines:?}"
    );
    assert_eq!(
        weir(&server, "block type ls -o json")
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(weir(&server, "block ls").ok().trim(), "No blocks found.");

    let dir = std::env::temp_dir().join(format!("weir-block-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("schema.json");
    let schema = json!({
        "title": "Bucket", "type": "object", "block_type_slug": "bucket",
        "description": "Where results go.",
        "properties": {"path": {"type": "string"}, "key": {"type": "string"}},
        "required": ["path"], "secret_fields": ["key"], "block_schema_references": {}
    });
    std::fs::write(&file, schema.to_string()).unwrap();
    let file_arg = file.display().to_string();
    let register = ["block", "register", "--file", file_arg.as_str()];
    let first = weir_args(&server, &register).ok().trim().to_owned();
    let checksum = weir_core::blocks::schema_checksum(schema.as_object().unwrap());
    assert_eq!(
        first,
        format!("Registered block type \"bucket\" with schema {checksum} (version non-versioned).")
    );
    assert_eq!(
        weir_args(&server, &register).ok().trim(),
        first,
        "idempotent"
    );
    let types = weir(&server, "block type ls -o json").json();
    let bucket = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == "bucket")
        .unwrap()
        .clone();
    assert_eq!(bucket["name"], "Bucket");
    assert_eq!(bucket["description"], "Where results go.");

    // A document of it, made through the API, listed and inspected masked.
    let client = Client::new(&server.api_url, Auth::None);
    let schema_id = client
        .read_block_schema_by_checksum(&checksum, None)
        .await
        .unwrap()
        .id;
    let create: BlockDocumentCreate = serde_json::from_value(json!({
        "name": "results", "data": {"path": "/tmp/x", "key": "s3cr3t"},
        "block_schema_id": schema_id, "block_type_id": bucket["id"]
    }))
    .unwrap();
    client.create_block_document(&create).await.unwrap();
    let listing = weir(&server, "block ls");
    let lines: Vec<&str> = listing.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("BLOCK           TYPE    ID"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("bucket/results  Bucket  "),
        "{}",
        lines[1]
    );
    assert_eq!(
        weir(&server, "block ls -o json").json()[0]["data"]["key"],
        "********"
    );
    let inspected = weir(&server, "block inspect bucket/results").json();
    assert_eq!(
        inspected["data"],
        json!({"path": "/tmp/x", "key": "********"})
    );
    let loaded = client
        .read_block_document_by_name("bucket", "results", true)
        .await
        .unwrap();
    assert_eq!(loaded.data["key"], "s3cr3t");

    weir(&server, "block inspect results").fails_with("is not TYPE-SLUG/NAME");
    weir(&server, "block inspect bucket/nope").fails_with("block \"bucket/nope\" not found");
    assert_eq!(
        weir(&server, "block delete bucket/results").ok().trim(),
        "Deleted block \"bucket/results\"."
    );
    weir(&server, "block delete bucket/results").fails_with("not found");
    std::fs::write(&file, r#"{"title": "No slug"}"#).unwrap();
    weir_args(&server, &register).fails_with("has no \"block_type_slug\"");
    std::fs::write(&file, r#"{"title": "Bad", "block_type_slug": "Bad Slug"}"#).unwrap();
    weir_args(&server, &register).fails_with("slug: ");
    weir_args(
        &server,
        &["block", "register", "--file", "/nonexistent.json"],
    )
    .fails_with("cannot read");
    let _ = std::fs::remove_dir_all(&dir);
}
