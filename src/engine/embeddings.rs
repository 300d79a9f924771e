//! Semantic re-ranking through an OpenAI-compatible embeddings endpoint (off unless
//! `[search.embeddings]` is configured).
//!
//! In `semantic` mode the database still finds the candidates (full-text with query expansion);
//! the query and each candidate's indexed text are then embedded in one request, and the
//! candidates are ordered by cosine similarity to the query. If the provider fails or is slow,
//! the search answers anyway, in query-expansion order, with a warning.

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::EmbeddingsConfig;
use crate::secrets::Secret;

pub struct Embedder {
    client: reqwest::Client,
    url: reqwest::Url,
    model: String,
    api_key: Option<Secret<String>>,
    /// Candidates re-ranked per search (the database is asked for at least this many rows).
    pub candidates: usize,
}

impl Embedder {
    /// Builds the client; the API key comes from the environment variable the config names.
    pub fn new(config: &EmbeddingsConfig) -> Result<Self, String> {
        let url = reqwest::Url::parse(&config.url).map_err(|e| format!("search.embeddings.url: {e}"))?;
        let api_key = match &config.api_key_env {
            Some(var) => Some(Secret::new(
                std::env::var(var).map_err(|_| format!("search.embeddings.api_key_env: {var} is not set"))?,
            )),
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the embeddings client: {e}"))?;
        Ok(Self { client, url, model: config.model.clone(), api_key, candidates: config.candidates })
    }

    /// One vector per input, in input order.
    pub async fn embed(&self, inputs: &[String]) -> Result<Vec<Vec<f64>>, String> {
        let mut request = self.client.post(self.url.clone()).json(&json!({ "model": self.model, "input": inputs }));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|e| format!("embeddings provider unreachable: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("embeddings provider answered {}", response.status().as_u16()));
        }
        let body: Value = response.json().await.map_err(|_| "embeddings provider sent invalid JSON".to_string())?;
        parse_vectors(&body, inputs.len())
    }
}

/// Reads `{"data": [{"index": i, "embedding": [...]}, ...]}`: one finite vector per input, all
/// of one dimension.
fn parse_vectors(body: &Value, expected: usize) -> Result<Vec<Vec<f64>>, String> {
    let bad = |what: &str| format!("embeddings provider sent {what}");
    let data = body["data"].as_array().ok_or_else(|| bad("no data array"))?;
    let mut vectors: Vec<Option<Vec<f64>>> = vec![None; expected];
    for (n, item) in data.iter().enumerate() {
        let index = item["index"].as_u64().map_or(n, |i| i as usize);
        let vector: Vec<f64> = item["embedding"]
            .as_array()
            .ok_or_else(|| bad("an item without an embedding"))?
            .iter()
            .map(|x| x.as_f64().filter(|f| f.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("a non-numeric embedding"))?;
        *vectors.get_mut(index).ok_or_else(|| bad("an index out of range"))? = Some(vector);
    }
    let vectors: Vec<Vec<f64>> = vectors.into_iter().collect::<Option<_>>().ok_or_else(|| bad("too few embeddings"))?;
    let dim = vectors.first().map_or(0, Vec::len);
    if dim == 0 || vectors.iter().any(|v| v.len() != dim) {
        return Err(bad("embeddings of differing or zero dimension"));
    }
    Ok(vectors)
}

/// Cosine similarity; 0 for a zero vector.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator == 0.0 {
        0.0
    } else {
        dot / denominator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_read_by_index_and_checked() {
        let body = json!({"data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]});
        assert_eq!(parse_vectors(&body, 2).unwrap(), vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert!(parse_vectors(&body, 3).is_err(), "too few");
        assert!(parse_vectors(&json!({"data": [{"embedding": [1.0]}, {"embedding": [1.0, 2.0]}]}), 2).is_err(), "dimensions differ");
        assert!(parse_vectors(&json!({"data": [{"embedding": ["x"]}]}), 1).is_err());
        assert!(parse_vectors(&json!({"error": "quota"}), 1).is_err());
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }
}
