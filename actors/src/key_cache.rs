//! The key-cache actor: answers "who is this API key" from memory.
//!
//! Keys are identified by the SHA-256 digest of the full key string; the plaintext never reaches
//! this actor. The actor owns every *write* to the cache: a miss is resolved by a [`KeyLookup`]
//! in a spawned task (one slow storage read never blocks the messages queued behind it), and the
//! task hands its result back to the actor, which inserts it only if no invalidation happened
//! meanwhile. Invalidations and inserts are serialised by the mailbox, so a revoked key can never
//! be re-cached from a read that raced the revocation.
//!
//! *Reads* that hit need no serialisation, so [`KeyCache::resolve`] looks in the shared moka
//! cache on the caller's task first and messages the actor only on a miss: the warm path costs a
//! cache lookup, not a mailbox round trip.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

/// A SHA-256 digest of a full API key.
pub type KeyDigest = [u8; 32];

/// Storage behind the cache: finds the record for a key digest.
pub trait KeyLookup: Send + Sync + 'static {
    /// What the cache holds per key (owner, permissions, expiry, ...).
    type Record: Clone + Send + Sync + 'static;

    /// `Ok(None)` means no such key; `Err` is a storage failure (reported, never cached).
    fn lookup(
        &self,
        digest: KeyDigest,
    ) -> impl Future<Output = Result<Option<Self::Record>, String>> + Send;
}

/// Outcome of a resolve: the record, `None` for an unknown key, or a storage error text.
pub type Resolution<R> = Result<Option<R>, String>;

pub enum KeyCacheMsg<R> {
    /// Resolve a digest to its record.
    Resolve(KeyDigest, RpcReplyPort<Resolution<R>>),
    /// Drop one digest at once (key revoked, regenerated or changed); replies when done.
    Invalidate(KeyDigest, RpcReplyPort<()>),
    /// Drop everything (e.g. an account deleted with many keys); replies when done.
    InvalidateAll(RpcReplyPort<()>),
    /// Internal: a lookup task's result, tagged with the generation it started under.
    Fill { digest: KeyDigest, record: R, generation: u64 },
}

/// Cache sizing.
#[derive(Clone, Debug)]
pub struct KeyCacheConfig {
    pub max_entries: u64,
    /// Upper bound on staleness for changes made by another node (local changes invalidate).
    pub ttl: Duration,
}

pub struct KeyCacheActor<L: KeyLookup> {
    lookup: Arc<L>,
}

impl<L: KeyLookup> KeyCacheActor<L> {
    pub fn new(lookup: Arc<L>) -> Self {
        Self { lookup }
    }
}

pub struct KeyCacheState<R> {
    cache: Cache<KeyDigest, R>,
    /// Bumped by every invalidation; fills started under an older generation are discarded.
    generation: u64,
}

impl<L: KeyLookup> Actor for KeyCacheActor<L> {
    type Msg = KeyCacheMsg<L::Record>;
    type State = KeyCacheState<L::Record>;
    /// The cache it fills (shared with [`KeyCache`] handles for reads).
    type Arguments = Cache<KeyDigest, L::Record>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        cache: Cache<KeyDigest, L::Record>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(KeyCacheState { cache, generation: 0 })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            KeyCacheMsg::Resolve(digest, reply) => {
                if let Some(record) = state.cache.get(&digest).await {
                    let _ = reply.send(Ok(Some(record)));
                    return Ok(());
                }
                let lookup = Arc::clone(&self.lookup);
                let generation = state.generation;
                tokio::spawn(async move {
                    let result = lookup.lookup(digest).await;
                    if let Ok(Some(record)) = &result {
                        let _ = myself.cast(KeyCacheMsg::Fill {
                            digest,
                            record: record.clone(),
                            generation,
                        });
                    }
                    let _ = reply.send(result);
                });
            }
            KeyCacheMsg::Invalidate(digest, reply) => {
                state.generation += 1;
                state.cache.invalidate(&digest).await;
                let _ = reply.send(());
            }
            KeyCacheMsg::InvalidateAll(reply) => {
                state.generation += 1;
                state.cache.invalidate_all();
                let _ = reply.send(());
            }
            KeyCacheMsg::Fill { digest, record, generation } => {
                if generation == state.generation {
                    state.cache.insert(digest, record).await;
                }
            }
        }
        Ok(())
    }
}

/// The request path's handle: reads hit the shared cache directly; misses, fills and
/// invalidations go through the actor.
pub struct KeyCache<R: Clone + Send + Sync + 'static> {
    actor: ActorRef<KeyCacheMsg<R>>,
    cache: Cache<KeyDigest, R>,
    timeout_ms: u64,
}

impl<R: Clone + Send + Sync + 'static> Clone for KeyCache<R> {
    fn clone(&self) -> Self {
        Self { actor: self.actor.clone(), cache: self.cache.clone(), timeout_ms: self.timeout_ms }
    }
}

