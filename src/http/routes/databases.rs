//! Tenant databases: `POST/GET /api/v1/databases`, `GET/DELETE /api/v1/databases/{id}`,
//! `GET /api/v1/databases/{id}/schema`. Every lookup is scoped to the caller: another tenant's
//! id answers exactly like a missing one (404).

use serde_json::{json, Value};

use crate::app::App;
use crate::engine::{ident, rows};
use crate::engine::pool::{self, PoolError, PoolMsg};
use crate::error::ApiError;
use crate::http::authn::Principal;
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::views;
use crate::secrets::Secret;
use crate::store::{DatabaseRecord, NewDatabase};

/// Longest user name MariaDB accepts.
const MAX_USERNAME: usize = 80;
const MAX_PASSWORD_BYTES: usize = 1024;

pub fn unavailable(e: &PoolError) -> ApiError {
    ApiError::DatabaseUnavailable(format!("the database is not available: {e}"))
}

/// A UUID in any of its spellings (upper case, braces, no hyphens) as stored: lower-case,
/// hyphenated.
pub fn canonical_id(id: &str) -> Option<String> {
    uuid::Uuid::parse_str(id).ok().map(|u| u.hyphenated().to_string())
}

async fn owned(app: &App, principal: &Principal, id: &str) -> Result<DatabaseRecord, ApiError> {
    // Ids are UUIDs; anything else cannot exist.
    let id = canonical_id(id).ok_or(ApiError::NotFound { what: "database" })?;
    let record =
        app.store.database_of_user(&principal.user_id, &id).await?.ok_or(ApiError::NotFound { what: "database" })?;
    debug_assert_eq!(record.user_id, principal.user_id, "store queries are owner-scoped");
    Ok(record)
}

/// Connection settings from a body, over `base` (the stored record for an update).
struct Settings {
    name: String,
    host: String,
    port: u16,
    database: String,
    username: String,
    /// `None`: unchanged (update) or no password (create).
    password: Option<Option<Secret<String>>>,
    ssl: bool,
}

fn settings(fields: &Fields, base: Option<&DatabaseRecord>) -> Result<Settings, ApiError> {
    let required = base.is_none();
    let text = |name: &str, max: usize, current: Option<&String>| -> Result<String, ApiError> {
        match (fields.opt_str(name, 1, max)?, current) {
            (Some(v), _) => Ok(v),
            (None, Some(c)) if !required => Ok(c.clone()),
            _ => Err(ApiError::validation(name, format!("{name} is required"))),
        }
    };
    let name = text("name", 255, base.map(|b| &b.name))?;
    let host = text("host", 255, base.map(|b| &b.host))?;
    if host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(ApiError::validation("host", "host must be a host name or IP address"));
    }
    let port = fields.opt_int("port", 1, 65535)?.map(|p| p as u16).or(base.map(|b| b.port)).unwrap_or(3306);
    let database = text("database", ident::MAX_LEN, base.map(|b| &b.database_name))?;
    if !ident::is_valid(&database) {
        return Err(ApiError::validation("database", "database must be a valid database name"));
    }
    let username = text("username", MAX_USERNAME, base.map(|b| &b.username))?;
    let password = match fields.raw("password") {
        None if required => Some(None),
        None => None,
        Some(serde_json::Value::Null) => Some(None),
        Some(_) => Some(Some(Secret::new(fields.req_raw_str("password", MAX_PASSWORD_BYTES)?))),
    };
    let ssl = fields.opt_bool("ssl")?.or(fields.opt_bool("sslEnabled")?).or(base.map(|b| b.ssl_enabled)).unwrap_or(false);
    Ok(Settings { name, host, port, database, username, password, ssl })
}

/// Checks that the settings connect, before anything is stored: a typo is reported now.
async fn probe(app: &App, s: &Settings, password: Option<Secret<String>>) -> Result<pool::ServerInfo, ApiError> {
    let spec = pool::PoolSpec {
        host: s.host.clone(),
        port: s.port,
        database: s.database.clone(),
        username: s.username.clone(),
        password,
        ssl: s.ssl,
        limits: app.pool_limits(),
    };
    let server = pool::probe(&spec).await.map_err(|e| ApiError::ConnectionFailed(e.to_string()))?;
    tracing::debug!(version = %server.version, latency_ms = server.latency.as_millis() as u64, "database probe succeeded");
    Ok(server)
}

pub async fn create(app: &App, principal: &Principal, fields: Fields) -> Result<Reply, ApiError> {
    let s = settings(&fields, None)?;
    let password = s.password.clone().flatten();
    probe(app, &s, password.clone()).await?;

    let id = uuid::Uuid::new_v4().to_string();
    let password_enc = password.as_ref().map(|p| app.cipher.encrypt(&id, p));
    let record = app
        .store
        .create_database(NewDatabase {
            id,
            user_id: principal.user_id.clone(),
            name: s.name,
            host: s.host,
            port: s.port,
            database_name: s.database,
            username: s.username,
            password_enc,
            ssl_enabled: s.ssl,
            connection_status: "connected".into(),
        })
        .await?;
    app.forget_searches(&principal.user_id);
    tracing::info!(target: "security", event = "database_added", database = %record.id, user = %principal.user_id);
    Ok(Reply::created(views::database(&record)))
}

