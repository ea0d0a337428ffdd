use serde_json::{json, Value};
use weir_core::blocks::builtin::builtin_blocks;
use weir_core::blocks::filters::{document_predicate, BlockDocumentFilter, BlockDocumentSort};
use weir_core::blocks::{
    BlockDocumentCreate, BlockDocumentUpdate, BlockSchemaCreate, BlockTypeCreate, BlockTypeUpdate,
    OBFUSCATED,
};
use weir_core::filters::Predicate;
use weir_storage::{Error, Store};
use weir_testkit::storage_test;

const CLUSTER_CONFIG: &str =
    "sha256:1842dc8b213ef1595f75681856fae25aee4e0639a0ea867a41f90138edbd664d";
const CREDENTIALS: &str = "sha256:b1e3f10baa42ba79ca4484824207ed351d043d032b2cc234242bb7bf81b6ce56";

fn type_create(name: &str, slug: &str) -> BlockTypeCreate {
    BlockTypeCreate {
        name: name.into(),
        slug: slug.into(),
        logo_url: None,
        documentation_url: None,
        description: Some("a <b> & c".into()),
        code_example: None,
    }
}

/// A block type `slug` with a schema whose secret fields are `secrets`; returns (type, schema).
async fn block_kind(store: &Store, slug: &str, secrets: &[&str]) -> (uuid::Uuid, uuid::Uuid) {
    let block_type = store
        .create_block_type(type_create(&slug.to_uppercase(), slug), false)
        .await
        .unwrap();
    let fields = json!({
        "title": slug, "type": "object", "block_type_slug": slug,
        "properties": {}, "secret_fields": secrets, "block_schema_references": {}
    });
    let (schema, created) = store
        .create_block_schema(BlockSchemaCreate {
            fields: fields.as_object().unwrap().clone(),
            block_type_id: block_type.id,
            capabilities: vec!["read".into()],
            version: "1".into(),
        })
        .await
        .unwrap();
    assert!(created);
    (block_type.id, schema.id)
}

fn document(name: &str, kind: (uuid::Uuid, uuid::Uuid), data: Value) -> BlockDocumentCreate {
    BlockDocumentCreate {
        name: Some(name.into()),
        data: data.as_object().unwrap().clone(),
        block_schema_id: kind.1,
        block_type_id: kind.0,
        is_anonymous: false,
    }
}

storage_test!(builtin_blocks_register_once, |store| {
    store
        .register_builtin_blocks(&builtin_blocks())
        .await
        .unwrap();
    let types = store
        .filter_block_types(&Predicate::True, None, None)
        .await
        .unwrap();
    let schemas = store
        .filter_block_schemas(&Predicate::True, None, None)
        .await
        .unwrap();
    assert_eq!(types.len(), 4);
    assert_eq!(schemas.len(), 4);
    // A second start changes nothing.
    store
        .register_builtin_blocks(&builtin_blocks())
        .await
        .unwrap();
    assert_eq!(
        store
            .filter_block_types(&Predicate::True, None, None)
            .await
            .unwrap(),
        types
    );
    assert_eq!(
        store
            .filter_block_schemas(&Predicate::True, None, None)
            .await
            .unwrap(),
        schemas
    );
    let secret = store.read_block_type_by_slug("secret").await.unwrap();
    assert!(secret.is_protected);
    let cluster = store
        .read_block_schema_by_checksum(CLUSTER_CONFIG, Some("0.8.0"))
        .await
        .unwrap();
    assert_eq!(
        cluster.block_type.unwrap().slug,
        "kubernetes-cluster-config"
    );
    assert!(store
        .read_block_schema_by_checksum(CLUSTER_CONFIG, Some("9.9.9"))
        .await
        .is_err());
});

storage_test!(
    block_types_are_unique_updated_and_deleted_with_what_they_hold,
    |store| {
        let created = store
            .create_block_type(type_create("Thing", "thing"), false)
            .await
            .unwrap();
        assert_eq!(created.description.as_deref(), Some("a &lt;b&gt; &amp; c"));
        for (name, slug) in [("Thing", "other"), ("Other", "thing")] {
            let err = store
                .create_block_type(type_create(name, slug), false)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        }
        let same = BlockTypeUpdate {
            description: Some(Some("a <b> & c".into())),
            ..Default::default()
        };
        store.update_block_type(created.id, same).await.unwrap();
        assert_eq!(
            store.read_block_type(created.id).await.unwrap().updated,
            created.updated,
            "an update that changes nothing writes nothing"
        );
        let update = BlockTypeUpdate {
            logo_url: Some(Some("https://logo".into())),
            ..Default::default()
        };
        store.update_block_type(created.id, update).await.unwrap();
        let updated = store.read_block_type_by_slug("thing").await.unwrap();
        assert_eq!(updated.logo_url.as_deref(), Some("https://logo"));
        assert!(updated.updated > created.updated);

        let kind = block_kind(&store, "holder", &[]).await;
        let doc = store
            .create_block_document(document("one", kind, json!({"a": 1})))
            .await
            .unwrap();
        store.delete_block_type(kind.0).await.unwrap();
        assert!(matches!(
            store.read_block_document(doc.id, false).await,
            Err(Error::NotFound { .. })
        ));
        assert!(store.read_block_schema(kind.1).await.is_err());
        assert!(matches!(
            store.delete_block_type(kind.0).await,
            Err(Error::NotFound { .. })
        ));
    }
);

