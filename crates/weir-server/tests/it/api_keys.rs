//! API keys: `/api_keys` creates, lists and revokes them; a server that requires auth accepts a
//! stored key as `Authorization: Bearer` (or Basic), as a websocket's auth-frame token or upgrade
//! header, and refuses expired, revoked, unknown and malformed ones with a 401 saying why.

use super::auth::websocket_auth;
use super::*;
use serde_json::{json, Value};
use weir_testkit::backend_test;

const BOOTSTRAP: &str = "bootstrap-key-0123456789abcdef";

/// A server that requires auth, with a bootstrap key and (when given) an auth string.
async fn requiring_keys(db: &weir_testkit::TestDb, auth_string: Option<&str>) -> TestServer {
    let config = weir_server::ServerConfig {
        auth_string: auth_string.map(str::to_owned),
        bootstrap_api_key: Some(BOOTSTRAP.into()),
        ..weir_server::ServerConfig::default()
    };
    TestServer::start_with(weir_testkit::open(db).await, config).await
}

fn bearer(server: &TestServer, key: &str) -> Client {
    Client::new(&server.api_url(), Auth::Bearer(key.into()))
}

/// Creates a key through the API with the bootstrap key; returns its id and the key.
async fn create_key(server: &TestServer, name: &str, expires_in: Option<u64>) -> (String, String) {
    let admin = bearer(server, BOOTSTRAP);
    let body = match expires_in {
        Some(seconds) => json!({"name": name, "expires_in_seconds": seconds}),
        None => json!({"name": name}),
    };
    let (status, created) = call(&admin, reqwest::Method::POST, "/api_keys/", body).await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    )
}

