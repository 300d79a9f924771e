//! The API's routes, declared once. The router matches requests against this table (so `405`
//! and its `Allow` header come from it), and `GET /openapi.json` is generated from it: a route
//! cannot be served without being documented, or documented without being served.

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::auth::permissions::Permission;
use crate::error::ApiError;
use crate::http::envelope::API_VERSION;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (limited per client address where it matters).
    Public,
    /// A login token.
    Token,
    /// A login token, or an API key with this permission.
    TokenOrKey(Permission),
    /// An API key with this permission.
    Key(Permission),
    /// Any valid API key.
    AnyKey,
}

macro_rules! routes {
    ($($id:ident => $method:ident $path:literal, $tag:literal, $access:expr, $summary:literal;)*) => {
        /// Every route the server serves.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum RouteId { $($id),* }

        pub struct Route {
            pub id: RouteId,
            pub method: Method,
            pub path: &'static str,
            /// `path` split at `/`, once, for matching.
            segments: Vec<&'static str>,
            pub tag: &'static str,
            pub access: Access,
            pub summary: &'static str,
        }

        pub fn routes() -> &'static [Route] {
            static ROUTES: std::sync::OnceLock<Vec<Route>> = std::sync::OnceLock::new();
            ROUTES.get_or_init(|| vec![
                $(Route {
                    id: RouteId::$id,
                    method: Method::$method,
                    path: $path,
                    segments: $path.split('/').collect(),
                    tag: $tag,
                    access: $access,
                    summary: $summary,
                }),*
            ])
        }
    };
}

use Access::*;
use Permission as P;

