//! API keys: `POST/GET /api/v1/keys`, `DELETE /api/v1/keys/{keyId}`; the first key through
//! `POST /api/v1/management/setup` shares the creation logic.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::app::{App, Tiers};
use crate::auth::apikey::{self, Environment};
use crate::auth::permissions::Permission;
use crate::error::ApiError;
use crate::http::authn::Principal;
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::ratelimit::Admission;
use crate::http::routes::databases::canonical_id;
use crate::http::views;
use crate::store::{now_ms, KeyChange, KeyRecord, NewKey};

pub const SHOWN_ONCE: &str =
    "This is the only time the full API key will be shown. Please store it securely.";

/// What a new key should be, validated.
pub struct KeySpec {
    pub name: String,
    pub environment: Environment,
    pub permissions: Vec<Permission>,
    pub tier: String,
    pub expires_at: Option<i64>,
}

fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::validation(field, format!("{field} must be an RFC 3339 date-time")))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Validates a key body; `defaults` supplies what an omitted field means.
pub fn key_spec(fields: &Fields, principal: &Principal, tiers: &Tiers, defaults: KeySpec) -> Result<KeySpec, ApiError> {
    let name = fields.opt_str("name", 3, 255)?.unwrap_or(defaults.name);
    let environment = match fields.opt_str("environment", 1, 16)? {
        Some(e) => Environment::parse(&e)
            .ok_or_else(|| ApiError::validation("environment", "environment must be 'test' or 'live'"))?,
        None => defaults.environment,
    };
    let permissions = match fields.opt_str_array("permissions", Permission::ALL.len(), 32)? {
        Some(names) if names.is_empty() => {
            return Err(ApiError::validation("permissions", "permissions must not be empty"))
        }
        Some(names) => {
            let mut perms = Vec::new();
            for n in &names {
                let p = Permission::parse(n).ok_or_else(|| {
                    let known: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
                    ApiError::validation("permissions", format!("unknown permission '{n}'; known: {}", known.join(", ")))
                })?;
                if !perms.contains(&p) {
                    perms.push(p);
                }
            }
            perms
        }
        None => defaults.permissions,
    };
    // A key cannot carry more than its creator has.
    for &p in &permissions {
        principal.require(p)?;
    }
    let tier = match fields.opt_str("rateLimitTier", 1, 32)? {
        Some(t) if tiers.exists(&t) => t,
        Some(_) => {
            let names = tiers.names().join(", ");
            return Err(ApiError::validation("rateLimitTier", format!("rateLimitTier must be one of {names}")));
        }
        None => defaults.tier,
    };
    let expires_at = match fields.opt_str("expiresAt", 1, 64)? {
        Some(text) => {
            let at = parse_time("expiresAt", &text)?;
            if at <= now_ms() {
                return Err(ApiError::validation("expiresAt", "expiresAt must be in the future"));
            }
            // 9999-12-31T23:59:59Z: later instants cannot be written back as RFC 3339.
            if at > 253_402_300_799_000 {
                return Err(ApiError::validation("expiresAt", "expiresAt must be before the year 10000"));
            }
            Some(at)
        }
        None => defaults.expires_at,
    };
    Ok(KeySpec { name, environment, permissions, tier, expires_at })
}

/// Generates a key for `spec`: returns the stored record and the plaintext, shown once.
pub fn new_key(user_id: &str, spec: KeySpec) -> (NewKey, String) {
    let generated = apikey::generate(spec.environment);
    let new = NewKey {
        user_id: user_id.to_string(),
        name: spec.name,
        key_prefix: generated.prefix,
        digest: generated.digest,
        environment: spec.environment.as_str().to_string(),
        permissions: spec.permissions,
        rate_limit_tier: spec.tier,
        expires_at: spec.expires_at,
    };
    (new, generated.secret.expose().clone())
}

pub fn created(record: &KeyRecord, secret: String) -> Reply {
    Reply::created(json!({ "apiKey": views::key(record), "secretKey": secret, "warning": SHOWN_ONCE }))
}

pub async fn create(app: &App, principal: &Principal, fields: Fields) -> Result<Reply, ApiError> {
    if !fields.has("name") {
        return Err(ApiError::validation("name", "name is required"));
    }
    if !fields.has("environment") {
        return Err(ApiError::validation("environment", "environment is required"));
    }
    let defaults = KeySpec {
        name: String::new(),
        environment: Environment::Test,
        permissions: vec![Permission::Search],
        tier: "free".into(),
        expires_at: None,
    };
    let spec = key_spec(&fields, principal, &app.tiers(), defaults)?;
    let (new, secret) = new_key(&principal.user_id, spec);
    let record = app.store.create_key(new).await?;
    tracing::info!(target: "security", event = "key_created", key_prefix = %record.key_prefix, user = %principal.user_id);
    Ok(created(&record, secret))
}

pub async fn list(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let keys = app.store.keys_of_user(&principal.user_id).await?;
    Ok(Reply::ok(Value::Array(keys.iter().map(views::key).collect())))
}

