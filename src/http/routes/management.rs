//! `POST /api/v1/management/setup` (the first API key of an account), `GET
//! /api/v1/management/health` and `GET /api/v1/management/migration-status`.

use crate::app::App;
use crate::auth::apikey::Environment;
use crate::auth::permissions::Permission;
use crate::error::ApiError;
use crate::http::authn::Principal;
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::routes::keys::{self, KeySpec};
use crate::store::migrations;

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

/// `GET /api/v1/management/health`: the management side answers (no storage touched).
pub fn health() -> Reply {
    Reply::ok(serde_json::json!({ "status": "healthy" }))
}

/// `GET /api/v1/management/migration-status`.
pub async fn migration_status(app: &App) -> Result<Reply, ApiError> {
    let applied = app.store.call(|c| migrations::status(c)).await?;
    let applied_versions: Vec<i64> = applied.iter().map(|(v, _)| *v).collect();
    let name = |v: i64, n: &str| format!("{v:04}_{n}");
    let pending: Vec<String> = migrations::MIGRATIONS
        .iter()
        .filter(|m| !applied_versions.contains(&m.version))
        .map(|m| name(m.version, m.name))
        .collect();
    Ok(Reply::ok(serde_json::json!({
        "currentVersion": applied.last().map(|(v, n)| name(*v, n)),
        "appliedMigrations": applied.iter().map(|(v, n)| name(*v, n)).collect::<Vec<_>>(),
        "pendingMigrations": pending,
    })))
}
