//! One rate-limit actor per active API key, under a [`RegistryHandle`] supervisor.
//!
//! The actor owns the key's [`Limiter`]; its mailbox serialises decisions, so concurrent requests
//! on one key can never both take the last slot. An actor spawns on the key's first request and
//! stops itself once it has been idle for a while *and* holds no counts and no block — so
//! stopping loses nothing, and memory follows the number of keys active within the last hour.
//! Tiers travel with each request, so a configuration reload applies to the very next decision
//! while the windows keep their counts. One sweeper task (not a timer per actor) asks every
//! limiter periodically whether it is idle, so an idle key costs no timer.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};

use crate::clock::SharedClock;
use crate::rate::{Decision, Limiter, Tier};
use crate::registry::{ChildFactory, RegistryHandle};

pub enum LimiterMsg {
    /// Admit (and count) or refuse one request.
    Check(Arc<Tier>, RpcReplyPort<Decision>),
    /// The state a request would see, counting nothing.
    Peek(Arc<Tier>, RpcReplyPort<Decision>),
    /// From the sweeper: stop if idle and empty.
    Tick,
}

#[derive(Clone)]
pub struct LimiterSettings {
    pub clock: SharedClock,
    /// Stop an actor idle this long (and holding no counts).
    pub idle_ms: u64,
    /// How often the sweeper asks every actor whether it is idle.
    pub tick: Duration,
    /// The window [`Decision::attempts`] counts over (rapid-fire detection).
    pub attempt_window_secs: u64,
}

pub struct LimiterActor {
    settings: LimiterSettings,
}

pub struct LimiterState {
    limiter: Limiter,
    last_seen: u64,
}

impl Actor for LimiterActor {
    type Msg = LimiterMsg;
    type State = LimiterState;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<LimiterMsg>, _: ()) -> Result<LimiterState, ActorProcessingErr> {
        Ok(LimiterState { limiter: Limiter::with_attempt_window(self.settings.attempt_window_secs), last_seen: self.settings.clock.now_ms() })
    }

    async fn handle(
        &self,
        myself: ActorRef<LimiterMsg>,
        message: LimiterMsg,
        state: &mut LimiterState,
    ) -> Result<(), ActorProcessingErr> {
        let now = self.settings.clock.now_ms();
        match message {
            LimiterMsg::Check(tier, reply) => {
                state.last_seen = now;
                let _ = reply.send(state.limiter.check(&tier, now));
            }
            LimiterMsg::Peek(tier, reply) => {
                let _ = reply.send(state.limiter.peek(&tier, now));
            }
            LimiterMsg::Tick => {
                if now.saturating_sub(state.last_seen) >= self.settings.idle_ms && state.limiter.is_idle(now) {
                    myself.stop(Some("idle".into()));
                }
            }
        }
        Ok(())
    }
}

pub struct LimiterFactory {
    settings: LimiterSettings,
}

impl ChildFactory for LimiterFactory {
    type Key = String;
    type Spec = ();
    type Child = LimiterActor;

    fn build(&self, _key: &String, _: ()) -> (LimiterActor, ()) {
        (LimiterActor { settings: self.settings.clone() }, ())
    }
}

/// The request path's view of rate limiting.
#[derive(Clone)]
pub struct RateLimits {
    registry: RegistryHandle<LimiterFactory>,
    timeout_ms: u64,
}

