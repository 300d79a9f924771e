//! The response envelope of the contract:
//! `{success, data | error{code, message, details}, meta{timestamp, requestId, version, executionTime}}`.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::error::ApiError;

pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

pub type Body = Full<Bytes>;

/// Per-request facts every response needs.
pub struct RequestCtx {
    pub request_id: String,
    pub started: Instant,
    /// The TCP peer; the client address proper is resolved by the router (trusted proxies).
    pub peer_ip: std::net::IpAddr,
}

impl RequestCtx {
    fn meta(&self) -> Value {
        let timestamp = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        json!({
            "timestamp": timestamp,
            "requestId": self.request_id,
            "version": API_VERSION,
            "executionTime": (self.started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        })
    }
}

/// A successful handler result: status and `data`.
pub struct Reply {
    pub status: StatusCode,
    pub data: Value,
    /// `data` already rendered as JSON text (takes the place of `data`): large replies built
    /// from cached parts skip the `Value` tree.
    pub rendered: Option<Box<serde_json::value::RawValue>>,
    /// Send `data` as the whole body, without the envelope (documents such as openapi.json).
    pub bare: bool,
    /// Also copy `data`'s fields to the top level (`/health`, whose reference shape is flat).
    pub flat: bool,
}

impl Reply {
    pub fn ok(data: Value) -> Self {
        Self { status: StatusCode::OK, data, rendered: None, bare: false, flat: false }
    }

    /// 200 with `data` given as JSON text.
    pub fn rendered(data: Box<serde_json::value::RawValue>) -> Self {
        Self { status: StatusCode::OK, data: Value::Null, rendered: Some(data), bare: false, flat: false }
    }

    /// Enveloped, with `data`'s fields repeated at the top level.
    pub fn flat(data: Value) -> Self {
        Self { status: StatusCode::OK, data, rendered: None, bare: false, flat: true }
    }

    pub fn created(data: Value) -> Self {
        Self { status: StatusCode::CREATED, data, rendered: None, bare: false, flat: false }
    }

    pub fn bare(data: Value) -> Self {
        Self { status: StatusCode::OK, data, rendered: None, bare: true, flat: false }
    }
}

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).expect("JSON values serialize");
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

pub fn success(reply: Reply, ctx: &RequestCtx) -> Response<Body> {
    if let Some(data) = &reply.rendered {
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            success: bool,
            data: &'a serde_json::value::RawValue,
            meta: Value,
        }
        let body = Envelope { success: true, data, meta: ctx.meta() };
        let bytes = serde_json::to_vec(&body).expect("JSON values serialize");
        let mut response = Response::new(Full::new(Bytes::from(bytes)));
        *response.status_mut() = reply.status;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        return response;
    }
    if reply.bare {
        return json_response(reply.status, &reply.data);
    }
    let mut body = json!({ "success": true, "meta": ctx.meta() });
    if let (true, Value::Object(fields)) = (reply.flat, &reply.data) {
        for (k, v) in fields {
            body[k] = v.clone();
        }
    }
    body["data"] = reply.data;
    json_response(reply.status, &body)
}

pub fn failure(err: &ApiError, ctx: &RequestCtx) -> Response<Body> {
    let mut error = json!({ "code": err.code(), "message": err.public_message() });
    if let Some(details) = err.details() {
        error["details"] = details;
    }
    let mut response = json_response(err.status(), &json!({ "success": false, "error": error, "meta": ctx.meta() }));
    if let ApiError::MethodNotAllowed { allow } = err {
        if let Ok(v) = HeaderValue::from_str(allow) {
            response.headers_mut().insert(hyper::header::ALLOW, v);
        }
    }
    if let Some(secs) = err.retry_after() {
        response.headers_mut().insert(hyper::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
