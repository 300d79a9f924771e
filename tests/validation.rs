//! Bad input always gets a 4xx with a code and a message naming the field; never a 500.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn bad_search_requests_get_400_naming_the_field() {
    let server = Server::start().await;
    let t = server.sakila_tenant("validation@example.com").await;
    let long = "a".repeat(1001);
    let eleven: Vec<String> = (0..11).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "query"),
        (json!({"query": ""}), "query"),
        (json!({"query": "   "}), "query"),
        (json!({"query": 42}), "query"),
        (json!({"query": long}), "query"),
        (json!({"query": "x", "searchMode": "fuzzy"}), "searchMode"),
        (json!({"query": "x", "limit": 0}), "limit"),
        (json!({"query": "x", "limit": 101}), "limit"),
        (json!({"query": "x", "limit": "ten"}), "limit"),
        (json!({"query": "x", "limit": 1.5}), "limit"),
        (json!({"query": "x", "offset": -1}), "offset"),
        (json!({"query": "x", "databases": eleven}), "databases"),
        (json!({"query": "x", "databases": ["not-a-uuid"]}), "databases"),
        (json!({"query": "x", "databases": "all"}), "databases"),
        (json!({"query": "x", "tables": [""]}), "tables"),
        (json!({"query": "x", "tables": ["a".repeat(65)]}), "tables"),
        (json!({"query": "x", "columns": [1]}), "columns"),
    ];
    for (body, field) in cases {
        let (status, resp) = server.search(&t.key, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["error"]["code"], "VALIDATION_ERROR", "{body}");
        assert!(resp["error"]["message"].as_str().unwrap().contains(field), "{body}: {resp}");
        assert_eq!(resp["error"]["details"]["field"], field);
    }
    // A 1000-character query is fine.
    let (status, _) = server.search(&t.key, json!({"query": "a ".repeat(500)})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_bodies() {
    let server = Server::start().await;
    let t = server.sakila_tenant("bodies@example.com").await;
    let raw = |body: &'static str, content_type: &'static str| {
        server
            .client
            .post(format!("{}/api/v1/search", server.base))
            .header("authorization", format!("Bearer {}", t.key))
            .header("content-type", content_type)
            .body(body)
    };
    for body in ["{", "not json", "[1,2]", "\"query\"", "{\"query\": \"x\",}"] {
        let resp = raw(body, "application/json").send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let json: Value = resp.json().await.unwrap();
        assert_eq!(json["error"]["code"], "VALIDATION_ERROR");
    }
    let resp = raw("query=x", "application/x-www-form-urlencoded").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let resp = server
        .client
        .post(format!("{}/api/v1/search", server.base))
        .header("authorization", format!("Bearer {}", t.key))
        .header("content-type", "application/json")
        .body(format!("{{\"query\":\"x\",\"deep\":{deep}}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let big = format!("{{\"query\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let resp = server
        .client
        .post(format!("{}/api/v1/search", server.base))
        .header("authorization", format!("Bearer {}", t.key))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn bad_account_and_database_input() {
    let server = Server::start().await;
    let register_cases: Vec<(Value, &str)> = vec![
        (json!({"password": "correct horse", "name": "No Email"}), "email"),
        (json!({"email": "not-an-email", "password": "correct horse", "name": "X Y"}), "email"),
        (json!({"email": "a@b.io", "password": "short", "name": "X Y"}), "password"),
        (json!({"email": "a@b.io", "password": "p".repeat(2000), "name": "X Y"}), "password"),
        (json!({"email": "a@b.io", "password": "correct horse", "name": "X"}), "name"),
        (json!({"email": "a@b.io", "password": "correct horse", "name": "X Y", "role": "root"}), "role"),
    ];
    for (body, field) in register_cases {
        let (status, resp) = server.post("/api/v1/auth/register", None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["error"]["details"]["field"], field, "{body}");
    }
    // Nobody registers themselves as admin.
    let (status, _) = server
        .post("/api/v1/auth/register", None, json!({"email": "a@b.io", "password": "correct horse", "name": "X Y", "role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let token = server.register("dbinput@example.com").await;
    let base = json!({"name": "n", "host": MARIADB_HOST, "port": MARIADB_PORT, "database": "sakila", "username": "root"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let db_cases: Vec<(Value, &str)> = vec![
        (with("port", json!(0)), "port"),
        (with("port", json!(70000)), "port"),
        (with("host", json!("")), "host"),
        (with("host", json!("a b")), "host"),
        (with("database", json!("x".repeat(65))), "database"),
        (with("username", json!(null)), "username"),
        (with("ssl", json!("yes")), "ssl"),
    ];
    for (body, field) in db_cases {
        let (status, resp) = server.post("/api/v1/databases", Some(&token), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["error"]["details"]["field"], field, "{body}");
    }
    // Unreachable or unknown databases are refused with a clear code.
    for body in [with("port", json!(1)), with("database", json!("no_such_database_here"))] {
        let (status, resp) = server.post("/api/v1/databases", Some(&token), body).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("CONNECTION_FAILED")), "{resp}");
    }
    let key_cases: Vec<(Value, &str)> = vec![
        (json!({"environment": "test"}), "name"),
        (json!({"name": "ok name"}), "environment"),
        (json!({"name": "ok name", "environment": "prod"}), "environment"),
        (json!({"name": "ok name", "environment": "test", "permissions": ["fly"]}), "permissions"),
        (json!({"name": "ok name", "environment": "test", "rateLimitTier": "gold"}), "rateLimitTier"),
        (json!({"name": "ok name", "environment": "test", "expiresAt": "tomorrow"}), "expiresAt"),
        (json!({"name": "ok name", "environment": "test", "expiresAt": "2001-01-01T00:00:00Z"}), "expiresAt"),
    ];
    for (body, field) in key_cases {
        let (status, resp) = server.post("/api/v1/keys", Some(&token), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["error"]["details"]["field"], field, "{body}");
    }
}
