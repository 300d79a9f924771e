//! altus4's own OpenAPI document matches what the router serves.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Sends `method` to `template` with every `{param}` replaced by a fresh UUID, no credentials
/// and an empty JSON object as body; returns the status and the body text.
async fn probe(server: &Server, method: &str, template: &str) -> (StatusCode, String) {
    let path: String = template
        .split('/')
        .map(|s| if s.starts_with('{') { uuid::Uuid::new_v4().to_string() } else { s.to_string() })
        .collect::<Vec<_>>()
        .join("/");
    let resp = server
        .client
        .request(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

/// The reference contract's text (next to the datasets folder).
fn reference_text() -> String {
    let datasets = std::env::var("ALTUS4_DATASETS")
        .unwrap_or_else(|_| format!("{}/../shared/datasets", env!("CARGO_MANIFEST_DIR")));
    let path = std::path::Path::new(&datasets).join("../reference/altus4.openapi.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("the reference contract must be at {}: {e}", path.display()))
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let server = Server::start().await;
    let resp = server.client.get(format!("{}/openapi.json", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    let mut checked = 0;
    for (template, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let (status, text) = probe(&server, method, template).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {template}: {text}");
            assert!(!text.contains("route not found"), "{method} {template} is documented but not served");
            assert!(status.as_u16() < 500, "{method} {template}: {status} {text}");
            checked += 1;
        }
    }
    assert!(checked >= 25);

    // And what is not documented is not served.
    let (status, body) = server.get("/api/v1/not-a-route", None).await;
    assert_eq!((status, body["error"]["message"].as_str()), (StatusCode::NOT_FOUND, Some("route not found")));
    let resp = server.client.patch(format!("{}/api/v1/keys", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "POST, GET");
}

/// (METHOD, path template) of every operation in the reference contract, read line by line
/// (the document's layout is regular: two-space path keys, four-space method keys).
fn reference_operations() -> Vec<(String, String)> {
    let text = reference_text();
    let mut ops = vec![];
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            current = Some(format!("/{p}"));
        } else if let (Some(p), Some(m)) = (&current, line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))) {
            if ["get", "post", "put", "delete", "patch"].contains(&m) {
                ops.push((m.to_uppercase(), p.clone()));
            }
        } else if !line.starts_with(' ') && !line.is_empty() {
            current = None;
        }
    }
    ops
}

#[tokio::test]
async fn every_operation_of_the_reference_contract_is_served_and_documented() {
    let ops = reference_operations();
    assert!(ops.len() >= 34, "parsed only {} operations", ops.len());
    let server = Server::start().await;
    let doc: Value = server.client.get(format!("{}/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
    for (method, template) in &ops {
        assert!(
            doc["paths"][template][method.to_lowercase()].is_object(),
            "{method} {template} is in the reference but not in altus4's document"
        );
        let (status, text) = probe(&server, method, template).await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {template}");
        assert_ne!(body["error"]["message"], "route not found", "{method} {template}");
        // Without credentials every protected operation is a 401 in the envelope, never a 500.
        assert!(status.as_u16() < 500, "{method} {template}: {status}");
        assert!(body.get("success").is_some() || template == "/health", "{method} {template}: {body}");
    }
}

/// The property names of a schema under `components.schemas` in the reference.
fn reference_fields(schema: &str) -> Vec<String> {
    let text = reference_text();
    let mut lines = text.lines().skip_while(|l| *l != format!("    {schema}:"));
    lines.next().expect("schema present");
    lines
        .take_while(|l| l.is_empty() || l.starts_with("      "))
        .filter_map(|l| l.strip_prefix("        ").and_then(|l| l.strip_suffix(':')))
        .filter(|name| !name.starts_with(' '))
        .map(String::from)
        .collect()
}

fn assert_fields(schema: &str, value: &Value) {
    let fields = reference_fields(schema);
    assert!(!fields.is_empty(), "no fields parsed for {schema}");
    for f in fields {
        assert!(value.get(&f).is_some(), "{schema}.{f} missing from {value}");
    }
}

#[tokio::test]
async fn responses_carry_the_reference_field_names() {
    let server = Server::start().await;
    let t = server.sakila_tenant("fields@example.com").await;
    let (_, profile) = server.get("/api/v1/auth/profile", Some(&t.token)).await;
    assert_fields("User", &profile["data"]);
    let (_, keys) = server.get("/api/v1/keys", Some(&t.token)).await;
    assert_fields("ApiKey", &keys["data"][0]);
    let (_, db) = server.get(&format!("/api/v1/databases/{}", t.db), Some(&t.token)).await;
    assert_fields("DatabaseConnection", &db["data"]);
    let (_, search) = server.search(&t.key, serde_json::json!({"query": "astronaut boat"})).await;
    let data = &search["data"];
    for f in ["results", "totalCount", "executionTime"] {
        assert!(data.get(f).is_some(), "SearchResponse.{f}");
    }
    for f in ["id", "database", "table", "relevanceScore", "content", "highlights"] {
        assert!(data["results"][0].get(f).is_some(), "result.{f} missing");
    }
    // The envelope: `data` on success, `error` on failure (the reference marks both optional).
    let (_, failed) = server.get("/api/v1/keys", Some("not-a-token")).await;
    for f in reference_fields("ApiResponse") {
        assert!(failed.get(&f).is_some() || profile.get(&f).is_some(), "ApiResponse.{f}");
    }
    assert!(failed.get("data").is_none() && profile.get("error").is_none());
    for f in ["timestamp", "requestId", "version", "executionTime"] {
        assert!(failed["meta"].get(f).is_some(), "meta.{f}");
    }
}
