//! CORS from an allow-list in the configuration. An origin is allowed only when its scheme, host
//! and port equal those of a listed origin (default ports implied); `null` never is. Allowed
//! origins see the rate-limit headers; preflights are answered from the route table.

use hyper::header::{HeaderMap, HeaderValue};

/// `(scheme, host, port)` of an origin, lower-cased, with the default port made explicit.
fn parse(origin: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => match port(p) {
            Some(p) => (h, p),
            None if rest.starts_with('[') && rest.ends_with(']') => (rest, default),
            None => return None,
        },
        _ => (rest, default),
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// A port as origins write it: decimal digits without a sign or leading zeros (`u16::parse`
/// would also take `+443` and `0443`, which no browser sends).
fn port(text: &str) -> Option<u16> {
    let canonical = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

pub struct Cors {
    allowed: Vec<(String, String, u16)>,
}

/// Headers a browser client may read.
const EXPOSED: &str = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-RateLimit-Tier, \
                       X-RateLimit-Window, RateLimit, RateLimit-Policy, Retry-After, X-Request-Id";

impl Cors {
    /// `None` when an entry is not a valid origin (reported by config validation).
    pub fn new(origins: &[String]) -> Option<Self> {
        let allowed = origins.iter().map(|o| parse(o)).collect::<Option<Vec<_>>>()?;
        Some(Self { allowed })
    }

    pub fn valid_origin(origin: &str) -> bool {
        parse(origin).is_some()
    }

    fn allows(&self, origin: &str) -> bool {
        origin != "null" && parse(origin).is_some_and(|o| self.allowed.contains(&o))
    }

    /// Adds the CORS headers of a normal response.
    pub fn apply(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        if self.allowed.is_empty() {
            return;
        }
        headers.append("vary", HeaderValue::from_static("Origin"));
        let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| self.allows(o))) else { return };
        headers.insert("access-control-allow-origin", origin.clone());
        headers.insert("access-control-expose-headers", HeaderValue::from_static(EXPOSED));
    }

    /// Adds the headers of a preflight answer for a path served with `methods`.
    pub fn preflight(&self, origin: Option<&HeaderValue>, methods: &str, headers: &mut HeaderMap) {
        self.apply(origin, headers);
        if !headers.contains_key("access-control-allow-origin") {
            return;
        }
        if let Ok(m) = HeaderValue::from_str(methods) {
            headers.insert("access-control-allow-methods", m);
        }
        headers.insert("access-control-allow-headers", HeaderValue::from_static("Authorization, Content-Type"));
        headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors::new(&["https://allowed.example".into(), "http://localhost:8080".into()]).unwrap()
    }

    #[test]
    fn exact_scheme_host_and_port() {
        let c = cors();
        for ok in ["https://allowed.example", "HTTPS://Allowed.Example", "https://allowed.example:443", "http://localhost:8080"] {
            assert!(c.allows(ok), "{ok}");
        }
        for bad in [
            "https://evil-allowed.example",
            "https://allowed.example.evil",
            "https://allowed.example:+443",
            "https://allowed.example:0443",
            "https://allowed.example:00443",
            "https://allowed.example:",
            "http://allowed.example",
            "https://allowed.example:8443",
            "http://localhost",
            "null",
            "https://allowed.example/",
            "https://user@allowed.example",
            "",
        ] {
            assert!(!c.allows(bad), "{bad}");
        }
    }

    #[test]
    fn headers_only_for_allowed_origins() {
        let c = cors();
        let mut h = HeaderMap::new();
        c.apply(Some(&HeaderValue::from_static("https://allowed.example")), &mut h);
        assert_eq!(h["access-control-allow-origin"], "https://allowed.example");
        assert_eq!(h["vary"], "Origin");
        let mut h = HeaderMap::new();
        c.preflight(Some(&HeaderValue::from_static("null")), "GET", &mut h);
        assert!(!h.contains_key("access-control-allow-origin") && !h.contains_key("access-control-allow-methods"));
    }
}
