//! `/v2/concurrency_limits` over HTTP on both backends: the CRUD round trip by id and by name, the
//! 409 of a taken name, 422s naming the field, and increments answering 423 with `Retry-After`
//! once a limit is full.

use super::*;
use reqwest::Method;
use serde_json::{json, Value};
use weir_testkit::server_test;

server_test!(global_limits_round_trip, |server| {
    let c = client(&server);
    let (status, made) = call(
        &c,
        Method::POST,
        "/v2/concurrency_limits/",
        json!({"name": "db", "limit": 2}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["active"], true);
    assert_eq!(made["active_slots"], 0);
    assert_eq!(made["denied_slots"], 0);
    assert_eq!(made["slot_decay_per_second"], 0.0);
    assert_eq!(made["avg_slot_occupancy_seconds"], 2.0);
    let id = made["id"].as_str().unwrap().to_owned();

    let (status, again) = call(
        &c,
        Method::POST,
        "/v2/concurrency_limits/",
        json!({"name": "db", "limit": 1}),
    )
    .await;
    assert_eq!(status, 409, "{again}");

    for key in [id.as_str(), "db"] {
        let (status, read) = call(
            &c,
            Method::GET,
            &format!("/v2/concurrency_limits/{key}"),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["name"], "db");
        assert_eq!(read["limit"], 2);
    }

    let (status, _) = call(
        &c,
        Method::PATCH,
        "/v2/concurrency_limits/db",
        json!({"limit": 1}),
    )
    .await;
    assert_eq!(status, 204);

    let slots = |n: i64| json!({"names": ["db"], "slots": n});
    let (status, taken) = call(
        &c,
        Method::POST,
        "/v2/concurrency_limits/increment",
        slots(1),
    )
    .await;
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken, json!([{"id": id, "name": "db", "limit": 1}]));

    // Full: 423 with a Retry-After in seconds.
    let full = http()
        .post(format!(
            "{}/v2/concurrency_limits/increment",
            server.api_url()
        ))
        .json(&slots(1))
        .send()
        .await
        .unwrap();
    assert_eq!(full.status().as_u16(), 423);
    let retry: f64 = full.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0.0 && retry <= 30.0 * 1.3, "{retry}");

    let (status, _) = call(
        &c,
        Method::POST,
        "/v2/concurrency_limits/increment",
        slots(2),
    )
    .await;
    assert_eq!(status, 422, "more slots than the limit");

    let (status, _) = call(
        &c,
        Method::POST,
        "/v2/concurrency_limits/decrement",
        json!({"names": ["db"], "slots": 1, "occupancy_seconds": 1.5}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, page) = call(&c, Method::POST, "/v2/concurrency_limits/filter", json!({})).await;
    assert_eq!(page[0]["active_slots"], 0);
    assert!(page[0].get("denied_slots").is_none(), "{page}");

    // An inactive limit never blocks.
    call(
        &c,
        Method::PATCH,
        &format!("/v2/concurrency_limits/{id}"),
        json!({"active": false}),
    )
    .await;
    for _ in 0..3 {
        let (status, _) = call(
            &c,
            Method::POST,
            "/v2/concurrency_limits/increment",
            slots(1),
        )
        .await;
        assert_eq!(status, 200);
    }

    let (status, _) = call(&c, Method::DELETE, "/v2/concurrency_limits/db", Value::Null).await;
    assert_eq!(status, 204);
    let (status, gone) = call(
        &c,
        Method::GET,
        &format!("/v2/concurrency_limits/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(gone["detail"], "Concurrency Limit not found");
});

server_test!(global_limits_refuse_bad_input_naming_the_field, |server| {
    let c = client(&server);
    for (body, field) in [
        (json!({"name": "a/b", "limit": 1}), "name"),
        (json!({"name": "a", "limit": -1}), "limit"),
        (
            json!({"name": "a", "limit": 1, "slot_decay_per_second": -1}),
            "slot_decay_per_second",
        ),
        (json!({"name": "a"}), "limit"),
    ] {
        let (status, answer) = call(&c, Method::POST, "/v2/concurrency_limits/", body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    for (body, field) in [
        (json!({"names": ["a"], "slots": 0}), "slots"),
        (json!({"names": [], "slots": 1}), "names"),
        (json!({"names": ["a"], "slots": 1, "mode": "fast"}), "mode"),
    ] {
        let (status, answer) =
            call(&c, Method::POST, "/v2/concurrency_limits/increment", body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let (status, answer) = call(
        &c,
        Method::POST,
        "/v2/concurrency_limits/filter",
        json!({"limit": 500}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(answer["detail"].as_str().unwrap().contains("limit"));
});

server_test!(tag_limits_over_http, |server| {
    let c = client(&server);
    let body = |n: i64| json!({"tag": "db", "concurrency_limit": n});
    let (status, made) = call(&c, Method::POST, "/concurrency_limits/", body(2)).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["tag"], "db");
    assert_eq!(made["active_slots"], json!([]));
    let (status, updated) = call(&c, Method::POST, "/concurrency_limits/", body(3)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (updated["id"].clone(), updated["concurrency_limit"].clone()),
        (made["id"].clone(), json!(3))
    );
    let id = made["id"].as_str().unwrap();
    let (status, by_id) = call(
        &c,
        Method::GET,
        &format!("/concurrency_limits/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(by_id["tag"], "db");
    // The tag's limit is the global limit `tag:db`.
    let (status, v2) = call(
        &c,
        Method::GET,
        "/v2/concurrency_limits/tag:db",
        Value::Null,
    )
    .await;
    assert_eq!((status, v2["limit"].clone()), (200, json!(3)));

    let holder = uuid::Uuid::new_v4();
    let (status, _) = call(
        &c,
        Method::POST,
        "/concurrency_limits/tag/db/reset",
        json!({"slot_override": [holder]}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, page) = call(&c, Method::POST, "/concurrency_limits/filter", json!({})).await;
    assert_eq!(page[0]["active_slots"], json!([holder]));

    let (status, answer) = call(
        &c,
        Method::POST,
        "/concurrency_limits/",
        json!({"tag": "x", "concurrency_limit": -1}),
    )
    .await;
    assert_eq!(status, 422);
    assert!(answer["detail"]
        .as_str()
        .unwrap()
        .contains("concurrency_limit"));

    let (status, _) = call(
        &c,
        Method::DELETE,
        "/concurrency_limits/tag/db",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (status, gone) = call(&c, Method::GET, "/concurrency_limits/tag/db", Value::Null).await;
    assert_eq!(status, 404);
    assert_eq!(gone["detail"], "Concurrency limit not found");
});
