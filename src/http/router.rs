//! Maps method and path to a handler (through the route table in [`super::api`]), and wraps every
//! outcome in the envelope.
//!
//! Each request goes through a [`Call`]: it authenticates (API key or login token), admits the
//! request through the key's rate limiter (or the client address's, on endpoints without a
//! key), checks the permission, and remembers the admission so its headers reach the response
//! whatever the outcome.

use std::net::IpAddr;
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
use crate::auth::permissions::Permission;
use crate::error::ApiError;

pub async fn handle(app: Arc<App>, req: Request<Incoming>, ctx: RequestCtx) -> Response<Body> {
    let origin = req.headers().get(hyper::header::ORIGIN).cloned();
    if req.method() == hyper::Method::OPTIONS {
        if let Some(response) = preflight(&app, &req, origin.as_ref()) {
            return response;
        }
    }
    let client_ip = client_ip::resolve(ctx.peer_ip, req.headers(), &app.trusted_proxies);
    // Only the credential is needed after the request body is handed to a route.
    let mut headers = HeaderMap::with_capacity(1);
    if let Some(auth) = req.headers().get(hyper::header::AUTHORIZATION) {
        headers.insert(hyper::header::AUTHORIZATION, auth.clone());
    }
    let mut call = Call { app: &app, headers, client_ip, admission: None };
    let result = route(&mut call, req).await;
    let mut response = match result {
        Ok(reply) => envelope::success(reply, &ctx),
        Err(err) => {
            match &err {
                ApiError::Internal(detail) | ApiError::Busy(detail) => {
                    tracing::error!(request_id = %ctx.request_id, error = %detail, "request failed")
                }
                e if e.status() == hyper::StatusCode::UNAUTHORIZED => tracing::warn!(
                    target: "security",
                    request_id = %ctx.request_id,
                    client_ip = %client_ip,
                    code = e.code(),
                    "authentication failed"
                ),
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
    security_headers(headers);
    if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert("x-request-id", id);
    }
    app.metrics.observe(response.status().as_u16(), ctx.started.elapsed());
    response
}

/// Headers every response carries: this is a JSON API, so nothing in it may be rendered, framed
/// or sniffed as anything else.
fn security_headers(headers: &mut HeaderMap) {
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
    security_headers(headers);
    Some(response)
}

/// One request's authentication and admission state.
pub struct Call<'a> {
    pub app: &'a App,
    headers: HeaderMap,
    pub client_ip: IpAddr,
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

    /// Counts the request against its API key's limiter (token callers are not key-limited).
    async fn limit_key(&mut self, principal: &Principal) -> Result<(), ApiError> {
        let Via::Key { key_id, tier, .. } = &principal.via else { return Ok(()) };
        let tier = self.app.tiers().get(tier);
        let decision = self.app.limits.check(key_id, Arc::clone(&tier)).await.map_err(ApiError::Busy)?;
        let now_ms = self.now_ms();
        if decision.allowed {
            self.app.usage.record(key_id, self.client_ip, now_ms);
        }
        self.admit(Admission { decision, tier, now_ms })
    }

    /// Counts the request against the client address (endpoints without an API key).
    pub fn limit_ip(&mut self) -> Result<(), ApiError> {
        let tier = Arc::clone(&self.app.tiers().ip);
        let key = client_ip::limit_key(self.client_ip, self.app.config.rate_limits.ip.ipv6_prefix);
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
        authn::token(self.app, &self.headers).await
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

async fn route(call: &mut Call<'_>, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let (route, params) = api::resolve(req.method(), req.uri().path())?;
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
        CreateDatabase => databases::create(app, who()?, body().await?).await,
        ListDatabases => databases::list(app, who()?).await,
        DatabaseStatuses => databases::statuses(app, who()?).await,
        GetDatabase => databases::get(app, who()?, id).await,
        UpdateDatabase => databases::update(app, who()?, id, body().await?).await,
        DeleteDatabase => databases::delete(app, who()?, id).await,
        TestDatabase => databases::test(app, who()?, id).await,
        DatabaseSchema => databases::schema(app, who()?, id).await,
        Search => search::search(app, who()?, body().await?).await,
        AnalyzeSearch => search::analyze(app, who()?, body().await?).await,
        SearchHistory => analytics::history(app, who()?, query()).await,
        SearchTrends => analytics::trends(app, who()?).await,
        SearchSuggestions => analytics::suggestions(app, who()?, query()).await,
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
