//! `POST /api/v1/management/setup`: the first API key of an account.

use crate::app::App;
use crate::auth::apikey::Environment;
use crate::auth::permissions::Permission;
use crate::error::ApiError;
use crate::http::authn::Principal;
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::routes::keys::{self, KeySpec};

pub async fn setup(app: &App, principal: &Principal, fields: Fields) -> Result<Reply, ApiError> {
    // Every field is optional; the defaults give a test key that can search and read analytics.
    let defaults = KeySpec {
        name: "Initial API Key".into(),
        environment: Environment::Test,
        permissions: vec![Permission::Search, Permission::Analytics],
        tier: "free".into(),
        expires_at: None,
    };
    let spec = keys::key_spec(&fields, principal, &app.tiers(), defaults)?;
    let (new, secret) = keys::new_key(&principal.user_id, spec);
    let record = app.store.create_first_key(new).await?.ok_or(ApiError::ApiKeyExists)?;
    tracing::info!(target: "security", event = "key_created", key_prefix = %record.key_prefix, user = %principal.user_id);
    Ok(keys::created(&record, secret))
}