impl<R: Clone + Send + Sync + 'static> KeyCache<R> {
    /// Spawns the actor. `timeout_ms` bounds every wait on it.
    pub async fn start<L: KeyLookup<Record = R>>(
        lookup: Arc<L>,
        config: KeyCacheConfig,
        timeout_ms: u64,
    ) -> Result<Self, ractor::SpawnErr> {
        let cache = Cache::builder().max_capacity(config.max_entries).time_to_live(config.ttl).build();
        let (actor, _) = Actor::spawn(None, KeyCacheActor::new(lookup), cache.clone()).await?;
        Ok(Self { actor, cache, timeout_ms })
    }

    /// The record for `digest`: from memory when cached, else read (once) from storage.
    pub async fn resolve(&self, digest: KeyDigest) -> Result<Option<R>, String> {
        if let Some(record) = self.cache.get(&digest).await {
            return Ok(Some(record));
        }
        ractor::call_t!(self.actor, KeyCacheMsg::Resolve, self.timeout_ms, digest)
            .map_err(|e| format!("key cache unavailable: {e}"))?
    }

    /// Evicts `digest`; when this returns, no request sees the old record.
    pub async fn invalidate(&self, digest: KeyDigest) -> Result<(), String> {
        ractor::call_t!(self.actor, KeyCacheMsg::Invalidate, self.timeout_ms, digest)
            .map_err(|e| format!("key cache unavailable: {e}"))
    }

    /// Evicts everything.
    pub async fn invalidate_all(&self) -> Result<(), String> {
        ractor::call_t!(self.actor, KeyCacheMsg::InvalidateAll, self.timeout_ms)
            .map_err(|e| format!("key cache unavailable: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// An in-memory store that counts reads and can be told to stall, to exercise races.
    #[derive(Default)]
    struct MemStore {
        rows: Mutex<HashMap<KeyDigest, String>>,
        reads: AtomicUsize,
        stall: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
    }

    impl KeyLookup for MemStore {
        type Record = String;
        async fn lookup(&self, digest: KeyDigest) -> Result<Option<String>, String> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let row = self.rows.lock().unwrap().get(&digest).cloned();
            let stall = self.stall.lock().unwrap().take();
            if let Some(rx) = stall {
                let _ = rx.await;
            }
            Ok(row)
        }
    }

    async fn start(store: Arc<MemStore>) -> KeyCache<String> {
        let config = KeyCacheConfig { max_entries: 100, ttl: Duration::from_secs(60) };
        KeyCache::start(store, config, 1000).await.unwrap()
    }

    async fn resolve(cache: &KeyCache<String>, d: KeyDigest) -> Option<String> {
        cache.resolve(d).await.unwrap()
    }

    #[tokio::test]
    async fn hit_after_miss_does_not_read_storage_again() {
        let store = Arc::new(MemStore::default());
        store.rows.lock().unwrap().insert([1; 32], "alice".into());
        let cache = start(store.clone()).await;
        assert_eq!(resolve(&cache, [1; 32]).await.as_deref(), Some("alice"));
        // The fill is a cast; a second call is queued behind it.
        assert_eq!(resolve(&cache, [1; 32]).await.as_deref(), Some("alice"));
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        assert_eq!(resolve(&cache, [2; 32]).await, None);
    }

    #[tokio::test]
    async fn invalidation_forces_a_fresh_read() {
        let store = Arc::new(MemStore::default());
        store.rows.lock().unwrap().insert([1; 32], "alice".into());
        let cache = start(store.clone()).await;
        assert!(resolve(&cache, [1; 32]).await.is_some());
        store.rows.lock().unwrap().remove(&[1; 32]);
        cache.invalidate([1; 32]).await.unwrap();
        assert_eq!(resolve(&cache, [1; 32]).await, None);
    }

    #[tokio::test]
    async fn a_read_racing_an_invalidation_is_not_cached() {
        let store = Arc::new(MemStore::default());
        store.rows.lock().unwrap().insert([1; 32], "alice".into());
        let (release, stalled) = tokio::sync::oneshot::channel();
        *store.stall.lock().unwrap() = Some(stalled);
        let cache = start(store.clone()).await;

        // A lookup reads the old row, then stalls before handing it back.
        let racing = {
            let cache = cache.clone();
            tokio::spawn(async move { resolve(&cache, [1; 32]).await })
        };
        while store.reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Meanwhile the key is revoked and invalidated.
        store.rows.lock().unwrap().remove(&[1; 32]);
        cache.invalidate([1; 32]).await.unwrap();
        release.send(()).unwrap();
        assert_eq!(racing.await.unwrap().as_deref(), Some("alice"));

        // The stale fill must have been discarded: the next resolve sees the revocation.
        assert_eq!(resolve(&cache, [1; 32]).await, None);
    }
}
