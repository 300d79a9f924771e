//! Maps method and path to a handler (through the route table in [`super::api`]), and wraps every
//! outcome in the envelope.
//!
//! Each request goes through a [`Call`]: it authenticates (API key or login token), admits the
//! request through the key's rate limiter (or the client address's, on endpoints without a
//! key), checks the permission, and remembers the admission so its headers reach the response
//! whatever the outcome.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Request, Response};

use super::api::{self, Access, RouteId};
use super::authn::{self, Principal, Via};
use super::body::{query_fields, read_object};
use super::envelope::{self, Body, Reply, RequestCtx};
use super::ratelimit::Admission;
use super::routes::{account, admin, analytics, auth, databases, health, keys, management, search};
use super::client_ip;
use crate::app::App;
use crate::audit::{self, Origin, Who};
use crate::auth::permissions::Permission;
use crate::error::ApiError;

pub async fn handle(app: Arc<App>, req: Request<Incoming>, ctx: RequestCtx) -> Response<Body> {
    let origin = req.headers().get(hyper::header::ORIGIN).cloned();
    let client_ip = client_ip::resolve(ctx.peer_ip, req.headers(), &app.trusted_proxies);
    let user_agent = req.headers().get(hyper::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let audit_origin = Origin::new(client_ip, user_agent, Some(&ctx.request_id));
    let mut call = Call { app: &app, headers: HeaderMap::new(), origin: audit_origin, who: Who::default(), admission: None };
    let result = if let Some(retry_after_secs) = app.incidents.blocked(client_ip) {
        // Before any other work: a blocked address gets nothing else, not even a preflight.
        Err((None, ApiError::IpBlocked { retry_after_secs }))
    } else if let Some(response) =
        (req.method() == hyper::Method::OPTIONS).then(|| preflight(&app, &req, origin.as_ref())).flatten()
    {
        return finish(&app, response, &ctx);
    } else {
        // Only the credential is needed after the request body is handed to a route.
        if let Some(auth) = req.headers().get(hyper::header::AUTHORIZATION) {
            call.headers.insert(hyper::header::AUTHORIZATION, auth.clone());
        }
        let timeout = std::time::Duration::from_secs(app.config.server.request_timeout_secs);
        match tokio::time::timeout(timeout, route(&mut call, req)).await {
            Ok(result) => result,
            Err(_) => Err((None, ApiError::Busy("the request took longer than server.request_timeout_secs".into()))),
        }
    };
    audit_outcome(&call, &result).await;
    let mut response = match result {
        Ok((_, reply)) => envelope::success(reply, &ctx),
        Err((_, err)) => {
            match &err {
                ApiError::Internal(detail) | ApiError::Busy(detail) => {
                    tracing::error!(request_id = %ctx.request_id, error = %detail, "request failed")
                }
                e if e.status() == hyper::StatusCode::UNAUTHORIZED => {
                    tracing::warn!(
                        target: "security",
                        request_id = %ctx.request_id,
                        client_ip = %client_ip,
                        code = e.code(),
                        "authentication failed"
                    );
                }
                _ => {}
            }
            envelope::failure(&err, &ctx)
        }
    };
    let headers = response.headers_mut();
    if let Some(admission) = &call.admission {
        admission.apply(headers);
    }
    app.cors.apply(origin.as_ref(), headers);
    finish(&app, response, &ctx)
}

/// What the router learned about a call: its route and path id, for the audit trail.
type Routed = (Option<(RouteId, Option<String>)>, ApiError);

/// Puts a call on the audit trail (when its route is audited, or it failed authentication or a
/// permission check) and reports failed authentications to the incident responder.
async fn audit_outcome(call: &Call<'_>, result: &Result<(Option<(RouteId, Option<String>)>, Reply), Routed>) {
    let app = call.app;
    let mut who = call.who.clone();
    if who.user_id.is_none() {
        who.user_id = match result {
            Ok((_, reply)) => audit::reply_user(&reply.data),
            // A wrong password for an existing account goes on that account's trail.
            Err((_, ApiError::InvalidCredentials { account })) => account.clone(),
            Err(_) => None,
        };
    }
    let record = |action: &str, outcome: &str, target: Option<String>, details: serde_json::Value| {
        app.audit.push(audit::record(action, outcome, &who, target, &call.origin, details));
    };
    match result {
        Ok((Some((route, id)), reply)) => {
            if let Some(action) = audit::route_action(*route) {
                let target = id.clone().or_else(|| audit::created_id(&reply.data));
                record(action, "success", target, serde_json::json!({}));
            }
        }
        Ok((None, _)) => {}
        Err((routed, err)) => {
            let details = serde_json::json!({ "code": err.code(), "status": err.status().as_u16() });
            let target = routed.as_ref().and_then(|(_, id)| id.clone());
            if matches!(err, ApiError::NoApiKey | ApiError::NoToken) {
                // No credential was presented: not an authentication attempt. Counting it would
                // let any web page get its visitors' address blocked with credential-less
                // requests (an <img> pointing at the API), which browsers send cross-site.
            } else if err.status() == hyper::StatusCode::UNAUTHORIZED {
                let action = match routed {
                    Some((RouteId::Login, _)) => "auth.login",
                    _ => "auth.failed",
                };
                record(action, "failure", target, details);
                app.incidents.auth_failed(&call.origin).await;
            } else if matches!(err, ApiError::InsufficientPermissions { .. }) {
                record("auth.permission_denied", "denied", target, details);
            } else if matches!(err, ApiError::IpBlocked { .. } | ApiError::RateLimited { .. }) {
                // Refusals that are already incidents or counted elsewhere; one row per
                // refused request would let an attacker flood the trail.
            } else if let Some(action) = routed.as_ref().and_then(|(route, _)| audit::route_action(*route)) {
                record(action, "failure", target, details);
            }
        }
    }
}

/// Headers every response gets, and the request's metrics.
fn finish(app: &App, mut response: Response<Body>, ctx: &RequestCtx) -> Response<Body> {
    let headers = response.headers_mut();
    security_headers(headers, app.config.server.tls_cert.is_some());
    if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert("x-request-id", id);
    }
    app.metrics.observe(response.status().as_u16(), ctx.started.elapsed());
    response
}

