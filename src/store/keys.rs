//! API keys: stored by SHA-256 digest, never in plaintext.

use rusqlite::{params, OptionalExtension, Row};

use super::{now_ms, Store, StoreError};
use crate::auth::apikey::{digests_match, KeyDigest};
use crate::auth::permissions::{self, Permission};

#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub key_prefix: String,
    pub environment: String,
    pub permissions: Vec<Permission>,
    pub rate_limit_tier: String,
    pub expires_at: Option<i64>,
    pub is_active: bool,
    /// Set by revocation, which is final.
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    pub last_used: Option<i64>,
    pub last_used_ip: Option<String>,
    pub usage_count: i64,
}

impl KeyRecord {
    /// Active and not past its expiry at `now_ms`.
    pub fn is_usable(&self, now_ms: i64) -> bool {
        self.is_active && self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now_ms)
    }
}

pub struct NewKey {
    pub user_id: String,
    pub name: String,
    pub key_prefix: String,
    pub digest: KeyDigest,
    pub environment: String,
    pub permissions: Vec<Permission>,
    pub rate_limit_tier: String,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, name, key_prefix, environment, permissions, rate_limit_tier, \
                       expires_at, is_active, created_at, last_used, last_used_ip, usage_count, key_hash, revoked_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    let perms: String = r.get(5)?;
    let permissions = permissions::from_json(&perms).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, "bad permissions".into())
    })?;
    Ok(KeyRecord {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        key_prefix: r.get(3)?,
        environment: r.get(4)?,
        permissions,
        rate_limit_tier: r.get(6)?,
        expires_at: r.get(7)?,
        is_active: r.get(8)?,
        created_at: r.get(9)?,
        last_used: r.get(10)?,
        last_used_ip: r.get(11)?,
        usage_count: r.get(12)?,
        revoked_at: r.get(14)?,
    })
}

impl Store {
    pub async fn create_key(&self, new: NewKey) -> Result<KeyRecord, StoreError> {
        self.call(move |c| insert_key(c, new)).await
    }

