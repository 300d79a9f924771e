//! Maps method and path to a handler, and wraps every outcome in the envelope.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response};

use super::authn;
use super::body::read_object;
use super::envelope::{self, Body, Reply, RequestCtx};
use super::routes::{auth, databases, health, keys, management, search};
use crate::app::App;
use crate::auth::permissions::Permission;
use crate::error::ApiError;

pub async fn handle(app: Arc<App>, req: Request<Incoming>, ctx: RequestCtx) -> Response<Body> {
    let result = route(&app, req).await;
    let mut response = match result {
        Ok(reply) => envelope::success(reply, &ctx),
        Err(err) => {
            match &err {
                ApiError::Internal(detail) => {
                    tracing::error!(request_id = %ctx.request_id, error = %detail, "internal error")
                }
                e if e.status() == hyper::StatusCode::UNAUTHORIZED => tracing::warn!(
                    target: "security",
                    request_id = %ctx.request_id,
                    client_ip = %ctx.client_ip,
                    code = e.code(),
                    "authentication failed"
                ),
                _ => {}
            }
            envelope::failure(&err, &ctx)
        }
    };
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert("x-request-id", id);
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("x-api-version", HeaderValue::from_static(envelope::API_VERSION));
    response
}

async fn route(app: &App, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = req.method().clone();
    let limit = app.config.server.max_body_bytes;
    let headers = req.headers().clone();

    match segments.as_slice() {
        ["health"] => match method {
            Method::GET | Method::HEAD => Ok(health::health(app)),
            _ => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
        },
        ["api", "v1", rest @ ..] => match (rest, method) {
            (["auth", "register"], Method::POST) => auth::register(app, read_object(req, limit).await?).await,
            (["auth", "login"], Method::POST) => auth::login(app, read_object(req, limit).await?).await,
            (["auth", "register" | "login"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),

            (["management", "setup"], Method::POST) => {
                let principal = authn::token(app, &headers).await?;
                management::setup(app, &principal, read_object(req, limit).await?).await
            }
            (["management", "setup"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),

            (["keys"], Method::POST) => {
                let principal = authn::user_or_key(app, &headers, Permission::KeysWrite).await?;
                keys::create(app, &principal, read_object(req, limit).await?).await
            }
            (["keys"], Method::GET) => {
                let principal = authn::user_or_key(app, &headers, Permission::KeysRead).await?;
                keys::list(app, &principal).await
            }
            (["keys"], _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (["keys", id], Method::DELETE) => {
                let principal = authn::user_or_key(app, &headers, Permission::KeysWrite).await?;
                keys::revoke(app, &principal, id).await
            }
            (["keys", _], _) => Err(ApiError::MethodNotAllowed { allow: "DELETE" }),

            (["databases"], Method::POST) => {
                let principal = authn::user_or_key(app, &headers, Permission::DatabaseWrite).await?;
                databases::create(app, &principal, read_object(req, limit).await?).await
            }
            (["databases"], Method::GET) => {
                let principal = authn::user_or_key(app, &headers, Permission::DatabaseRead).await?;
                databases::list(app, &principal).await
            }
            (["databases"], _) => Err(ApiError::MethodNotAllowed { allow: "GET, POST" }),
            (["databases", id], Method::GET) => {
                let principal = authn::user_or_key(app, &headers, Permission::DatabaseRead).await?;
                databases::get(app, &principal, id).await
            }
            (["databases", id], Method::DELETE) => {
                let principal = authn::user_or_key(app, &headers, Permission::DatabaseWrite).await?;
                databases::delete(app, &principal, id).await
            }
            (["databases", _], _) => Err(ApiError::MethodNotAllowed { allow: "GET, DELETE" }),
            (["databases", id, "schema"], Method::GET) => {
                let principal = authn::user_or_key(app, &headers, Permission::DatabaseRead).await?;
                databases::schema(app, &principal, id).await
            }
            (["databases", _, "schema"], _) => Err(ApiError::MethodNotAllowed { allow: "GET" }),

            (["search"], Method::POST) => {
                let principal = authn::api_key(app, &headers).await?;
                principal.require(Permission::Search)?;
                search::search(app, &principal, read_object(req, limit).await?).await
            }
            (["search"], _) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
            _ => Err(ApiError::RouteNotFound),
        },
        _ => Err(ApiError::RouteNotFound),
    }
}
