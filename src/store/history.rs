//! Search history: one row per search (successful or not), feeding history, suggestions, trends
//! and analytics. Every query is scoped to the owner.

use rusqlite::{params, Row};

use super::{Store, StoreError};

#[derive(Clone, Debug)]
pub struct SearchEntry {
    pub id: String,
    pub user_id: String,
    pub key_id: Option<String>,
    pub query: String,
    pub search_mode: String,
    /// Database ids searched, as a JSON array.
    pub databases: Vec<String>,
    pub result_count: i64,
    pub execution_ms: f64,
    pub success: bool,
    pub created_at: i64,
}

/// Aggregates of one query text.
#[derive(Clone, Debug)]
pub struct QueryStats {
    pub query: String,
    pub count: i64,
    pub average_ms: f64,
    pub success_rate: f64,
}

/// Whole-server counts for administrators.
#[derive(Clone, Debug)]
pub struct SystemCounts {
    pub users: i64,
    pub searches: i64,
    pub databases: i64,
    pub active_users: i64,
    pub new_users: i64,
}

/// Aggregates of one day (UTC).
#[derive(Clone, Debug)]
pub struct DayStats {
    pub date: String,
    pub searches: i64,
    pub average_ms: f64,
    pub average_results: f64,
    pub error_rate: f64,
}

const COLUMNS: &str =
    "id, user_id, key_id, query, search_mode, databases, result_count, execution_ms, success, created_at, query_key";

fn from_row(r: &Row<'_>) -> rusqlite::Result<SearchEntry> {
    let databases: String = r.get(5)?;
    Ok(SearchEntry {
        id: r.get(0)?,
        user_id: r.get(1)?,
        key_id: r.get(2)?,
        query: r.get(3)?,
        search_mode: r.get(4)?,
        databases: serde_json::from_str(&databases).unwrap_or_default(),
        result_count: r.get(6)?,
        execution_ms: r.get(7)?,
        success: r.get(8)?,
        created_at: r.get(9)?,
    })
}

