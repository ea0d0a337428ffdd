//! Concurrency leases over HTTP on both backends: `/increment-with-lease` up to the limit and 423
//! with `Retry-After` past it, `/decrement-with-lease` freeing exactly the lease's slots (twice
//! frees nothing more), renewal and its 410, the lease repossessor giving back expired leases,
//! leases outliving a server restart, all-or-nothing acquisition under concurrent requests to two
//! servers on one PostgreSQL database, and the v1 tag `/increment` and `/decrement`.

use super::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;
use weir_testkit::{backend_test, server_test};

/// Creates the global limit `name` of `limit` slots; returns its id.
async fn create_limit(c: &Client, name: &str, limit: i64) -> String {
    let (status, made) = call(
        c,
        Method::POST,
        "/v2/concurrency_limits/",
        json!({"name": name, "limit": limit}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().unwrap().to_owned()
}

/// The active slots of the limit `name`.
async fn active_slots(c: &Client, name: &str) -> i64 {
    let (status, limit) = call(
        c,
        Method::GET,
        &format!("/v2/concurrency_limits/{name}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{limit}");
    limit["active_slots"].as_i64().unwrap()
}

/// `/increment-with-lease` of one slot of `names` for `lease_duration` seconds, raw: the status,
/// the `Retry-After` header if any, and the body.
async fn lease(api: &str, names: &[&str], lease_duration: f64) -> (u16, Option<f64>, Value) {
    let answer = http()
        .post(format!("{api}/v2/concurrency_limits/increment-with-lease"))
        .json(&json!({"names": names, "slots": 1, "lease_duration": lease_duration}))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let retry_after = answer
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (
        status,
        retry_after,
        answer.json().await.unwrap_or(Value::Null),
    )
}

/// Gives back a lease; asserts Prefect's 204.
async fn give_back(c: &Client, lease_id: &str) {
    let (status, body) = call(
        c,
        Method::POST,
        "/v2/concurrency_limits/decrement-with-lease",
        json!({"lease_id": lease_id}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
}

/// The status of renewing a lease for `lease_duration` seconds.
async fn renew(c: &Client, lease_id: &str, lease_duration: f64) -> u16 {
    let path = format!("/v2/concurrency_limits/leases/{lease_id}/renew");
    call(
        c,
        Method::POST,
        &path,
        json!({"lease_duration": lease_duration}),
    )
    .await
    .0
}

server_test!(leases_take_free_and_renew_slots, |server| {
    let (c, api) = (client(&server), server.api_url());
    let id = create_limit(&c, "db", 2).await;
    let (status, _, first) = lease(&api, &["db"], 60.0).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first["limits"],
        json!([{"id": id, "name": "db", "limit": 2}])
    );
    let first = first["lease_id"].as_str().unwrap().to_owned();
    let (status, _, second) = lease(&api, &["db"], 60.0).await;
    assert_eq!(status, 200, "{second}");
    let second = second["lease_id"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(active_slots(&c, "db").await, 2);

    // Full: 423 with a Retry-After in seconds, as `/increment`.
    let (status, retry_after, denied) = lease(&api, &["db"], 60.0).await;
    assert_eq!(status, 423, "{denied}");
    let retry_after = retry_after.expect("a Retry-After header");
    assert!(
        retry_after > 0.0 && retry_after <= 30.0 * 1.3,
        "{retry_after}"
    );

    // Giving a lease back frees its slot; giving it back again frees nothing more.
    give_back(&c, &first).await;
    assert_eq!(active_slots(&c, "db").await, 1);
    give_back(&c, &first).await;
    assert_eq!(
        active_slots(&c, "db").await,
        1,
        "the second lease still holds"
    );
    give_back(&c, &Uuid::new_v4().to_string()).await;
    assert_eq!(
        active_slots(&c, "db").await,
        1,
        "an unknown lease frees nothing"
    );

    assert_eq!(renew(&c, &second, 120.0).await, 204);
    assert_eq!(renew(&c, &first, 120.0).await, 410, "a given-back lease");
    let (status, gone) = call(
        &c,
        Method::POST,
        &format!("/v2/concurrency_limits/leases/{first}/renew"),
        json!({}),
    )
    .await;
    assert_eq!((status, gone["detail"].is_string()), (410, true), "{gone}");
    give_back(&c, &second).await;
    assert_eq!(active_slots(&c, "db").await, 0);

    // Names of no limit: a lease holding nothing, which Prefect's clients never renew or give
    // back, so it is not kept.
    let (status, _, empty) = lease(&api, &["nope"], 60.0).await;
    assert_eq!((status, &empty["limits"]), (200, &json!([])), "{empty}");
    let empty = empty["lease_id"].as_str().unwrap();
    assert_eq!(renew(&c, empty, 60.0).await, 410);
    give_back(&c, empty).await;
});

server_test!(lease_requests_refuse_bad_input_naming_the_field, |server| {
    let c = client(&server);
    create_limit(&c, "one", 1).await;
    let refused = |body: Value, field: &'static str| {
        let c = c.clone();
        async move {
            let (status, answer) = call(
                &c,
                Method::POST,
                "/v2/concurrency_limits/increment-with-lease",
                body,
            )
            .await;
            assert_eq!(status, 422, "{answer}");
            assert!(answer.to_string().contains(field), "{field}: {answer}");
        }
    };
    refused(
        json!({"names": ["one"], "slots": 1, "lease_duration": 59}),
        "lease_duration",
    )
    .await;
    refused(
        json!({"names": ["one"], "slots": 1, "lease_duration": 86401}),
        "lease_duration",
    )
    .await;
    refused(json!({"names": [], "slots": 1}), "names").await;
    refused(json!({"names": ["one"], "slots": 0}), "slots").await;
    refused(
        json!({"names": ["one"], "slots": 1, "holder": {"type": "worker", "id": Uuid::nil()}}),
        "holder",
    )
    .await;
    refused(
        json!({"names": ["one"], "slots": 2}),
        "greater than the limit",
    )
    .await;
    let (status, answer) = call(
        &c,
        Method::POST,
        "/v2/concurrency_limits/decrement-with-lease",
        json!({"lease_id": "not-a-uuid"}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        renew(&c, &Uuid::new_v4().to_string(), 30.0).await,
        422,
        "lease_duration below 60"
    );
    assert_eq!(renew(&c, "not-a-uuid", 60.0).await, 422);
});

/// A server whose leases last 10 ms per second (so 60 s is 0.6 s) and whose repossessor runs
/// every 50 ms.
fn quick_leases() -> weir_server::ServerConfig {
    weir_server::ServerConfig {
        lease_time_unit: Duration::from_millis(10),
        lease_repossessor_interval: Duration::from_millis(50),
        ..weir_server::ServerConfig::default()
    }
}

backend_test!(expired_leases_give_back_their_slots, |db| {
    let server = TestServer::start_with(weir_testkit::open(&db).await, quick_leases()).await;
    let (c, api) = (client(&server), server.api_url());
    create_limit(&c, "one", 1).await;
    let (status, _, held) = lease(&api, &["one"], 60.0).await;
    assert_eq!(status, 200, "{held}");
    let held = held["lease_id"].as_str().unwrap().to_owned();

    // Renewed while it works, the lease outlives its first 0.6 s.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(renew(&c, &held, 60.0).await, 204);
        assert_eq!(active_slots(&c, "one").await, 1, "a renewed lease holds");
    }

    // Left alone, it expires and the repossessor gives its slot back.
    let mut waited = Duration::ZERO;
    while active_slots(&c, "one").await != 0 {
        assert!(
            waited < Duration::from_secs(10),
            "the lease was never repossessed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    assert_eq!(
        renew(&c, &held, 60.0).await,
        410,
        "a repossessed lease is gone"
    );

    // The holder giving it back late frees nobody else's slot.
    let (status, _, next) = lease(&api, &["one"], 600.0).await;
    assert_eq!(status, 200, "{next}");
    give_back(&c, &held).await;
    assert_eq!(
        active_slots(&c, "one").await,
        1,
        "the new lease still holds"
    );
});

backend_test!(leases_outlive_a_server_restart, |db| {
    let first = TestServer::start(weir_testkit::open(&db).await).await;
    let c = client(&first);
    create_limit(&c, "kept", 1).await;
    let (status, _, held) = lease(&first.api_url(), &["kept"], 600.0).await;
    assert_eq!(status, 200, "{held}");
    let held = held["lease_id"].as_str().unwrap().to_owned();
    let store = first.store.clone();
    drop(first);
    store.close().await;

    let second = TestServer::start(weir_testkit::open(&db).await).await;
    let c = client(&second);
    assert_eq!(active_slots(&c, "kept").await, 1);
    assert_eq!(
        renew(&c, &held, 600.0).await,
        204,
        "the lease is still known"
    );
    let (status, _, _) = lease(&second.api_url(), &["kept"], 600.0).await;
    assert_eq!(status, 423, "the lease still holds the only slot");
    give_back(&c, &held).await;
    assert_eq!(active_slots(&c, "kept").await, 0);
});

/// Two servers over one PostgreSQL database (replicas), 24 concurrent requests for the 5 slots of
/// a limit and of a second one, all or nothing: exactly 5 leases are granted, then each lease is
/// given back twice, concurrently, and the counts end at 0 on both limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_never_overfill_a_limit_on_postgres() {
    let db = weir_testkit::postgres_db().await;
    let replicas = [
        TestServer::start(weir_testkit::open(&db).await).await,
        TestServer::start(weir_testkit::open(&db).await).await,
    ];
    let c = client(&replicas[0]);
    create_limit(&c, "wide", 5).await;
    create_limit(&c, "wider", 7).await;
    let attempts = (0..24).map(|i| {
        let api = replicas[i % 2].api_url();
        tokio::spawn(async move { lease(&api, &["wide", "wider"], 600.0).await })
    });
    let mut granted = Vec::new();
    for attempt in attempts {
        let (status, _, body) = attempt.await.unwrap();
        match status {
            200 => granted.push(body["lease_id"].as_str().unwrap().to_owned()),
            423 => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(granted.len(), 5, "exactly the limit's slots are granted");
    assert_eq!(active_slots(&c, "wide").await, 5);
    assert_eq!(active_slots(&c, "wider").await, 5, "all or nothing");

    let clients = [client(&replicas[0]), client(&replicas[1])];
    let releases = granted.iter().flat_map(|id| {
        clients
            .iter()
            .map(move |c| async move { give_back(c, id).await })
    });
    futures::future::join_all(releases).await;
    assert_eq!(active_slots(&c, "wide").await, 0);
    assert_eq!(active_slots(&c, "wider").await, 0);
}

server_test!(v1_tag_increment_and_decrement, |server| {
    let c = client(&server);
    let (status, made) = call(
        &c,
        Method::POST,
        "/concurrency_limits/",
        json!({"tag": "gpu", "concurrency_limit": 1}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let increment = |run: Uuid, tag: &str| {
        http()
            .post(format!("{}/concurrency_limits/increment", server.api_url()))
            .json(&json!({"names": [tag], "task_run_id": run}))
            .send()
    };
    let taken = increment(first, "gpu").await.unwrap();
    assert_eq!(taken.status().as_u16(), 200);
    let taken: Value = taken.json().await.unwrap();
    assert_eq!(
        taken,
        json!([{"id": made["id"], "name": "gpu", "limit": 1}])
    );
    let full = increment(second, "gpu").await.unwrap();
    assert_eq!(full.status().as_u16(), 423);
    assert!(full.headers().contains_key("retry-after"));
    let (_, view) = call(&c, Method::GET, "/concurrency_limits/tag/gpu", Value::Null).await;
    assert_eq!(view["active_slots"], json!([first]));

    let (status, released) = call(
        &c,
        Method::POST,
        "/concurrency_limits/decrement",
        json!({"names": ["gpu"], "task_run_id": first, "occupancy_seconds": 1.0}),
    )
    .await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released[0]["name"], "tag:gpu");
    assert_eq!(
        increment(second, "gpu").await.unwrap().status().as_u16(),
        200
    );

    // A tag limited to 0 would deadlock: 423 saying so, without Retry-After.
    call(
        &c,
        Method::POST,
        "/concurrency_limits/",
        json!({"tag": "never", "concurrency_limit": 0}),
    )
    .await;
    let zero = increment(first, "never").await.unwrap();
    assert_eq!(zero.status().as_u16(), 423);
    assert!(!zero.headers().contains_key("retry-after"));
    let zero: Value = zero.json().await.unwrap();
    assert!(zero["detail"].as_str().unwrap().contains("is 0"), "{zero}");

    // A task run holding a `tag:` lease (Prefect 3.9.1's task engine) is listed as a holder, and
    // the v1 decrement gives the lease back.
    call(
        &c,
        Method::POST,
        "/concurrency_limits/",
        json!({"tag": "io", "concurrency_limit": 2}),
    )
    .await;
    let run = Uuid::new_v4();
    let (status, leased) = call(
        &c,
        Method::POST,
        "/v2/concurrency_limits/increment-with-lease",
        json!({"names": ["tag:io"], "slots": 1, "holder": {"type": "task_run", "id": run}}),
    )
    .await;
    assert_eq!(status, 200, "{leased}");
    let (_, view) = call(&c, Method::GET, "/concurrency_limits/tag/io", Value::Null).await;
    assert_eq!(view["active_slots"], json!([run]));
    call(
        &c,
        Method::POST,
        "/concurrency_limits/decrement",
        json!({"names": ["io"], "task_run_id": run}),
    )
    .await;
    assert_eq!(active_slots(&c, "tag:io").await, 0);
    let (_, view) = call(&c, Method::GET, "/concurrency_limits/tag/io", Value::Null).await;
    assert_eq!(view["active_slots"], json!([]));
});