/// Headers every response carries: this is a JSON API, so nothing in it may be rendered, framed
/// or sniffed as anything else.
fn security_headers(headers: &mut HeaderMap, tls: bool) {
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cache-control", "no-store");
    set(headers, "x-api-version", envelope::API_VERSION);
    set(headers, "x-rate-limit-policy", "sliding-window; per-key tiers; per-IP on unauthenticated routes");
    if tls {
        set(headers, "strict-transport-security", "max-age=31536000; includeSubDomains");
    }
}

/// `OPTIONS` on a served path: 204 with `Allow` and, for an allowed origin, the CORS preflight
/// headers; answered from the route table without authentication. `None` for unknown paths,
/// which get the usual 404.
fn preflight(app: &App, req: &Request<Incoming>, origin: Option<&HeaderValue>) -> Option<Response<Body>> {
    let Err(ApiError::MethodNotAllowed { allow: methods }) = api::resolve(&hyper::Method::OPTIONS, req.uri().path()) else {
        return None;
    };
    let mut response = Response::new(Body::default());
    *response.status_mut() = hyper::StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&methods) {
        headers.insert(hyper::header::ALLOW, v);
    }
    app.cors.preflight(origin, &methods, headers);
    Some(response)
}

/// One request's authentication and admission state.
pub struct Call<'a> {
    pub app: &'a App,
    headers: HeaderMap,
    /// Client address, user agent and request id, as the audit trail records them.
    pub origin: Origin,
    /// Who the call authenticated as (empty until it has).
    pub who: Who,
    admission: Option<Admission>,
}