impl Store {
    /// Appends a batch in one transaction (all or nothing, so a batch retried after a failure is
    /// not stored twice). Entries carry their id and time from when the search was served; an
    /// entry whose account was deleted meanwhile is dropped, not allowed to fail the batch.
    pub async fn record_searches(&self, batch: Vec<SearchEntry>) -> Result<(), StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT INTO search_history ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ))?;
                for entry in &batch {
                    let inserted = insert.execute(params![
                        entry.id,
                        entry.user_id,
                        entry.key_id,
                        entry.query,
                        entry.search_mode,
                        serde_json::to_string(&entry.databases).unwrap_or_else(|_| "[]".into()),
                        entry.result_count,
                        entry.execution_ms,
                        entry.success,
                        entry.created_at,
                        entry.query.to_lowercase()
                    ]);
                    match inserted {
                        Ok(_) => {}
                        Err(rusqlite::Error::SqliteFailure(f, _)) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Newest first, with the total count.
    pub async fn search_history(&self, user_id: &str, limit: i64, offset: i64) -> Result<(Vec<SearchEntry>, i64), StoreError> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let total = c.query_row("SELECT COUNT(*) FROM search_history WHERE user_id = ?1", [&user_id], |r| r.get(0))?;
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM search_history WHERE user_id = ?1 ORDER BY created_at DESC, seq DESC LIMIT ?2 OFFSET ?3"
            ))?;
            let rows = stmt.query_map(params![user_id, limit, offset], from_row)?;
            Ok((rows.collect::<Result<_, _>>()?, total))
        })
        .await
    }

    /// The most frequent queries since `since_ms` (case-insensitive), most frequent first.
    pub async fn popular_queries(&self, user_id: &str, since_ms: i64, limit: i64) -> Result<Vec<QueryStats>, StoreError> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT MIN(query), COUNT(*), AVG(execution_ms), AVG(success) FROM search_history
                 WHERE user_id = ?1 AND created_at >= ?2
                 GROUP BY query_key ORDER BY COUNT(*) DESC, MIN(query) LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![user_id, since_ms, limit], |r| {
                Ok(QueryStats { query: r.get(0)?, count: r.get(1)?, average_ms: r.get(2)?, success_rate: r.get(3)? })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Per-day aggregates (UTC) since `since_ms`, oldest first.
    pub async fn search_days(&self, user_id: &str, since_ms: i64) -> Result<Vec<DayStats>, StoreError> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT date(created_at / 1000, 'unixepoch') AS day, COUNT(*), AVG(execution_ms), AVG(result_count),
                        1.0 - AVG(success)
                 FROM search_history WHERE user_id = ?1 AND created_at >= ?2
                 GROUP BY day ORDER BY day",
            )?;
            let rows = stmt.query_map(params![user_id, since_ms], |r| {
                Ok(DayStats {
                    date: r.get(0)?,
                    searches: r.get(1)?,
                    average_ms: r.get(2)?,
                    average_results: r.get(3)?,
                    error_rate: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Queries that found nothing since `since_ms`, most frequent first.
    pub async fn zero_result_queries(&self, user_id: &str, since_ms: i64, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT MIN(query), COUNT(*) FROM search_history
                 WHERE user_id = ?1 AND created_at >= ?2 AND success = 1 AND result_count = 0
                 GROUP BY query_key ORDER BY COUNT(*) DESC, MIN(query) LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![user_id, since_ms, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Whole-server figures for administrators.
    pub async fn system_counts(&self, since_ms: i64) -> Result<SystemCounts, StoreError> {
        self.call(move |c| {
            let count = |sql: &str| -> rusqlite::Result<i64> { c.query_row(sql, [], |r| r.get(0)) };
            let since = |sql: &str| -> rusqlite::Result<i64> { c.query_row(sql, [since_ms], |r| r.get(0)) };
            Ok(SystemCounts {
                users: count("SELECT COUNT(*) FROM users")?,
                searches: count("SELECT COUNT(*) FROM search_history")?,
                databases: count("SELECT COUNT(*) FROM database_connections")?,
                active_users: since("SELECT COUNT(DISTINCT user_id) FROM search_history WHERE created_at >= ?1")?,
                new_users: since("SELECT COUNT(*) FROM users WHERE created_at >= ?1")?,
            })
        })
        .await
    }

    /// The accounts with the most searches since `since_ms`: (id, email, searches, last active).
    pub async fn top_users(&self, since_ms: i64, limit: i64) -> Result<Vec<(String, String, i64, Option<i64>)>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT u.id, u.email, COUNT(h.id) AS n, MAX(COALESCE(u.last_active, 0), MAX(h.created_at))
                 FROM users u JOIN search_history h ON h.user_id = u.id AND h.created_at >= ?1
                 GROUP BY u.id ORDER BY n DESC, u.email LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![since_ms, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Earlier queries starting with `prefix` (case-insensitive), most frequent first.
    pub async fn query_suggestions(&self, user_id: &str, prefix: &str, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let user_id = user_id.to_string();
        // LIKE with the prefix's wildcards escaped.
        let pattern = format!("{}%", prefix.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT MIN(query), COUNT(*) FROM search_history
                 WHERE user_id = ?1 AND success = 1 AND query_key LIKE ?2 ESCAPE '\\'
                 GROUP BY query_key ORDER BY COUNT(*) DESC, MIN(query) LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![user_id, pattern, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewUser;

    fn entry(user: &str, query: &str, success: bool) -> SearchEntry {
        SearchEntry {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.into(),
            key_id: None,
            query: query.into(),
            search_mode: "natural".into(),
            databases: vec!["d1".into()],
            result_count: 3,
            execution_ms: 2.0,
            success,
            created_at: crate::store::now_ms(),
        }
    }

    #[tokio::test]
    async fn a_batch_survives_an_entry_of_a_deleted_account() {
        let (store, _dir) = crate::store::open_temp();
        let user = store.create_user(crate::store::NewUser { email: "h@example.com".into(), name: "N".into(), password_hash: "h".into(), role: "user".into() }).await.unwrap().unwrap();
        let batch = vec![entry(&user.id, "kept", true), entry("deleted-account", "dropped", true)];
        store.record_searches(batch).await.unwrap();
        let (rows, total) = store.search_history(&user.id, 10, 0).await.unwrap();
        assert_eq!((rows.len(), total), (1, 1));
        assert_eq!(rows[0].query, "kept");
    }

    #[tokio::test]
    async fn history_aggregates_and_suggestions_are_per_user() {
        let (store, dir) = crate::store::open_temp();
        let mut users = vec![];
        for email in ["a@x.io", "b@x.io"] {
            let new = NewUser { email: email.into(), name: "n".into(), password_hash: "h".into(), role: "user".into() };
            users.push(store.create_user(new).await.unwrap().unwrap().id);
        }
        for q in ["Boat", "boat", "boats", "astronaut", "100%_off"] {
            store.record_searches(vec![entry(&users[0], q, true)]).await.unwrap();
        }
        store.record_searches(vec![entry(&users[0], "broken", false)]).await.unwrap();
        store.record_searches(vec![entry(&users[1], "boat secret", true)]).await.unwrap();

        let (items, total) = store.search_history(&users[0], 3, 0).await.unwrap();
        assert_eq!((items.len(), total), (3, 6));
        let popular = store.popular_queries(&users[0], 0, 10).await.unwrap();
        assert_eq!((popular[0].query.to_lowercase().as_str(), popular[0].count), ("boat", 2));
        let days = store.search_days(&users[0], 0).await.unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].searches, 6);
        assert!((days[0].error_rate - 1.0 / 6.0).abs() < 1e-9);

        let suggestions = store.query_suggestions(&users[0], "bo", 10).await.unwrap();
        let texts: Vec<&str> = suggestions.iter().map(|(q, _)| q.as_str()).collect();
        assert_eq!(texts.len(), 2, "{texts:?}"); // boat (twice), boats; never bob's, never failed ones
        assert!(!texts.iter().any(|t| t.contains("secret")));
        // Wildcards in the prefix are literal.
        assert_eq!(store.query_suggestions(&users[0], "100%_", 10).await.unwrap().len(), 1);
        assert!(store.query_suggestions(&users[0], "%", 10).await.unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
