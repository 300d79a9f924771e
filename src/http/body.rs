//! Reading JSON request bodies and validating their fields with messages that name the field.

use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::Request;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Objects nested deeper than this are refused (serde_json's own limit is 128).
const MAX_DEPTH: usize = 32;

/// The query string of a request as fields (repeated names keep the last value). Every value is
/// text; the integer validator parses it.
pub fn query_fields(uri: &hyper::Uri) -> Fields {
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        map.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    Fields { map, from_query: true }
}

/// Whether a Content-Type names JSON (`application/json`, parameters allowed).
fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
}

/// Reads the body (at most `limit` bytes, without buffering more, within `timeout`) as a JSON
/// object. An empty body counts as `{}`; a non-empty one must be labelled `application/json`,
/// so a plain HTML form or an untyped cross-site `fetch` cannot drive the API.
pub async fn read_object(req: Request<Incoming>, limit: usize, timeout: Duration) -> Result<Fields, ApiError> {
    let content_type = req.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap_or(""));
    if content_type.is_some_and(|ct| !is_json(ct)) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let labelled = content_type.is_some();
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let bytes = tokio::time::timeout(timeout, Limited::new(req.into_body(), limit).collect())
        .await
        .map_err(|_| ApiError::RequestTimeout)?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::MalformedJson("the request body could not be read".into())
            }
        })?
        .to_bytes();
    if !labelled && !bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Fields::parse(&bytes)
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The fields of a JSON object body. `null` counts as absent.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    /// From a query string: integers arrive as text.
    from_query: bool,
}

impl Fields {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self { map: Map::new(), from_query: false });
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        if depth(&value) > MAX_DEPTH {
            return Err(ApiError::validation("body", format!("JSON nested deeper than {MAX_DEPTH} levels")));
        }
        match value {
            Value::Object(map) => Ok(Self { map, from_query: false }),
            _ => Err(ApiError::validation("body", "the request body must be a JSON object")),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// The field exactly as sent, `null` included.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A string of `min..=max` characters (counted after trimming surrounding whitespace, which
    /// is removed).
    pub fn opt_str(&self, name: &str, min: usize, max: usize) -> Result<Option<String>, ApiError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let Some(s) = v.as_str() else {
            return Err(ApiError::validation(name, format!("{name} must be a string")));
        };
        let s = s.trim();
        let len = s.chars().count();
        if len < min {
            return Err(ApiError::validation(
                name,
                if min <= 1 { format!("{name} must not be empty") } else { format!("{name} must be at least {min} characters") },
            ));
        }
        if len > max {
            return Err(ApiError::validation(name, format!("{name} must be at most {max} characters")));
        }
        Ok(Some(s.to_string()))
    }

    pub fn req_str(&self, name: &str, min: usize, max: usize) -> Result<String, ApiError> {
        self.opt_str(name, min, max)?.ok_or_else(|| ApiError::validation(name, format!("{name} is required")))
    }

    /// A string taken exactly as sent (no trimming): for passwords.
    pub fn req_raw_str(&self, name: &str, max_bytes: usize) -> Result<String, ApiError> {
        match self.get(name) {
            None => Err(ApiError::validation(name, format!("{name} is required"))),
            Some(Value::String(s)) if s.len() > max_bytes => {
                Err(ApiError::validation(name, format!("{name} must be at most {max_bytes} bytes")))
            }
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(ApiError::validation(name, format!("{name} must be a string"))),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::validation(name, format!("{name} must be true or false"))),
        }
    }

    /// An integer in `min..=max`.
    pub fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let n = v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
            .or_else(|| v.as_str().filter(|_| self.from_query).and_then(|s| s.parse::<i64>().ok()));
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(_) => Err(ApiError::validation(name, format!("{name} must be between {min} and {max}"))),
            None => Err(ApiError::validation(name, format!("{name} must be an integer"))),
        }
    }

    /// An array of at most `max_items` strings, each `1..=item_max` characters.
    pub fn opt_str_array(&self, name: &str, max_items: usize, item_max: usize) -> Result<Option<Vec<String>>, ApiError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let Some(items) = v.as_array() else {
            return Err(ApiError::validation(name, format!("{name} must be an array of strings")));
        };
        if items.len() > max_items {
            return Err(ApiError::validation(name, format!("{name} may list at most {max_items} items")));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.as_str() {
                Some(s) if !s.is_empty() && s.chars().count() <= item_max => out.push(s.to_string()),
                Some(_) => {
                    return Err(ApiError::validation(name, format!("{name} items must be 1 to {item_max} characters")))
                }
                None => return Err(ApiError::validation(name, format!("{name} must be an array of strings"))),
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field() {
        let f = Fields::parse(br#"{"limit": 0, "query": "  ", "databases": "x", "ok": null}"#).unwrap();
        let msg = |e: ApiError| e.to_string();
        assert!(msg(f.opt_int("limit", 1, 100).unwrap_err()).contains("limit"));
        assert!(msg(f.req_str("query", 1, 10).unwrap_err()).contains("query"));
        assert!(msg(f.opt_str_array("databases", 10, 36).unwrap_err()).contains("databases"));
        assert!(f.opt_str("ok", 1, 5).unwrap().is_none());
        assert!(msg(f.req_str("missing", 1, 5).unwrap_err()).contains("missing is required"));
    }

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
    }

    #[test]
    fn bodies_must_be_shallow_objects() {
        assert!(Fields::parse(b"[]").is_err());
        assert!(matches!(Fields::parse(b"{").unwrap_err(), ApiError::MalformedJson(_)));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert!(Fields::parse(deep.as_bytes()).is_err());
        assert!(Fields::parse(b"  ").is_ok());
    }
}