/// A key of the caller's account that the caller may manage: a caller can only manage keys
/// whose permissions it holds itself, so a `keys:write` key cannot take over a stronger key.
async fn manageable(app: &App, principal: &Principal, key_id: &str) -> Result<KeyRecord, ApiError> {
    let key_id = canonical_id(key_id).ok_or(ApiError::NotFound { what: "API key" })?;
    let key = app.store.key_of_user(&principal.user_id, &key_id).await?.ok_or(ApiError::NotFound { what: "API key" })?;
    for &p in &key.permissions {
        principal.require(p)?;
    }
    Ok(key)
}

fn refuse_if_revoked(key: &KeyRecord) -> Result<(), ApiError> {
    if key.revoked_at.is_some() {
        return Err(ApiError::validation("keyId", "this key is revoked; revocation is final (create a new key)"));
    }
    Ok(())
}

pub async fn revoke(app: &App, principal: &Principal, key_id: &str) -> Result<Reply, ApiError> {
    let key_id = &manageable(app, principal, key_id).await?.id;
    if !app.keys.revoke(&principal.user_id, key_id).await? {
        return Err(ApiError::NotFound { what: "API key" });
    }
    tracing::info!(target: "security", event = "key_revoked", key_id = %key_id, user = %principal.user_id);
    Ok(Reply::ok(json!({ "revoked": true, "message": "API key revoked successfully" })))
}

/// `GET /api/v1/keys/{keyId}/usage`: counters (written in batches, so a second or so behind)
/// and the key's current rate-limit state, without counting this look as a request of the key.
pub async fn usage(app: &App, principal: &Principal, key_id: &str) -> Result<Reply, ApiError> {
    let key_id = &canonical_id(key_id).ok_or(ApiError::NotFound { what: "API key" })?;
    let key = app.store.key_of_user(&principal.user_id, key_id).await?.ok_or(ApiError::NotFound { what: "API key" })?;
    let tier = app.tiers().get(&key.rate_limit_tier);
    let decision = app.limits.peek(&key.id, Arc::clone(&tier)).await.map_err(ApiError::Busy)?;
    let state = Admission { decision, tier, now_ms: app.clock.now_ms() };
    Ok(Reply::ok(json!({
        "keyId": key.id,
        "usageCount": key.usage_count,
        "lastUsed": views::iso_opt(key.last_used),
        "lastUsedIp": key.last_used_ip,
        "rateLimit": state.to_json(),
    })))
}

/// `GET /api/v1/rate-limit`: the calling key's rate-limit state after admitting this request.
pub fn rate_limit(admission: Option<&Admission>) -> Reply {
    Reply::ok(admission.map_or(Value::Null, Admission::to_json))
}

/// `PUT /api/v1/keys/{keyId}`: name, permissions, tier, expiry (`null` clears it), isActive.
/// The key is evicted from the cache before the answer, so the change applies to the next request.
pub async fn update(app: &App, principal: &Principal, key_id: &str, fields: Fields) -> Result<Reply, ApiError> {
    let existing = manageable(app, principal, key_id).await?;
    refuse_if_revoked(&existing)?;
    let key_id = &existing.id;
    // Validate with the same rules as creation; fields absent from the body stay unchanged.
    let placeholder = KeySpec {
        name: String::new(),
        environment: Environment::Test,
        permissions: vec![],
        tier: String::new(),
        expires_at: None,
    };
    let spec = key_spec(&fields, principal, &app.tiers(), placeholder)?;
    let change = KeyChange {
        name: fields.has("name").then_some(spec.name),
        permissions: fields.has("permissions").then_some(spec.permissions),
        rate_limit_tier: fields.has("rateLimitTier").then_some(spec.tier),
        expires_at: match fields.raw("expiresAt") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => Some(spec.expires_at),
        },
        is_active: fields.opt_bool("isActive")?,
    };
    let (record, digest) = app
        .store
        .update_key(&principal.user_id, key_id, change)
        .await?
        .ok_or(ApiError::NotFound { what: "API key" })?;
    app.evict_key(digest).await?;
    tracing::info!(target: "security", event = "key_updated", key_prefix = %record.key_prefix, user = %principal.user_id);
    Ok(Reply::ok(views::key(&record)))
}

/// `POST /api/v1/keys/{keyId}/regenerate`: a new secret (shown once); the old one is refused
/// from the next request on.
pub async fn regenerate(app: &App, principal: &Principal, key_id: &str) -> Result<Reply, ApiError> {
    let existing = manageable(app, principal, key_id).await?;
    refuse_if_revoked(&existing)?;
    let key_id = &existing.id;
    let env = Environment::parse(&existing.environment).unwrap_or(Environment::Test);
    let generated = apikey::generate(env);
    let (record, old) = app
        .store
        .regenerate_key(&principal.user_id, key_id, generated.prefix, generated.digest)
        .await?
        .ok_or(ApiError::NotFound { what: "API key" })?;
    app.evict_key(old).await?;
    tracing::info!(target: "security", event = "key_regenerated", key_prefix = %record.key_prefix, user = %principal.user_id);
    Ok(Reply::ok(json!({
        "apiKey": views::key(&record),
        "secretKey": generated.secret.expose(),
        "warning": SHOWN_ONCE,
    })))
}
