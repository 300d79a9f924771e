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
