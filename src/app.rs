//! The application state shared by every request: configuration, storage, crypto, and handles
//! to the actors of the supervision tree. Built once at start-up; what changes at run time
//! (tiers, on reload) sits behind a lock and is swapped whole.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use altus4_actors::clock::{SharedClock, SystemClock};
use altus4_actors::ip_limits::IpLimits;
use altus4_actors::key_cache::{KeyCache, KeyCacheConfig, KeyDigest, KeyLookup};
use altus4_actors::limiter::{LimiterSettings, RateLimits};
use altus4_actors::rate::Tier;
use altus4_actors::registry::RegistryHandle;
use altus4_actors::batch::{BatchSink, Journal, Queue, Writer};
use altus4_actors::usage::{Usage, UsageTally};
use ractor::ActorRef;

use crate::auth::password::PasswordHasher;
use crate::auth::token::TokenSigner;
use crate::config::{Config, RateLimitConfig};
use crate::crypto::CredentialCipher;
use crate::engine::pool::{PoolFactory, PoolLimits, PoolMsg, PoolSpec};
use crate::error::ApiError;
use crate::http::client_ip::Cidr;
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

/// Usage batches go to the metadata store.
#[derive(Clone)]
pub struct StoreUsage(pub Store);

impl BatchSink<Usage> for StoreUsage {
    async fn write(&self, batch: Vec<Usage>) -> Result<(), String> {
        self.0.record_usage(batch).await.map_err(|e| e.to_string())
    }
}

/// Key revocation as both the API and the incident responder do it: stored first, then evicted
/// from the cache, so the very next request with the key is refused.
#[derive(Clone)]
pub struct Keys {
    store: Store,
    cache: KeyCache<Arc<KeyRecord>>,
}

impl Keys {
    /// Revokes `key_id` of `user_id`; `false` if the user has no such key.
    pub async fn revoke(&self, user_id: &str, key_id: &str) -> Result<bool, ApiError> {
        let Some(digest) = self.store.revoke_key(user_id, key_id).await? else { return Ok(false) };
        self.cache.invalidate(digest).await.map_err(ApiError::Busy)?;
        Ok(true)
    }
}

/// Search history batches go to the metadata store.
#[derive(Clone)]
pub struct StoreHistory(pub Store);

impl BatchSink<crate::store::SearchEntry> for StoreHistory {
    async fn write(&self, batch: Vec<crate::store::SearchEntry>) -> Result<(), String> {
        self.0.record_searches(batch).await.map_err(|e| e.to_string())
    }
}

/// The rate-limit tiers in force; replaced whole on reload.
pub struct Tiers {
    by_name: HashMap<String, Arc<Tier>>,
    /// The same tiers with every limit divided (keys flagged for rapid fire).
    restricted: HashMap<String, Arc<Tier>>,
    default: Arc<Tier>,
    /// The limits for unauthenticated endpoints, per client address.
    pub ip: Arc<Tier>,
}

impl Tiers {
    pub fn from_config(rl: &RateLimitConfig, restricted_divisor: u32) -> Self {
        let by_name: HashMap<String, Arc<Tier>> = rl
            .tiers
            .iter()
            .map(|(name, t)| {
                let tier = Tier {
                    name: name.clone(),
                    per_hour: t.per_hour,
                    per_minute: t.per_minute,
                    burst: t.burst,
                    block_ms: t.block_secs * 1000,
                };
                (name.clone(), Arc::new(tier))
            })
            .collect();
        let default = Arc::clone(&by_name[&rl.default_tier]);
        let divisor = restricted_divisor.max(1);
        let restricted = by_name
            .iter()
            .map(|(name, t)| {
                let tier = Tier {
                    name: format!("{name}-restricted"),
                    per_hour: (t.per_hour / divisor).max(1),
                    per_minute: (t.per_minute / divisor).max(1),
                    burst: (t.burst / divisor).max(1),
                    block_ms: t.block_ms,
                };
                (name.clone(), Arc::new(tier))
            })
            .collect();
        let ip = Arc::new(Tier {
            name: "ip".into(),
            per_hour: rl.ip.per_hour,
            per_minute: rl.ip.per_minute,
            burst: rl.ip.burst,
            block_ms: rl.ip.block_secs * 1000,
        });
        Self { by_name, restricted, default, ip }
    }

