//! The application state shared by every request: configuration, storage, crypto, and handles
//! to the actors of the supervision tree. Built once at start-up; nothing in it is mutable
//! except through the actors and the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use altus4_actors::key_cache::{KeyCacheActor, KeyCacheConfig, KeyCacheMsg, KeyDigest, KeyLookup};
use altus4_actors::registry::{Registry, RegistryMsg};
use ractor::{Actor, ActorRef};

use crate::auth::password::PasswordHasher;
use crate::auth::token::TokenSigner;
use crate::config::Config;
use crate::crypto::CredentialCipher;
use crate::engine::pool::{PoolFactory, PoolLimits, PoolMsg, PoolSpec};
use crate::error::ApiError;
use crate::secrets::MasterSecret;
use crate::store::{DatabaseRecord, KeyRecord, Store};

/// The key cache reads misses from the metadata store.
pub struct StoreKeys(pub Store);

impl KeyLookup for StoreKeys {
    type Record = Arc<KeyRecord>;

    async fn lookup(&self, digest: KeyDigest) -> Result<Option<Arc<KeyRecord>>, String> {
        self.0.key_by_digest(digest).await.map(|k| k.map(Arc::new)).map_err(|e| e.to_string())
    }
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub tokens: TokenSigner,
    pub cipher: CredentialCipher,
    pub key_cache: ActorRef<KeyCacheMsg<Arc<KeyRecord>>>,
    pub pools: ActorRef<RegistryMsg<PoolFactory>>,
    pub started: Instant,
}

/// How long a request waits on an actor that is not a database call.
const ACTOR_TIMEOUT: Duration = Duration::from_millis(altus4_actors::DEFAULT_CALL_TIMEOUT_MS);

impl App {
    /// Spawns the supervision tree's actors and assembles the state.
    pub async fn start(config: Config, store: Store, master: Arc<MasterSecret>) -> Result<Arc<Self>, String> {
        let cache_config = KeyCacheConfig {
            max_entries: config.key_cache.max_entries,
            ttl: Duration::from_secs(config.key_cache.ttl_secs),
        };
        let (key_cache, _) =
            Actor::spawn(Some("key-cache".into()), KeyCacheActor::new(Arc::new(StoreKeys(store.clone()))), cache_config)
                .await
                .map_err(|e| format!("cannot start the key cache: {e}"))?;
        let (pools, _) = Actor::spawn(Some("pools".into()), Registry::new(PoolFactory), ())
            .await
            .map_err(|e| format!("cannot start the pool registry: {e}"))?;
        Ok(Arc::new(Self {
            hasher: PasswordHasher::new(config.auth.max_concurrent_hashes),
            tokens: TokenSigner::new(&master),
            cipher: CredentialCipher::new(master),
            config,
            store,
            key_cache,
            pools,
            started: Instant::now(),
        }))
    }

    pub fn pool_limits(&self) -> PoolLimits {
        PoolLimits {
            connect_timeout: self.config.connect_timeout(),
            query_timeout: self.config.query_timeout(),
            max_connections: self.config.targets.max_connections_per_database,
            schema_ttl: Duration::from_secs(self.config.targets.schema_ttl_secs),
        }
    }

    /// Connection parameters of a stored database, with its password decrypted.
    pub fn pool_spec(&self, db: &DatabaseRecord) -> Result<PoolSpec, ApiError> {
        let password = match &db.password_enc {
            Some(sealed) => Some(self.cipher.decrypt(&db.id, sealed).map_err(ApiError::internal)?),
            None => None,
        };
        Ok(PoolSpec {
            host: db.host.clone(),
            port: db.port,
            database: db.database_name.clone(),
            username: db.username.clone(),
            password,
            ssl: db.ssl_enabled,
            limits: self.pool_limits(),
        })
    }

    /// The pool actor of a stored database, started on first use.
    pub async fn pool(&self, db: &DatabaseRecord) -> Result<ActorRef<PoolMsg>, ApiError> {
        let spec = self.pool_spec(db)?;
        ractor::call_t!(self.pools, RegistryMsg::Get, ACTOR_TIMEOUT.as_millis() as u64, db.id.clone(), spec)
            .map_err(|_| ApiError::Busy)?
            .map_err(ApiError::internal)
    }

    /// Stops a database's pool (after it was changed or removed).
    pub async fn drop_pool(&self, id: &str) {
        let _ = ractor::call_t!(self.pools, RegistryMsg::Remove, ACTOR_TIMEOUT.as_millis() as u64, id.to_string());
    }

    /// Resolves a key digest through the cache.
    pub async fn resolve_key(&self, digest: KeyDigest) -> Result<Option<Arc<KeyRecord>>, ApiError> {
        ractor::call_t!(self.key_cache, KeyCacheMsg::Resolve, ACTOR_TIMEOUT.as_millis() as u64, digest)
            .map_err(|_| ApiError::Busy)?
            .map_err(ApiError::Internal)
    }

    /// Evicts a key from the cache; returns once the eviction is done.
    pub async fn evict_key(&self, digest: KeyDigest) -> Result<(), ApiError> {
        ractor::call_t!(self.key_cache, KeyCacheMsg::Invalidate, ACTOR_TIMEOUT.as_millis() as u64, digest)
            .map_err(|_| ApiError::Busy)
    }
}
