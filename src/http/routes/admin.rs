//! Operator actions and the audit trail:
//! - `POST /api/v1/admin/reload` re-reads the configuration file's rate-limit tiers (the same as
//!   SIGHUP or `altus4 reload`);
//! - `GET /api/v1/audit`: the caller's own trail, or everyone's for admins;
//! - `GET /api/v1/admin/incidents` and `DELETE /api/v1/admin/blocks/{ip}`: what the incident
//!   responder did, and lifting an address block.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::analytics::page;
use crate::app::App;
use crate::auth::permissions::Permission;
use crate::error::ApiError;
use crate::http::authn::Principal;
use crate::http::body::Fields;
use crate::http::envelope::Reply;
use crate::http::views::iso;
use crate::store::{AuditFilter, AuditRecord};

pub fn reload(app: &App) -> Result<Reply, ApiError> {
    let tiers = app.reload_tiers().map_err(|e| ApiError::validation("config", e))?;
    tracing::info!(target: "security", event = "config_reloaded", ?tiers, "rate-limit tiers reloaded");
    Ok(Reply::ok(json!({ "reloaded": true, "tiers": tiers })))
}

fn record_json(r: &AuditRecord) -> Value {
    json!({
        "id": r.id,
        "timestamp": iso(r.at),
        "action": r.action,
        "outcome": r.outcome,
        "userId": r.user_id,
        "keyId": r.key_id,
        "target": r.target,
        "clientIp": r.client_ip,
        "userAgent": r.user_agent,
        "requestId": r.request_id,
        "details": r.details,
    })
}

/// A page of audit rows matching `filter`, newest first.
async fn audit_page(app: &App, filter: AuditFilter) -> Result<Value, ApiError> {
    let (limit, offset) = (filter.limit, filter.offset);
    let (rows, total) = app.store.audit_page(filter).await?;
    Ok(json!({
        "events": rows.iter().map(record_json).collect::<Vec<_>>(),
        "totalCount": total,
        "limit": limit,
        "offset": offset,
    }))
}

/// `GET /api/v1/audit?limit&offset&action=<prefix>[&userId=<id>]`: read-only; `userId` (any
/// account) is for admins, everyone else sees their own account's rows.
pub async fn audit_trail(app: &App, principal: &Principal, query: Fields) -> Result<Reply, ApiError> {
    let (limit, offset) = page(&query)?;
    let action_prefix = query.opt_str("action", 1, 64)?;
    let is_admin = principal.require(Permission::Admin).is_ok();
    let user_id = match query.opt_str("userId", 1, 64)? {
        Some(other) if is_admin => Some(other),
        Some(_) => return Err(ApiError::InsufficientPermissions { required: Permission::Admin.as_str() }),
        None if is_admin => None,
        None => Some(principal.user_id.clone()),
    };
    Ok(Reply::ok(audit_page(app, AuditFilter { user_id, action_prefix, limit, offset }).await?))
}

/// `GET /api/v1/admin/incidents`: blocks and restrictions in force, and recent incidents.
pub async fn incidents(app: &App, query: Fields) -> Result<Reply, ApiError> {
    let (limit, offset) = page(&query)?;
    let now = app.clock.now_ms();
    let blocks: Vec<Value> = app
        .incidents
        .blocks()
        .iter()
        .map(|b| json!({ "ip": b.addr.to_string(), "until": iso(b.until_ms as i64), "retryAfter": altus4_actors::rate::whole_seconds_until(now, b.until_ms) }))
        .collect();
    let restricted: Vec<Value> = app
        .incidents
        .restrictions()
        .iter()
        .map(|(key_id, until)| json!({ "keyId": key_id, "until": iso(*until as i64) }))
        .collect();
    let filter = AuditFilter { user_id: None, action_prefix: Some("incident.".into()), limit, offset };
    let recent = audit_page(app, filter).await?;
    Ok(Reply::ok(json!({ "blocks": blocks, "restrictedKeys": restricted, "incidents": recent })))
}

/// `DELETE /api/v1/admin/blocks/{ip}`: lifts a block before it expires.
pub async fn lift_block(app: &App, ip: &str) -> Result<Reply, ApiError> {
    let addr: IpAddr = ip.parse().map_err(|_| ApiError::validation("ip", "ip must be an IPv4 or IPv6 address"))?;
    if !app.incidents.lift(addr).await.map_err(ApiError::Busy)? {
        return Err(ApiError::NotFound { what: "block" });
    }
    tracing::warn!(target: "security", event = "block_lifted", ip = %addr, "address block lifted by an admin");
    Ok(Reply::ok(json!({ "lifted": true, "ip": addr.to_canonical().to_string() })))
}
