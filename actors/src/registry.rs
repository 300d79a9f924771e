//! A supervisor that owns one child actor per key, spawned on first use.
//!
//! Used for the per-database connection-pool actors (and later per-key limiters). A child that
//! fails or stops is forgotten, so the next request for its key spawns a fresh one: restart on
//! demand, which keeps a crashing child from looping while nobody needs it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

/// Builds the child for a key. `Spec` is what the caller knows that the child needs to start
/// (for a pool: the decrypted connection parameters).
pub trait ChildFactory: Send + Sync + 'static {
    type Key: Hash + Eq + Clone + Debug + Send + Sync + 'static;
    type Spec: Send + 'static;
    type Child: Actor;

    fn build(
        &self,
        key: &Self::Key,
        spec: Self::Spec,
    ) -> (Self::Child, <Self::Child as Actor>::Arguments);
}

type ChildRef<F> = ActorRef<<<F as ChildFactory>::Child as Actor>::Msg>;

pub enum RegistryMsg<F: ChildFactory> {
    /// The running child for a key, spawning it from `Spec` if there is none.
    Get(F::Key, F::Spec, RpcReplyPort<Result<ChildRef<F>, String>>),
    /// Stop and forget the child for a key (its configuration changed or it was deleted).
    Remove(F::Key, RpcReplyPort<()>),
    /// How many children are running.
    Count(RpcReplyPort<usize>),
}

pub struct Registry<F: ChildFactory> {
    factory: F,
}

impl<F: ChildFactory> Registry<F> {
    pub fn new(factory: F) -> Self {
        Self { factory }
    }
}

pub struct RegistryState<F: ChildFactory> {
    children: HashMap<F::Key, ChildRef<F>>,
    keys_by_actor: HashMap<ActorId, F::Key>,
}

impl<F: ChildFactory> RegistryState<F> {
    fn forget(&mut self, actor: &ActorCell) {
        if let Some(key) = self.keys_by_actor.remove(&actor.get_id()) {
            self.children.remove(&key);
        }
    }
}

impl<F: ChildFactory> Actor for Registry<F> {
    type Msg = RegistryMsg<F>;
    type State = RegistryState<F>;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(RegistryState { children: HashMap::new(), keys_by_actor: HashMap::new() })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RegistryMsg::Get(key, spec, reply) => {
                if let Some(child) = state.children.get(&key) {
                    let _ = reply.send(Ok(child.clone()));
                    return Ok(());
                }
                let (child, args) = self.factory.build(&key, spec);
                match Actor::spawn_linked(None, child, args, myself.get_cell()).await {
                    Ok((child, _handle)) => {
                        state.keys_by_actor.insert(child.get_id(), key.clone());
                        state.children.insert(key, child.clone());
                        let _ = reply.send(Ok(child));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(format!("could not start child for {key:?}: {e}")));
                    }
                }
            }
            RegistryMsg::Remove(key, reply) => {
                if let Some(child) = state.children.remove(&key) {
                    state.keys_by_actor.remove(&child.get_id());
                    child.stop(Some("removed".into()));
                }
                let _ = reply.send(());
            }
            RegistryMsg::Count(reply) => {
                let _ = reply.send(state.children.len());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, _) | SupervisionEvent::ActorTerminated(cell, _, _) => {
                state.forget(&cell)
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        async fn handle(
            &self,
            _: ActorRef<EchoMsg>,
            msg: EchoMsg,
            n: &mut u32,
        ) -> Result<(), ActorProcessingErr> {
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

    async fn get(reg: &ActorRef<RegistryMsg<EchoFactory>>, k: &'static str, spec: u32) -> ActorRef<EchoMsg> {
        ractor::call_t!(reg, RegistryMsg::Get, 1000, k, spec).unwrap().unwrap()
    }

    #[tokio::test]
    async fn one_child_per_key_and_crashed_children_are_respawned() {
        let (reg, _) = Actor::spawn(None, Registry::new(EchoFactory), ()).await.unwrap();
        let a = get(&reg, "a", 1).await;
        // The spec of a second Get is ignored while the child lives.
        let a_again = get(&reg, "a", 99).await;
        assert_eq!(a.get_id(), a_again.get_id());
        let _b = get(&reg, "b", 2).await;
        assert_eq!(ractor::call_t!(reg, RegistryMsg::Count, 1000).unwrap(), 2);

        a.cast(EchoMsg::Crash).unwrap();
        // Wait until the supervisor has seen the failure.
        for _ in 0..100 {
            if ractor::call_t!(reg, RegistryMsg::Count, 1000).unwrap() == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(ractor::call_t!(reg, RegistryMsg::Count, 1000).unwrap(), 1);
        let fresh = get(&reg, "a", 3).await;
        assert_ne!(fresh.get_id(), a.get_id());
        assert_eq!(ractor::call_t!(fresh, EchoMsg::Ask, 1000).unwrap(), 3);
    }

    #[tokio::test]
    async fn removed_children_stop() {
        let (reg, _) = Actor::spawn(None, Registry::new(EchoFactory), ()).await.unwrap();
        let a = get(&reg, "a", 1).await;
        ractor::call_t!(reg, RegistryMsg::Remove, 1000, "a").unwrap();
        assert_eq!(ractor::call_t!(reg, RegistryMsg::Count, 1000).unwrap(), 0);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(ractor::call_t!(a, EchoMsg::Ask, 200).is_err());
    }
}
