//! Rate-limit admission for a request and the headers that tell the client where it stands.
//!
//! Headers on every rate-limited response (admitted or not): `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix seconds), `X-RateLimit-Tier`,
//! `X-RateLimit-Window` (seconds), and the IETF draft's `RateLimit: limit=L, remaining=R,
//! reset=S` and `RateLimit-Policy: B;w=1, M;w=60, H;w=3600`. A refusal adds `Retry-After`.

use std::sync::Arc;

use altus4_actors::rate::{whole_seconds_until, Decision, Tier};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::views::iso;

/// The decision made for a request, with the tier it was made under.
#[derive(Clone, Debug)]
pub struct Admission {
    pub decision: Decision,
    pub tier: Arc<Tier>,
    pub now_ms: u64,
}

impl Admission {
    /// `Ok` when admitted; the 429 error otherwise.
    pub fn into_result(&self) -> Result<(), ApiError> {
        let d = &self.decision;
        if d.allowed {
            return Ok(());
        }
        let retry_at = d.retry_at_ms.unwrap_or(self.now_ms);
        Err(ApiError::RateLimited {
            limit: d.limit,
            remaining: d.remaining,
            reset_time: iso(retry_at as i64),
            retry_after_secs: whole_seconds_until(self.now_ms, retry_at),
            tier: d.tier.clone(),
        })
    }

    pub fn apply(&self, headers: &mut HeaderMap) {
        let d = &self.decision;
        let t = &self.tier;
        let reset_in = d.reset_at_ms.saturating_sub(self.now_ms).div_ceil(1000);
        let mut set = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        set("x-ratelimit-limit", d.limit.to_string());
        set("x-ratelimit-remaining", d.remaining.to_string());
        set("x-ratelimit-reset", d.reset_at_ms.div_ceil(1000).to_string());
        set("x-ratelimit-tier", d.tier.clone());
        set("x-ratelimit-window", d.window.seconds().to_string());
        set("ratelimit", format!("limit={}, remaining={}, reset={reset_in}", d.limit, d.remaining));
        set("ratelimit-policy", format!("{};w=1, {};w=60, {};w=3600", t.burst, t.per_minute, t.per_hour));
        if let Some(retry_at) = d.retry_at_ms.filter(|_| !d.allowed) {
            headers.insert(RETRY_AFTER, HeaderValue::from(whole_seconds_until(self.now_ms, retry_at)));
        }
    }

    /// The state as JSON, for the owner (`/keys/{id}/usage`, `/rate-limit`).
    pub fn to_json(&self) -> Value {
        let d = &self.decision;
        let t = &self.tier;
        json!({
            "tier": d.tier,
            "limits": { "perHour": t.per_hour, "perMinute": t.per_minute, "burst": t.burst, "blockSeconds": t.block_ms / 1000 },
            "window": d.window.name(),
            "limit": d.limit,
            "remaining": d.remaining,
            "resetTime": iso(d.reset_at_ms as i64),
            "blocked": d.blocked,
            "retryAfter": d.retry_at_ms.filter(|_| !d.allowed).map(|at| whole_seconds_until(self.now_ms, at)),
        })
    }
}
