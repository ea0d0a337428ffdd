//! `/block_types`, `/block_schemas`, `/block_capabilities` and `/block_documents` over HTTP on both
//! backends: the built-in blocks, what `prefect block register` and `Block.save`/`load` send (the
//! shapes of the captured Prefect 3.9.1 traffic), secret masking, nested documents, and the 4xx of
//! bad input.

use super::*;
use reqwest::Method;
use serde_json::{json, Value};
use weir_testkit::server_test;

const CLUSTER_CONFIG: &str =
    "sha256:1842dc8b213ef1595f75681856fae25aee4e0639a0ea867a41f90138edbd664d";
const CREDENTIALS: &str = "sha256:b1e3f10baa42ba79ca4484824207ed351d043d032b2cc234242bb7bf81b6ce56";

async fn get(c: &Client, path: &str) -> (u16, Value) {
    call(c, Method::GET, path, Value::Null).await
}

/// The id of the built-in type `slug` and of its schema.
async fn builtin(c: &Client, slug: &str) -> (String, String) {
    let (status, block_type) = get(c, &format!("/block_types/slug/{slug}")).await;
    assert_eq!(status, 200, "{block_type}");
    let filter = json!({"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}});
    let (_, schemas) = call(c, Method::POST, "/block_schemas/filter", filter).await;
    (
        block_type["id"].as_str().unwrap().to_owned(),
        schemas[0]["id"].as_str().unwrap().to_owned(),
    )
}

async fn create_document(c: &Client, body: Value) -> Value {
    let (status, document) = call(c, Method::POST, "/block_documents/", body).await;
    assert_eq!(status, 201, "{document}");
    document
}

server_test!(builtin_blocks_answer_like_prefects, |server| {
    let c = client(&server);
    let (status, secret) = get(&c, "/block_types/slug/secret").await;
    assert_eq!(status, 200);
    assert_eq!(secret["name"], "Secret");
    assert_eq!(secret["is_protected"], true);
    let (status, refused) = call(
        &c,
        Method::DELETE,
        &format!("/block_types/{}", secret["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        refused["detail"],
        "protected block types cannot be deleted."
    );

    // What `prefect block register -m prefect_kubernetes` reads, then PATCHes.
    let (status, schema) = get(
        &c,
        &format!("/block_schemas/checksum/{CLUSTER_CONFIG}?version=0.8.0"),
    )
    .await;
    assert_eq!(status, 200, "{schema}");
    assert_eq!(schema["checksum"], CLUSTER_CONFIG);
    assert_eq!(schema["block_type"]["slug"], "kubernetes-cluster-config");
    assert_eq!(
        schema["fields"]["required"],
        json!(["config", "context_name"])
    );
    assert_eq!(schema["capabilities"], json!([]));
    let type_id = schema["block_type_id"].as_str().unwrap();
    let (status, _) = call(
        &c,
        Method::PATCH,
        &format!("/block_types/{type_id}"),
        json!({"logo_url": "https://logo", "documentation_url": "https://docs",
               "description": "Stores configuration.", "code_example": "load it"}),
    )
    .await;
    assert_eq!(status, 204);
    let (_, patched) = get(&c, &format!("/block_types/{type_id}")).await;
    assert_eq!(patched["logo_url"], "https://logo");
    assert_eq!(patched["is_protected"], false);
    let (status, _) = get(
        &c,
        &format!("/block_schemas/checksum/{CLUSTER_CONFIG}?version=1.0"),
    )
    .await;
    assert_eq!(status, 404);
    let (_, capabilities) = get(&c, "/block_capabilities/").await;
    assert_eq!(capabilities, json!([]));
    let (_, types) = call(&c, Method::POST, "/block_types/filter", json!({})).await;
    let slugs: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        [
            "kubernetes-cluster-config",
            "kubernetes-credentials",
            "k8s-job",
            "secret"
        ],
        "sorted by name: Kubernetes Cluster Config, Credentials, Job, Secret"
    );
});

server_test!(a_registered_block_type_and_schema_round_trip, |server| {
    let c = client(&server);
    let create = json!({"name": "My Store", "slug": "my-store", "description": "x < y",
                        "logo_url": null, "documentation_url": null, "code_example": null});
    let (status, block_type) = call(&c, Method::POST, "/block_types/", create.clone()).await;
    assert_eq!(status, 201, "{block_type}");
    assert_eq!(
        block_type["description"], "x &lt; y",
        "stored escaped, as Prefect does"
    );
    let (status, taken) = call(&c, Method::POST, "/block_types/", create).await;
    assert_eq!(status, 409, "{taken}");
    let fields = json!({
        "title": "MyStore", "type": "object", "block_type_slug": "my-store",
        "properties": {"bucket": {"title": "Bucket", "type": "string"},
                       "key": {"title": "Key", "type": "string", "format": "password", "writeOnly": true}},
        "required": ["bucket"], "secret_fields": ["key"], "block_schema_references": {}
    });
    let body = json!({"fields": fields, "block_type_id": block_type["id"],
                      "capabilities": ["read-path", "write-path"], "version": "1.2.3"});
    let (status, schema) = call(&c, Method::POST, "/block_schemas/", body.clone()).await;
    assert_eq!(status, 201, "{schema}");
    let expected = weir_core::blocks::schema_checksum(fields.as_object().unwrap());
    assert_eq!(schema["checksum"], expected);
    assert_eq!(schema["block_type"]["slug"], "my-store");
    let (status, again) = call(&c, Method::POST, "/block_schemas/", body).await;
    assert_eq!(
        status, 200,
        "the same checksum and version answer the existing schema"
    );
    assert_eq!(again["id"], schema["id"]);
    let (_, by_id) = get(
        &c,
        &format!("/block_schemas/{}", schema["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(by_id["fields"], fields);
    let (_, capabilities) = get(&c, "/block_capabilities/").await;
    assert_eq!(capabilities, json!(["read-path", "write-path"]));
    let (_, capable) = call(
        &c,
        Method::POST,
        "/block_types/filter",
        json!({"block_schemas": {"block_capabilities": {"all_": ["write-path"]}}}),
    )
    .await;
    assert_eq!(capable.as_array().unwrap().len(), 1);
    assert_eq!(capable[0]["slug"], "my-store");

    // Deleting the type takes its schemas and documents along.
    let type_id = block_type["id"].as_str().unwrap();
    let doc = create_document(
        &c,
        json!({"name": "b", "data": {"bucket": "x", "key": "k"},
               "block_schema_id": schema["id"], "block_type_id": type_id}),
    )
    .await;
    assert_eq!(doc["data"]["key"], "********");
    let (status, _) = call(
        &c,
        Method::DELETE,
        &format!("/block_types/{type_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = get(
        &c,
        &format!("/block_documents/{}", doc["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(
        &c,
        &format!("/block_schemas/{}", schema["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 404);
});

server_test!(
    saving_and_loading_blocks_like_the_prefect_client,
    |server| {
        let c = client(&server);
        let (secret_type, secret_schema) = builtin(&c, "secret").await;
        let saved = create_document(
        &c,
        json!({"name": "my-secret", "data": {"value": "s3cr3t-token"},
               "block_schema_id": secret_schema, "block_type_id": secret_type, "is_anonymous": false}),
    )
    .await;
        assert_eq!(saved["data"], json!({"value": "********"}));
        assert_eq!(saved["block_type_name"], "Secret");
        assert_eq!(saved["block_schema"]["block_type"]["slug"], "secret");
        assert_eq!(saved["block_document_references"], json!({}));
        let (_, loaded) = get(
            &c,
            "/block_types/slug/secret/block_documents/name/my-secret?include_secrets=true",
        )
        .await;
        assert_eq!(loaded["data"]["value"], "s3cr3t-token");
        let id = saved["id"].as_str().unwrap();
        let (_, masked) = get(&c, &format!("/block_documents/{id}")).await;
        assert_eq!(masked["data"]["value"], "********");

        // Writing back the masked value keeps the secret; a new value replaces it.
        let patch = |value: &str| json!({"data": {"value": value}, "merge_existing_data": false});
        let (status, _) = call(
            &c,
            Method::PATCH,
            &format!("/block_documents/{id}"),
            patch("********"),
        )
        .await;
        assert_eq!(status, 204);
        let (_, kept) = get(&c, &format!("/block_documents/{id}?include_secrets=true")).await;
        assert_eq!(kept["data"]["value"], "s3cr3t-token");
        call(
            &c,
            Method::PATCH,
            &format!("/block_documents/{id}"),
            patch("rotated"),
        )
        .await;
        let (_, rotated) = get(&c, &format!("/block_documents/{id}?include_secrets=true")).await;
        assert_eq!(rotated["data"]["value"], "rotated");

        // A cluster config nested in credentials by reference comes back inlined.
        let (cluster_type, _) = builtin(&c, "kubernetes-cluster-config").await;
        let (_, cluster_schema) =
            get(&c, &format!("/block_schemas/checksum/{CLUSTER_CONFIG}")).await;
        let kubeconfig = json!({"apiVersion": "v1", "kind": "Config", "current-context": "ctx"});
        let cluster = create_document(
            &c,
            json!({"name": "my-cluster", "data": {"config": kubeconfig, "context_name": "ctx"},
               "block_schema_id": cluster_schema["id"], "block_type_id": cluster_type}),
        )
        .await;
        let (creds_type, _) = builtin(&c, "kubernetes-credentials").await;
        let (_, creds_schema) = get(&c, &format!("/block_schemas/checksum/{CREDENTIALS}")).await;
        let creds = create_document(
            &c,
            json!({"name": "my-k8s-creds",
               "data": {"cluster_config": {"$ref": {"block_document_id": cluster["id"]}}},
               "block_schema_id": creds_schema["id"], "block_type_id": creds_type}),
        )
        .await;
        assert_eq!(creds["data"]["cluster_config"]["context_name"], "ctx");
        assert_eq!(creds["data"]["cluster_config"]["config"], kubeconfig);
        let reference = &creds["block_document_references"]["cluster_config"]["block_document"];
        assert_eq!(reference["id"], cluster["id"]);
        assert_eq!(reference["name"], "my-cluster");
        assert_eq!(reference["is_anonymous"], false);
        assert_eq!(reference["block_type"]["slug"], "kubernetes-cluster-config");
        assert_eq!(reference["block_document_references"], json!({}));

        // Listing: by type slug, by filter, and counted; anonymous documents only when asked for.
        create_document(
            &c,
            json!({"data": {"value": "anon"}, "is_anonymous": true,
               "block_schema_id": secret_schema, "block_type_id": secret_type}),
        )
        .await;
        let (_, of_type) = get(&c, "/block_types/slug/secret/block_documents").await;
        assert_eq!(of_type.as_array().unwrap().len(), 1);
        assert_eq!(of_type[0]["data"]["value"], "********");
        let (_, listed) = call(
            &c,
            Method::POST,
            "/block_documents/filter",
            json!({"sort": "BLOCK_TYPE_AND_NAME_ASC", "include_secrets": true}),
        )
        .await;
        let names: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["my-cluster", "my-k8s-creds", "my-secret"]);
        assert_eq!(listed[2]["data"]["value"], "rotated");
        let (_, count) = call(
            &c,
            Method::POST,
            "/block_documents/count",
            json!({"block_types": {"slug": {"any_": ["secret"]}}}),
        )
        .await;
        assert_eq!(count, 1);
        let (_, count) = call(
            &c,
            Method::POST,
            "/block_documents/count",
            json!({"block_documents": {"is_anonymous": null}}),
        )
        .await;
        assert_eq!(count, 4);

        let (status, _) = call(
            &c,
            Method::DELETE,
            &format!("/block_documents/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 204);
        let (status, gone) = get(
            &c,
            "/block_types/slug/secret/block_documents/name/my-secret",
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(gone["detail"], "Block document not found");
    }
);

server_test!(bad_block_input_is_refused_with_the_field_named, |server| {
    let c = client(&server);
    let (secret_type, secret_schema) = builtin(&c, "secret").await;
    let doc = |name: Value, data: Value| {
        json!({"name": name, "data": data, "block_schema_id": secret_schema,
               "block_type_id": secret_type})
    };
    create_document(&c, doc(json!("taken"), json!({"value": "v"}))).await;
    for (body, status, field) in [
        (doc(json!("taken"), json!({"value": "v"})), 409, ""),
        (doc(json!("Bad_Name"), json!({})), 422, "name"),
        (doc(Value::Null, json!({})), 422, "name"),
        (doc(json!("x"), json!({"r": {"$ref": {}}})), 422, "data.r"),
        (
            doc(
                json!("y"),
                json!({"r": {"$ref": {"block_document_id": uuid::Uuid::new_v4()}}}),
            ),
            422,
            "data.r",
        ),
        (
            json!({"name": "z", "block_schema_id": "nope", "block_type_id": secret_type}),
            422,
            "block_schema_id",
        ),
        (
            json!({"name": "z", "block_schema_id": uuid::Uuid::new_v4(), "block_type_id": secret_type}),
            422,
            "block_schema_id",
        ),
    ] {
        let (got, answer) = call(&c, Method::POST, "/block_documents/", body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
        if !field.is_empty() {
            let loc = answer["exception_detail"][0]["loc"].to_string();
            assert!(loc.contains(field), "{body} -> {answer}");
        }
    }
    for (body, status) in [
        (json!({"name": "Prefect Things", "slug": "things"}), 403),
        (json!({"name": "Things", "slug": "Things"}), 422),
        (json!({"name": "a/b", "slug": "ab"}), 422),
        (
            json!({"name": "Things", "slug": "things", "is_protected": true}),
            422,
        ),
    ] {
        let (got, answer) = call(&c, Method::POST, "/block_types/", body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
    }
    let unknown = uuid::Uuid::new_v4();
    let (status, answer) = call(
        &c,
        Method::POST,
        "/block_schemas/",
        json!({"fields": {}, "block_type_id": unknown}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(answer["detail"], format!("Block type {unknown} not found."));
    for path in [
        format!("/block_types/{unknown}"),
        format!("/block_schemas/{unknown}"),
        format!("/block_documents/{unknown}"),
        "/block_types/slug/nope".to_owned(),
        "/block_types/slug/nope/block_documents".to_owned(),
        "/block_types/slug/secret/block_documents/name/nope".to_owned(),
    ] {
        assert_eq!(get(&c, &path).await.0, 404, "{path}");
    }
    let (status, _) = call(
        &c,
        Method::PATCH,
        &format!("/block_documents/{unknown}"),
        json!({"data": {}}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &c,
        Method::POST,
        "/block_documents/filter",
        json!({"limit": 201}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = get(&c, "/block_documents/not-a-uuid").await;
    assert_eq!(status, 422);
});
