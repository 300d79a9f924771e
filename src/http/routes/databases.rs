//! Tenant databases: `POST/GET /api/v1/databases`, `GET/DELETE /api/v1/databases/{id}`,
//! `GET /api/v1/databases/{id}/schema`. Every lookup is scoped to the caller: another tenant's
//! id answers exactly like a missing one (404).

use serde_json::{json, Value};

use crate::app::App;
use crate::engine::ident;
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

pub async fn create(app: &App, principal: &Principal, fields: Fields) -> Result<Reply, ApiError> {
    let name = fields.req_str("name", 1, 255)?;
    let host = fields.req_str("host", 1, 255)?;
    if host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
        return Err(ApiError::validation("host", "host must be a host name or IP address"));
    }
    let port = fields.opt_int("port", 1, 65535)?.unwrap_or(3306) as u16;
    let database = fields.req_str("database", 1, ident::MAX_LEN)?;
    if !ident::is_valid(&database) {
        return Err(ApiError::validation("database", "database must be a valid database name"));
    }
    let username = fields.req_str("username", 1, MAX_USERNAME)?;
    let password = match fields.has("password") {
        true => Some(Secret::new(fields.req_raw_str("password", MAX_PASSWORD_BYTES)?)),
        false => None,
    };
    let ssl = fields.opt_bool("ssl")?.or(fields.opt_bool("sslEnabled")?).unwrap_or(false);

    // Check the credentials before keeping them: a typo is reported now, not at first search.
    let spec = pool::PoolSpec {
        host: host.clone(),
        port,
        database: database.clone(),
        username: username.clone(),
        password: password.clone(),
        ssl,
        limits: app.pool_limits(),
    };
    let server = pool::probe(&spec).await.map_err(|e| ApiError::ConnectionFailed(e.to_string()))?;
    tracing::debug!(version = %server.version, latency_ms = server.latency.as_millis() as u64, "database probe succeeded");

    let id = uuid::Uuid::new_v4().to_string();
    let password_enc = password.as_ref().map(|p| app.cipher.encrypt(&id, p));
    let record = app
        .store
        .create_database(NewDatabase {
            id,
            user_id: principal.user_id.clone(),
            name,
            host,
            port,
            database_name: database,
            username,
            password_enc,
            ssl_enabled: ssl,
            connection_status: "connected".into(),
        })
        .await?;
    tracing::info!(target: "security", event = "database_added", database = %record.id, user = %principal.user_id);
    Ok(Reply::created(views::database(&record)))
}

pub async fn list(app: &App, principal: &Principal) -> Result<Reply, ApiError> {
    let dbs = app.store.databases_of_user(&principal.user_id).await?;
    Ok(Reply::ok(Value::Array(dbs.iter().map(views::database).collect())))
}

pub async fn get(app: &App, principal: &Principal, id: &str) -> Result<Reply, ApiError> {
    Ok(Reply::ok(views::database(&owned(app, principal, id).await?)))
}

pub async fn delete(app: &App, principal: &Principal, id: &str) -> Result<Reply, ApiError> {
    let record = owned(app, principal, id).await?;
    if !app.store.delete_database(&principal.user_id, &record.id).await? {
        return Err(ApiError::NotFound { what: "database" });
    }
    app.drop_pool(&record.id).await;
    tracing::info!(target: "security", event = "database_removed", database = %record.id, user = %principal.user_id);
    Ok(Reply::ok(json!({ "message": "Database connection removed successfully" })))
}

pub async fn schema(app: &App, principal: &Principal, id: &str) -> Result<Reply, ApiError> {
    let record = owned(app, principal, id).await?;
    let pool = app.pool(&record).await?;
    let timeout = app.config.connect_timeout() + app.config.query_timeout() * 2;
    let schema = match pool.call(|reply| PoolMsg::Schema { refresh: true, reply }, Some(timeout)).await {
        Ok(ractor::rpc::CallResult::Success(result)) => result.map_err(|e| unavailable(&e))?,
        _ => return Err(unavailable(&PoolError::Timeout)),
    };
    Ok(Reply::ok(serde_json::to_value(&*schema).map_err(ApiError::internal)?))
}
