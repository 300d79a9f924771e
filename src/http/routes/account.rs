//! The logged-in user's own account: `GET/PUT /api/v1/auth/profile`,
//! `POST /api/v1/auth/change-password`, `/auth/refresh`, `/auth/logout`,
//! `DELETE /api/v1/auth/account`.
//!
//! Logout and a password change bump the user's token version, so every token issued before
//! stops working at once (tokens carry the version they were issued under).

use serde_json::json;

use crate::app::App;
use crate::error::ApiError;
use crate::http::authn::{Principal, Via};
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::routes::auth::{issue_token, user_view, valid_email, MIN_PASSWORD_CHARS};
use crate::secrets::Secret;
use crate::store::UserRecord;

async fn me(app: &App, principal: &Principal) -> Result<UserRecord, ApiError> {
    // The token was just checked against the stored user; gone since means the token is void.
    app.store.user_by_id(&principal.user_id).await?.ok_or(ApiError::InvalidToken)
}

pub async fn profile(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let user = me(app, principal).await?;
    Ok(Reply::ok(user_view(app, &user).await?))
}

pub async fn update_profile(app: &App, principal: &Principal, fields: Fields) -> Result<Reply, ApiError> {
    let name = fields.opt_str("name", 2, 255)?;
    if name.as_deref().is_some_and(|n| !crate::http::routes::auth::valid_name(n)) {
        return Err(ApiError::validation("name", "name must not contain control characters"));
    }
    let email = fields.opt_str("email", 3, 254)?;
    if email.as_deref().is_some_and(|e| !valid_email(e)) {
        return Err(ApiError::validation("email", "email must be a valid email address"));
    }
    let user = app.store.update_profile(&principal.user_id, name, email).await?.ok_or(ApiError::UserExists)?;
    Ok(Reply::ok(user_view(app, &user).await?))
}

pub async fn change_password(app: &App, principal: &Principal, fields: Fields) -> Result<Reply, ApiError> {
    let max = app.config.auth.max_password_bytes;
    let current = Secret::new(fields.req_raw_str("currentPassword", max)?);
    let new = fields.req_raw_str("newPassword", max)?;
    if new.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::validation("newPassword", format!("newPassword must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    let user = me(app, principal).await?;
    let ok = app.hasher.verify(current, Some(user.password_hash.clone())).await.map_err(ApiError::internal)?;
    if !ok {
        return Err(ApiError::InvalidCredentials { account: Some(user.id) });
    }
    let hash = app.hasher.hash(Secret::new(new)).await.map_err(ApiError::internal)?;
    app.store.bump_token_version(&user.id, Some(hash)).await?;
    tracing::info!(target: "security", event = "password_changed", user = %user.id);
    let user = me(app, principal).await?;
    Ok(Reply::ok(json!({
        "message": "Password changed; tokens issued before this are no longer valid",
        "token": issue_token(app, &user),
    })))
}

/// A fresh token under the *presented* token's version: a refresh racing a logout yields a token
/// the logout already voided, never one that outlives it.
pub async fn refresh(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let mut user = me(app, principal).await?;
    if let Via::Token { version } = principal.via {
        user.token_version = version;
    }
    Ok(Reply::ok(json!({ "token": issue_token(app, &user) })))
}

pub async fn logout(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    app.store.bump_token_version(&principal.user_id, None).await?;
    tracing::info!(target: "security", event = "logout", user = %principal.user_id);
    Ok(Reply::ok(json!({ "message": "Logged out; every token of this account is now invalid" })))
}

/// Deletes the account, its keys and its database connections. Its keys stop working at once.
pub async fn delete(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let (digests, databases) = app.store.delete_user(&principal.user_id).await?;
    for digest in digests {
        app.evict_key(digest).await?;
    }
    for id in databases {
        app.drop_pool(&id).await;
    }
    app.forget_searches(&principal.user_id);
    tracing::info!(target: "security", event = "account_deleted", user = %principal.user_id);
    Ok(Reply::ok(json!({ "deleted": true, "message": "Account deleted" })))
}
