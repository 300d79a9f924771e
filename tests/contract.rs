//! altus4's own OpenAPI document matches what the router serves.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

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
        let path: String = template
            .split('/')
            .map(|s| if s.starts_with('{') { uuid::Uuid::new_v4().to_string() } else { s.to_string() })
            .collect::<Vec<_>>()
            .join("/");
        for method in operations.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = server
                .client
                .request(method.clone(), format!("{}{path}", server.base))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let text = resp.text().await.unwrap();
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
