//! How stored records look on the wire (camelCase, ISO-8601 times). Secrets never appear here:
//! no password hash, key digest or database password is part of any view.

use serde_json::{json, Value};

use crate::store::{DatabaseRecord, KeyRecord, UserRecord};

/// Milliseconds since the epoch as an RFC 3339 UTC timestamp.
pub fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

pub fn iso_opt(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(iso(ms)))
}

pub fn user(u: &UserRecord, connected_databases: Vec<String>) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "role": u.role,
        "connectedDatabases": connected_databases,
        "createdAt": iso(u.created_at),
        "lastActive": iso_opt(u.last_active),
    })
}

pub fn key(k: &KeyRecord) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "keyPrefix": k.key_prefix,
        "environment": k.environment,
        "permissions": k.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "rateLimitTier": k.rate_limit_tier,
        "expiresAt": iso_opt(k.expires_at),
        "lastUsed": iso_opt(k.last_used),
        "lastUsedIp": k.last_used_ip,
        "usageCount": k.usage_count,
        "isActive": k.is_active,
        "revokedAt": iso_opt(k.revoked_at),
        "createdAt": iso(k.created_at),
    })
}

pub fn database(d: &DatabaseRecord) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "host": d.host,
        "port": d.port,
        "databaseName": d.database_name,
        "username": d.username,
        "sslEnabled": d.ssl_enabled,
        "isActive": d.is_active,
        "connectionStatus": d.connection_status,
        "lastTested": iso_opt(d.last_tested),
        "createdAt": iso(d.created_at),
        "updatedAt": iso(d.updated_at),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_formats_milliseconds() {
        assert_eq!(super::iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso(1_500), "1970-01-01T00:00:01.5Z");
    }
}
