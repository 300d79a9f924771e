//! Metadata storage: users, API keys and tenant database connections in SQLite.
//!
//! rusqlite is synchronous, so one owner thread holds the connection and runs closures sent to
//! it; async callers await the answer on a oneshot channel and never block a tokio worker. One
//! connection means one writer, which is what SQLite wants; WAL mode lets outside readers (an
//! operator's `sqlite3`, the tests) look at the file while the server runs.

mod audit;
mod databases;
mod history;
mod keys;
pub mod migrations;
mod users;

use std::path::Path;
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

pub use audit::{AuditFilter, AuditRecord};
pub use databases::{DatabaseRecord, NewDatabase};
pub use history::{DayStats, QueryStats, SearchEntry, SystemCounts};
pub use keys::{KeyChange, KeyRecord, NewKey};
pub use users::{NewUser, UserRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the metadata store has shut down")]
    Closed,
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Handle to the metadata store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

impl Store {
    /// Opens (creating if needed) the SQLite file and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        migrations::apply(&mut conn)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("altus4-sqlite".into())
            .spawn(move || {
                // Runs until every Store handle is dropped.
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start the store thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |conn| {
                let _ = tx.send(f(conn));
            }))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Up to 32 MiB of pages in SQLite's own cache: busy history and audit writes then update
    // pages in memory instead of re-reading them from the OS on every batch.
    conn.pragma_update(None, "cache_size", -32_768)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Milliseconds since the Unix epoch: how every timestamp is stored.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
pub(crate) fn open_temp() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("altus4-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("meta.db")).unwrap();
    (store, dir)
}
