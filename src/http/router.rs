//! Maps method and path to a handler, and wraps every outcome in the envelope.
//!
//! Each request goes through a [`Call`]: it authenticates (API key or login token), admits the
//! request through the key's rate limiter (or the client address's, on endpoints without a
//! key), checks the permission, and remembers the admission so its headers reach the response
//! whatever the outcome.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, Response};

use super::authn::{self, Principal, Via};
use super::body::read_object;
use super::envelope::{self, Body, Reply, RequestCtx};
use super::ratelimit::Admission;
use super::routes::{account, admin, auth, databases, health, keys, management, search};
use super::client_ip;
use crate::app::App;
use crate::auth::permissions::Permission;
use crate::error::ApiError;

pub async fn handle(app: Arc<App>, req: Request<Incoming>, ctx: RequestCtx) -> Response<Body> {
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
    if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert("x-request-id", id);
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("x-api-version", HeaderValue::from_static(envelope::API_VERSION));
    response
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
        let principal = authn::api_key(self.app, &self.headers).await?;
        self.limit_key(&principal).await?;
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

    /// A login token, limited per address (account set-up, password change).
    async fn token(&mut self) -> Result<Principal, ApiError> {
        self.limit_ip()?;
        authn::token(self.app, &self.headers).await
    }

    /// A login token (the account's own routes).
    async fn user(&mut self) -> Result<Principal, ApiError> {
        authn::token(self.app, &self.headers).await
    }

    /// The admission made for this request, if any.
    pub fn admission(&self) -> Option<&Admission> {
        self.admission.as_ref()
    }
}

async fn route(call: &mut Call<'_>, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method().clone();
    let app = call.app;
    let limit = app.config.server.max_body_bytes;
    let body_timeout = app.config.body_timeout();

    match segments.as_slice() {
        ["health"] => match method {
            Method::GET | Method::HEAD => Ok(health::health(app)),
            _ => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
        },
        ["api", "v1", rest @ ..] => match (rest, method) {
            (["auth", "register"], Method::POST) => {
                call.limit_ip()?;
                auth::register(app, read_object(req, limit, body_timeout).await?).await
            }
            (["auth", "login"], Method::POST) => {
                call.limit_ip()?;
                auth::login(app, read_object(req, limit, body_timeout).await?).await
            }
            (["auth", "register" | "login"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (["auth", "profile"], Method::GET) => {
                let principal = call.user().await?;
                account::profile(app, &principal).await
            }
            (["auth", "profile"], Method::PUT) => {
                let principal = call.user().await?;
                account::update_profile(app, &principal, read_object(req, limit, body_timeout).await?).await
            }
            (["auth", "profile"], _) => Err(ApiError::MethodNotAllowed { allow: "GET, PUT" }),
            (["auth", "change-password"], Method::POST) => {
                let principal = call.token().await?;
                account::change_password(app, &principal, read_object(req, limit, body_timeout).await?).await
            }
            (["auth", "refresh"], Method::POST) => {
                let principal = call.user().await?;
                account::refresh(app, &principal).await
            }
            (["auth", "logout"], Method::POST) => {
                let principal = call.user().await?;
                account::logout(app, &principal).await
            }
            (["auth", "change-password" | "refresh" | "logout"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (["auth", "account"], Method::DELETE) => {
                let principal = call.user().await?;
                account::delete(app, &principal).await
            }
            (["auth", "account"], _) => Err(ApiError::MethodNotAllowed { allow: "DELETE" }),

            (["management", "health"], Method::GET) => Ok(management::health()),
            (["management", "health"], _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            (["management", "migration-status"], Method::GET) => {
                call.user().await?;
                management::migration_status(app).await
            }
            (["management", "migration-status"], _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),

            (["management", "setup"], Method::POST) => {
                let principal = call.token().await?;
                management::setup(app, &principal, read_object(req, limit, body_timeout).await?).await
            }
            (["management", "setup"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),

            (["keys"], Method::POST) => {
                let principal = call.any(Permission::KeysWrite).await?;
                keys::create(app, &principal, read_object(req, limit, body_timeout).await?).await
            }
            (["keys"], Method::GET) => {
                let principal = call.any(Permission::KeysRead).await?;
                keys::list(app, &principal).await
            }
            (["keys"], _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (["keys", id], Method::PUT) => {
                let principal = call.any(Permission::KeysWrite).await?;
                keys::update(app, &principal, id, read_object(req, limit, body_timeout).await?).await
            }
            (["keys", id], Method::DELETE) => {
                let principal = call.any(Permission::KeysWrite).await?;
                keys::revoke(app, &principal, id).await
            }
            (["keys", _], _) => Err(ApiError::MethodNotAllowed { allow: "PUT, DELETE" }),
            (["keys", id, "regenerate"], Method::POST) => {
                let principal = call.any(Permission::KeysWrite).await?;
                keys::regenerate(app, &principal, id).await
            }
            (["keys", _, "regenerate"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (["keys", id, "usage"], Method::GET) => {
                let principal = call.any(Permission::KeysRead).await?;
                keys::usage(app, &principal, id).await
            }
            (["keys", _, "usage"], _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),

            (["rate-limit"], Method::GET) => {
                let principal = authn::api_key(app, &call.headers).await?;
                call.limit_key(&principal).await?;
                Ok(keys::rate_limit(call.admission()))
            }
            (["rate-limit"], _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),

            (["admin", "reload"], Method::POST) => {
                call.any(Permission::Admin).await?;
                admin::reload(app)
            }
            (["admin", "reload"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),

            (["databases"], Method::POST) => {
                let principal = call.any(Permission::DatabaseWrite).await?;
                databases::create(app, &principal, read_object(req, limit, body_timeout).await?).await
            }
            (["databases"], Method::GET) => {
                let principal = call.any(Permission::DatabaseRead).await?;
                databases::list(app, &principal).await
            }
            (["databases"], _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (["databases", "status"], Method::GET) => {
                let principal = call.any(Permission::DatabaseRead).await?;
                databases::statuses(app, &principal).await
            }
            (["databases", "status"], _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
            (["databases", id], Method::GET) => {
                let principal = call.any(Permission::DatabaseRead).await?;
                databases::get(app, &principal, id).await
            }
            (["databases", id], Method::PUT) => {
                let principal = call.any(Permission::DatabaseWrite).await?;
                databases::update(app, &principal, id, read_object(req, limit, body_timeout).await?).await
            }
            (["databases", id], Method::DELETE) => {
                let principal = call.any(Permission::DatabaseWrite).await?;
                databases::delete(app, &principal, id).await
            }
            (["databases", _], _) => Err(ApiError::MethodNotAllowed { allow: "GET, PUT, DELETE" }),
            (["databases", id, "test"], Method::POST) => {
                let principal = call.any(Permission::DatabaseRead).await?;
                databases::test(app, &principal, id).await
            }
            (["databases", _, "test"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            (["databases", id, "schema"], Method::GET) => {
                let principal = call.any(Permission::DatabaseRead).await?;
                databases::schema(app, &principal, id).await
            }
            (["databases", _, "schema"], _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),

            (["search"], Method::POST) => {
                let principal = call.key(Permission::Search).await?;
                search::search(app, &principal, read_object(req, limit, body_timeout).await?).await
            }
            (["search"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            _ => Err(ApiError::RouteNotFound),
        },
        _ => Err(ApiError::RouteNotFound),
    }
}
