//! Versioned schema migrations, applied in order inside one transaction each.
//!
//! A migration is never edited once released: add a new one instead. `altus4 migrate` and
//! start-up both call [`apply`]; [`status`] reports what is applied.

use rusqlite::{params, Connection};

use super::{now_ms, StoreError};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial",
    sql: r#"
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
            token_version INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            last_active INTEGER
        );
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            key_prefix TEXT NOT NULL,
            key_hash BLOB NOT NULL UNIQUE,
            environment TEXT NOT NULL CHECK (environment IN ('test', 'live')),
            permissions TEXT NOT NULL,
            rate_limit_tier TEXT NOT NULL,
            expires_at INTEGER,
            is_active INTEGER NOT NULL DEFAULT 1,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            last_used INTEGER,
            last_used_ip TEXT,
            usage_count INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX api_keys_user ON api_keys(user_id);
        CREATE INDEX api_keys_prefix ON api_keys(key_prefix);
        CREATE TABLE database_connections (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            database_name TEXT NOT NULL,
            username TEXT NOT NULL,
            password_enc BLOB,
            ssl_enabled INTEGER NOT NULL DEFAULT 0,
            is_active INTEGER NOT NULL DEFAULT 1,
            connection_status TEXT NOT NULL DEFAULT 'disconnected',
            last_tested INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX database_connections_user ON database_connections(user_id);
    "#,
}, Migration {
    version: 2,
    name: "search_history",
    sql: r#"
        CREATE TABLE search_history (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            key_id TEXT,
            query TEXT NOT NULL,
            search_mode TEXT NOT NULL,
            databases TEXT NOT NULL,
            result_count INTEGER NOT NULL,
            execution_ms REAL NOT NULL,
            success INTEGER NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX search_history_user_time ON search_history(user_id, created_at);
    "#,
}, Migration {
    version: 3,
    name: "revocation_and_query_keys",
    sql: r#"
        -- Revocation is final (a revoked key cannot be re-activated), unlike isActive.
        ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;
        UPDATE api_keys SET revoked_at = updated_at WHERE is_active = 0;
        -- Queries grouped by their Unicode lower-case form (SQLite's lower() is ASCII-only).
        ALTER TABLE search_history ADD COLUMN query_key TEXT NOT NULL DEFAULT '';
        UPDATE search_history SET query_key = lower(query);
        CREATE INDEX search_history_user_key ON search_history(user_id, query_key);
    "#,
}, Migration {
    version: 4,
    name: "audit_trail",
    sql: r#"
        -- Append-only: no API updates or deletes rows, and rows outlive the account they name
        -- (no foreign key), so deleting an account does not erase what it did.
        CREATE TABLE audit_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            at INTEGER NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            user_id TEXT,
            key_id TEXT,
            target TEXT,
            client_ip TEXT NOT NULL,
            user_agent TEXT,
            request_id TEXT,
            details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_events_user ON audit_events(user_id, seq);
        CREATE INDEX audit_events_action ON audit_events(action, seq);
    "#,
}, Migration {
    version: 5,
    name: "search_history_rowid",
    sql: r#"
        -- Every search writes a row here, so each index costs on the busiest path. The random
        -- UUID primary key was a second B-tree nobody looks rows up by; rows now live in rowid
        -- order and keep their id as data.
        CREATE TABLE search_history_new (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            key_id TEXT,
            query TEXT NOT NULL,
            search_mode TEXT NOT NULL,
            databases TEXT NOT NULL,
            result_count INTEGER NOT NULL,
            execution_ms REAL NOT NULL,
            success INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            query_key TEXT NOT NULL DEFAULT ''
        );
        INSERT INTO search_history_new
            (id, user_id, key_id, query, search_mode, databases, result_count, execution_ms, success, created_at, query_key)
            SELECT id, user_id, key_id, query, search_mode, databases, result_count, execution_ms, success, created_at, query_key
            FROM search_history ORDER BY created_at, id;
        DROP TABLE search_history;
        ALTER TABLE search_history_new RENAME TO search_history;
        CREATE INDEX search_history_user_time ON search_history(user_id, created_at);
        CREATE INDEX search_history_user_key ON search_history(user_id, query_key);
    "#,
}];

fn ensure_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )
}

/// Applies every migration newer than the database; returns the names applied now.
pub fn apply(conn: &mut Connection) -> Result<Vec<&'static str>, StoreError> {
    ensure_table(conn)?;
    let current: i64 =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > newest {
        return Err(StoreError::Corrupt(format!(
            "metadata schema version {current} is newer than this binary knows ({newest}); upgrade altus4"
        )));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now_ms()],
        )?;
        tx.commit()?;
        applied.push(m.name);
    }
    Ok(applied)
}

/// (version, name) of every applied migration, oldest first.
pub fn status(conn: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    ensure_table(conn)?;
    let mut stmt = conn.prepare("SELECT version, name FROM schema_migrations ORDER BY version")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applying_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(apply(&mut conn).unwrap().len(), MIGRATIONS.len());
        assert!(apply(&mut conn).unwrap().is_empty());
        assert_eq!(status(&conn).unwrap().len(), MIGRATIONS.len());
    }

    #[test]
    fn history_rows_survive_the_move_to_rowid_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        ensure_table(&conn).unwrap();
        for m in MIGRATIONS.iter().filter(|m| m.version < 5) {
            conn.execute_batch(m.sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, ?2, 0)", params![m.version, m.name]).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users (id, email, name, password_hash, role, created_at) VALUES ('u', 'u@x.io', 'U', 'h', 'user', 0);
             INSERT INTO search_history (id, user_id, query, search_mode, databases, result_count, execution_ms, success, created_at, query_key)
             VALUES ('h1', 'u', 'Boat', 'natural', '[]', 3, 1.5, 1, 10, 'boat');",
        )
        .unwrap();
        assert_eq!(apply(&mut conn).unwrap(), vec!["search_history_rowid"]);
        let (id, key): (String, String) =
            conn.query_row("SELECT id, query_key FROM search_history WHERE user_id = 'u'", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!((id.as_str(), key.as_str()), ("h1", "boat"));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)", []).unwrap();
        assert!(apply(&mut conn).is_err());
    }
}