impl Call<'_> {
    fn now_ms(&self) -> u64 {
        self.app.clock.now_ms()
    }

    fn admit(&mut self, admission: Admission) -> Result<(), ApiError> {
        let result = admission.into_result();
        self.admission = Some(admission);
        result
    }

    /// Notes who authenticated, then counts the request against its API key's limiter (token
    /// callers are not key-limited). Keys flagged for rapid fire get their tier's restricted
    /// form; the decision's attempt count feeds rapid-fire detection.
    async fn limit_key(&mut self, principal: &Principal) -> Result<(), ApiError> {
        self.who.user_id = Some(principal.user_id.clone());
        let Via::Key { key_id, tier, .. } = &principal.via else { return Ok(()) };
        self.who.key_id = Some(key_id.clone());
        let incidents = &self.app.incidents;
        let tier = if incidents.restricted(key_id) { self.app.tiers().restricted(tier) } else { self.app.tiers().get(tier) };
        let decision = self.app.limits.check(key_id, Arc::clone(&tier)).await.map_err(ApiError::Busy)?;
        let now_ms = self.now_ms();
        if decision.allowed {
            self.app.usage.record(key_id, self.origin.client_ip, now_ms);
        }
        incidents.observe_attempts(&self.who, &self.origin, decision.attempts);
        self.admit(Admission { decision, tier, now_ms })
    }

    /// Counts the request against the client address (endpoints without an API key).
    pub fn limit_ip(&mut self) -> Result<(), ApiError> {
        let tier = Arc::clone(&self.app.tiers().ip);
        let key = client_ip::limit_key(self.origin.client_ip, self.app.config.rate_limits.ip.ipv6_prefix);
        let decision = self.app.ip_limits.check(key, &tier);
        let now_ms = self.now_ms();
        self.admit(Admission { decision, tier, now_ms })
    }

    /// An API key with `needed`.
    async fn key(&mut self, needed: Permission) -> Result<Principal, ApiError> {
        let principal = self.any_key().await?;
        principal.require(needed)?;
        Ok(principal)
    }

    /// A login token or an API key with `needed`.
    async fn any(&mut self, needed: Permission) -> Result<Principal, ApiError> {
        let principal = authn::user_or_key(self.app, &self.headers).await?;
        self.limit_key(&principal).await?;
        principal.require(needed)?;
        Ok(principal)
    }

    /// A login token.
    async fn user(&mut self) -> Result<Principal, ApiError> {
        let principal = authn::token(self.app, &self.headers).await?;
        self.who.user_id = Some(principal.user_id.clone());
        Ok(principal)
    }

    /// Any valid API key, counted against its limiter.
    async fn any_key(&mut self) -> Result<Principal, ApiError> {
        let principal = authn::api_key(self.app, &self.headers).await?;
        self.limit_key(&principal).await?;
        Ok(principal)
    }

    /// The admission made for this request, if any.
    pub fn admission(&self) -> Option<&Admission> {
        self.admission.as_ref()
    }
}

/// Resolves and runs a request; the route and its path id come back with the outcome.
async fn route(call: &mut Call<'_>, req: Request<Incoming>) -> Result<(Option<(RouteId, Option<String>)>, Reply), Routed> {
    let (route, params) = api::resolve(req.method(), req.uri().path()).map_err(|e| (None, e))?;
    let routed = Some((route.id, params.first().cloned()));
    match dispatch(call, route, &params, req).await {
        Ok(reply) => Ok((routed, reply)),
        Err(e) => Err((routed, e)),
    }
}

