//! A circuit breaker: after `failure_threshold` consecutive failures it opens and refuses at once
//! (no waiting on a dead database); after `cool_down_ms` it lets one probe through (half-open);
//! the probe's success closes it, its failure opens it again for another cool-down.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub cool_down_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: u64 },
    HalfOpen { probing: bool },
}

#[derive(Clone, Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: State,
}

/// A refusal: the breaker is open (or its one probe is already out) until `retry_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Open {
    pub retry_at: u64,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self { config, state: State::Closed { failures: 0 } }
    }

    /// May a call go through at `now`? In half-open state exactly one caller gets through.
    pub fn admit(&mut self, now: u64) -> Result<(), Open> {
        match self.state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(Open { retry_at: until }),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                self.state = State::HalfOpen { probing: true };
                Ok(())
            }
            State::HalfOpen { probing: true } => Err(Open { retry_at: now + self.config.cool_down_ms }),
        }
    }

    pub fn on_success(&mut self) {
        self.state = State::Closed { failures: 0 };
    }

    pub fn on_failure(&mut self, now: u64) {
        self.state = match self.state {
            State::Closed { failures } if failures + 1 < self.config.failure_threshold => {
                State::Closed { failures: failures + 1 }
            }
            _ => State::Open { until: now + self.config.cool_down_ms },
        };
    }

    /// `closed`, `open` or `half-open`, as the API reports it.
    pub fn status(&self, now: u64) -> &'static str {
        match self.state {
            State::Closed { .. } => "closed",
            State::Open { until } if now < until => "open",
            State::Open { .. } | State::HalfOpen { .. } => "half-open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig { failure_threshold: 3, cool_down_ms: 1_000 })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let mut b = breaker();
        b.on_failure(0);
        b.on_failure(0);
        b.on_success(); // resets the count
        b.on_failure(0);
        b.on_failure(0);
        assert_eq!(b.status(0), "closed");
        assert!(b.admit(0).is_ok());
        b.on_failure(10);
        assert_eq!(b.status(10), "open");
        assert_eq!(b.admit(500), Err(Open { retry_at: 1_010 }));
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_outcome_decides() {
        let mut b = breaker();
        for _ in 0..3 {
            b.on_failure(0);
        }
        assert!(b.admit(1_000).is_ok(), "the probe");
        assert!(b.admit(1_001).is_err(), "only one probe at a time");
        assert_eq!(b.status(1_001), "half-open");
        b.on_failure(1_002);
        assert_eq!(b.status(1_500), "open");
        assert!(b.admit(2_002).is_ok());
        b.on_success();
        assert_eq!(b.status(2_003), "closed");
        assert!(b.admit(2_003).is_ok() && b.admit(2_003).is_ok());
    }
}
