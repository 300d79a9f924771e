//! Incidents reach the operator's webhook as JSON, with no secret in them.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Accepts one HTTP/1.1 POST on `listener`, answers 204, returns its path and JSON body.
async fn receive_one(listener: tokio::net::TcpListener) -> (String, Value) {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the webhook request ended early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .expect("a content-length");
            if buf.len() >= end + 4 + length {
                stream.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await.unwrap();
                let path = text.split_whitespace().nth(1).unwrap().to_string();
                return (path, serde_json::from_slice(&buf[end + 4..end + 4 + length]).unwrap());
            }
        }
    }
}

#[tokio::test]
async fn an_incident_is_posted_to_the_webhook() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/altus4-hook", listener.local_addr().unwrap());
    let server = Server::start_with_config(&format!("{GENEROUS_LIMITS}webhook_url = \"{hook}\"\n")).await;
    let t = server.sakila_tenant("hooked@example.com").await;
    let received = tokio::spawn(receive_one(listener));

    let (status, _) = server.search(&t.key, json!({"query": "' UNION SELECT password FROM users --"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (path, incident) = tokio::time::timeout(Duration::from_secs(10), received).await.expect("the webhook was called").unwrap();
    assert_eq!(path, "/altus4-hook");
    assert_eq!(incident["event"], "incident");
    assert_eq!(incident["kind"], "injection_probe");
    assert_eq!(incident["clientIp"], "127.0.0.1");
    assert_eq!(incident["details"]["shape"], "union-select");
    assert!(incident["keyId"].is_string());
    assert!(!incident.to_string().contains(&t.key), "no key in a notification");
}