async fn dispatch(
    call: &mut Call<'_>,
    route: &'static api::Route,
    params: &[String],
    req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let app = call.app;
    let (limit, body_timeout) = (app.config.server.max_body_bytes, app.config.body_timeout());

    // Endpoints an attacker can hit without a key are limited per client address.
    if matches!(route.id, RouteId::Register | RouteId::Login | RouteId::Setup | RouteId::ChangePassword) {
        call.limit_ip()?;
    }
    let principal = match route.access {
        Access::Public => None,
        Access::Token => Some(call.user().await?),
        Access::TokenOrKey(needed) => Some(call.any(needed).await?),
        Access::Key(needed) => Some(call.key(needed).await?),
        Access::AnyKey => Some(call.any_key().await?),
    };
    // Only reachable for routes the table marks public, which never ask for a principal.
    let who = || principal.as_ref().ok_or(ApiError::NoToken);
    let id = params.first().map(String::as_str).unwrap_or_default();
    let query_string = query_fields(req.uri());
    let query = move || query_string;
    let body = || read_object(req, limit, body_timeout);

    use RouteId::*;
    // Searches and audit events are written in batches; a read of either sees everything
    // acknowledged before it.
    if matches!(route.tag, "Analytics" | "Security") || matches!(route.id, SearchHistory | SearchTrends | SearchSuggestions) {
        app.flush_journals().await;
    }
    match route.id {
        Health => Ok(health::health(app)),
        OpenApi => Ok(Reply::bare(api::openapi())),
        Register => auth::register(app, body().await?).await,
        Login => auth::login(app, body().await?).await,
        Profile => account::profile(app, who()?).await,
        UpdateProfile => account::update_profile(app, who()?, body().await?).await,
        ChangePassword => account::change_password(app, who()?, body().await?).await,
        Refresh => account::refresh(app, who()?).await,
        Logout => account::logout(app, who()?).await,
        DeleteAccount => account::delete(app, who()?).await,
        Setup => management::setup(app, who()?, body().await?).await,
        ManagementHealth => Ok(management::health()),
        MigrationStatus => management::migration_status(app).await,
        CreateKey => keys::create(app, who()?, body().await?).await,
        ListKeys => keys::list(app, who()?).await,
        UpdateKey => keys::update(app, who()?, id, body().await?).await,
        RevokeKey => keys::revoke(app, who()?, id).await,
        KeyUsage => keys::usage(app, who()?, id).await,
        RegenerateKey => keys::regenerate(app, who()?, id).await,
        RateLimit => Ok(keys::rate_limit(call.admission())),
        AdminReload => admin::reload(app),
        AuditTrail => admin::audit_trail(app, who()?, query()).await,
        Incidents => admin::incidents(app, query()).await,
        LiftBlock => admin::lift_block(app, id).await,
        CreateDatabase => databases::create(app, who()?, body().await?).await,
        ListDatabases => databases::list(app, who()?).await,
        DatabaseStatuses => databases::statuses(app, who()?).await,
        GetDatabase => databases::get(app, who()?, id).await,
        UpdateDatabase => databases::update(app, who()?, id, body().await?).await,
        DeleteDatabase => databases::delete(app, who()?, id).await,
        TestDatabase => databases::test(app, who()?, id).await,
        DatabaseSchema => databases::schema(app, who()?, id).await,
        Search => search::search(app, who()?, body().await?, &call.origin).await,
        AnalyzeSearch => search::analyze(app, who()?, body().await?, &call.origin).await,
        SearchHistory => analytics::history(app, who()?, query()).await,
        SearchTrends => analytics::trends(app, who()?).await,
        SearchSuggestions => analytics::suggestions(app, who()?, query(), &call.origin).await,
        AnalyticsSearchHistory => analytics::search_history(app, who()?, query()).await,
        AnalyticsPopularQueries => analytics::popular_queries(app, who()?, query()).await,
        AnalyticsSearchTrends => analytics::search_trends(app, who()?, query()).await,
        AnalyticsPerformance => analytics::performance(app, who()?, query()).await,
        AnalyticsDashboard => analytics::dashboard(app, who()?).await,
        AnalyticsInsights => analytics::insights(app, who()?).await,
        AdminSystemOverview => analytics::system_overview(app).await,
        AdminUserActivity => analytics::user_activity(app, query()).await,
        AdminPerformanceMetrics => analytics::performance_metrics(app).await,
    }
}