storage_test!(
    schemas_are_idempotent_and_register_their_nested_schemas,
    |store| {
        // Only the types: the Kubernetes Job schema brings the two schemas it nests.
        for block in builtin_blocks() {
            store
                .create_block_type(block.block_type.clone(), false)
                .await
                .unwrap();
        }
        let job = builtin_blocks().pop().unwrap();
        let job_type = store.read_block_type_by_slug("k8s-job").await.unwrap();
        let (schema, created) = store
            .create_block_schema(job.schema(job_type.id))
            .await
            .unwrap();
        assert!(created);
        assert_eq!(schema.version, "0.8.0");
        let (again, created) = store
            .create_block_schema(job.schema(job_type.id))
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(again.id, schema.id);
        let credentials = store
            .read_block_schema_by_checksum(CREDENTIALS, None)
            .await
            .unwrap();
        assert_eq!(credentials.version, "non-versioned");
        assert_eq!(
            credentials.fields["definitions"]["KubernetesClusterConfig"]["block_type_slug"],
            "kubernetes-cluster-config"
        );
        assert!(store
            .read_block_schema_by_checksum(CLUSTER_CONFIG, None)
            .await
            .is_ok());
        assert_eq!(
            store
                .filter_block_schemas(&Predicate::True, None, None)
                .await
                .unwrap()
                .len(),
            3
        );

        // A nested type that does not exist is a conflict.
        let lonely = store
            .create_block_type(type_create("Lonely", "lonely"), false)
            .await
            .unwrap();
        let fields = json!({
            "block_type_slug": "lonely", "properties": {"x": {"$ref": "#/definitions/X"}},
            "block_schema_references": {"x": {"block_type_slug": "missing", "block_schema_checksum": "sha256:0"}},
            "definitions": {"X": {"block_type_slug": "missing"}}
        });
        let err = store
            .create_block_schema(BlockSchemaCreate {
                fields: fields.as_object().unwrap().clone(),
                block_type_id: lonely.id,
                capabilities: vec![],
                version: "1".into(),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("missing")),
            "{err:?}"
        );
        assert_eq!(
            store.block_capabilities().await.unwrap(),
            Vec::<String>::new()
        );
        block_kind(&store, "capable", &[]).await;
        assert_eq!(store.block_capabilities().await.unwrap(), ["read"]);
    }
);

