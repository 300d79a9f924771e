//! The security layer end to end: address blocks after failed authentications, rapid-fire
//! restriction, injection probes, the audit trail (and its durability across SIGTERM).

mod common;

use std::time::Duration;

use common::{Server, GENEROUS_LIMITS};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Believes X-Forwarded-For from the test client, so one test can speak as several addresses.
const VIA_PROXY: &str = r#"
[rate_limits.ip]
per_hour = 1000000
per_minute = 100000
burst = 10000
trusted_proxies = ["127.0.0.1"]
"#;

/// Sends a request as client address `ip` (through the trusted proxy); returns status, headers
/// and JSON body.
async fn as_client(
    server: &Server,
    ip: &str,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = server.client.request(method, format!("{}{path}", server.base)).header("x-forwarded-for", ip);
    if let Some(auth) = auth {
        req = req.header("authorization", format!("Bearer {auth}"));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap())
}

fn bad_key(i: usize) -> String {
    format!("altus4_sk_test_{:064x}", i + 1)
}

#[tokio::test]
async fn eleven_bad_keys_block_the_address_even_for_a_valid_key_until_the_block_ends() {
    let config = format!("{VIA_PROXY}\n[incidents]\nauth_failure_limit = 10\nblock_secs = 3\n");
    let server = Server::start_with_config(&config).await;
    let token = server.register("blocked@example.com").await;
    let (key, _) = server.create_key(&token, &["search", "analytics"]).await;
    let attacker = "203.0.113.7";

    for i in 0..11 {
        let (status, _, body) = as_client(&server, attacker, Method::GET, "/api/v1/rate-limit", Some(&bad_key(i)), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
    }
    // The 12th request is refused before any other work, even with a valid key.
    let (status, headers, body) = as_client(&server, attacker, Method::GET, "/api/v1/rate-limit", Some(&key), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "IP_BLOCKED");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry), "Retry-After {retry}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "refusals carry the security headers");
    // Unauthenticated routes too.
    let (status, _, _) = as_client(&server, attacker, Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another address is served normally throughout.
    let (status, _, body) = as_client(&server, "198.51.100.20", Method::GET, "/api/v1/rate-limit", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Requests without any credential are not authentication attempts: a web page could make
    // its visitors' browsers send them cross-site. Twenty of them block nobody.
    let visitor = "198.51.100.77";
    for path in ["/api/v1/rate-limit", "/api/v1/keys"].repeat(10) {
        let (status, _, _) = as_client(&server, visitor, Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, body) = as_client(&server, visitor, Method::GET, "/api/v1/rate-limit", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The block is on the audit trail as an incident; admins see it in force.
    let admin = server.admin_token("ops@example.com").await;
    let (status, body) = server.get("/api/v1/admin/incidents", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["blocks"][0]["ip"], attacker);
    let incident = &body["data"]["incidents"]["events"][0];
    assert_eq!(incident["action"], "incident.ip_blocked");
    assert_eq!(incident["target"], attacker);
    assert_eq!(incident["details"]["failures"], 11);

    // It ends by itself.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let (status, _, body) = as_client(&server, attacker, Method::GET, "/api/v1/rate-limit", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_admin_can_lift_a_block() {
    let config = format!("{VIA_PROXY}\n[incidents]\nauth_failure_limit = 2\nblock_secs = 3600\n");
    let server = Server::start_with_config(&config).await;
    let admin = server.admin_token("ops@example.com").await;
    let attacker = "2001:db8:1:2::99";
    for i in 0..3 {
        as_client(&server, attacker, Method::GET, "/api/v1/rate-limit", Some(&bad_key(i)), None).await;
    }
    // IPv6 clients are grouped by /64, like the rate limits: a neighbour is blocked too.
    let (status, _, _) = as_client(&server, "2001:db8:1:2::1", Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = server.call(Method::DELETE, "/api/v1/admin/blocks/not-an-ip", Some(&admin), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("VALIDATION_ERROR")));
    let (status, _) = server.call(Method::DELETE, "/api/v1/admin/blocks/192.0.2.1", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no block there");
    let token = server.register("user@example.com").await;
    let (status, _) = server.call(Method::DELETE, &format!("/api/v1/admin/blocks/{attacker}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "users cannot lift blocks");

    // Written as `encodeURIComponent` writes it, colons percent-encoded.
    let encoded = attacker.replace(':', "%3A");
    let (status, body) = server.call(Method::DELETE, &format!("/api/v1/admin/blocks/{encoded}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["ip"], attacker);
    let (status, _, _) = as_client(&server, attacker, Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = server.get("/api/v1/audit?action=admin.block_lifted", Some(&admin)).await;
    let outcomes: Vec<&str> = body["data"]["events"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["success", "failure", "failure"], "{body}");
    assert_eq!(body["data"]["events"][0]["target"], attacker);
}

#[tokio::test]
async fn rapid_fire_on_a_key_tightens_its_limits() {
    let config = r#"
[rate_limits.tiers.free]
per_hour = 100000
per_minute = 1000
burst = 1000
block_secs = 1

[incidents]
rapid_fire_requests = 20
rapid_fire_window_secs = 10
rapid_fire_penalty_secs = 600
rapid_fire_divisor = 4
"#;
    let server = Server::start_with_config(config).await;
    let token = server.register("rapid@example.com").await;
    let (key, key_id) = server.create_key(&token, &["search", "analytics"]).await;
    let limit_of = |headers: &reqwest::header::HeaderMap| {
        (headers["x-ratelimit-tier"].to_str().unwrap().to_string(), headers["x-ratelimit-limit"].to_str().unwrap().to_string())
    };
    for _ in 0..20 {
        let (status, headers, _) = as_client(&server, "127.0.0.1", Method::GET, "/api/v1/rate-limit", Some(&key), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(limit_of(&headers), ("free".into(), "1000".into()));
    }
    // The 21st request within 10 s is rapid fire; from the next one on, the key is restricted.
    as_client(&server, "127.0.0.1", Method::GET, "/api/v1/rate-limit", Some(&key), None).await;
    let (status, headers, _) = as_client(&server, "127.0.0.1", Method::GET, "/api/v1/rate-limit", Some(&key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(limit_of(&headers), ("free-restricted".into(), "250".into()));

    let (_, body) = server.get("/api/v1/audit?action=incident.rapid_fire", Some(&token)).await;
    let events = body["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "one incident, not one per request: {body}");
    assert_eq!(events[0]["keyId"], key_id.as_str());
    assert!(events[0]["details"]["attempts"].as_u64().unwrap() > 20);
}

#[tokio::test]
async fn injection_probes_are_refused_recorded_and_can_revoke_the_key() {
    let config = format!("{GENEROUS_LIMITS}revoke_after_incidents = 2\n");
    let server = Server::start_with_config(&config).await;
    let t = server.sakila_tenant("probe@example.com").await;
    let (status, body) = server.search(&t.key, json!({"query": "x' OR 1=1 --"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"]["reason"], "suspicious");
    // Ordinary searches that merely contain SQL words are not probes.
    let (status, _) = server.search(&t.key, json!({"query": "drop shipping union station select"})).await;
    assert_eq!(status, StatusCode::OK);
    // A second probe is the second incident on the key: it is revoked.
    let (status, _) = server.search(&t.key, json!({"query": "1 UNION SELECT password FROM users"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut revoked = false;
    for _ in 0..50 {
        if server.search(&t.key, json!({"query": "astronaut"})).await.0 == StatusCode::UNAUTHORIZED {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(revoked, "the key is revoked after two incidents");
    let (_, body) = server.get("/api/v1/audit?action=incident.", Some(&t.token)).await;
    let actions: Vec<&str> = body["data"]["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["incident.key_revoked", "incident.injection_probe", "incident.injection_probe"], "{body}");
}

#[tokio::test]
async fn with_refusal_switched_off_probes_are_searched_but_still_recorded() {
    let config = format!("{GENEROUS_LIMITS}reject_injection = false\n");
    let server = Server::start_with_config(&config).await;
    let t = server.sakila_tenant("lenient@example.com").await;
    let (status, body) = server.search(&t.key, json!({"query": "astronaut' OR '1'='1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = server.get("/api/v1/audit?action=incident.injection_probe", Some(&t.token)).await;
    assert_eq!(body["data"]["events"][0]["details"]["refused"], false, "{body}");
}

#[tokio::test]
async fn the_audit_trail_records_who_did_what_from_where_and_is_read_only() {
    let server = Server::start().await;
    let t = server.sakila_tenant("audited@example.com").await;
    let (weak, weak_id) = server.create_key(&t.token, &["search"]).await;
    let (status, _) = server.call(Method::PUT, &format!("/api/v1/keys/{weak_id}"), Some(&t.token), Some(json!({"name": "renamed"}))).await;
    assert_eq!(status, StatusCode::OK);
    // A permission denial: a search-only key may not remove a database.
    let (status, _) = server.call(Method::DELETE, &format!("/api/v1/databases/{}", t.db), Some(&weak), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.post(&format!("/api/v1/keys/{weak_id}/regenerate"), Some(&t.token), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.search(&t.key, json!({"query": "astronaut"})).await.0, StatusCode::OK);
    assert_eq!(server.get(&format!("/api/v1/databases/{}/schema", t.db), Some(&t.token)).await.0, StatusCode::OK);
    let (status, _) = server.call(Method::DELETE, &format!("/api/v1/keys/{weak_id}"), Some(&t.token), None).await;
    assert_eq!(status, StatusCode::OK);
    // Someone tries a wrong password on this account: its owner sees the attempt.
    let (status, _) = server.post("/api/v1/auth/login", None, json!({"email": "audited@example.com", "password": "wrong guess here"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = server.get("/api/v1/audit?limit=100", Some(&t.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["data"]["events"].as_array().unwrap();
    let has = |action: &str, outcome: &str| events.iter().any(|e| e["action"] == action && e["outcome"] == outcome);
    for action in ["account.registered", "key.created", "key.updated", "key.regenerated", "key.revoked", "database.added", "database.accessed"] {
        assert!(has(action, "success"), "{action} missing: {body}");
    }
    assert!(has("auth.permission_denied", "denied"), "{body}");
    assert!(has("auth.login", "failure"), "a failed login on the account is on its trail: {body}");
    let revoked = events.iter().find(|e| e["action"] == "key.revoked").unwrap();
    assert_eq!(revoked["target"], weak_id.as_str());
    assert_eq!(revoked["clientIp"], "127.0.0.1");
    assert!(revoked["requestId"].as_str().unwrap().len() >= 32);
    assert!(revoked["timestamp"].as_str().unwrap().ends_with('Z'));
    let added = events.iter().find(|e| e["action"] == "database.added").unwrap();
    assert_eq!(added["target"], t.db.as_str(), "created ids are recorded");
    // No secret in any row.
    let text = body.to_string();
    assert!(!text.contains(&t.key) && !text.contains("correct horse battery"));

    // Another tenant sees none of it, and may not ask for someone else's rows.
    let other = server.register("other@example.com").await;
    let (_, body) = server.get("/api/v1/audit", Some(&other)).await;
    assert!(body["data"]["events"].as_array().unwrap().iter().all(|e| e["action"] == "account.registered"), "{body}");
    let (status, _) = server.get("/api/v1/audit?userId=anyone", Some(&other)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Append-only through the API.
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let (status, _) = server.call(method, "/api/v1/audit", Some(&t.token), None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }
    // An admin sees everyone's.
    let admin = server.admin_token("root@example.com").await;
    let (_, body) = server.get("/api/v1/audit?action=account.registered", Some(&admin)).await;
    assert_eq!(body["data"]["totalCount"], 2, "{body}");
}

#[tokio::test]
async fn every_acknowledged_key_creation_is_audited_even_across_sigterm() {
    let mut server = Server::start().await;
    let token = server.register("burst@example.com").await;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, base, token) = (server.client.clone(), server.base.clone(), token.clone());
        workers.spawn(async move {
            let mut created = vec![];
            loop {
                let sent = client
                    .post(format!("{base}/api/v1/keys"))
                    .bearer_auth(&token)
                    .json(&json!({"name": "burst", "environment": "test", "permissions": ["search"]}))
                    .send()
                    .await;
                let Ok(resp) = sent else { break };
                if resp.status() != StatusCode::CREATED {
                    break;
                }
                let Ok(body) = resp.json::<Value>().await else { break };
                created.push(body["data"]["apiKey"]["id"].as_str().unwrap().to_string());
            }
            created
        });
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.stop();
    let mut acknowledged = vec![];
    while let Some(created) = workers.join_next().await {
        acknowledged.extend(created.unwrap());
    }
    assert!(acknowledged.len() > 20, "the burst was real: {}", acknowledged.len());

    let db = rusqlite::Connection::open(server.sqlite_path()).unwrap();
    let mut stmt = db.prepare("SELECT target FROM audit_events WHERE action = 'key.created' AND outcome = 'success'").unwrap();
    let audited: std::collections::HashSet<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !audited.contains(*id)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged creations have no audit row", missing.len(), acknowledged.len());
}

/// Registration cannot be used to reach addresses outside `[targets]`' permitted networks: the
/// refusal comes before any connection (a listener on the forbidden address sees nothing), and an
/// update cannot move a database there either.
#[tokio::test]
async fn databases_outside_the_permitted_networks_are_refused_before_any_connection() {
    let config = format!("{GENEROUS_LIMITS}\n[targets]\nallowed_networks = [\"127.0.0.1/32\"]\ndenied_networks = [\"127.0.0.2\"]\n");
    let server = Server::start_with_config(&config).await;
    let token = server.register("networks@example.com").await;
    let db = server.add_database(&token, "sakila").await;

    // Listeners on a denied address and on one outside the allow-list.
    for host in ["127.0.0.2", "127.0.0.3"] {
        let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = json!({"name": "probe", "host": host, "port": port, "database": "x", "username": "root", "password": ""});
        let (status, reply) = server.post("/api/v1/databases", Some(&token), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{host}: {reply}");
        assert_eq!(reply["error"]["code"], "CONNECTION_FAILED", "{reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("outside the networks"),
            "{reply}"
        );
        let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "{host}: altus4 connected to a forbidden address"
        );

        let (status, reply) = server
            .call(
                Method::PUT,
                &format!("/api/v1/databases/{db}"),
                Some(&token),
                Some(json!({"host": host, "port": port})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
        assert!(
            tokio::time::timeout(Duration::from_millis(300), listener.accept())
                .await
                .is_err()
        );
    }
    let (status, reply) = server
        .get(&format!("/api/v1/databases/{db}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reply["data"]["host"], "127.0.0.1",
        "a refused update changes nothing: {reply}"
    );
    let (key, _) = server.create_key(&token, &["search"]).await;
    let (status, reply) = server
        .search(&key, json!({"query": "astronaut boat", "databases": [db]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["data"]["totalCount"].as_u64().unwrap() > 0);
}

/// Every route that takes a search query screens it: a probe typed into the suggestions box is
/// refused and recorded like one sent to `/search`.
#[tokio::test]
async fn probes_in_suggestion_queries_are_refused_and_recorded() {
    let server = Server::start().await;
    let t = server.sakila_tenant("suggest-probe@example.com").await;
    let (status, body) = server.get("/api/v1/search/suggestions?query=%27%20OR%201%3D1%20--", Some(&t.key)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"]["reason"], "suspicious", "{body}");
    let (status, _) = server.get("/api/v1/search/suggestions?query=select%20films%20from%201999", Some(&t.key)).await;
    assert_eq!(status, StatusCode::OK, "prose that merely contains SQL words is a suggestion query");
    let (_, body) = server.get("/api/v1/audit?action=incident.", Some(&t.token)).await;
    let actions: Vec<&str> = body["data"]["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["incident.injection_probe"], "{body}");
}
