//! A supervisor that owns one child actor per key, spawned on first use.
//!
//! Used for the per-database connection-pool actors and the per-key rate limiters. Children are
//! listed in a shared [`DashMap`], so the common case (the child exists) is a map read on the
//! caller's task, with no message hop; only a miss goes through the supervisor, which spawns
//! the child exactly once even when many callers miss together.
//!
//! A child that fails or stops is forgotten, so the next request for its key spawns a fresh one:
//! restart on demand, which keeps a crashing child from looping while nobody needs it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use dashmap::DashMap;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort, SpawnErr, SupervisionEvent};

/// Builds the child for a key. `Spec` is what the caller knows that the child needs to start
/// (for a pool: the decrypted connection parameters).
pub trait ChildFactory: Send + Sync + 'static {
    type Key: Hash + Eq + Clone + Debug + Send + Sync + 'static;
    type Spec: Send + 'static;
    type Child: Actor;

    fn build(&self, key: &Self::Key, spec: Self::Spec) -> (Self::Child, <Self::Child as Actor>::Arguments);
}

pub type ChildRef<F> = ActorRef<<<F as ChildFactory>::Child as Actor>::Msg>;

type Children<F> = Arc<DashMap<<F as ChildFactory>::Key, ChildRef<F>>>;

pub enum RegistryMsg<F: ChildFactory> {
    /// The running child for a key, spawning it from `Spec` if there is none.
    Get(F::Key, F::Spec, RpcReplyPort<Result<ChildRef<F>, String>>),
    /// Stop and forget the child for a key (its configuration changed or it was deleted).
    Remove(F::Key, RpcReplyPort<()>),
}

struct Registry<F: ChildFactory> {
    factory: F,
    children: Children<F>,
}

fn alive(cell: &ActorCell) -> bool {
    matches!(cell.get_status(), ActorStatus::Running | ActorStatus::Starting | ActorStatus::Upgrading)
}

impl<F: ChildFactory> Actor for Registry<F> {
    type Msg = RegistryMsg<F>;
    /// Which key each child serves, to forget a terminated child in O(1).
    type State = HashMap<ActorId, F::Key>;
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<Self::Msg>, _: ()) -> Result<Self::State, ActorProcessingErr> {
        Ok(HashMap::new())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        keys: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RegistryMsg::Get(key, spec, reply) => {
                if let Some(child) = self.children.get(&key).map(|c| c.clone()) {
                    if alive(&child.get_cell()) {
                        let _ = reply.send(Ok(child));
                        return Ok(());
                    }
                    self.children.remove(&key);
                }
                let (child, args) = self.factory.build(&key, spec);
                match Actor::spawn_linked(None, child, args, myself.get_cell()).await {
                    Ok((child, _handle)) => {
                        keys.insert(child.get_id(), key.clone());
                        self.children.insert(key, child.clone());
                        let _ = reply.send(Ok(child));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(format!("could not start child for {key:?}: {e}")));
                    }
                }
            }
            RegistryMsg::Remove(key, reply) => {
                if let Some((_, child)) = self.children.remove(&key) {
                    child.stop(Some("removed".into()));
                }
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        keys: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, _) | SupervisionEvent::ActorTerminated(cell, _, _) = event {
            let id = cell.get_id();
            if let Some(key) = keys.remove(&id) {
                // Forget it only if the map still points at this very actor (not a replacement).
                self.children.remove_if(&key, |_, child| child.get_id() == id);
            }
        }
        Ok(())
    }
}

/// The caller's side of a registry: cheap to clone, safe to share.
pub struct RegistryHandle<F: ChildFactory> {
    actor: ActorRef<RegistryMsg<F>>,
    children: Children<F>,
    timeout_ms: u64,
}

impl<F: ChildFactory> Clone for RegistryHandle<F> {
    fn clone(&self) -> Self {
        Self { actor: self.actor.clone(), children: Arc::clone(&self.children), timeout_ms: self.timeout_ms }
    }
}

impl<F: ChildFactory> RegistryHandle<F> {
    /// Starts the supervisor. `timeout_ms` bounds every wait on it.
    pub async fn start(name: Option<String>, factory: F, timeout_ms: u64) -> Result<Self, SpawnErr> {
        let children: Children<F> = Arc::new(DashMap::new());
        let registry = Registry { factory, children: Arc::clone(&children) };
        let (actor, _) = Actor::spawn(name, registry, ()).await?;
        Ok(Self { actor, children, timeout_ms })
    }

