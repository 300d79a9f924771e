//! A supervisor that keeps one child actor alive: when the child fails (its handler returns an
//! error or panics) a fresh one is spawned from the same recipe, and every holder of the
//! [`Singleton`] handle reaches the new one. A child that stops normally (shutdown) is left
//! stopped.
//!
//! Used for the process-wide workers whose state outlives a crash anyway: the batch writers
//! (their pending items sit in shared queues) and the incident responder (blocks sit in shared
//! maps).

use std::sync::{Arc, RwLock};

use ractor::{Actor, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};

/// Builds a fresh child and its arguments.
pub type Recipe<A> = Arc<dyn Fn() -> (A, <A as Actor>::Arguments) + Send + Sync>;

/// The handle: the live child, whichever incarnation that is.
pub struct Singleton<M: ractor::Message> {
    current: Arc<RwLock<ActorRef<M>>>,
    supervisor: ActorRef<()>,
}

impl<M: ractor::Message> Clone for Singleton<M> {
    fn clone(&self) -> Self {
        Self { current: Arc::clone(&self.current), supervisor: self.supervisor.clone() }
    }
}

struct Keeper<A: Actor> {
    recipe: Recipe<A>,
    current: Arc<RwLock<ActorRef<A::Msg>>>,
}

impl<A: Actor> Actor for Keeper<A> {
    type Msg = ();
    type State = u64;
    type Arguments = ActorRef<A::Msg>;

    async fn pre_start(&self, myself: ActorRef<()>, first: ActorRef<A::Msg>) -> Result<u64, ActorProcessingErr> {
        first.get_cell().link(myself.get_cell());
        Ok(0)
    }

    async fn handle(&self, _: ActorRef<()>, _: (), _: &mut u64) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        event: SupervisionEvent,
        restarts: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(cell, reason) = event else { return Ok(()) };
        if cell.get_id() != self.current.read().unwrap_or_else(|p| p.into_inner()).get_id() {
            return Ok(());
        }
        *restarts += 1;
        tracing::error!(error = %reason, restarts = *restarts, "a supervised actor failed; starting a fresh one");
        let (child, args) = (self.recipe)();
        let (fresh, _) = Actor::spawn_linked(None, child, args, myself.get_cell()).await?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}

impl<M: ractor::Message> Singleton<M> {
    /// Spawns the first child and its supervisor.
    pub async fn start<A: Actor<Msg = M>>(recipe: Recipe<A>) -> Result<Self, SpawnErr> {
        let (child, args) = recipe();
        let (first, _) = Actor::spawn(None, child, args).await?;
        let current = Arc::new(RwLock::new(first.clone()));
        let keeper = Keeper { recipe, current: Arc::clone(&current) };
        let (supervisor, _) = Actor::spawn(None, keeper, first).await?;
        Ok(Self { current, supervisor })
    }

    /// The live child.
    pub fn get(&self) -> ActorRef<M> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the child (letting it finish its `post_stop`) and then the supervisor.
    pub async fn stop(&self, wait: std::time::Duration) {
        let child = self.get();
        let _ = child.stop_and_wait(None, Some(wait)).await;
        self.supervisor.stop(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// Fails on `true`, answers its incarnation number otherwise.
    struct Fragile {
        incarnation: u32,
    }

    enum FragileMsg {
        Crash,
        Which(ractor::RpcReplyPort<u32>),
    }

    impl Actor for Fragile {
        type Msg = FragileMsg;
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<FragileMsg>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }

        async fn handle(&self, _: ActorRef<FragileMsg>, msg: FragileMsg, _: &mut ()) -> Result<(), ActorProcessingErr> {
            match msg {
                FragileMsg::Crash => Err("boom".into()),
                FragileMsg::Which(reply) => {
                    let _ = reply.send(self.incarnation);
                    Ok(())
                }
            }
        }
    }

    async fn which(s: &Singleton<FragileMsg>) -> u32 {
        for _ in 0..100 {
            if let Ok(ractor::rpc::CallResult::Success(n)) = s.get().call(FragileMsg::Which, Some(Duration::from_millis(100))).await {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no live child");
    }

    #[tokio::test]
    async fn a_failed_child_is_replaced_and_a_stopped_one_is_not() {
        let made = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&made);
        let recipe: Recipe<Fragile> = Arc::new(move || (Fragile { incarnation: counter.fetch_add(1, Ordering::SeqCst) }, ()));
        let s = Singleton::start(recipe).await.unwrap();
        assert_eq!(which(&s).await, 0);
        s.get().cast(FragileMsg::Crash).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(which(&s).await, 1, "a fresh child answers after the crash");
        s.get().cast(FragileMsg::Crash).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(which(&s).await, 2);

        s.stop(Duration::from_secs(1)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(made.load(Ordering::SeqCst), 3, "a normal stop is not restarted");
    }
}
