//! User accounts.

use rusqlite::{params, OptionalExtension, Row};

use super::{now_ms, Store, StoreError};

#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    /// The argon2id PHC string; never leaves the server.
    pub password_hash: String,
    pub role: String,
    /// Bumped to invalidate every outstanding token of the user.
    pub token_version: i64,
    pub created_at: i64,
    pub last_active: Option<i64>,
}

pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: String,
}

const COLUMNS: &str = "id, email, name, password_hash, role, token_version, created_at, last_active";

fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        password_hash: r.get(3)?,
        role: r.get(4)?,
        token_version: r.get(5)?,
        created_at: r.get(6)?,
        last_active: r.get(7)?,
    })
}

impl Store {
    /// Creates a user; `Ok(None)` when the email is taken (emails are stored lower-cased).
    pub async fn create_user(&self, new: NewUser) -> Result<Option<UserRecord>, StoreError> {
        self.call(move |c| {
            let user = UserRecord {
                id: uuid::Uuid::new_v4().to_string(),
                email: new.email.to_lowercase(),
                name: new.name,
                password_hash: new.password_hash,
                role: new.role,
                token_version: 0,
                created_at: now_ms(),
                last_active: None,
            };
            let inserted = c.execute(
                "INSERT INTO users (id, email, name, password_hash, role, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(email) DO NOTHING",
                params![user.id, user.email, user.name, user.password_hash, user.role, user.created_at],
            )?;
            Ok((inserted == 1).then_some(user))
        })
        .await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let email = email.to_lowercase();
        self.call(move |c| {
            Ok(c.query_row(&format!("SELECT {COLUMNS} FROM users WHERE email = ?1"), [email], from_row)
                .optional()?)
        })
        .await
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let id = id.to_string();
        self.call(move |c| {
            Ok(c.query_row(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"), [id], from_row).optional()?)
        })
        .await
    }

    /// Changes name and/or email; `Ok(None)` when the new email belongs to another account.
    pub async fn update_profile(
        &self,
        id: &str,
        name: Option<String>,
        email: Option<String>,
    ) -> Result<Option<UserRecord>, StoreError> {
        let id = id.to_string();
        self.call(move |c| {
            let tx = c.transaction()?;
            if let Some(email) = email.map(|e| e.to_lowercase()) {
                let taken: Option<String> = tx
                    .query_row("SELECT id FROM users WHERE email = ?1 AND id <> ?2", [&email, &id], |r| r.get(0))
                    .optional()?;
                if taken.is_some() {
                    return Ok(None);
                }
                tx.execute("UPDATE users SET email = ?1 WHERE id = ?2", [&email, &id])?;
            }
            if let Some(name) = name {
                tx.execute("UPDATE users SET name = ?1 WHERE id = ?2", [&name, &id])?;
            }
            let user = tx.query_row(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"), [&id], from_row)?;
            tx.commit()?;
            Ok(Some(user))
        })
        .await
    }

    /// Invalidates every token issued so far (logout, password change); returns the new version.
    /// A new password hash, when given, is stored in the same transaction.
    pub async fn bump_token_version(&self, id: &str, new_password_hash: Option<String>) -> Result<i64, StoreError> {
        let id = id.to_string();
        self.call(move |c| {
            let tx = c.transaction()?;
            if let Some(hash) = new_password_hash {
                tx.execute("UPDATE users SET password_hash = ?1 WHERE id = ?2", [&hash, &id])?;
            }
            tx.execute("UPDATE users SET token_version = token_version + 1 WHERE id = ?1", [&id])?;
            let version = tx.query_row("SELECT token_version FROM users WHERE id = ?1", [&id], |r| r.get(0))?;
            tx.commit()?;
            Ok(version)
        })
        .await
    }

    /// Deletes an account with its keys and database connections (cascade). Returns the digests
    /// of its keys and the ids of its databases, for the caches and pools to forget.
    pub async fn delete_user(&self, id: &str) -> Result<(Vec<[u8; 32]>, Vec<String>), StoreError> {
        let id = id.to_string();
        self.call(move |c| {
            let tx = c.transaction()?;
            let digests: Vec<Vec<u8>> = {
                let mut stmt = tx.prepare("SELECT key_hash FROM api_keys WHERE user_id = ?1")?;
                let rows = stmt.query_map([&id], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let databases: Vec<String> = {
                let mut stmt = tx.prepare("SELECT id FROM database_connections WHERE user_id = ?1")?;
                let rows = stmt.query_map([&id], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            tx.execute("DELETE FROM users WHERE id = ?1", [&id])?;
            tx.commit()?;
            let digests = digests
                .into_iter()
                .map(|d| d.try_into().map_err(|_| StoreError::Corrupt("key_hash is not 32 bytes".into())))
                .collect::<Result<_, _>>()?;
            Ok((digests, databases))
        })
        .await
    }

    pub async fn touch_user(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.call(move |c| {
            c.execute("UPDATE users SET last_active = ?1 WHERE id = ?2", params![now_ms(), id])?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_user(email: &str) -> NewUser {
        NewUser { email: email.into(), name: "N".into(), password_hash: "h".into(), role: "user".into() }
    }

    #[tokio::test]
    async fn emails_are_unique_case_insensitively() {
        let (store, dir) = super::super::open_temp();
        let u = store.create_user(new_user("A@Example.com")).await.unwrap().unwrap();
        assert_eq!(u.email, "a@example.com");
        assert!(store.create_user(new_user("a@EXAMPLE.com")).await.unwrap().is_none());
        assert_eq!(store.user_by_email("A@EXAMPLE.COM").await.unwrap().unwrap().id, u.id);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