    /// The restricted form of the tier named `name` (or of the default tier).
    pub fn restricted(&self, name: &str) -> Arc<Tier> {
        let name = if self.by_name.contains_key(name) { name } else { &self.default.name };
        Arc::clone(&self.restricted[name])
    }

    /// The tier named `name`, or the default tier if it is no longer configured.
    pub fn get(&self, name: &str) -> Arc<Tier> {
        self.by_name.get(name).map_or_else(|| Arc::clone(&self.default), Arc::clone)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

pub struct App {
    pub config: Config,
    /// The file the configuration came from, re-read on reload.
    pub config_path: Option<PathBuf>,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub tokens: TokenSigner,
    pub cipher: CredentialCipher,
    pub clock: SharedClock,
    pub key_cache: KeyCache<Arc<KeyRecord>>,
    pub pools: RegistryHandle<PoolFactory>,
    pub limits: RateLimits,
    pub ip_limits: IpLimits,
    /// Per-key usage not yet written; the recorder writes it in batches.
    pub usage: Arc<UsageTally>,
    usage_recorder: Writer<UsageTally>,
    pub keys: Keys,
    pub audit: crate::audit::Audit,
    /// Semantic re-ranking provider, when configured.
    pub embedder: Option<Arc<crate::engine::embeddings::Embedder>>,
    /// Every search, written in batches off the request path.
    pub history: Journal<crate::store::SearchEntry>,
    pub incidents: crate::incidents::Incidents,
    pub trusted_proxies: Vec<Cidr>,
    pub cors: crate::http::cors::Cors,
    tiers: RwLock<Arc<Tiers>>,
    pub metrics: Metrics,
    /// Recent search outcomes by tenant and request (`None` when disabled).
    pub search_cache: Option<moka::future::Cache<String, Arc<crate::engine::search::Outcome>>>,
    /// Per-tenant counter in every cache key; bumped when a database changes, so the tenant's
    /// cached outcomes are never served again (they expire unseen).
    search_generations: std::sync::Mutex<HashMap<String, u64>>,
    /// Each tenant's registered databases, keyed with its generation like the result cache (a
    /// list read while a change lands is stored under the old generation and never served).
    tenant_databases: moka::future::Cache<(String, u64), Arc<Vec<DatabaseRecord>>>,
    pub started: Instant,
}

/// Request counters since start, for the admin performance figures.
#[derive(Default)]
pub struct Metrics {
    pub requests: std::sync::atomic::AtomicU64,
    /// Responses with a 5xx status.
    pub errors: std::sync::atomic::AtomicU64,
    pub total_micros: std::sync::atomic::AtomicU64,
}

impl Metrics {
    pub fn observe(&self, status: u16, elapsed: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.requests.fetch_add(1, Relaxed);
        self.total_micros.fetch_add(elapsed.as_micros() as u64, Relaxed);
        if status >= 500 {
            self.errors.fetch_add(1, Relaxed);
        }
    }
}

/// How long a request waits on an actor that is not a database call.
const ACTOR_TIMEOUT_MS: u64 = altus4_actors::DEFAULT_CALL_TIMEOUT_MS;

impl App {
    /// Spawns the supervision tree's actors and assembles the state.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
        store: Store,
        master: Arc<MasterSecret>,
    ) -> Result<Arc<Self>, String> {
        let clock = SystemClock::shared();
        let cache_config = KeyCacheConfig {
            max_entries: config.key_cache.max_entries,
            ttl: Duration::from_secs(config.key_cache.ttl_secs),
        };
        let key_cache = KeyCache::start(Arc::new(StoreKeys(store.clone())), cache_config, ACTOR_TIMEOUT_MS)
            .await
            .map_err(|e| format!("cannot start the key cache: {e}"))?;
        let pools = RegistryHandle::start(None, PoolFactory, ACTOR_TIMEOUT_MS)
            .await
            .map_err(|e| format!("cannot start the pool registry: {e}"))?;
        let rl = &config.rate_limits;
        let settings = LimiterSettings {
            clock: Arc::clone(&clock),
            idle_ms: rl.idle_secs * 1000,
            tick: Duration::from_secs(rl.idle_check_secs),
            attempt_window_secs: config.incidents.rapid_fire_window_secs,
        };
        let limits = RateLimits::start(settings, ACTOR_TIMEOUT_MS)
            .await
            .map_err(|e| format!("cannot start the rate limiters: {e}"))?;
        // Remember an address for longer than the hour window, so a quiet one cannot regain
        // its budget early by being forgotten.
        let ip_limits = IpLimits::new(Arc::clone(&clock), rl.ip.max_tracked, Duration::from_secs(2 * 3600));
        let usage = Arc::new(UsageTally::default());
        let usage_recorder =
            Writer::start("usage", Arc::clone(&usage), StoreUsage(store.clone()), Duration::from_millis(rl.usage_flush_ms))
                .await
                .map_err(|e| format!("cannot start the usage recorder: {e}"))?;
        let trusted_proxies = rl.ip.trusted_proxies.iter().filter_map(|p| Cidr::parse(p)).collect();
        let tiers = RwLock::new(Arc::new(Tiers::from_config(rl, config.incidents.rapid_fire_divisor)));
        let keys = Keys { store: store.clone(), cache: key_cache.clone() };
        let embedder = config.search.embeddings.as_ref().map(crate::engine::embeddings::Embedder::new).transpose()?.map(Arc::new);
        let audit = crate::audit::start(
            store.clone(),
            Duration::from_millis(config.audit.flush_ms),
            config.audit.max_pending,
        )
        .await?;
        let history = Journal::start(
            "search history",
            Queue::new(config.audit.max_pending),
            StoreHistory(store.clone()),
            Duration::from_millis(config.audit.flush_ms),
        )
        .await
        .map_err(|e| format!("cannot start the history writer: {e}"))?;
        let incidents = crate::incidents::Incidents::start(
            &config.incidents,
            rl.ip.ipv6_prefix,
            Arc::clone(&clock),
            audit.clone(),
            keys.clone(),
        )
        .await?;
        let search_cache = (config.search.cache_ttl_secs > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(config.search.cache_max_entries)
                .time_to_live(Duration::from_secs(config.search.cache_ttl_secs))
                .build()
        });
        let cors = crate::http::cors::Cors::new(&config.server.cors_origins).ok_or("invalid server.cors_origins")?;
        // Changes made through another node are seen within the schema TTL.
        let (config_key_entries, schema_ttl) = (config.key_cache.max_entries, Duration::from_secs(config.targets.schema_ttl_secs));
        Ok(Arc::new(Self {
            hasher: PasswordHasher::new(config.auth.max_concurrent_hashes),
            tokens: TokenSigner::new(&master),
            cipher: CredentialCipher::new(master),
            config,
            config_path,
            store,
            clock,
            key_cache,
            pools,
            limits,
            ip_limits,
            usage,
            usage_recorder,
            keys,
            audit,
            embedder,
            history,
            incidents,
            trusted_proxies,
            cors,
            tiers,
            metrics: Metrics::default(),
            search_cache,
            search_generations: std::sync::Mutex::new(HashMap::new()),
            tenant_databases: moka::future::Cache::builder()
                .max_capacity(config_key_entries)
                .time_to_live(schema_ttl)
                .build(),
            started: Instant::now(),
        }))
    }

