//! `#[derive(Block)]` and the `Block` trait against Weir servers on both backends: a user-defined
//! block type registers itself (idempotently), saves a document with a secret, and reads it back
//! masked through the API and unmasked through `load`.

use super::*;
use weir_sdk::{schemars, with_api, ApiConfig, Block};
use weir_testkit::server_test;

/// Where a pipeline writes its results.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema, Block)]
#[block(slug = "result-bucket", name = "Result Bucket")]
struct ResultBucket {
    /// The bucket's name.
    bucket: String,
    #[block(secret)]
    access_key: String,
    region: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema, Block)]
struct PlainSettings {
    retries: u32,
}

fn bucket(key: &str) -> ResultBucket {
    ResultBucket {
        bucket: "runs".into(),
        access_key: key.into(),
        region: Some("eu-west-1".into()),
    }
}

#[test]
fn the_schema_has_prefects_block_shape() {
    let schema = ResultBucket::schema();
    assert_eq!(schema["block_type_slug"], "result-bucket");
    assert_eq!(schema["title"], "ResultBucket");
    assert_eq!(
        schema["description"],
        "Where a pipeline writes its results."
    );
    assert_eq!(schema["secret_fields"], json!(["access_key"]));
    assert_eq!(schema["block_schema_references"], json!({}));
    assert_eq!(schema["properties"]["access_key"]["format"], "password");
    assert_eq!(schema["properties"]["access_key"]["writeOnly"], true);
    assert!(schema["properties"]["bucket"].get("format").is_none());
    assert!(schema.get("$schema").is_none());
    assert_eq!(ResultBucket::block_type_name(), "Result Bucket");
    assert_eq!(ResultBucket::schema_version(), env!("CARGO_PKG_VERSION"));
    assert!(ResultBucket::checksum().starts_with("sha256:"));
    assert_eq!(PlainSettings::block_type_slug(), "plain-settings");
    assert_eq!(PlainSettings::block_type_name(), "Plain Settings");
    assert!(PlainSettings::secret_fields().is_empty());
}

server_test!(a_derived_block_registers_saves_and_loads, |server| {
    let c = client(&server);
    let (block_type, schema) = ResultBucket::register(&c).await.unwrap();
    assert_eq!(block_type.slug, "result-bucket");
    assert_eq!(block_type.name, "Result Bucket");
    assert_eq!(schema.checksum, ResultBucket::checksum());
    let (again_type, again_schema) = ResultBucket::register(&c).await.unwrap();
    assert_eq!((again_type.id, again_schema.id), (block_type.id, schema.id));

    let api = ApiConfig::new(server.api_url());
    let saved = with_api(api.clone(), bucket("s3cr3t").save("prod"))
        .await
        .unwrap();
    assert_eq!(saved.data["access_key"], "********");
    assert_eq!(saved.data["bucket"], "runs");
    let masked = c
        .read_block_document_by_name("result-bucket", "prod", false)
        .await
        .unwrap();
    assert_eq!(masked.data["access_key"], "********");
    let loaded = with_api(api.clone(), ResultBucket::load("prod"))
        .await
        .unwrap();
    assert_eq!(loaded, bucket("s3cr3t"));

    let taken = with_api(api.clone(), bucket("other").save("prod"))
        .await
        .unwrap_err();
    assert!(
        matches!(taken, weir_sdk::Error::BlockNameTaken { ref block } if block == "result-bucket/prod"),
        "{taken}"
    );
    bucket("rotated").save_with(&c, "prod", true).await.unwrap();
    assert_eq!(
        ResultBucket::load_with(&c, "prod")
            .await
            .unwrap()
            .access_key,
        "rotated"
    );
    let missing = ResultBucket::load_with(&c, "nope").await.unwrap_err();
    assert!(
        matches!(missing, weir_sdk::Error::Api(ref e) if e.status().is_some_and(|s| s.as_u16() == 404)),
        "{missing}"
    );

    // A document whose data does not fit the type is a readable error, not a panic.
    PlainSettings { retries: 3 }
        .save_with(&c, "three", false)
        .await
        .unwrap();
    let document = c
        .read_block_document_by_name("plain-settings", "three", true)
        .await
        .unwrap();
    assert_eq!(document.data["retries"], 3);
    let update = weir_core::blocks::BlockDocumentUpdate {
        data: Some(json!({"retries": "many"}).as_object().unwrap().clone()),
        ..Default::default()
    };
    c.update_block_document(document.id, &update).await.unwrap();
    let broken = PlainSettings::load_with(&c, "three").await.err().unwrap();
    assert!(
        matches!(broken, weir_sdk::Error::BlockData { .. }),
        "{broken}"
    );
});