/// The status and `detail` of `GET /admin/version` with this `Authorization` header (if any).
async fn version_with(server: &TestServer, authorization: Option<&str>) -> (u16, Value) {
    let mut request = http().get(format!("{}/admin/version", server.api_url()));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

const ACK: &str = r#"{"type":"auth_success"}"#;

backend_test!(stored_keys_work_over_http_and_both_websockets, |db| {
    let server = requiring_keys(&db, None).await;
    let (_, key) = create_key(&server, "worker", Some(3_600)).await;
    assert!(key.starts_with("weir_"), "{key}");
    let worker = bearer(&server, &key);
    worker.create_flow("with-a-key").await.unwrap();
    assert_eq!(worker.server_version().await.unwrap(), "3.9.1");
    // As the secret of HTTP Basic (PREFECT_API_AUTH_STRING=<key>), too.
    let basic = Client::new(&server.api_url(), Auth::Basic(key.clone()));
    basic.create_flow("with-a-key-as-basic").await.unwrap();
    for path in ["events/in", "events/out"] {
        assert_eq!(
            websocket_auth(&server, path, None, key.clone().into()).await,
            ACK
        );
        // An upgrade authenticated by its header needs no token (Prefect Cloud's client).
        let header = format!("bearer {key}");
        assert_eq!(
            websocket_auth(&server, path, Some(&header), Value::Null).await,
            ACK
        );
        assert_eq!(
            websocket_auth(&server, path, None, BOOTSTRAP.into()).await,
            ACK
        );
    }
    // The SDK's event sender authenticates its websocket with the key: its event is stored.
    let sender =
        weir_client::events::EventSender::connect(&server.api_url(), &Auth::Bearer(key.clone()));
    let event = json!({"id": uuid::Uuid::now_v7(), "occurred": weir_core::Timestamp::now(),
        "event": "weir.test.sent-with-a-key", "resource": {"prefect.resource.id": "weir.test.1"}});
    sender.send(serde_json::from_value(event).unwrap());
    sender.flush(std::time::Duration::from_secs(10)).await;
    let mut stored = false;
    for _ in 0..250 {
        let (_, page) = call(&worker, reqwest::Method::POST, "/events/filter", json!({})).await;
        if page.to_string().contains("weir.test.sent-with-a-key") {
            stored = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(stored, "the event sent with the key was stored");
});

backend_test!(expired_and_revoked_keys_get_401_at_once, |db| {
    let server = requiring_keys(&db, None).await;
    let (_, expiring) = create_key(&server, "short-lived", Some(1)).await;
    let (status, _) = version_with(&server, Some(&format!("Bearer {expiring}"))).await;
    assert_eq!(status, 200, "works before it expires");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (status, body) = version_with(&server, Some(&format!("Bearer {expiring}"))).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("API key expired"))
    );
    assert_eq!(
        websocket_auth(&server, "events/in", None, expiring.clone().into()).await,
        "close 1008: API key expired"
    );

    let (id, revoked) = create_key(&server, "soon-revoked", None).await;
    let header = format!("Bearer {revoked}");
    // Used once, so the server holds it in its key cache.
    assert_eq!(version_with(&server, Some(&header)).await.0, 200);
    let admin = bearer(&server, BOOTSTRAP);
    let (status, answer) = call(
        &admin,
        reqwest::Method::POST,
        &format!("/api_keys/{id}/revoke"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert!(answer["revoked"].is_string(), "{answer}");
    let (status, body) = version_with(&server, Some(&header)).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("API key revoked"))
    );
    assert_eq!(body["exception_message"], "Unauthorized");
    for path in ["events/in", "events/out"] {
        assert_eq!(
            websocket_auth(&server, path, None, revoked.clone().into()).await,
            "close 1008: API key revoked"
        );
        assert_eq!(
            websocket_auth(&server, path, Some(&header), Value::Null).await,
            "http 401"
        );
    }
});

backend_test!(wrong_and_malformed_credentials_get_401, |db| {
    let server = requiring_keys(&db, None).await;
    let (_, key) = create_key(&server, "real", None).await;
    // The real key id with another secret, an unknown key, near misses of the bootstrap key.
    let (prefix, secret) = key.rsplit_once('_').unwrap();
    let wrong_secret = format!("{prefix}_{}", secret.chars().rev().collect::<String>());
    let unknown = format!("weir_0000000000000000_{secret}");
    for header in [
        format!("Bearer {wrong_secret}"),
        format!("Bearer {unknown}"),
        format!("Bearer {BOOTSTRAP}x"),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Token {key}"),
        format!("Basic {key}"),
        "Basic !!!".to_owned(),
    ] {
        let (status, body) = version_with(&server, Some(&header)).await;
        assert_eq!(status, 401, "{header}");
        assert!(body["detail"].is_string(), "{header}: {body}");
        assert!(
            !body.to_string().contains(secret),
            "the answer echoes no secret"
        );
    }
    let (status, body) = version_with(&server, None).await;
    assert_eq!(status, 401);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .starts_with("Missing credentials"));
    for token in [wrong_secret, unknown] {
        assert_eq!(
            websocket_auth(&server, "events/out", None, token.into()).await,
            "close 1008: Invalid credentials"
        );
    }
    assert_eq!(
        websocket_auth(&server, "events/in", Some("Bearer nope"), Value::Null).await,
        "http 401"
    );
    // Health and readiness stay open.
    for path in ["health", "ready"] {
        let status = http()
            .get(format!("{}/{path}", server.api_url()))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
});

backend_test!(the_auth_string_keeps_working_beside_keys, |db| {
    let server = requiring_keys(&db, Some("admin:s3cret")).await;
    let admin = Client::new(&server.api_url(), Auth::Basic("admin:s3cret".into()));
    admin.create_flow("by-basic").await.unwrap();
    let (_, key) = create_key(&server, "beside-basic", None).await;
    bearer(&server, &key).create_flow("by-key").await.unwrap();
    let wrong = Client::new(&server.api_url(), Auth::Basic("admin:guess".into()));
    let err = wrong.create_flow("no").await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(
        websocket_auth(&server, "events/in", None, "admin:s3cret".into()).await,
        ACK
    );
});

backend_test!(the_api_key_endpoints_create_list_read_and_revoke, |db| {
    let server = requiring_keys(&db, None).await;
    let admin = bearer(&server, BOOTSTRAP);
    let post = reqwest::Method::POST;
    let (status, created) = call(&admin, post.clone(), "/api_keys/", json!({"name": "ci"})).await;
    assert_eq!(status, 201);
    let key = created["key"].as_str().unwrap();
    let prefix = created["prefix"].as_str().unwrap();
    assert!(key.starts_with(&format!("{prefix}_")), "{created}");
    assert_eq!(created["expires"], Value::Null);
    let id = created["id"].as_str().unwrap();
    let (status, read) = call(
        &admin,
        reqwest::Method::GET,
        &format!("/api_keys/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["name"], "ci");
    assert!(read.get("key").is_none() && !read.to_string().contains(key));
    // Bad input names the field; a taken name is a conflict.
    for (body, field) in [
        (json!({"name": " "}), "name"),
        (
            json!({"name": "x", "expires_in_seconds": 0}),
            "expires_in_seconds",
        ),
        (json!({"name": "x", "secret": "mine"}), "secret"),
    ] {
        let (status, answer) = call(&admin, post.clone(), "/api_keys/", body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let (status, _) = call(&admin, post.clone(), "/api_keys/", json!({"name": "ci"})).await;
    assert_eq!(status, 409);
    call(
        &admin,
        post.clone(),
        &format!("/api_keys/{id}/revoke"),
        Value::Null,
    )
    .await;
    let (status, _) = call(&admin, post.clone(), "/api_keys/", json!({"name": "ci"})).await;
    assert_eq!(status, 201, "a revoked key's name can be reused");
    let (_, all) = call(&admin, post.clone(), "/api_keys/filter", json!({})).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, active) = call(
        &admin,
        post.clone(),
        "/api_keys/filter",
        json!({"include_inactive": false}),
    )
    .await;
    assert_eq!(active.as_array().unwrap().len(), 1);
    assert_eq!(active[0]["revoked"], Value::Null);
    assert!(!all.to_string().contains("hash"), "{all}");
    let (status, _) = call(
        &admin,
        post.clone(),
        &format!("/api_keys/{}/revoke", uuid::Uuid::new_v4()),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    // Without credentials the endpoints are refused like every other.
    let (status, _) = call(&client(&server), post, "/api_keys/filter", json!({})).await;
    assert_eq!(status, 401);
});

backend_test!(a_server_without_auth_ignores_credentials, |db| {
    let server = TestServer::start(weir_testkit::open(&db).await).await;
    assert_eq!(
        version_with(&server, Some("Bearer weir_wrong")).await.0,
        200
    );
    assert_eq!(
        websocket_auth(&server, "events/in", Some("Bearer nope"), "nope".into()).await,
        ACK
    );
});