/// `PUT /api/v1/databases/{id}`: changed connection settings are checked before they are kept;
/// the database's pool restarts with them.
pub async fn update(app: &App, principal: &Principal, id: &str, fields: Fields) -> Result<Reply, ApiError> {
    let current = owned(app, principal, id).await?;
    let s = settings(&fields, Some(&current))?;
    let password = match &s.password {
        Some(new) => new.clone(),
        None => app.pool_spec(&current)?.password,
    };
    let connection_changed = s.host != current.host
        || s.port != current.port
        || s.database != current.database_name
        || s.username != current.username
        || s.ssl != current.ssl_enabled
        || s.password.is_some();
    let mut record = current.clone();
    if connection_changed {
        probe(app, &s, password.clone()).await?;
        record.connection_status = "connected".into();
        record.last_tested = Some(crate::store::now_ms());
    }
    record.password_enc = password.as_ref().map(|p| app.cipher.encrypt(&record.id, p));
    record.name = s.name;
    record.host = s.host;
    record.port = s.port;
    record.database_name = s.database;
    record.username = s.username;
    record.ssl_enabled = s.ssl;
    if let Some(active) = fields.opt_bool("isActive")? {
        record.is_active = active;
    }
    let updated = app
        .store
        .update_database(&principal.user_id, record)
        .await?
        .ok_or(ApiError::NotFound { what: "database" })?;
    app.drop_pool(&updated.id).await;
    app.forget_searches(&principal.user_id);
    tracing::info!(target: "security", event = "database_updated", database = %updated.id, user = %principal.user_id);
    Ok(Reply::ok(views::database(&updated)))
}

/// `POST /api/v1/databases/{id}/test`: reachability, server version and latency, recorded as the
/// database's connection status.
pub async fn test(app: &App, principal: &Principal, id: &str) -> Result<Reply, ApiError> {
    let record = owned(app, principal, id).await?;
    let spec = app.pool_spec(&record)?;
    let started = std::time::Instant::now();
    let (status, body) = match pool::probe(&spec).await {
        Ok(server) => (
            "connected",
            json!({
                "status": "connected",
                "message": "Connection successful",
                "responseTime": server.latency.as_secs_f64() * 1000.0,
                "version": rows::html_escape(&server.version),
            }),
        ),
        Err(e) => (
            "error",
            json!({
                "status": "error",
                "message": e.to_string(),
                "responseTime": started.elapsed().as_secs_f64() * 1000.0,
            }),
        ),
    };
    app.store.set_database_status(&record.id, status).await?;
    Ok(Reply::ok(body))
}

/// `GET /api/v1/databases/status`: the last known connection status of every database.
pub async fn statuses(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let dbs = app.store.databases_of_user(&principal.user_id).await?;
    let mut list = Vec::with_capacity(dbs.len());
    for d in &dbs {
        list.push(json!({
            "id": d.id,
            "name": d.name,
            "status": d.connection_status,
            "lastTested": views::iso_opt(d.last_tested),
            "circuitBreaker": app.breaker_status(d).await,
        }));
    }
    Ok(Reply::ok(Value::Array(list)))
}

pub async fn list(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let dbs = app.store.databases_of_user(&principal.user_id).await?;
    Ok(Reply::ok(Value::Array(dbs.iter().map(views::database).collect())))
}

pub async fn get(app: &App, principal: &Principal, id: &str) -> Result<Reply, ApiError> {
    let record = owned(app, principal, id).await?;
    let mut view = views::database(&record);
    view["circuitBreaker"] = json!(app.breaker_status(&record).await);
    view["queriesExecuted"] = json!(app.executed_queries(&record).await);
    Ok(Reply::ok(view))
}

pub async fn delete(app: &App, principal: &Principal, id: &str) -> Result<Reply, ApiError> {
    let record = owned(app, principal, id).await?;
    if !app.store.delete_database(&principal.user_id, &record.id).await? {
        return Err(ApiError::NotFound { what: "database" });
    }
    app.drop_pool(&record.id).await;
    app.forget_searches(&principal.user_id);
    tracing::info!(target: "security", event = "database_removed", database = %record.id, user = %principal.user_id);
    Ok(Reply::ok(json!({ "message": "Database connection removed successfully" })))
}

pub async fn schema(app: &App, principal: &Principal, id: &str) -> Result<Reply, ApiError> {
    let record = owned(app, principal, id).await?;
    let pool = app.pool(&record).await?;
    let timeout = app.config.connect_timeout() + app.config.query_timeout() * 2;
    let schema = pool::ask(&pool, timeout, |reply| PoolMsg::Schema { refresh: true, reply })
        .await
        .and_then(|answer| answer)
        .map_err(|e| unavailable(&e))?;
    Ok(Reply::ok(serde_json::to_value(&*schema).map_err(ApiError::internal)?))
}
