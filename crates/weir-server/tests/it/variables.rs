//! `/variables`: create, reads by id and name, updates and deletes both ways, filter and count, and
//! the 409s and 422s of bad input, over HTTP on both backends.

use super::*;
use reqwest::Method;
use serde_json::{json, Value};
use weir_testkit::server_test;

async fn create(c: &Client, name: &str, value: Value, tags: &[&str]) -> Value {
    let (status, variable) = call(
        c,
        Method::POST,
        "/variables/",
        json!({"name": name, "value": value, "tags": tags}),
    )
    .await;
    assert_eq!(status, 201, "{variable}");
    variable
}

/// The names of a filter's answer, in order.
async fn names(c: &Client, filter: Value) -> Vec<String> {
    let (status, found) = call(c, Method::POST, "/variables/filter", filter).await;
    assert_eq!(status, 200, "{found}");
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

server_test!(variables_round_trip_by_id_and_by_name, |server| {
    let c = client(&server);
    let created = create(
        &c,
        "db_config",
        json!({"host": "h", "port": 5432}),
        &["prod"],
    )
    .await;
    assert_eq!(created["value"]["port"], 5432);
    assert_eq!(created["tags"], json!(["prod"]));
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["created"].is_string() && created["updated"].is_string());

    let (status, by_id) = call(&c, Method::GET, &format!("/variables/{id}"), Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(by_id, created);
    let (_, by_name) = call(&c, Method::GET, "/variables/name/db_config", Value::Null).await;
    assert_eq!(by_name, created);

    // Every JSON type is a value, `null` included.
    for (name, value) in [
        ("text", json!("hello")),
        ("number", json!(1.5)),
        ("flag", json!(true)),
        ("list", json!([1, "two"])),
        ("nothing", Value::Null),
    ] {
        let variable = create(&c, name, value.clone(), &[]).await;
        assert_eq!(variable["value"], value);
        assert_eq!(variable["tags"], json!([]));
    }

    // PATCH by id changes only what it names; `"value": null` sets null.
    let (status, _) = call(
        &c,
        Method::PATCH,
        &format!("/variables/{id}"),
        json!({"tags": ["prod", "db"]}),
    )
    .await;
    assert_eq!(status, 204);
    let (_, after) = call(&c, Method::GET, &format!("/variables/{id}"), Value::Null).await;
    assert_eq!(after["tags"], json!(["prod", "db"]));
    assert_eq!(after["value"], created["value"]);
    assert!(after["updated"].as_str() > created["updated"].as_str());
    let (status, _) = call(
        &c,
        Method::PATCH,
        "/variables/name/db_config",
        json!({"value": null, "name": "db_settings"}),
    )
    .await;
    assert_eq!(status, 204);
    let (_, renamed) = call(&c, Method::GET, "/variables/name/db_settings", Value::Null).await;
    assert_eq!(renamed["id"], created["id"]);
    assert_eq!(renamed["value"], Value::Null);
    let (status, gone) = call(&c, Method::GET, "/variables/name/db_config", Value::Null).await;
    assert_eq!(status, 404);
    assert_eq!(gone["detail"], "Variable not found");

    // DELETE by name, then by id.
    let (status, _) = call(&c, Method::DELETE, "/variables/name/text", Value::Null).await;
    assert_eq!(status, 204);
    let (status, _) = call(&c, Method::DELETE, "/variables/name/text", Value::Null).await;
    assert_eq!(status, 404);
    let (status, _) = call(&c, Method::DELETE, &format!("/variables/{id}"), Value::Null).await;
    assert_eq!(status, 204);
    let (status, _) = call(&c, Method::GET, &format!("/variables/{id}"), Value::Null).await;
    assert_eq!(status, 404);
});

server_test!(filter_count_sort_and_page, |server| {
    let c = client(&server);
    create(&c, "alpha", json!(1), &["a", "shared"]).await;
    create(&c, "beta", json!(2), &["shared"]).await;
    create(&c, "gamma_1", json!(3), &[]).await;
    create(&c, "gamma_2", json!(4), &["a"]).await;

    assert_eq!(
        names(&c, json!({})).await,
        ["alpha", "beta", "gamma_1", "gamma_2"]
    );
    assert_eq!(
        names(&c, json!({"sort": "NAME_DESC", "limit": 2, "offset": 1})).await,
        ["gamma_1", "beta"]
    );
    assert_eq!(
        names(&c, json!({"sort": "CREATED_DESC"})).await[0],
        "gamma_2"
    );
    assert_eq!(
        names(&c, json!({"variables": {"name": {"like_": "GAMMA"}}})).await,
        ["gamma_1", "gamma_2"]
    );
    assert_eq!(
        names(
            &c,
            json!({"variables": {"name": {"any_": ["beta", "alpha", "nope"]}}})
        )
        .await,
        ["alpha", "beta"]
    );
    assert_eq!(
        names(
            &c,
            json!({"variables": {"tags": {"all_": ["a", "shared"]}}})
        )
        .await,
        ["alpha"]
    );
    assert_eq!(
        names(&c, json!({"variables": {"tags": {"is_null_": true}}})).await,
        ["gamma_1"]
    );
    assert_eq!(
        names(
            &c,
            json!({"variables": {"operator": "or_",
                "name": {"any_": ["beta"]}, "tags": {"is_null_": true}}})
        )
        .await,
        ["beta", "gamma_1"]
    );
    let (_, alpha) = call(&c, Method::GET, "/variables/name/alpha", Value::Null).await;
    assert_eq!(
        names(&c, json!({"variables": {"id": {"any_": [alpha["id"]]}}})).await,
        ["alpha"]
    );

    let (status, count) = call(&c, Method::POST, "/variables/count", json!({})).await;
    assert_eq!((status, count), (200, json!(4)));
    let (_, count) = call(
        &c,
        Method::POST,
        "/variables/count",
        json!({"variables": {"tags": {"all_": ["shared"]}}}),
    )
    .await;
    assert_eq!(count, json!(2));
});

server_test!(
    duplicates_conflict_and_bad_input_names_the_field,
    |server| {
        let c = client(&server);
        create(&c, "taken", json!("x"), &[]).await;
        create(&c, "other", json!("y"), &[]).await;
        let (status, body) = call(
            &c,
            Method::POST,
            "/variables/",
            json!({"name": "taken", "value": 2}),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("taken"), "{body}");
        let (status, body) = call(
            &c,
            Method::PATCH,
            "/variables/name/other",
            json!({"name": "taken"}),
        )
        .await;
        assert_eq!(status, 409, "renaming onto a taken name: {body}");
        let (_, other) = call(&c, Method::GET, "/variables/name/other", Value::Null).await;
        assert_eq!(other["value"], "y", "the failed rename changed nothing");

        let long_name = "a".repeat(256);
        let big_value = "x".repeat(5000);
        let missing = uuid::Uuid::new_v4();
        let (v, f, by_id) = (
            "/variables/",
            "/variables/filter",
            format!("/variables/{missing}"),
        );
        let by_name = "/variables/name/taken";
        let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
            ("POST", v, json!({"name": "Upper", "value": 1}), 422, "name"),
            ("POST", v, json!({"name": "a b", "value": 1}), 422, "name"),
            (
                "POST",
                v,
                json!({"name": long_name, "value": 1}),
                422,
                "name",
            ),
            ("POST", v, json!({"name": "v"}), 422, "value"),
            (
                "POST",
                v,
                json!({"name": "v", "value": big_value}),
                422,
                "value",
            ),
            ("POST", v, json!({"name": 5, "value": 1}), 422, "name"),
            (
                "POST",
                v,
                json!({"name": "v", "value": 1, "tags": "t"}),
                422,
                "tags",
            ),
            (
                "POST",
                v,
                json!({"name": "v", "value": 1, "colour": 1}),
                422,
                "colour",
            ),
            ("PATCH", by_name, json!({"name": "Bad!"}), 422, "name"),
            ("PATCH", by_name, json!({"value": big_value}), 422, "value"),
            (
                "PATCH",
                &by_id,
                json!({"value": 1}),
                404,
                "Variable not found",
            ),
            (
                "PATCH",
                "/variables/name/nope",
                json!({"value": 1}),
                404,
                "not found",
            ),
            ("DELETE", &by_id, Value::Null, 404, "Variable not found"),
            ("GET", "/variables/not-a-uuid", Value::Null, 422, "UUID"),
            ("POST", f, json!({"limit": 201}), 422, "limit"),
            ("POST", f, json!({"offset": -1}), 422, "offset"),
            ("POST", f, json!({"sort": "VALUE_ASC"}), 422, "sort"),
            (
                "POST",
                f,
                json!({"variables": {"name": {"startswith_": "a"}}}),
                422,
                "startswith_",
            ),
            (
                "POST",
                "/variables/count",
                json!({"variables": {"id": {"any_": ["x"]}}}),
                422,
                "id",
            ),
        ];
        for (method, path, body, want, mentions) in cases {
            let method: Method = method.parse().unwrap();
            let (status, answer) = call(&c, method.clone(), path, body.clone()).await;
            assert_eq!(status, want, "{method} {path} {body}: {answer}");
            assert!(
                answer.to_string().contains(mentions),
                "{method} {path} {body}: {answer} should mention {mentions}"
            );
        }
        let (_, count) = call(&c, Method::POST, "/variables/count", json!({})).await;
        assert_eq!(count, json!(2), "nothing bad was written");
        let (_, taken) = call(&c, Method::GET, "/variables/name/taken", Value::Null).await;
        assert_eq!(taken["value"], "x");
    }
);