    pub fn tiers(&self) -> Arc<Tiers> {
        Arc::clone(&self.tiers.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Re-reads the configuration file and swaps in its tiers. Windows keep their counts; other
    /// settings need a restart. An invalid file changes nothing.
    pub fn reload_tiers(&self) -> Result<Vec<String>, String> {
        let Some(path) = &self.config_path else {
            return Err("no configuration file to reload (started without --config)".into());
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let config = Config::parse(&text).map_err(|e| format!("invalid {}: {e}", path.display()))?;
        config.validate().map_err(|e| e.to_string())?;
        let tiers = Tiers::from_config(&config.rate_limits, self.config.incidents.rapid_fire_divisor);
        let names = tiers.names().into_iter().map(String::from).collect();
        *self.tiers.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tiers);
        Ok(names)
    }

    pub fn pool_limits(&self) -> PoolLimits {
        PoolLimits {
            connect_timeout: self.config.connect_timeout(),
            query_timeout: self.config.query_timeout(),
            max_connections: self.config.targets.max_connections_per_database,
            schema_ttl: Duration::from_secs(self.config.targets.schema_ttl_secs),
            breaker: altus4_actors::breaker::BreakerConfig {
                failure_threshold: self.config.targets.breaker_failures,
                cool_down_ms: self.config.targets.breaker_cooldown_secs * 1000,
            },
            tls_ca_file: self.config.targets.tls_ca_file.clone(),
            networks: crate::engine::networks::TargetNetworks::new(
                &self.config.targets.allowed_networks,
                &self.config.targets.denied_networks,
            ),
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

    /// The pool actor of a stored database, started on first use (the password is decrypted
    /// only then).
    pub async fn pool(&self, db: &DatabaseRecord) -> Result<ActorRef<PoolMsg>, ApiError> {
        self.pools.get(&db.id, || self.pool_spec(db)).await
    }

    /// Asks a database's pool actor (starting it if needed); `None` if it cannot be asked.
    async fn ask_pool<T: Send + 'static>(
        &self,
        db: &DatabaseRecord,
        build: impl FnOnce(ractor::RpcReplyPort<T>) -> PoolMsg,
    ) -> Option<T> {
        let pool = self.pool(db).await.ok()?;
        crate::engine::pool::ask(&pool, Duration::from_millis(ACTOR_TIMEOUT_MS), build).await.ok()
    }

    /// The circuit-breaker state of a database (`unknown` if its pool actor cannot be reached).
    pub async fn breaker_status(&self, db: &DatabaseRecord) -> &'static str {
        self.ask_pool(db, |reply| PoolMsg::Breaker { reply }).await.unwrap_or("unknown")
    }

    /// Statements sent to a database since its pool started (0 if it cannot be asked).
    pub async fn executed_queries(&self, db: &DatabaseRecord) -> u64 {
        self.ask_pool(db, |reply| PoolMsg::Executed { reply }).await.unwrap_or(0)
    }

    pub fn search_generation(&self, user_id: &str) -> u64 {
        self.search_generations.lock().unwrap_or_else(|p| p.into_inner()).get(user_id).copied().unwrap_or(0)
    }

    /// The active and inactive databases `user_id` registered, from memory when recently read.
    pub async fn tenant_databases(&self, user_id: &str) -> Result<Arc<Vec<DatabaseRecord>>, ApiError> {
        let key = (user_id.to_string(), self.search_generation(user_id));
        self.tenant_databases
            .try_get_with(key, async { self.store.databases_of_user(user_id).await.map(Arc::new) })
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// A tenant's databases changed: its cached search outcomes and database list are never
    /// served again.
    pub fn forget_searches(&self, user_id: &str) {
        *self.search_generations.lock().unwrap_or_else(|p| p.into_inner()).entry(user_id.to_string()).or_insert(0) += 1;
    }

    /// Stops a database's pool (after it was changed or removed).
    pub async fn drop_pool(&self, id: &str) {
        self.pools.remove(&id.to_string()).await;
    }

    /// Resolves a key digest through the cache.
    pub async fn resolve_key(&self, digest: KeyDigest) -> Result<Option<Arc<KeyRecord>>, ApiError> {
        self.key_cache.resolve(digest).await.map_err(ApiError::Busy)
    }

    /// Evicts a key from the cache; returns once the eviction is done.
    pub async fn evict_key(&self, digest: KeyDigest) -> Result<(), ApiError> {
        self.key_cache.invalidate(digest).await.map_err(ApiError::Busy)
    }

    /// Writes pending usage and audit events and stops their writers (shutdown, once the HTTP
    /// server has drained).
    pub async fn shutdown(&self) {
        self.usage_recorder.stop().await;
        self.history.stop().await;
        self.audit.stop().await;
    }

    /// Writes every accepted history and audit entry, so a read that follows sees them.
    pub async fn flush_journals(&self) {
        self.history.flush().await;
        self.audit.flush().await;
    }
}

/// Registry failures (a supervisor that did not answer or could not spawn) degrade the request
/// to a 503, never a 500.
impl From<String> for ApiError {
    fn from(message: String) -> Self {
        ApiError::Busy(message)
    }
}