routes! {
    Health => GET "/health", "Management", Public, "Liveness";
    OpenApi => GET "/openapi.json", "Management", Public, "This document";
    Register => POST "/api/v1/auth/register", "Auth", Public, "Create an account; returns a token";
    Login => POST "/api/v1/auth/login", "Auth", Public, "Log in; returns a token";
    Profile => GET "/api/v1/auth/profile", "Auth", Token, "The caller's account";
    UpdateProfile => PUT "/api/v1/auth/profile", "Auth", Token, "Change name or email";
    ChangePassword => POST "/api/v1/auth/change-password", "Auth", Token, "Change the password; voids earlier tokens";
    Refresh => POST "/api/v1/auth/refresh", "Auth", Token, "A fresh token";
    Logout => POST "/api/v1/auth/logout", "Auth", Token, "Void every token of the account";
    DeleteAccount => DELETE "/api/v1/auth/account", "Auth", Token, "Delete the account, its keys and databases";
    Setup => POST "/api/v1/management/setup", "Management", Token, "Create the account's first API key";
    ManagementHealth => GET "/api/v1/management/health", "Management", Public, "Management liveness";
    MigrationStatus => GET "/api/v1/management/migration-status", "Management", Token, "Applied and pending migrations";
    CreateKey => POST "/api/v1/keys", "API Keys", TokenOrKey(P::KeysWrite), "Create an API key (shown once)";
    ListKeys => GET "/api/v1/keys", "API Keys", TokenOrKey(P::KeysRead), "List the account's keys";
    UpdateKey => PUT "/api/v1/keys/{keyId}", "API Keys", TokenOrKey(P::KeysWrite), "Change a key";
    RevokeKey => DELETE "/api/v1/keys/{keyId}", "API Keys", TokenOrKey(P::KeysWrite), "Revoke a key";
    KeyUsage => GET "/api/v1/keys/{keyId}/usage", "API Keys", TokenOrKey(P::KeysRead), "Usage counters and rate-limit state";
    RegenerateKey => POST "/api/v1/keys/{keyId}/regenerate", "API Keys", TokenOrKey(P::KeysWrite), "New secret; the old one stops working";
    RateLimit => GET "/api/v1/rate-limit", "API Keys", AnyKey, "The calling key's rate-limit state";
    AdminReload => POST "/api/v1/admin/reload", "Management", TokenOrKey(P::Admin), "Reload rate-limit tiers from the configuration file";
    AuditTrail => GET "/api/v1/audit", "Security", TokenOrKey(P::Analytics), "The account's audit trail (admins: everyone's; limit, offset, action, userId)";
    Incidents => GET "/api/v1/admin/incidents", "Security", TokenOrKey(P::Admin), "Address blocks, restricted keys and recent incidents (admin)";
    LiftBlock => DELETE "/api/v1/admin/blocks/{ip}", "Security", TokenOrKey(P::Admin), "Lift an address block (admin)";
    CreateDatabase => POST "/api/v1/databases", "Database", TokenOrKey(P::DatabaseWrite), "Register a database (connection checked first)";
    ListDatabases => GET "/api/v1/databases", "Database", TokenOrKey(P::DatabaseRead), "List the account's databases";
    DatabaseStatuses => GET "/api/v1/databases/status", "Database", TokenOrKey(P::DatabaseRead), "Last known status of every database";
    GetDatabase => GET "/api/v1/databases/{connectionId}", "Database", TokenOrKey(P::DatabaseRead), "One database";
    UpdateDatabase => PUT "/api/v1/databases/{connectionId}", "Database", TokenOrKey(P::DatabaseWrite), "Change a database (connection checked first)";
    DeleteDatabase => DELETE "/api/v1/databases/{connectionId}", "Database", TokenOrKey(P::DatabaseWrite), "Remove a database";
    TestDatabase => POST "/api/v1/databases/{connectionId}/test", "Database", TokenOrKey(P::DatabaseRead), "Reachability, version and latency";
    DatabaseSchema => GET "/api/v1/databases/{connectionId}/schema", "Database", TokenOrKey(P::DatabaseRead), "Tables, columns, FULLTEXT indexes";
    Search => POST "/api/v1/search", "Search", Key(P::Search), "Full-text search over the caller's databases";
    AnalyzeSearch => POST "/api/v1/search/analyze", "Search", Key(P::Search), "How a search runs: EXPLAIN, time, advice";
    SearchHistory => GET "/api/v1/search/history", "Search", Key(P::Search), "The account's recent searches (limit, offset)";
    SearchTrends => GET "/api/v1/search/trends", "Search", Key(P::Search), "Searches per day and popular queries (30 days)";
    SearchSuggestions => GET "/api/v1/search/suggestions", "Search", Key(P::Search), "Earlier queries starting with `query`";
    AnalyticsSearchHistory => GET "/api/v1/analytics/search-history", "Analytics", TokenOrKey(P::Analytics), "Search history with total count";
    AnalyticsPopularQueries => GET "/api/v1/analytics/popular-queries", "Analytics", TokenOrKey(P::Analytics), "Most frequent queries (startDate or period, limit)";
    AnalyticsSearchTrends => GET "/api/v1/analytics/search-trends", "Analytics", TokenOrKey(P::Analytics), "Searches per day (startDate or period)";
    AnalyticsPerformance => GET "/api/v1/analytics/performance", "Analytics", TokenOrKey(P::Analytics), "Response time and error rate per day";
    AnalyticsDashboard => GET "/api/v1/analytics/dashboard", "Analytics", TokenOrKey(P::Analytics), "Summary of the account";
    AnalyticsInsights => GET "/api/v1/analytics/insights", "Analytics", TokenOrKey(P::Analytics), "Observations on the last 30 days";
    AdminSystemOverview => GET "/api/v1/analytics/admin/system-overview", "Analytics", TokenOrKey(P::Admin), "Whole-server counts and health (admin)";
    AdminUserActivity => GET "/api/v1/analytics/admin/user-activity", "Analytics", TokenOrKey(P::Admin), "Active, new and top users (admin)";
    AdminPerformanceMetrics => GET "/api/v1/analytics/admin/performance-metrics", "Analytics", TokenOrKey(P::Admin), "Process and API figures since start (admin)";
}

/// How well a template matches a path (both split at `/`): `None` if not at all, else the number
/// of literal segments (more literal wins: `/databases/status` over `/databases/{connectionId}`).
/// A path segment with `%XX` escapes decoded (`%3A%3A1` is `::1`, as `encodeURIComponent`
/// writes it); malformed escapes and bytes that do not form UTF-8 are left as they were.
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_string())
}

fn score(template: &[&str], path: &[&str]) -> Option<(usize, Vec<String>)> {
    if template.len() != path.len() {
        return None;
    }
    // Literal mismatches are the common case: reject before collecting any parameter.
    if template.iter().zip(path).any(|(t, p)| !t.starts_with('{') && t != p) {
        return None;
    }
    let mut literals = 0;
    let mut params = vec![];
    for (ts, ps) in template.iter().zip(path) {
        if ts.starts_with('{') {
            if ps.is_empty() {
                return None;
            }
            params.push(percent_decoded(ps));
        } else if ts == ps {
            literals += 1;
        } else {
            return None;
        }
    }
    Some((literals, params))
}

