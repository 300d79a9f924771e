//! `POST /api/v1/auth/register` and `POST /api/v1/auth/login`.

use serde_json::json;

use crate::app::App;
use crate::auth::token::Claims;
use crate::error::ApiError;
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::views;
use crate::secrets::Secret;
use crate::store::{now_ms, NewUser, UserRecord};

pub const MIN_PASSWORD_CHARS: usize = 8;

/// A plausible email: one `@`, a non-empty local part, a dotted domain, no spaces, ≤ 254 chars.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"'`".contains(c))
}

/// Names are free text, but not control characters (NUL, escapes).
pub fn valid_name(name: &str) -> bool {
    !name.chars().any(char::is_control)
}

fn password(fields: &Fields, app: &App) -> Result<Secret<String>, ApiError> {
    let pw = fields.req_raw_str("password", app.config.auth.max_password_bytes)?;
    Ok(Secret::new(pw))
}

pub fn issue_token(app: &App, user: &UserRecord) -> String {
    let now = now_ms() / 1000;
    app.tokens.sign(&Claims {
        sub: user.id.clone(),
        role: user.role.clone(),
        tv: user.token_version,
        iat: now,
        exp: now + app.config.auth.token_ttl_secs as i64,
    })
}

pub async fn user_view(app: &App, user: &UserRecord) -> Result<serde_json::Value, ApiError> {
    let dbs = app.store.databases_of_user(&user.id).await?;
    Ok(views::user(user, dbs.into_iter().map(|d| d.id).collect()))
}

pub async fn register(app: &App, fields: Fields) -> Result<Reply, ApiError> {
    let email = fields.req_str("email", 3, 254)?;
    if !valid_email(&email) {
        return Err(ApiError::validation("email", "email must be a valid email address"));
    }
    let password = password(&fields, app)?;
    if password.expose().chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::validation("password", format!("password must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    let name = fields.req_str("name", 2, 255)?;
    if !valid_name(&name) {
        return Err(ApiError::validation("name", "name must not contain control characters"));
    }
    let role = fields.opt_str("role", 1, 16)?.unwrap_or_else(|| "user".into());
    if role != "user" && role != "admin" {
        return Err(ApiError::validation("role", "role must be 'user' or 'admin'"));
    }
    if role == "admin" {
        // Self-registration as admin would make the role meaningless; admins are created by the
        // operator (`altus4 create-admin`).
        return Err(ApiError::InsufficientPermissions { required: "admin" });
    }
    if app.store.user_by_email(&email).await?.is_some() {
        return Err(ApiError::UserExists);
    }
    let password_hash = app.hasher.hash(password).await.map_err(ApiError::internal)?;
    let user = app
        .store
        .create_user(NewUser { email, name, password_hash, role })
        .await?
        .ok_or(ApiError::UserExists)?;
    let token = issue_token(app, &user);
    Ok(Reply::created(json!({ "user": user_view(app, &user).await?, "token": token })))
}

pub async fn login(app: &App, fields: Fields) -> Result<Reply, ApiError> {
    let email = fields.req_str("email", 1, 254)?;
    let password = password(&fields, app)?;
    let user = app.store.user_by_email(&email).await?;
    // Verified even when the user does not exist (against a dummy hash): same cost either way.
    let ok = app
        .hasher
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await
        .map_err(ApiError::internal)?;
    let Some(user) = user.as_ref().filter(|_| ok) else {
        tracing::warn!(target: "security", event = "login_failed", "failed login");
        return Err(ApiError::InvalidCredentials { account: user.map(|u| u.id) });
    };
    app.store.touch_user(&user.id).await?;
    let token = issue_token(app, &user);
    Ok(Reply::ok(json!({ "user": user_view(app, &user).await?, "token": token })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn email_shapes() {
        for ok in ["a@b.io", "first.last+tag@example.co.uk"] {
            assert!(super::valid_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.io", "a@.io", "a@b.", "a b@c.io", "a@b@c.io", "<svg/onload=alert(1)>@x.io", "a\"b@c.io"] {
            assert!(!super::valid_email(bad), "{bad}");
        }
    }
}