    /// The running child for `key`; `spec` is built (and the supervisor asked) only on a miss.
    pub async fn get<E: From<String>>(
        &self,
        key: &F::Key,
        spec: impl FnOnce() -> Result<F::Spec, E>,
    ) -> Result<ChildRef<F>, E> {
        if let Some(child) = self.children.get(key) {
            if alive(&child.get_cell()) {
                return Ok(child.clone());
            }
        }
        let spec = spec()?;
        ractor::call_t!(self.actor, RegistryMsg::Get, self.timeout_ms, key.clone(), spec)
            .map_err(|e| E::from(format!("registry unavailable: {e}")))?
            .map_err(E::from)
    }

    /// Stops and forgets the child for `key`, if any.
    pub async fn remove(&self, key: &F::Key) {
        let _ = ractor::call_t!(self.actor, RegistryMsg::Remove, self.timeout_ms, key.clone());
    }

    /// Calls `f` on every running child (e.g. to broadcast a periodic message).
    pub fn for_each(&self, mut f: impl FnMut(&ChildRef<F>)) {
        for child in self.children.iter() {
            f(child.value());
        }
    }

    /// How many children are running.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A child that echoes, and panics on demand.
    struct Echo;
    enum EchoMsg {
        Ask(RpcReplyPort<u32>),
        Crash,
    }
    impl Actor for Echo {
        type Msg = EchoMsg;
        type State = u32;
        type Arguments = u32;
        async fn pre_start(&self, _: ActorRef<EchoMsg>, n: u32) -> Result<u32, ActorProcessingErr> {
            Ok(n)
        }
        async fn handle(&self, _: ActorRef<EchoMsg>, msg: EchoMsg, n: &mut u32) -> Result<(), ActorProcessingErr> {
            match msg {
                EchoMsg::Ask(reply) => {
                    let _ = reply.send(*n);
                }
                EchoMsg::Crash => panic!("asked to crash"),
            }
            Ok(())
        }
    }

    struct EchoFactory;
    impl ChildFactory for EchoFactory {
        type Key = &'static str;
        type Spec = u32;
        type Child = Echo;
        fn build(&self, _: &&'static str, spec: u32) -> (Echo, u32) {
            (Echo, spec)
        }
    }

    async fn get(reg: &RegistryHandle<EchoFactory>, k: &'static str, spec: u32) -> ActorRef<EchoMsg> {
        reg.get::<String>(&k, || Ok(spec)).await.unwrap()
    }

    async fn wait_for_len(reg: &RegistryHandle<EchoFactory>, n: usize) {
        for _ in 0..200 {
            if reg.len() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(reg.len(), n);
    }

    #[tokio::test]
    async fn one_child_per_key_and_crashed_children_are_respawned() {
        let reg = RegistryHandle::start(None, EchoFactory, 1000).await.unwrap();
        let a = get(&reg, "a", 1).await;
        // The spec of a second Get is ignored while the child lives.
        let a_again = get(&reg, "a", 99).await;
        assert_eq!(a.get_id(), a_again.get_id());
        let _b = get(&reg, "b", 2).await;
        assert_eq!(reg.len(), 2);

        a.cast(EchoMsg::Crash).unwrap();
        wait_for_len(&reg, 1).await;
        let fresh = get(&reg, "a", 3).await;
        assert_ne!(fresh.get_id(), a.get_id());
        assert_eq!(ractor::call_t!(fresh, EchoMsg::Ask, 1000).unwrap(), 3);
    }

    #[tokio::test]
    async fn concurrent_misses_spawn_one_child() {
        let reg = RegistryHandle::start(None, EchoFactory, 1000).await.unwrap();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..50 {
            let reg = reg.clone();
            set.spawn(async move { get(&reg, "same", i).await.get_id() });
        }
        let ids = set.join_all().await;
        assert!(ids.iter().all(|id| *id == ids[0]));
        assert_eq!(reg.len(), 1);
    }

    #[tokio::test]
    async fn removed_children_stop() {
        let reg = RegistryHandle::start(None, EchoFactory, 1000).await.unwrap();
        let a = get(&reg, "a", 1).await;
        reg.remove(&"a").await;
        assert_eq!(reg.len(), 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(ractor::call_t!(a, EchoMsg::Ask, 200).is_err());
    }
}
