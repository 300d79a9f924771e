//! Rate limits end to end: per-key windows with truthful Retry-After, tier reload on SIGHUP,
//! per-address limits that a spoofed X-Forwarded-For cannot escape, usage tracking.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

fn tiers(free_per_minute: u32, ip_per_minute: u32, trusted: &str) -> String {
    format!(
        r#"
[rate_limits.tiers.free]
per_hour = 1000
per_minute = {free_per_minute}
burst = 100
block_secs = 1

[rate_limits.ip]
per_hour = 1000
per_minute = {ip_per_minute}
burst = 100
block_secs = 1
trusted_proxies = [{trusted}]
"#
    )
}

async fn get_with(server: &Server, path: &str, key: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = server.client.get(format!("{}{path}", server.base)).header("authorization", format!("Bearer {key}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn header(resp: &Response, name: &str) -> String {
    resp.headers().get(name).unwrap_or_else(|| panic!("missing {name}")).to_str().unwrap().to_string()
}

async fn login(server: &Server, xff: Option<&str>) -> StatusCode {
    let mut req = server
        .client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": "nobody@example.com", "password": "wrong password"}));
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn a_key_at_its_minute_limit_gets_a_truthful_retry_after() {
    let server = Server::start_with_config(&tiers(3, 1000, "")).await;
    let token = server.register("limits@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;

    for remaining in (0..3).rev() {
        let resp = get_with(&server, "/api/v1/rate-limit", &key, &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "x-ratelimit-limit"), "3");
        assert_eq!(header(&resp, "x-ratelimit-remaining"), remaining.to_string());
        assert_eq!(header(&resp, "x-ratelimit-tier"), "free");
        assert_eq!(header(&resp, "x-ratelimit-window"), "60");
        assert_eq!(header(&resp, "ratelimit-policy"), "100;w=1, 3;w=60, 1000;w=3600");
        assert!(header(&resp, "ratelimit").starts_with(&format!("limit=3, remaining={remaining}, reset=")));
        let reset: u64 = header(&resp, "x-ratelimit-reset").parse().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
        assert!(reset > now && reset <= now + 62, "reset {reset} now {now}");
    }

    let refused = get_with(&server, "/api/v1/rate-limit", &key, &[]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((55..=61).contains(&retry_after), "retry-after {retry_after}");
    assert_eq!(header(&refused, "x-ratelimit-remaining"), "0");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    let details = &body["error"]["details"];
    assert_eq!((details["limit"].as_u64(), details["remaining"].as_u64()), (Some(3), Some(0)));
    assert_eq!(details["retryAfter"].as_u64(), Some(retry_after));
    assert_eq!(details["tier"], "free");
    assert!(details["resetTime"].is_string());

    // Other endpoints share the key's budget: search is refused too.
    let (status, _) = server.search(&key, json!({"query": "x"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Two seconds before the promised time it is still refused; at the promised time it is not.
    tokio::time::sleep(Duration::from_secs(retry_after - 2)).await;
    let early = get_with(&server, "/api/v1/rate-limit", &key, &[]).await;
    assert_eq!(early.status(), StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let later = get_with(&server, "/api/v1/rate-limit", &key, &[]).await;
    assert_eq!(later.status(), StatusCode::OK);
}

#[tokio::test]
async fn sighup_applies_a_tier_change_and_keeps_the_counts() {
    let mut server = Server::start_with_config(&tiers(2, 1000, "")).await;
    let token = server.register("reload@example.com").await;
    let (key, _) = server.create_key(&token, &["search"]).await;
    for _ in 0..2 {
        assert_eq!(get_with(&server, "/api/v1/rate-limit", &key, &[]).await.status(), StatusCode::OK);
    }
    assert_eq!(get_with(&server, "/api/v1/rate-limit", &key, &[]).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Raise the limit to 3 and signal: one more request fits (2 are still counted), then 429.
    std::fs::write(&server.config_path, tiers(3, 1000, "")).unwrap();
    server.signal("HUP");
    tokio::time::sleep(Duration::from_millis(1_300)).await; // reload, and the 1 s block ends
    let resp = get_with(&server, "/api/v1/rate-limit", &key, &[]).await;
    assert_eq!(resp.status(), StatusCode::OK, "{}", server.log());
    assert_eq!(header(&resp, "x-ratelimit-limit"), "3");
    assert_eq!(header(&resp, "x-ratelimit-remaining"), "0");
    assert_eq!(get_with(&server, "/api/v1/rate-limit", &key, &[]).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // A broken file changes nothing and does not stop the server.
    std::fs::write(&server.config_path, "[rate_limits.tiers.free]\nper_minute = \"lots\"\n").unwrap();
    server.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = server.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(server.log().contains("reload failed"));
    server.stop();
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_gets_no_fresh_budget() {
    let server = Server::start_with_config(&tiers(1000, 3, "")).await;
    for _ in 0..3 {
        assert_eq!(login(&server, None).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&server, None).await, StatusCode::TOO_MANY_REQUESTS);
    for spoof in ["203.0.113.7", "198.51.100.1, 203.0.113.8", "::1"] {
        assert_eq!(login(&server, Some(spoof)).await, StatusCode::TOO_MANY_REQUESTS, "{spoof}");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let server = Server::start_with_config(&tiers(1000, 2, "\"127.0.0.1\"")).await;
    for client in ["203.0.113.7", "203.0.113.8"] {
        assert_eq!(login(&server, Some(client)).await, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&server, Some(client)).await, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&server, Some(client)).await, StatusCode::TOO_MANY_REQUESTS, "{client}");
    }
    // IPv6 clients in one /64 share a budget.
    assert_eq!(login(&server, Some("2001:db8::1")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&server, Some("2001:db8::2")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&server, Some("2001:db8::3")).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn usage_is_tracked_and_the_owner_sees_the_rate_limit_state() {
    let server = Server::start_with_config(&tiers(50, 1000, "")).await;
    let token = server.register("usage@example.com").await;
    let (key, key_id) = server.create_key(&token, &["search"]).await;
    for _ in 0..4 {
        assert_eq!(get_with(&server, "/api/v1/rate-limit", &key, &[]).await.status(), StatusCode::OK);
    }
    // Usage is written in batches (every second by default).
    let mut usage = Value::Null;
    for _ in 0..50 {
        let (status, body) = server.get(&format!("/api/v1/keys/{key_id}/usage"), Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        usage = body["data"].clone();
        if usage["usageCount"] == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(usage["usageCount"], 4, "{usage}");
    assert_eq!(usage["lastUsedIp"], "127.0.0.1");
    assert!(usage["lastUsed"].is_string());
    // Looking does not count against the key.
    assert_eq!(usage["rateLimit"]["remaining"], 46);
    assert_eq!(usage["rateLimit"]["tier"], "free");
    assert_eq!(usage["rateLimit"]["limits"]["perMinute"], 50);
    // The key list shows the counters too, and nobody else can see them.
    let (_, keys) = server.get("/api/v1/keys", Some(&token)).await;
    assert_eq!(keys["data"][0]["usageCount"], 4);
    let other = server.register("other@example.com").await;
    let (status, _) = server.get(&format!("/api/v1/keys/{key_id}/usage"), Some(&other)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_admin_can_reload_tiers_over_the_api() {
    let server = Server::start_with_config(&tiers(2, 1000, "")).await;
    let token = server.register("plain@example.com").await;
    let (status, _) = server.post("/api/v1/admin/reload", Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let admin = server.admin_token("ops@example.com").await;

    let (key, _) = server.create_key(&token, &["search"]).await;
    std::fs::write(&server.config_path, tiers(7, 1000, "")).unwrap();
    let (status, body) = server.post("/api/v1/admin/reload", Some(&admin), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["tiers"].as_array().unwrap().iter().any(|t| t == "free"));
    let resp = get_with(&server, "/api/v1/rate-limit", &key, &[]).await;
    assert_eq!(header(&resp, "x-ratelimit-limit"), "7");

    std::fs::write(&server.config_path, "not = [valid").unwrap();
    let (status, body) = server.post("/api/v1/admin/reload", Some(&admin), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR")));
    let resp = get_with(&server, "/api/v1/rate-limit", &key, &[]).await;
    assert_eq!(header(&resp, "x-ratelimit-limit"), "7", "a broken file changes nothing");
}
