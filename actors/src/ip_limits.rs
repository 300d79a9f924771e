//! Rate limits per client address for the endpoints that have no API key yet (register, login,
//! setup). The state is a bounded, expiring map (moka) of per-address [`Limiter`]s: an attacker
//! rotating addresses cannot grow memory without bound, and quiet addresses are forgotten.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;

use crate::clock::SharedClock;
use crate::rate::{Decision, Limiter, Tier};

pub struct IpLimits {
    clock: SharedClock,
    states: Cache<IpAddr, Arc<Mutex<Limiter>>>,
}

impl IpLimits {
    /// `max_tracked` addresses at most; an address unseen for `idle` is dropped. `idle` should
    /// be at least an hour, the longest window, or a quiet address could regain budget early.
    pub fn new(clock: SharedClock, max_tracked: u64, idle: Duration) -> Self {
        Self { clock, states: Cache::builder().max_capacity(max_tracked).time_to_idle(idle).build() }
    }

    /// Admits (and counts) or refuses one request from `addr` (already grouped by prefix).
    pub fn check(&self, addr: IpAddr, tier: &Tier) -> Decision {
        let state = self.states.get_with(addr, || Arc::new(Mutex::new(Limiter::new())));
        let mut limiter = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        limiter.check(tier, self.clock.now_ms())
    }

    pub fn tracked(&self) -> u64 {
        self.states.run_pending_tasks();
        self.states.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn addresses_have_separate_budgets_and_the_map_is_bounded() {
        let clock = ManualClock::at(1_000_000);
        let limits = IpLimits::new(clock, 100, Duration::from_secs(3600));
        let tier = Tier { name: "ip".into(), per_hour: 100, per_minute: 2, burst: 10, block_ms: 0 };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limits.check(a, &tier).allowed);
        assert!(limits.check(a, &tier).allowed);
        assert!(!limits.check(a, &tier).allowed);
        assert!(limits.check(b, &tier).allowed);
        for i in 0..1000u32 {
            limits.check(IpAddr::from(i.to_be_bytes()), &tier);
        }
        assert!(limits.tracked() <= 100, "{}", limits.tracked());
    }
}