storage_test!(documents_mask_secrets_and_resolve_references, |store| {
    let inner_kind = block_kind(&store, "inner", &["token", "nested.password"]).await;
    let outer_kind = block_kind(&store, "outer", &["key"]).await;
    let inner = store
        .create_block_document(document(
            "creds",
            inner_kind,
            json!({"token": "t0k3n", "nested": {"password": "pw", "user": "u"}, "plain": 1}),
        ))
        .await
        .unwrap();
    assert_eq!(inner.data["token"], OBFUSCATED);
    assert_eq!(inner.data["nested"]["password"], OBFUSCATED);
    assert_eq!(inner.data["nested"]["user"], "u");
    assert_eq!(inner.block_type_name.as_deref(), Some("INNER"));
    assert_eq!(
        inner
            .block_schema
            .as_ref()
            .unwrap()
            .block_type
            .as_ref()
            .unwrap()
            .slug,
        "inner"
    );
    let revealed = store.read_block_document(inner.id, true).await.unwrap();
    assert_eq!(revealed.data["token"], "t0k3n");

    let outer = store
        .create_block_document(document(
            "outer-doc",
            outer_kind,
            json!({"key": "k", "child": {"$ref": {"block_document_id": inner.id}}}),
        ))
        .await
        .unwrap();
    assert_eq!(outer.data["key"], OBFUSCATED);
    assert_eq!(
        outer.data["child"]["token"], OBFUSCATED,
        "the child masks its own secrets"
    );
    assert_eq!(outer.data["child"]["plain"], 1);
    let reference = &outer.block_document_references["child"]["block_document"];
    assert_eq!(reference["id"], inner.id.to_string());
    assert_eq!(reference["name"], "creds");
    assert_eq!(reference["block_type"]["slug"], "inner");
    let by_name = store
        .read_block_document_by_name("outer", "outer-doc", true)
        .await
        .unwrap();
    assert_eq!(by_name.data["child"]["token"], "t0k3n");
    assert_eq!(by_name.data["key"], "k");

    // Writing back what was read keeps the secrets.
    let update = BlockDocumentUpdate {
        data: Some(inner.data.clone()),
        ..Default::default()
    };
    store.update_block_document(inner.id, update).await.unwrap();
    let after = store.read_block_document(inner.id, true).await.unwrap();
    assert_eq!(after.data["token"], "t0k3n");
    assert_eq!(after.data["nested"]["password"], "pw");
    // A merge keeps unmentioned keys (and references); a replace does not.
    let merge = BlockDocumentUpdate {
        data: Some(json!({"key": "k2"}).as_object().unwrap().clone()),
        ..Default::default()
    };
    store.update_block_document(outer.id, merge).await.unwrap();
    let merged = store.read_block_document(outer.id, true).await.unwrap();
    assert_eq!(merged.data["key"], "k2");
    assert_eq!(merged.data["child"]["token"], "t0k3n");
    let replace = BlockDocumentUpdate {
        data: Some(json!({"key": "k3"}).as_object().unwrap().clone()),
        merge_existing_data: false,
        ..Default::default()
    };
    store
        .update_block_document(outer.id, replace)
        .await
        .unwrap();
    let replaced = store.read_block_document(outer.id, true).await.unwrap();
    assert_eq!(replaced.data, *json!({"key": "k3"}).as_object().unwrap());
    assert!(replaced.block_document_references.is_empty());

    // References must exist and must not make a cycle.
    let missing = uuid::Uuid::new_v4();
    let err = store
        .create_block_document(document(
            "dangling",
            outer_kind,
            json!({"child": {"$ref": {"block_document_id": missing}}}),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref m) if m.starts_with("data.child: ")),
        "{err:?}"
    );
    let relink = |target: uuid::Uuid| BlockDocumentUpdate {
        data: Some(
            json!({"child": {"$ref": {"block_document_id": target}}})
                .as_object()
                .unwrap()
                .clone(),
        ),
        ..Default::default()
    };
    store
        .update_block_document(outer.id, relink(inner.id))
        .await
        .unwrap();
    let err = store
        .update_block_document(inner.id, relink(outer.id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref m) if m.contains("cycle")),
        "{err:?}"
    );
    let err = store
        .update_block_document(inner.id, relink(inner.id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref m) if m.contains("cycle")),
        "{err:?}"
    );

    // Deleting the referenced document drops the reference.
    store.delete_block_document(inner.id).await.unwrap();
    let orphan = store.read_block_document(outer.id, true).await.unwrap();
    assert!(orphan.data.get("child").is_none());
    assert!(orphan.block_document_references.is_empty());
    assert!(matches!(
        store.delete_block_document(inner.id).await,
        Err(Error::NotFound { .. })
    ));
});

storage_test!(
    documents_have_unique_names_and_filter_like_prefects,
    |store| {
        let kind = block_kind(&store, "plain", &[]).await;
        let other = block_kind(&store, "other", &[]).await;
        for name in ["b-doc", "a-doc"] {
            store
                .create_block_document(document(name, kind, json!({})))
                .await
                .unwrap();
        }
        store
            .create_block_document(document("a-doc", other, json!({})))
            .await
            .expect("the same name in another type");
        let err = store
            .create_block_document(document("a-doc", kind, json!({})))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        let anonymous = store
            .create_block_document(BlockDocumentCreate {
                name: None,
                is_anonymous: true,
                ..document("x", kind, json!({}))
            })
            .await
            .unwrap();
        assert!(anonymous.name.unwrap().starts_with("anonymous-"));

        let names = |docs: Vec<weir_core::blocks::BlockDocument>| {
            docs.into_iter()
                .map(|d| d.name.unwrap_or_default())
                .collect::<Vec<_>>()
        };
        let all = document_predicate(None, None, None);
        let listed = store
            .filter_block_documents(&all, BlockDocumentSort::NameAsc, None, None, false)
            .await
            .unwrap();
        assert_eq!(names(listed), ["a-doc", "a-doc", "b-doc"]);
        let by_type: weir_core::blocks::filters::BlockTypeFilter =
            serde_json::from_value(json!({"slug": {"any_": ["plain"]}})).unwrap();
        let plain = document_predicate(None, Some(&by_type), None);
        let listed = store
            .filter_block_documents(&plain, BlockDocumentSort::NameDesc, Some(1), None, false)
            .await
            .unwrap();
        assert_eq!(names(listed), ["b-doc"]);
        assert_eq!(store.count_block_documents(plain).await.unwrap(), 2);
        let everything = document_predicate(Some(&BlockDocumentFilter::everything()), None, None);
        assert_eq!(store.count_block_documents(everything).await.unwrap(), 4);
    }
);