    /// Creates the account's first key, atomically: `Ok(None)` if the account already has one.
    pub async fn create_first_key(&self, new: NewKey) -> Result<Option<KeyRecord>, StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            let existing: i64 =
                tx.query_row("SELECT COUNT(*) FROM api_keys WHERE user_id = ?1", [&new.user_id], |r| r.get(0))?;
            if existing > 0 {
                return Ok(None);
            }
            let key = insert_key(&tx, new)?;
            tx.commit()?;
            Ok(Some(key))
        })
        .await
    }

    /// The key whose digest is `digest`. The digest read back is compared in constant time
    /// before the record is trusted.
    pub async fn key_by_digest(&self, digest: KeyDigest) -> Result<Option<KeyRecord>, StoreError> {
        self.call(move |c| {
            let found = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = ?1"),
                    [digest.as_slice()],
                    |r| Ok((from_row(r)?, r.get::<_, Vec<u8>>(13)?)),
                )
                .optional()?;
            Ok(found.filter(|(_, stored)| digests_match(&digest, stored)).map(|(k, _)| k))
        })
        .await
    }

    pub async fn keys_of_user(&self, user_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let user_id = user_id.to_string();
        self.call(move |c| {
            let mut stmt =
                c.prepare(&format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = ?1 ORDER BY created_at, id"))?;
            let rows = stmt.query_map([user_id], from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The key `key_id` if `user_id` owns it.
    pub async fn key_of_user(&self, user_id: &str, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let (user_id, key_id) = (user_id.to_string(), key_id.to_string());
        self.call(move |c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1 AND user_id = ?2"),
                [key_id, user_id],
                from_row,
            )
            .optional()?)
        })
        .await
    }

    /// Applies changes to a key of `user_id`; returns the updated record and the digest to evict,
    /// or `None` when the user has no such key.
    pub async fn update_key(
        &self,
        user_id: &str,
        key_id: &str,
        change: KeyChange,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        let (user_id, key_id) = (user_id.to_string(), key_id.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            let Some(hash) = owned_key_hash(&tx, &user_id, &key_id)? else { return Ok(None) };
            let now = now_ms();
            if let Some(name) = &change.name {
                tx.execute("UPDATE api_keys SET name = ?1 WHERE id = ?2", params![name, key_id])?;
            }
            if let Some(perms) = &change.permissions {
                tx.execute("UPDATE api_keys SET permissions = ?1 WHERE id = ?2", params![permissions::to_json(perms), key_id])?;
            }
            if let Some(tier) = &change.rate_limit_tier {
                tx.execute("UPDATE api_keys SET rate_limit_tier = ?1 WHERE id = ?2", params![tier, key_id])?;
            }
            if let Some(expires_at) = change.expires_at {
                tx.execute("UPDATE api_keys SET expires_at = ?1 WHERE id = ?2", params![expires_at, key_id])?;
            }
            if let Some(active) = change.is_active {
                tx.execute("UPDATE api_keys SET is_active = ?1 WHERE id = ?2", params![active, key_id])?;
            }
            tx.execute("UPDATE api_keys SET updated_at = ?1 WHERE id = ?2", params![now, key_id])?;
            let record = tx.query_row(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"), [&key_id], from_row)?;
            tx.commit()?;
            Ok(Some((record, hash)))
        })
        .await
    }

    /// Replaces a key's secret: the old digest stops matching at once. Returns the updated record
    /// and the old digest to evict.
    pub async fn regenerate_key(
        &self,
        user_id: &str,
        key_id: &str,
        new_prefix: String,
        new_digest: KeyDigest,
    ) -> Result<Option<(KeyRecord, KeyDigest)>, StoreError> {
        let (user_id, key_id) = (user_id.to_string(), key_id.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            let Some(old) = owned_key_hash(&tx, &user_id, &key_id)? else { return Ok(None) };
            tx.execute(
                "UPDATE api_keys SET key_hash = ?1, key_prefix = ?2, updated_at = ?3 WHERE id = ?4",
                params![new_digest.as_slice(), new_prefix, now_ms(), key_id],
            )?;
            let record = tx.query_row(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"), [&key_id], from_row)?;
            tx.commit()?;
            Ok(Some((record, old)))
        })
        .await
    }

    /// Adds a batch of usage to the keys' counters, in one transaction.
    pub async fn record_usage(&self, batch: Vec<altus4_actors::usage::Usage>) -> Result<(), StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            {
                let mut update = tx.prepare(
                    "UPDATE api_keys SET usage_count = usage_count + ?1,
                         last_used_ip = CASE WHEN ?2 >= COALESCE(last_used, 0) THEN ?3 ELSE last_used_ip END,
                         last_used = MAX(COALESCE(last_used, 0), ?2)
                     WHERE id = ?4",
                )?;
                for u in &batch {
                    update.execute(params![u.count as i64, u.last_used_ms as i64, u.last_ip.to_string(), u.key_id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Deactivates a key of `user_id`; returns the digest to evict from caches, or `None` when
    /// the user has no such key.
    pub async fn revoke_key(&self, user_id: &str, key_id: &str) -> Result<Option<KeyDigest>, StoreError> {
        let (user_id, key_id) = (user_id.to_string(), key_id.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            let Some(digest) = owned_key_hash(&tx, &user_id, &key_id)? else { return Ok(None) };
            tx.execute(
                "UPDATE api_keys SET is_active = 0, revoked_at = COALESCE(revoked_at, ?1), updated_at = ?1 WHERE id = ?2",
                params![now_ms(), key_id],
            )?;
            tx.commit()?;
            Ok(Some(digest))
        })
        .await
    }
}

/// What a key update may change; `None` leaves a field as it is (`expires_at: Some(None)` clears
/// the expiry).
#[derive(Default)]
pub struct KeyChange {
    pub name: Option<String>,
    pub permissions: Option<Vec<Permission>>,
    pub rate_limit_tier: Option<String>,
    pub expires_at: Option<Option<i64>>,
    pub is_active: Option<bool>,
}

fn owned_key_hash(c: &rusqlite::Connection, user_id: &str, key_id: &str) -> Result<Option<KeyDigest>, StoreError> {
    let hash: Option<Vec<u8>> = c
        .query_row("SELECT key_hash FROM api_keys WHERE id = ?1 AND user_id = ?2", [key_id, user_id], |r| r.get(0))
        .optional()?;
    hash.map(|h| h.try_into().map_err(|_| StoreError::Corrupt("key_hash is not 32 bytes".into()))).transpose()
}

fn insert_key(c: &rusqlite::Connection, new: NewKey) -> Result<KeyRecord, StoreError> {
    let now = now_ms();
    let record = KeyRecord {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: new.user_id,
        name: new.name,
        key_prefix: new.key_prefix,
        environment: new.environment,
        permissions: new.permissions,
        rate_limit_tier: new.rate_limit_tier,
        expires_at: new.expires_at,
        is_active: true,
        revoked_at: None,
        created_at: now,
        last_used: None,
        last_used_ip: None,
        usage_count: 0,
    };
    c.execute(
        "INSERT INTO api_keys (id, user_id, name, key_prefix, key_hash, environment, permissions,
                               rate_limit_tier, expires_at, is_active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?10)",
        params![
            record.id,
            record.user_id,
            record.name,
            record.key_prefix,
            new.digest.as_slice(),
            record.environment,
            permissions::to_json(&record.permissions),
            record.rate_limit_tier,
            record.expires_at,
            now,
        ],
    )?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::apikey::{digest, generate, Environment};
    use crate::store::NewUser;

    async fn user(store: &Store, email: &str) -> String {
        let new = NewUser { email: email.into(), name: "n".into(), password_hash: "h".into(), role: "user".into() };
        store.create_user(new).await.unwrap().unwrap().id
    }

    fn new_key(user_id: &str, key: &str) -> NewKey {
        NewKey {
            user_id: user_id.into(),
            name: "k".into(),
            key_prefix: key[..20].into(),
            digest: digest(key),
            environment: "live".into(),
            permissions: vec![Permission::Search],
            rate_limit_tier: "free".into(),
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn keys_sharing_a_prefix_resolve_to_their_own_records() {
        let (store, dir) = crate::store::open_temp();
        let (alice, bob) = (user(&store, "a@x.io").await, user(&store, "b@x.io").await);
        let key_a = generate(Environment::Live).secret.expose().clone();
        // Same 20-character prefix, different secret.
        let key_b = format!("{}{}", &key_a[..20], "f".repeat(59));
        assert_ne!(key_a, key_b);
        let a = store.create_key(new_key(&alice, &key_a)).await.unwrap();
        let b = store.create_key(new_key(&bob, &key_b)).await.unwrap();
        assert_eq!(store.key_by_digest(digest(&key_a)).await.unwrap().unwrap().user_id, alice);
        assert_eq!(store.key_by_digest(digest(&key_b)).await.unwrap().unwrap().user_id, bob);

        // Revoking one leaves the other usable; nobody else can revoke it.
        assert!(store.revoke_key(&alice, &b.id).await.unwrap().is_none());
        assert_eq!(store.revoke_key(&alice, &a.id).await.unwrap(), Some(digest(&key_a)));
        assert!(!store.key_by_digest(digest(&key_a)).await.unwrap().unwrap().is_usable(now_ms()));
        assert!(store.key_by_digest(digest(&key_b)).await.unwrap().unwrap().is_usable(now_ms()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn first_key_is_created_once() {
        let (store, dir) = crate::store::open_temp();
        let alice = user(&store, "a@x.io").await;
        let k1 = generate(Environment::Test).secret.expose().clone();
        let k2 = generate(Environment::Test).secret.expose().clone();
        assert!(store.create_first_key(new_key(&alice, &k1)).await.unwrap().is_some());
        assert!(store.create_first_key(new_key(&alice, &k2)).await.unwrap().is_none());
        assert_eq!(store.keys_of_user(&alice).await.unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn expiry() {
        let mut k = KeyRecord {
            id: "i".into(),
            user_id: "u".into(),
            name: "n".into(),
            key_prefix: "p".into(),
            environment: "live".into(),
            permissions: vec![],
            rate_limit_tier: "free".into(),
            expires_at: Some(1000),
            is_active: true,
            revoked_at: None,
            created_at: 0,
            last_used: None,
            last_used_ip: None,
            usage_count: 0,
        };
        assert!(k.is_usable(999));
        assert!(!k.is_usable(1000));
        k.expires_at = None;
        assert!(k.is_usable(i64::MAX));
        k.is_active = false;
        assert!(!k.is_usable(0));
    }
}
