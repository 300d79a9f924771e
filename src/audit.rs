//! The audit trail: what security-relevant action happened, by whom, from where.
//!
//! Requests push [`AuditRecord`]s onto a bounded in-memory queue (no waiting on the request
//! path); the audit writer actor ([`altus4_actors::batch::BatchWriter`]) appends them to the
//! metadata store in one transaction per batch. Shutdown stops the writer only after the HTTP
//! server has drained, and stopping writes what is queued: an event accepted before SIGTERM is
//! on disk afterwards.
//!
//! Which routes are audited, and under which action name, is decided here ([`route_action`]),
//! next to the route table rather than scattered through the handlers.

use std::net::IpAddr;
use std::time::Duration;

use altus4_actors::batch::{BatchSink, Journal, Queue};
use serde_json::{json, Value};

use crate::http::api::RouteId;
use crate::store::{AuditRecord, Store};

/// Audit batches go to the metadata store.
#[derive(Clone)]
struct StoreAudit(Store);

impl BatchSink<AuditRecord> for StoreAudit {
    async fn write(&self, batch: Vec<AuditRecord>) -> Result<(), String> {
        self.0.append_audit(batch).await.map_err(|e| e.to_string())
    }
}

/// Where a request came from, as the trail records it.
#[derive(Clone, Debug)]
pub struct Origin {
    pub client_ip: IpAddr,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    /// Longest user agent kept; the rest is cut.
    const MAX_USER_AGENT: usize = 256;

    pub fn new(client_ip: IpAddr, user_agent: Option<&str>, request_id: Option<&str>) -> Self {
        let user_agent = user_agent.map(|ua| ua.chars().filter(|c| !c.is_control()).take(Self::MAX_USER_AGENT).collect());
        Self { client_ip, user_agent, request_id: request_id.map(String::from) }
    }

    /// An event not caused by a request (the incident responder acting later).
    pub fn system(client_ip: IpAddr) -> Self {
        Self { client_ip, user_agent: None, request_id: None }
    }
}

/// Who acted.
#[derive(Clone, Debug, Default)]
pub struct Who {
    pub user_id: Option<String>,
    pub key_id: Option<String>,
}

/// Builds one record; `id` and time are assigned here, when the event is accepted.
pub fn record(action: &str, outcome: &str, who: &Who, target: Option<String>, origin: &Origin, details: Value) -> AuditRecord {
    AuditRecord {
        id: uuid::Uuid::new_v4().to_string(),
        at: crate::store::now_ms(),
        action: action.into(),
        outcome: outcome.into(),
        user_id: who.user_id.clone(),
        key_id: who.key_id.clone(),
        target,
        client_ip: origin.client_ip.to_string(),
        user_agent: origin.user_agent.clone(),
        request_id: origin.request_id.clone(),
        details: if details.is_object() { details } else { json!({}) },
    }
}

/// The audit trail's journal: pushes never wait; the writer appends batches to the store.
pub type Audit = Journal<AuditRecord>;

pub async fn start(store: Store, flush_every: Duration, capacity: usize) -> Result<Audit, String> {
    Journal::start("audit", Queue::new(capacity), StoreAudit(store), flush_every)
        .await
        .map_err(|e| format!("cannot start the audit writer: {e}"))
}

/// The action a successful or failed call of `route` is recorded as; `None`: not audited
/// (reads of the caller's own lists and analytics are not security events).
pub fn route_action(route: RouteId) -> Option<&'static str> {
    use RouteId::*;
    Some(match route {
        Register => "account.registered",
        Login => "auth.login",
        UpdateProfile => "account.updated",
        ChangePassword => "account.password_changed",
        Logout => "auth.logout",
        DeleteAccount => "account.deleted",
        Setup | CreateKey => "key.created",
        UpdateKey => "key.updated",
        RevokeKey => "key.revoked",
        RegenerateKey => "key.regenerated",
        AdminReload => "admin.reload",
        LiftBlock => "admin.block_lifted",
        CreateDatabase => "database.added",
        UpdateDatabase => "database.updated",
        DeleteDatabase => "database.removed",
        // Searches are not repeated here: every one is already a row of the search history
        // (account, key, query, databases, time), and a second row per search would double
        // the write load of the busiest route.
        GetDatabase | TestDatabase | DatabaseSchema => "database.accessed",
        _ => return None,
    })
}

/// The account a reply is about (register and login answer with the user before the call knew
/// who it was).
pub fn reply_user(data: &Value) -> Option<String> {
    data["user"]["id"].as_str().map(String::from)
}

/// The id of what a successful call created, read from its reply (keys, databases, accounts).
pub fn created_id(data: &Value) -> Option<String> {
    [&data["apiKey"]["id"], &data["user"]["id"], &data["id"]].into_iter().find_map(|v| v.as_str().map(String::from))
}
