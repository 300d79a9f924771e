//! Token, key and database lifecycle: logout and password change void old tokens, regenerated and
//! changed keys apply at once, account deletion revokes everything.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn code(body: &serde_json::Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

#[tokio::test]
async fn logout_and_password_change_void_every_earlier_token() {
    let server = Server::start().await;
    let first = server.register("tokens@example.com").await;
    let login = |password: &'static str| {
        server.post("/api/v1/auth/login", None, json!({"email": "tokens@example.com", "password": password}))
    };
    let (_, body) = login("correct horse battery").await;
    let second = body["data"]["token"].as_str().unwrap().to_string();

    let (status, body) = server.get("/api/v1/auth/profile", Some(&first)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["email"], "tokens@example.com");
    let (status, body) = server.post("/api/v1/auth/refresh", Some(&first), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let refreshed = body["data"]["token"].as_str().unwrap().to_string();

    let (status, _) = server.post("/api/v1/auth/logout", Some(&first), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    for token in [&first, &second, &refreshed] {
        let (status, body) = server.get("/api/v1/auth/profile", Some(token)).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN")));
    }

    let (_, body) = login("correct horse battery").await;
    let third = body["data"]["token"].as_str().unwrap().to_string();
    let (status, body) = server
        .post("/api/v1/auth/change-password", Some(&third), json!({"currentPassword": "wrong one!", "newPassword": "new passphrase 2"}))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS")));
    let (status, body) = server
        .post("/api/v1/auth/change-password", Some(&third), json!({"currentPassword": "correct horse battery", "newPassword": "new passphrase 2"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fourth = body["data"]["token"].as_str().unwrap().to_string();
    let (status, _) = server.get("/api/v1/auth/profile", Some(&third)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.get("/api/v1/auth/profile", Some(&fourth)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(login("correct horse battery").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login("new passphrase 2").await.0, StatusCode::OK);

    // Profile changes; an email taken by someone else is a conflict.
    server.register("taken@example.com").await;
    let (status, body) = server.call(Method::PUT, "/api/v1/auth/profile", Some(&fourth), Some(json!({"name": "Renamed"}))).await;
    assert_eq!((status, body["data"]["name"].as_str()), (StatusCode::OK, Some("Renamed")));
    let (status, body) =
        server.call(Method::PUT, "/api/v1/auth/profile", Some(&fourth), Some(json!({"email": "TAKEN@example.com"}))).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, Some("USER_EXISTS")));
}

#[tokio::test]
async fn regenerated_and_changed_keys_apply_on_the_next_request() {
    let server = Server::start().await;
    let t = server.sakila_tenant("regen@example.com").await;
    let q = json!({"query": "astronaut"});
    assert_eq!(server.search(&t.key, q.clone()).await.0, StatusCode::OK);

    let (status, body) = server.post(&format!("/api/v1/keys/{}/regenerate", t.key_id), Some(&t.token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = body["data"]["secretKey"].as_str().unwrap().to_string();
    assert_eq!(body["data"]["apiKey"]["id"], t.key_id.as_str());
    assert_ne!(fresh, t.key);
    let (status, body) = server.search(&t.key, q.clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, Some("INVALID_API_KEY")));
    assert_eq!(server.search(&fresh, q.clone()).await.0, StatusCode::OK);

    // Taking away `search` and then deactivating: each applies at once.
    let path = format!("/api/v1/keys/{}", t.key_id);
    let (status, body) = server.call(Method::PUT, &path, Some(&t.token), Some(json!({"permissions": ["analytics"], "name": "renamed key"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["permissions"], json!(["analytics"]));
    assert_eq!(body["data"]["name"], "renamed key");
    let (status, body) = server.search(&fresh, q.clone()).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, Some("INSUFFICIENT_PERMISSIONS")));
    let (status, _) = server.call(Method::PUT, &path, Some(&t.token), Some(json!({"permissions": ["search"], "isActive": false}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.search(&fresh, q.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.call(Method::PUT, &path, Some(&t.token), Some(json!({"isActive": true}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.search(&fresh, q.clone()).await.0, StatusCode::OK);
    let (status, body) = server.call(Method::PUT, &path, Some(&t.token), Some(json!({"rateLimitTier": "diamond"}))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR")));
}

#[tokio::test]
async fn databases_can_be_changed_tested_and_listed_with_their_status() {
    let server = Server::start().await;
    let t = server.sakila_tenant("dbs@example.com").await;
    let path = format!("/api/v1/databases/{}", t.db);

    let (status, body) = server.post(&format!("{path}/test"), Some(&t.token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "connected");
    assert!(body["data"]["version"].as_str().unwrap().contains("MariaDB"));
    assert!(body["data"]["responseTime"].as_f64().unwrap() >= 0.0);

    let (status, body) = server.call(Method::PUT, &path, Some(&t.token), Some(json!({"name": "films"}))).await;
    assert_eq!((status, body["data"]["name"].as_str()), (StatusCode::OK, Some("films")));
    // A change that does not connect is refused and nothing changes.
    let (status, body) = server.call(Method::PUT, &path, Some(&t.token), Some(json!({"port": 1}))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, Some("CONNECTION_FAILED")));
    let (_, body) = server.get(&path, Some(&t.token)).await;
    assert_eq!(body["data"]["port"], MARIADB_PORT);
    assert_eq!(server.search(&t.key, json!({"query": "astronaut"})).await.0, StatusCode::OK);

    let (status, body) = server.get("/api/v1/databases/status", Some(&t.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["id"], t.db.as_str());
    assert_eq!(body["data"][0]["status"], "connected");
    assert!(body["data"][0]["lastTested"].is_string());

    let (status, body) = server.get("/api/v1/management/health", None).await;
    assert_eq!((status, body["data"]["status"].as_str()), (StatusCode::OK, Some("healthy")));
    let (status, body) = server.get("/api/v1/management/migration-status", Some(&t.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["pendingMigrations"], json!([]));
    assert_eq!(body["data"]["currentVersion"], *body["data"]["appliedMigrations"].as_array().unwrap().last().unwrap());
    assert!(body["data"]["currentVersion"].as_str().unwrap().starts_with("000"));
}

#[tokio::test]
async fn deleting_an_account_revokes_its_keys_at_once() {
    let server = Server::start().await;
    let t = server.sakila_tenant("leaving@example.com").await;
    assert_eq!(server.search(&t.key, json!({"query": "astronaut"})).await.0, StatusCode::OK);
    let (status, _) = server.call(Method::DELETE, "/api/v1/auth/account", Some(&t.token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.search(&t.key, json!({"query": "astronaut"})).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, Some("INVALID_API_KEY")));
    let (status, _) = server.get("/api/v1/auth/profile", Some(&t.token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The email is free again, and the new account sees none of the old one's data.
    let token = server.register("leaving@example.com").await;
    let (_, body) = server.get("/api/v1/databases", Some(&token)).await;
    assert_eq!(body["data"], json!([]));
}

#[tokio::test]
async fn a_key_cannot_manage_stronger_keys_and_revocation_is_final() {
    let server = Server::start().await;
    let token = server.register("manage@example.com").await;
    let (strong, strong_id) = server.create_key(&token, &["search", "database:write"]).await;
    let (limited, _) = server.create_key(&token, &["keys:write", "keys:read"]).await;

    let path = format!("/api/v1/keys/{strong_id}");
    let (status, body) = server.post(&format!("{path}/regenerate"), Some(&limited), json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, Some("INSUFFICIENT_PERMISSIONS")), "{body}");
    let (status, _) = server.call(Method::PUT, &path, Some(&limited), Some(json!({"name": "hijacked"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.call(Method::DELETE, &path, Some(&limited), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(server.get("/api/v1/rate-limit", Some(&strong)).await.0, StatusCode::OK);

    // The account's owner revokes it; nothing brings it back.
    let (status, _) = server.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.call(Method::PUT, &path, Some(&token), Some(json!({"isActive": true}))).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR")), "{body}");
    let (status, _) = server.post(&format!("{path}/regenerate"), Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server.get("/api/v1/rate-limit", Some(&strong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, keys) = server.get("/api/v1/keys", Some(&token)).await;
    let revoked = keys["data"].as_array().unwrap().iter().find(|k| k["id"] == strong_id.as_str()).unwrap().clone();
    assert!(revoked["revokedAt"].is_string() && revoked["isActive"] == false);

    // Markup is not an email address; control characters are not a name.
    let (status, _) = server.call(Method::PUT, "/api/v1/auth/profile", Some(&token), Some(json!({"email": "<svg/onload=alert(1)>@x.io"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server.call(Method::PUT, "/api/v1/auth/profile", Some(&token), Some(json!({"name": "bad\u{0}name"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