impl RateLimits {
    pub async fn start(settings: LimiterSettings, timeout_ms: u64) -> Result<Self, SpawnErr> {
        let tick = settings.tick;
        let registry = RegistryHandle::start(None, LimiterFactory { settings }, timeout_ms).await?;
        let sweep = registry.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                sweep.for_each(|limiter| {
                    let _ = limiter.cast(LimiterMsg::Tick);
                });
            }
        });
        Ok(Self { registry, timeout_ms })
    }

    async fn ask(&self, key: &str, tier: Arc<Tier>, peek: bool) -> Result<Decision, String> {
        let key = key.to_string();
        let mut last_error = String::new();
        // A second attempt covers an actor that stopped (idle or crashed) between lookup and call:
        // the registry then hands out a fresh one.
        for _ in 0..2 {
            let actor = self.registry.get::<String>(&key, || Ok(())).await?;
            let result = if peek {
                ractor::call_t!(actor, LimiterMsg::Peek, self.timeout_ms, Arc::clone(&tier))
            } else {
                ractor::call_t!(actor, LimiterMsg::Check, self.timeout_ms, Arc::clone(&tier))
            };
            match result {
                Ok(decision) => return Ok(decision),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(format!("rate limiter unavailable: {last_error}"))
    }

    /// Admits (and counts) or refuses one request of `key`.
    pub async fn check(&self, key: &str, tier: Arc<Tier>) -> Result<Decision, String> {
        self.ask(key, tier, false).await
    }

    /// The current state of `key` under `tier`, counting nothing.
    pub async fn peek(&self, key: &str, tier: Arc<Tier>) -> Result<Decision, String> {
        self.ask(key, tier, true).await
    }

    /// Keys with a running limiter actor.
    pub fn active(&self) -> usize {
        self.registry.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn tier(per_minute: u32) -> Arc<Tier> {
        Arc::new(Tier { name: "t".into(), per_hour: 100_000, per_minute, burst: 10_000, block_ms: 0 })
    }

    async fn limits(clock: Arc<ManualClock>, idle_ms: u64) -> RateLimits {
        // Ticks every 250 ms: with 10,000 actors, faster ticks would be most of the test's work.
        let settings = LimiterSettings { clock, idle_ms, tick: Duration::from_millis(250), attempt_window_secs: 10 };
        RateLimits::start(settings, 10_000).await.unwrap()
    }

    #[tokio::test]
    async fn fifty_concurrent_requests_with_five_left_admit_exactly_five() {
        let clock = ManualClock::at(1_000_000);
        let limits = limits(clock, 600_000).await;
        let t = tier(10);
        for _ in 0..5 {
            assert!(limits.check("k", t.clone()).await.unwrap().allowed);
        }
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (limits, t) = (limits.clone(), t.clone());
            set.spawn(async move { limits.check("k", t).await.unwrap().allowed });
        }
        let admitted = set.join_all().await.into_iter().filter(|&a| a).count();
        assert_eq!(admitted, 5);
    }

    #[tokio::test]
    async fn ten_thousand_keys_stay_separate_and_idle_actors_are_reaped() {
        let clock = ManualClock::at(10_000_000);
        let limits = limits(clock.clone(), 60_000).await;
        let t = tier(2);
        let mut set = tokio::task::JoinSet::new();
        for i in 0..10_000 {
            let (limits, t) = (limits.clone(), t.clone());
            set.spawn(async move {
                let key = format!("key-{i}");
                let a = limits.check(&key, t.clone()).await.unwrap().allowed;
                let b = limits.check(&key, t.clone()).await.unwrap().allowed;
                let c = limits.check(&key, t).await.unwrap().allowed;
                (a, b, c)
            });
        }
        for result in set.join_all().await {
            assert_eq!(result, (true, true, false), "each key has its own two");
        }
        assert_eq!(limits.active(), 10_000);

        // Idle but still counting (inside the hour window): kept.
        clock.advance(120_000);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(limits.active(), 10_000);

        // Past the hour window: nothing would be lost, so they go.
        clock.advance(3_600_000);
        let mut waited = 0;
        while limits.active() > 0 && waited < 10_000 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += 20;
        }
        assert_eq!(limits.active(), 0);
        // A reaped key starts fresh and works.
        assert!(limits.check("key-1", t).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn a_killed_limiter_is_replaced_and_the_request_still_answers() {
        let clock = ManualClock::at(1_000_000);
        let limits = limits(clock, 600_000).await;
        let t = tier(100);
        assert!(limits.check("k", t.clone()).await.unwrap().allowed);
        let actor = limits.registry.get::<String>(&"k".to_string(), || Ok(())).await.unwrap();
        actor.kill();
        let started = std::time::Instant::now();
        assert!(limits.check("k", t).await.unwrap().allowed);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
