//! The audit trail: append-only rows of security-relevant actions. Written in batches by the
//! audit writer (one transaction per batch); read newest first, by owner or (admins) all.

use rusqlite::{params, params_from_iter, Row};

use super::{Store, StoreError};

/// One audited action.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Assigned when the event is accepted, so a batch retried after a failed write cannot be
    /// stored twice.
    pub id: String,
    pub at: i64,
    /// What happened, e.g. `key.created`, `auth.failed`, `incident.ip_blocked`.
    pub action: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    pub user_id: Option<String>,
    pub key_id: Option<String>,
    /// The resource acted on (a key, database or account id; an address for blocks).
    pub target: Option<String>,
    pub client_ip: String,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// A JSON object with action-specific facts (never a secret).
    pub details: serde_json::Value,
}

/// Which rows to read.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this account's rows (`None`: all, for administrators).
    pub user_id: Option<String>,
    /// Only actions starting with this (e.g. `incident.`).
    pub action_prefix: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

const COLUMNS: &str = "id, at, action, outcome, user_id, key_id, target, client_ip, user_agent, request_id, details";

fn from_row(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    let details: String = r.get(10)?;
    Ok(AuditRecord {
        id: r.get(0)?,
        at: r.get(1)?,
        action: r.get(2)?,
        outcome: r.get(3)?,
        user_id: r.get(4)?,
        key_id: r.get(5)?,
        target: r.get(6)?,
        client_ip: r.get(7)?,
        user_agent: r.get(8)?,
        request_id: r.get(9)?,
        details: serde_json::from_str(&details).unwrap_or_default(),
    })
}

impl Store {
    /// Appends a batch in one transaction (all or nothing); ids already stored are skipped.
    pub async fn append_audit(&self, batch: Vec<AuditRecord>) -> Result<(), StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO audit_events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ))?;
                for e in &batch {
                    insert.execute(params![
                        e.id,
                        e.at,
                        e.action,
                        e.outcome,
                        e.user_id,
                        e.key_id,
                        e.target,
                        e.client_ip,
                        e.user_agent,
                        e.request_id,
                        e.details.to_string()
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// A page of rows, newest first, and the total matching.
    pub async fn audit_page(&self, filter: AuditFilter) -> Result<(Vec<AuditRecord>, i64), StoreError> {
        self.call(move |c| {
            let mut clauses = vec![];
            let mut args: Vec<String> = vec![];
            if let Some(user) = filter.user_id {
                args.push(user);
                clauses.push(format!("user_id = ?{}", args.len()));
            }
            if let Some(prefix) = filter.action_prefix {
                // A prefix match without LIKE's wildcards: the prefix is data, not a pattern.
                args.push(prefix);
                clauses.push(format!("substr(action, 1, length(?{n})) = ?{n}", n = args.len()));
            }
            let filter_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM audit_events {filter_sql}"),
                params_from_iter(args.iter()),
                |r| r.get(0),
            )?;
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM audit_events {filter_sql} ORDER BY seq DESC LIMIT {} OFFSET {}",
                filter.limit.clamp(0, 1000),
                filter.offset.max(0)
            ))?;
            let rows = stmt.query_map(params_from_iter(args.iter()), from_row)?;
            Ok((rows.collect::<Result<_, _>>()?, total))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, user: &str, action: &str) -> AuditRecord {
        AuditRecord {
            id: id.into(),
            at: 1,
            action: action.into(),
            outcome: "success".into(),
            user_id: Some(user.into()),
            key_id: None,
            target: None,
            client_ip: "127.0.0.1".into(),
            user_agent: None,
            request_id: None,
            details: serde_json::json!({"n": 1}),
        }
    }

    #[tokio::test]
    async fn rows_are_scoped_by_owner_and_prefix_and_a_retried_batch_is_not_doubled() {
        let (store, _dir) = crate::store::open_temp();
        let batch = vec![event("a", "u1", "key.created"), event("b", "u2", "key.revoked"), event("c", "u1", "incident.ip_blocked")];
        store.append_audit(batch.clone()).await.unwrap();
        store.append_audit(batch).await.unwrap();
        let all = AuditFilter { limit: 50, ..Default::default() };
        let (rows, total) = store.audit_page(all.clone()).await.unwrap();
        assert_eq!((rows.len(), total), (3, 3));
        assert_eq!(rows[0].id, "c", "newest first");
        assert_eq!(rows[0].details, serde_json::json!({"n": 1}));
        let mine = AuditFilter { user_id: Some("u1".into()), ..all.clone() };
        assert_eq!(store.audit_page(mine).await.unwrap().1, 2);
        let incidents = AuditFilter { action_prefix: Some("incident.".into()), ..all.clone() };
        assert_eq!(store.audit_page(incidents).await.unwrap().0[0].id, "c");
        let wildcard = AuditFilter { action_prefix: Some("%".into()), ..all };
        assert_eq!(store.audit_page(wildcard).await.unwrap().1, 0);
    }
}