/// The route for a request and its path parameters; 404 or 405 (with `Allow`) otherwise.
pub fn resolve(method: &Method, path: &str) -> Result<(&'static Route, Vec<String>), ApiError> {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    let mut best: Option<usize> = None;
    let mut found: Option<(&'static Route, Vec<String>)> = None;
    let mut allowed: Vec<&'static str> = vec![];
    let segments: Vec<&str> = path.split('/').collect();
    for route in routes() {
        let Some((literals, params)) = score(&route.segments, &segments) else { continue };
        if best.is_some_and(|b| literals < b) {
            continue;
        }
        if best.is_none_or(|b| literals > b) {
            best = Some(literals);
            allowed.clear();
            found = None;
        }
        allowed.push(route.method.as_str());
        if route.method == *method || (*method == Method::HEAD && route.method == Method::GET) {
            found = Some((route, params));
        }
    }
    match (found, allowed.is_empty()) {
        (Some(hit), _) => Ok(hit),
        (None, true) => Err(ApiError::RouteNotFound),
        (None, false) => Err(ApiError::MethodNotAllowed { allow: allowed.join(", ") }),
    }
}

/// altus4's own OpenAPI 3 document.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for route in routes() {
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"in": "path", "name": name, "required": true, "schema": {"type": "string", "format": "uuid"}}))
            .collect();
        let security = match route.access {
            Access::Public => json!([]),
            Access::Token => json!([{"bearerAuth": []}]),
            Access::TokenOrKey(_) => json!([{"bearerAuth": []}, {"apiKeyAuth": []}]),
            Access::Key(_) | Access::AnyKey => json!([{"apiKeyAuth": []}]),
        };
        let permission = match route.access {
            Access::TokenOrKey(p) | Access::Key(p) => Some(p.as_str()),
            _ => None,
        };
        let mut operation = json!({
            "operationId": format!("{:?}", route.id),
            "summary": route.summary,
            "tags": [route.tag],
            "security": security,
            "responses": {
                "default": {"description": "The response envelope", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}}
            },
        });
        if let Some(p) = permission {
            operation["x-altus4-permission"] = json!(p);
        }
        if !params.is_empty() {
            operation["parameters"] = Value::Array(params);
        }
        if matches!(route.method, Method::POST | Method::PUT) {
            operation["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths.entry(route.path.to_string()).or_insert_with(|| json!({}));
        entry[route.method.as_str().to_lowercase()] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "altus4",
            "version": API_VERSION,
            "description": "Secure full-text search over your own MySQL/MariaDB databases. Follows the Altus 4 contract."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKeyAuth": {"type": "http", "scheme": "bearer", "description": "altus4_sk_{test|live}_{64 hex}"}
            },
            "schemas": {
                "Envelope": {
                    "type": "object",
                    "required": ["success"],
                    "properties": {
                        "success": {"type": "boolean"},
                        "data": {},
                        "error": {"type": "object", "properties": {
                            "code": {"type": "string"}, "message": {"type": "string"}, "details": {}
                        }},
                        "meta": {"type": "object", "properties": {
                            "timestamp": {"type": "string", "format": "date-time"},
                            "requestId": {"type": "string"},
                            "version": {"type": "string"},
                            "executionTime": {"type": "number"}
                        }}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_percent_decoded() {
        assert_eq!(percent_decoded("%3A%3Affff%3A127.0.0.1"), "::ffff:127.0.0.1");
        assert_eq!(percent_decoded("a%2"), "a%2", "malformed escapes stay");
        assert_eq!(percent_decoded("%ff"), "%ff", "not UTF-8: left as sent");
        assert_eq!(percent_decoded("plain-id"), "plain-id");
    }

    #[test]
    fn routes_are_unique() {
        let all = routes();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{} {} twice", a.method, a.path);
                assert_ne!(a.id, b.id);
            }
        }
    }

    #[test]
    fn resolution_prefers_literals_and_reports_allowed_methods() {
        let (r, params) = resolve(&Method::GET, "/api/v1/databases/status").unwrap();
        assert_eq!(r.id, RouteId::DatabaseStatuses);
        assert!(params.is_empty());
        let (r, params) = resolve(&Method::GET, "/api/v1/databases/abc/").unwrap();
        assert_eq!((r.id, params), (RouteId::GetDatabase, vec!["abc".to_string()]));
        match resolve(&Method::PATCH, "/api/v1/keys/x") {
            Err(ApiError::MethodNotAllowed { allow }) => assert_eq!(allow, "PUT, DELETE"),
            other => panic!("{:?}", other.map(|(r, _)| r.id)),
        }
        assert!(matches!(resolve(&Method::GET, "/api/v1/nope"), Err(ApiError::RouteNotFound)));
        assert!(matches!(resolve(&Method::GET, "/api/v1/databases//schema"), Err(ApiError::RouteNotFound)));
        assert_eq!(resolve(&Method::HEAD, "/health").unwrap().0.id, RouteId::Health);
    }

    #[test]
    fn the_document_lists_every_route() {
        let doc = openapi();
        for r in routes() {
            assert!(doc["paths"][r.path][r.method.as_str().to_lowercase()].is_object(), "{} {}", r.method, r.path);
        }
    }
}
