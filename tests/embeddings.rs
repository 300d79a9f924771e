//! Semantic mode with an OpenAI-compatible embeddings provider: the database finds candidates
//! (query expansion), the provider's vectors order them. The provider here is a small local
//! HTTP server speaking the embeddings wire format with a deterministic bag-of-words model, so
//! the test can compute the expected order itself.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use reqwest::StatusCode;
use serde_json::{json, Value};

const DIMENSIONS: usize = 64;

/// The test model: each lower-cased word adds 1 to bucket (sum of its bytes) mod 64.
fn embed(text: &str) -> Vec<f64> {
    let mut v = vec![0.0; DIMENSIONS];
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let bucket = word.to_lowercase().bytes().map(usize::from).sum::<usize>() % DIMENSIONS;
        v[bucket] += 1.0;
    }
    v
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n(a) * n(b) == 0.0 { 0.0 } else { dot / (n(a) * n(b)) }
}

/// What the provider saw: (authorization header, model, inputs) per request.
type Seen = Arc<Mutex<Vec<(String, String, Vec<String>)>>>;

async fn provider() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/embeddings", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let log = Arc::clone(&log);
                    async move {
                        let auth = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                        let body: Value = serde_json::from_slice(&req.into_body().collect().await.unwrap().to_bytes()).unwrap();
                        let inputs: Vec<String> = body["input"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
                        log.lock().unwrap().push((auth, body["model"].as_str().unwrap().to_string(), inputs.clone()));
                        // Answer in reverse order with indexes, as providers may.
                        let data: Vec<Value> = inputs.iter().enumerate().rev().map(|(i, t)| json!({"index": i, "embedding": embed(t)})).collect();
                        let reply = json!({"object": "list", "data": data, "model": "bag-of-words"});
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(reply.to_string()))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, seen)
}

fn config(url: &str) -> String {
    GENEROUS_LIMITS.replace(
        "[search]\ncache_ttl_secs = 0",
        &format!(
            "[search]\ncache_ttl_secs = 0\n\n[search.embeddings]\nurl = \"{url}\"\nmodel = \"test-bow\"\napi_key_env = \"ALTUS4_TEST_EMBEDDINGS_KEY\"\ncandidates = 40\n"
        ),
    )
}

#[tokio::test]
async fn semantic_results_are_ordered_by_the_providers_vectors() {
    let (url, seen) = provider().await;
    // The provider's key is a credential: the whole-suite log scan checks it never appears.
    remember_secret("sk-test-embeddings-key");
    let server = Server::start_with(&config(&url), &[("ALTUS4_TEST_EMBEDDINGS_KEY", "sk-test-embeddings-key")]).await;
    let t = server.sakila_tenant("semantic@example.com").await;
    let query = "astronaut boat";

    let (status, body) = server.search(&t.key, json!({"query": query, "searchMode": "semantic", "limit": 10})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one embeddings request per search");
    let (auth, model, inputs) = &calls[0];
    assert_eq!(auth, "Bearer sk-test-embeddings-key");
    assert_eq!(model, "test-bow");
    assert_eq!(inputs[0], query, "the query is embedded first");
    assert!(inputs.len() > 10 && inputs.len() <= 41, "the candidates follow: {}", inputs.len());

    // Expected: every candidate by cosine to the query under the test model, best first.
    let q = embed(query);
    let mut expected: Vec<f64> = inputs[1..].iter().map(|text| cosine(&q, &embed(text))).collect();
    expected.sort_by(|a, b| b.partial_cmp(a).unwrap());
    let results = body["data"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 10);
    for (i, r) in results.iter().enumerate() {
        let score = r["relevanceScore"].as_f64().unwrap();
        assert!((score - expected[i]).abs() < 1e-9, "position {i}: {score} vs {}", expected[i]);
        // The score is the cosine of this very row's text.
        let text = format!("{} {}", r["content"]["title"].as_str().unwrap(), r["content"]["description"].as_str().unwrap());
        assert!((cosine(&q, &embed(&text)) - score).abs() < 1e-9, "row {i} scored by its own text");
    }
    // Natural mode does not call the provider.
    assert_eq!(server.search(&t.key, json!({"query": query})).await.0, StatusCode::OK);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failing_provider_degrades_to_query_expansion_with_a_warning() {
    // Nothing listens on this port.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/embeddings", dead.local_addr().unwrap());
    drop(dead);
    let server = Server::start_with(&config(&url), &[("ALTUS4_TEST_EMBEDDINGS_KEY", "k")]).await;
    let t = server.sakila_tenant("degraded@example.com").await;
    let (status, body) = server.search(&t.key, json!({"query": "astronaut boat", "searchMode": "semantic"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body["data"]["results"].as_array().unwrap().is_empty());
    let warnings = body["data"]["warnings"].to_string();
    assert!(warnings.contains("re-ranking unavailable"), "{warnings}");
    assert!(!warnings.contains(&url), "the provider's address is not shown to tenants");
}
