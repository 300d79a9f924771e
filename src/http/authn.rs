//! Who is calling: API keys (for search and service integrations) and login tokens (for account
//! management). Management routes accept either; an API key there needs the matching permission.

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;

use crate::app::App;
use crate::auth::apikey;
use crate::auth::permissions::{self, Permission};
use crate::error::ApiError;
use crate::store::now_ms;

#[derive(Debug, Clone)]
pub enum Via {
    /// A login token issued under this token version.
    Token { version: i64 },
    Key { key_id: String, permissions: Vec<Permission>, tier: String },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    /// The account's role for tokens; keys act with their permissions only.
    pub role: Option<String>,
    pub via: Via,
}

impl Principal {
    /// The caller as the audit trail records it.
    pub fn who(&self) -> crate::audit::Who {
        let key_id = match &self.via {
            Via::Key { key_id, .. } => Some(key_id.clone()),
            Via::Token { .. } => None,
        };
        crate::audit::Who { user_id: Some(self.user_id.clone()), key_id }
    }

    pub fn require(&self, needed: Permission) -> Result<(), ApiError> {
        let allowed = match &self.via {
            Via::Token { .. } => needed != Permission::Admin || self.role.as_deref() == Some("admin"),
            Via::Key { permissions, .. } => permissions::allows(permissions, needed),
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::InsufficientPermissions { required: needed.as_str() })
        }
    }
}

/// The credential after `Bearer `, if the header has that shape.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(credential)
}

fn looks_like_key(credential: &str) -> bool {
    credential.starts_with("altus4_sk_")
}

/// Authenticates an API key. Anything not exactly in the key format is refused before any
/// storage access.
pub async fn api_key(app: &App, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let credential = bearer(headers).ok_or(ApiError::NoApiKey)?;
    key_principal(app, credential).await
}

async fn key_principal(app: &App, credential: &str) -> Result<Principal, ApiError> {
    let parsed = apikey::parse(credential).ok_or(ApiError::InvalidApiKey)?;
    let record = app.resolve_key(parsed.digest).await?.ok_or(ApiError::InvalidApiKey)?;
    if !record.is_usable(now_ms()) {
        return Err(ApiError::InvalidApiKey);
    }
    Ok(Principal {
        user_id: record.user_id.clone(),
        role: None,
        via: Via::Key {
            key_id: record.id.clone(),
            permissions: record.permissions.clone(),
            tier: record.rate_limit_tier.clone(),
        },
    })
}

/// Authenticates a login token only (account routes such as setup).
pub async fn token(app: &App, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let credential = bearer(headers).ok_or(ApiError::NoToken)?;
    token_principal(app, credential).await
}

async fn token_principal(app: &App, credential: &str) -> Result<Principal, ApiError> {
    let claims = app.tokens.verify(credential, now_ms() / 1000).ok_or(ApiError::InvalidToken)?;
    // The user must still exist and the token must not predate a logout or password change.
    let user = app.store.user_by_id(&claims.sub).await?.ok_or(ApiError::InvalidToken)?;
    if user.token_version != claims.tv {
        return Err(ApiError::InvalidToken);
    }
    Ok(Principal { user_id: user.id, role: Some(user.role), via: Via::Token { version: claims.tv } })
}

/// Authenticates a token or an API key (management routes); the caller checks permissions
/// after rate limiting.
pub async fn user_or_key(app: &App, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let credential = bearer(headers).ok_or(ApiError::NoToken)?;
    if looks_like_key(credential) {
        key_principal(app, credential).await
    } else {
        token_principal(app, credential).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        // No trimming: the extra space stays part of the credential and fails the format check.
        h.insert(AUTHORIZATION, "Bearer  abc".parse().unwrap());
        assert_eq!(bearer(&h), Some(" abc"));
    }

    #[test]
    fn tokens_may_do_everything_but_admin_unless_admin() {
        let user = Principal { user_id: "u".into(), role: Some("user".into()), via: Via::Token { version: 0 } };
        assert!(user.require(Permission::KeysWrite).is_ok());
        assert!(user.require(Permission::Admin).is_err());
        let key = Principal {
            user_id: "u".into(),
            role: None,
            via: Via::Key { key_id: "k".into(), permissions: vec![Permission::Search], tier: "free".into() },
        };
        assert!(key.require(Permission::Search).is_ok());
        assert!(matches!(
            key.require(Permission::DatabaseRead),
            Err(ApiError::InsufficientPermissions { required: "database:read" })
        ));
    }
}
