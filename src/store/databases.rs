//! Tenant database connections. The password is stored only as AES-GCM ciphertext (see
//! `crate::crypto`); every query here is scoped by owner, so another tenant's id behaves exactly
//! like a missing one.

use rusqlite::{params, OptionalExtension, Row};

use super::{now_ms, Store, StoreError};

#[derive(Clone, Debug)]
pub struct DatabaseRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub database_name: String,
    pub username: String,
    /// `salt || nonce || ciphertext`; `None` for a passwordless account.
    pub password_enc: Option<Vec<u8>>,
    pub ssl_enabled: bool,
    pub is_active: bool,
    pub connection_status: String,
    pub last_tested: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub struct NewDatabase {
    /// Chosen by the caller so the ciphertext can be bound to it.
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub database_name: String,
    pub username: String,
    pub password_enc: Option<Vec<u8>>,
    pub ssl_enabled: bool,
    pub connection_status: String,
}

const COLUMNS: &str = "id, user_id, name, host, port, database_name, username, password_enc, ssl_enabled, \
                       is_active, connection_status, last_tested, created_at, updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<DatabaseRecord> {
    Ok(DatabaseRecord {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        host: r.get(3)?,
        port: r.get(4)?,
        database_name: r.get(5)?,
        username: r.get(6)?,
        password_enc: r.get(7)?,
        ssl_enabled: r.get(8)?,
        is_active: r.get(9)?,
        connection_status: r.get(10)?,
        last_tested: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

impl Store {
    pub async fn create_database(&self, new: NewDatabase) -> Result<DatabaseRecord, StoreError> {
        self.call(move |c| {
            let now = now_ms();
            c.execute(
                "INSERT INTO database_connections (id, user_id, name, host, port, database_name, username,
                     password_enc, ssl_enabled, is_active, connection_status, last_tested, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?11, ?11, ?11)",
                params![
                    new.id,
                    new.user_id,
                    new.name,
                    new.host,
                    new.port,
                    new.database_name,
                    new.username,
                    new.password_enc,
                    new.ssl_enabled,
                    new.connection_status,
                    now
                ],
            )?;
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM database_connections WHERE id = ?1"),
                [&new.id],
                from_row,
            )?)
        })
        .await
    }

    pub async fn databases_of_user(&self, user_id: &str) -> Result<Vec<DatabaseRecord>, StoreError> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM database_connections WHERE user_id = ?1 ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map([user_id], from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The database `id` if `user_id` owns it.
    pub async fn database_of_user(&self, user_id: &str, id: &str) -> Result<Option<DatabaseRecord>, StoreError> {
        let (user_id, id) = (user_id.to_string(), id.to_string());
        self.call(move |c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM database_connections WHERE id = ?1 AND user_id = ?2"),
                [id, user_id],
                from_row,
            )
            .optional()?)
        })
        .await
    }

    /// Replaces the connection settings of a database `user_id` owns (the caller has merged the
    /// changes and re-encrypted the password); `None` when there is no such database.
    pub async fn update_database(&self, user_id: &str, db: DatabaseRecord) -> Result<Option<DatabaseRecord>, StoreError> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let changed = c.execute(
                "UPDATE database_connections SET name = ?1, host = ?2, port = ?3, database_name = ?4, username = ?5,
                     password_enc = ?6, ssl_enabled = ?7, is_active = ?8, connection_status = ?9, last_tested = ?10,
                     updated_at = ?11
                 WHERE id = ?12 AND user_id = ?13",
                params![
                    db.name,
                    db.host,
                    db.port,
                    db.database_name,
                    db.username,
                    db.password_enc,
                    db.ssl_enabled,
                    db.is_active,
                    db.connection_status,
                    db.last_tested,
                    now_ms(),
                    db.id,
                    user_id
                ],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            Ok(Some(c.query_row(
                &format!("SELECT {COLUMNS} FROM database_connections WHERE id = ?1"),
                [&db.id],
                from_row,
            )?))
        })
        .await
    }

    /// Records the outcome of a connection test.
    pub async fn set_database_status(&self, id: &str, status: &'static str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.call(move |c| {
            c.execute(
                "UPDATE database_connections SET connection_status = ?1, last_tested = ?2 WHERE id = ?3",
                params![status, now_ms(), id],
            )?;
            Ok(())
        })
        .await
    }

    /// Deletes the database `id` if `user_id` owns it; `false` otherwise.
    pub async fn delete_database(&self, user_id: &str, id: &str) -> Result<bool, StoreError> {
        let (user_id, id) = (user_id.to_string(), id.to_string());
        self.call(move |c| {
            Ok(c.execute("DELETE FROM database_connections WHERE id = ?1 AND user_id = ?2", [id, user_id])? == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewUser;

    #[tokio::test]
    async fn another_tenant_cannot_see_or_delete() {
        let (store, dir) = crate::store::open_temp();
        let mut ids = vec![];
        for email in ["a@x.io", "b@x.io"] {
            let new = NewUser { email: email.into(), name: "n".into(), password_hash: "h".into(), role: "user".into() };
            ids.push(store.create_user(new).await.unwrap().unwrap().id);
        }
        let db = store
            .create_database(NewDatabase {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: ids[0].clone(),
                name: "main".into(),
                host: "127.0.0.1".into(),
                port: 3306,
                database_name: "sakila".into(),
                username: "root".into(),
                password_enc: None,
                ssl_enabled: false,
                connection_status: "connected".into(),
            })
            .await
            .unwrap();
        assert!(store.database_of_user(&ids[1], &db.id).await.unwrap().is_none());
        assert!(store.databases_of_user(&ids[1]).await.unwrap().is_empty());
        assert!(!store.delete_database(&ids[1], &db.id).await.unwrap());
        assert!(store.database_of_user(&ids[0], &db.id).await.unwrap().is_some());
        assert!(store.delete_database(&ids[0], &db.id).await.unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
