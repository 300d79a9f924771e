//! What browsers see: CORS from the allow-list, and the security headers on every response.

mod common;

use common::*;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn cors_answers_only_allowed_origins_and_every_response_is_hardened() {
    let config = format!("{GENEROUS_LIMITS}\n[server]\ncors_origins = [\"https://allowed.example\"]\n");
    let server = Server::start_with_config(&config).await;
    let get = |origin: &'static str| {
        server.client.get(format!("{}/health", server.base)).header("origin", origin).send()
    };

    let ok = get("https://allowed.example").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://allowed.example");
    assert!(ok.headers()["access-control-expose-headers"].to_str().unwrap().contains("X-RateLimit-Remaining"));
    assert_eq!(ok.headers()["vary"], "Origin");
    for origin in ["https://evil-allowed.example", "null", "http://allowed.example", "https://allowed.example.evil"] {
        let resp = get(origin).await.unwrap();
        assert!(resp.headers().get("access-control-allow-origin").is_none(), "{origin}");
        assert_eq!(resp.headers()["vary"], "Origin");
    }

    let preflight = server
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/search", server.base))
        .header("origin", "https://allowed.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers()["access-control-allow-methods"], "POST");
    assert!(preflight.headers()["access-control-allow-headers"].to_str().unwrap().contains("Authorization"));
    let refused = server
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/search", server.base))
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("access-control-allow-methods").is_none());
    let unknown = server.client.request(Method::OPTIONS, format!("{}/nowhere", server.base)).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    for resp in [ok, get("https://evil-allowed.example").await.unwrap()] {
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
        assert!(h.contains_key("x-api-version") && h.contains_key("x-rate-limit-policy"));
    }
}
