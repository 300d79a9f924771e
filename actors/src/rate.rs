//! Exact sliding-window rate limiting, as plain state (the per-key actor owns one [`Limiter`]).
//!
//! A [`Window`] of length `W` is split into `n` buckets of `W/n`. Admitted requests are counted
//! in the bucket of their arrival. A new request is admitted only if the buckets that overlap
//! the last `W` — including the oldest, partly expired one, counted in full — hold fewer than
//! the limit. Those buckets cover *at least* the last `W`, so no rolling window of length `W`
//! ever holds more than the limit (a fixed window would let `2N` through across a boundary).
//! The price is that re-admission can come up to one bucket later than a perfect sliding log
//! would allow; [`Window::available_at`] reports that real time, so `Retry-After` is truthful.
//! Memory is a few hundred bytes per window instead of one timestamp per request.
//!
//! A [`Limiter`] combines three windows — one second (the burst), one minute, one hour — and a
//! block: when a request is refused because a window is full, the key is blocked for the tier's
//! block duration, a separate state with its own end time. Only admitted requests are counted.

/// A rate-limit tier: the three limits and the block that follows exceeding one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    pub name: String,
    pub per_hour: u32,
    pub per_minute: u32,
    /// The most requests admitted within any one second.
    pub burst: u32,
    pub block_ms: u64,
}

/// Admitted-request counts over a sliding window: a ring of `span + 1` bucket counters (the
/// window's buckets plus the partly expired oldest one), so its size is fixed whatever the rate.
#[derive(Clone, Debug)]
pub struct Window {
    bucket_ms: u64,
    /// Buckets per window length.
    span: u64,
    counts: Box<[u32]>,
    /// Bucket index (time / bucket_ms) of the newest slot.
    newest: u64,
    total: u32,
}

impl Window {
    pub fn new(length_ms: u64, buckets: u64) -> Self {
        assert!(buckets > 0 && length_ms % buckets == 0, "window must split evenly into buckets");
        Self {
            bucket_ms: length_ms / buckets,
            span: buckets,
            counts: vec![0; buckets as usize + 1].into_boxed_slice(),
            newest: 0,
            total: 0,
        }
    }

    pub fn length_ms(&self) -> u64 {
        self.bucket_ms * self.span
    }

    fn slot(&self, idx: u64) -> usize {
        (idx % self.counts.len() as u64) as usize
    }

    /// Moves the ring forward to `now`, clearing buckets that no longer overlap the window.
    fn advance(&mut self, now: u64) -> u64 {
        let current = now / self.bucket_ms;
        if current > self.newest {
            let steps = (current - self.newest).min(self.counts.len() as u64);
            for idx in current + 1 - steps..=current {
                let slot = self.slot(idx);
                self.total -= self.counts[slot];
                self.counts[slot] = 0;
            }
            self.newest = current;
        }
        current
    }

    /// Bucket indexes still counted, oldest first.
    fn counted(&self, current: u64) -> std::ops::RangeInclusive<u64> {
        current.saturating_sub(self.span)..=current
    }

    /// When bucket `idx` stops counting.
    fn expiry_of(&self, idx: u64) -> u64 {
        (idx + self.span + 1) * self.bucket_ms
    }

    /// Requests counted against the window at `now`.
    pub fn count(&mut self, now: u64) -> u32 {
        self.advance(now);
        self.total
    }

    pub fn record(&mut self, now: u64) {
        let current = self.advance(now);
        let slot = self.slot(current);
        self.counts[slot] += 1;
        self.total += 1;
    }

    /// The earliest time (≥ `now`) at which one more request fits under `limit`.
    pub fn available_at(&mut self, now: u64, limit: u32) -> u64 {
        let current = self.advance(now);
        let mut count = self.total;
        if count < limit {
            return now;
        }
        for idx in self.counted(current) {
            count -= self.counts[self.slot(idx)];
            if count < limit {
                return self.expiry_of(idx).max(now);
            }
        }
        // Only reachable with limit 0: never available; report a full window from now.
        now + self.length_ms()
    }

    /// When the oldest counted request stops counting; `now` if nothing is counted.
    pub fn next_expiry(&mut self, now: u64) -> u64 {
        let current = self.advance(now);
        self.counted(current).find(|&idx| self.counts[self.slot(idx)] > 0).map_or(now, |idx| self.expiry_of(idx))
    }

    pub fn is_empty(&mut self, now: u64) -> bool {
        self.count(now) == 0
    }

    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.counts.len() * std::mem::size_of::<u32>()
    }
}

/// Which window a decision reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Second,
    Minute,
    Hour,
}

impl WindowKind {
    pub fn seconds(self) -> u32 {
        match self {
            WindowKind::Second => 1,
            WindowKind::Minute => 60,
            WindowKind::Hour => 3600,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WindowKind::Second => "1s",
            WindowKind::Minute => "1m",
            WindowKind::Hour => "1h",
        }
    }
}

/// The outcome of one admission check, with what the response headers need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub tier: String,
    /// The window reported in the headers: the one that refused, or the tighter of minute and
    /// hour when admitted.
    pub window: WindowKind,
    pub limit: u32,
    pub remaining: u32,
    /// When the reported window next frees capacity (ms since the epoch).
    pub reset_at_ms: u64,
    /// For a refusal: the earliest time a retry is admitted (ms since the epoch).
    pub retry_at_ms: Option<u64>,
    /// The key is inside a block period.
    pub blocked: bool,
    /// Requests seen (admitted or refused) in the attempt window, this one included: what
    /// rapid-fire detection looks at, since refused requests are part of an attack too.
    pub attempts: u32,
}

/// A refusal's wait in whole seconds, rounded up (never 0 for a refusal).
pub fn whole_seconds_until(now_ms: u64, at_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
}

/// Per-key limiter state: three windows, a block, and an attempt counter.
#[derive(Clone, Debug)]
pub struct Limiter {
    second: Window,
    minute: Window,
    hour: Window,
    /// Every request, admitted or not, over a short window (1 s buckets).
    attempts: Window,
    blocked_until: u64,
}

/// The attempt window when none is given.
pub const DEFAULT_ATTEMPT_WINDOW_SECS: u64 = 10;

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    pub fn new() -> Self {
        Self::with_attempt_window(DEFAULT_ATTEMPT_WINDOW_SECS)
    }

    pub fn with_attempt_window(secs: u64) -> Self {
        let secs = secs.max(1);
        Self {
            attempts: Window::new(secs * 1000, secs),
            // 100 ms buckets: a burst slot frees at most 100 ms late.
            second: Window::new(1_000, 10),
            // 1 s buckets for the minute, 1 min buckets for the hour.
            minute: Window::new(60_000, 60),
            hour: Window::new(3_600_000, 60),
            blocked_until: 0,
        }
    }

    fn windows(&mut self, tier: &Tier) -> [(WindowKind, &mut Window, u32); 3] {
        [
            (WindowKind::Second, &mut self.second, tier.burst),
            (WindowKind::Minute, &mut self.minute, tier.per_minute),
            (WindowKind::Hour, &mut self.hour, tier.per_hour),
        ]
    }

    /// Admits (and counts) or refuses one request at `now`.
    pub fn check(&mut self, tier: &Tier, now: u64) -> Decision {
        self.decide(tier, now, true)
    }

    /// What [`check`](Self::check) would report, without counting anything or starting a block.
    pub fn peek(&mut self, tier: &Tier, now: u64) -> Decision {
        self.decide(tier, now, false)
    }

    fn decide(&mut self, tier: &Tier, now: u64, count: bool) -> Decision {
        if count {
            self.attempts.record(now);
        }
        let attempts = self.attempts.count(now);
        let blocked = now < self.blocked_until;
        // The latest of the windows' re-admission times, and which window it is.
        let mut latest: Option<(WindowKind, u64, u32)> = None;
        for (kind, window, limit) in self.windows(tier) {
            let at = window.available_at(now, limit);
            if at > now && latest.is_none_or(|(_, t, _)| at > t) {
                latest = Some((kind, at, limit));
            }
        }
        if blocked || latest.is_some() {
            if count && !blocked {
                self.blocked_until = now + tier.block_ms;
            }
            let block_end = if count || blocked { self.blocked_until.max(now) } else { now };
            let (kind, window_at, limit) = latest.unwrap_or_else(|| {
                let (kind, limit) = (WindowKind::Minute, tier.per_minute);
                (kind, now, limit)
            });
            let retry_at = window_at.max(block_end);
            return Decision {
                allowed: false,
                tier: tier.name.clone(),
                window: kind,
                limit,
                remaining: 0,
                reset_at_ms: retry_at,
                retry_at_ms: Some(retry_at),
                blocked: block_end > now,
                attempts,
            };
        }
        if count {
            for (_, window, _) in self.windows(tier) {
                window.record(now);
            }
        }
        // Report the tighter of minute and hour (ties: the minute).
        let minute_left = tier.per_minute.saturating_sub(self.minute.count(now));
        let hour_left = tier.per_hour.saturating_sub(self.hour.count(now));
        let (window, limit, remaining, reset_at_ms) = if hour_left < minute_left {
            (WindowKind::Hour, tier.per_hour, hour_left, self.hour.next_expiry(now))
        } else {
            (WindowKind::Minute, tier.per_minute, minute_left, self.minute.next_expiry(now))
        };
        Decision {
            allowed: true,
            tier: tier.name.clone(),
            window,
            limit,
            remaining,
            reset_at_ms,
            retry_at_ms: None,
            blocked: false,
            attempts,
        }
    }

    /// Nothing counted and no block running: the state can be dropped without losing anything.
    pub fn is_idle(&mut self, now: u64) -> bool {
        now >= self.blocked_until
            && self.second.is_empty(now)
            && self.minute.is_empty(now)
            && self.hour.is_empty(now)
            && self.attempts.is_empty(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(per_minute: u32, per_hour: u32, burst: u32, block_ms: u64) -> Tier {
        Tier { name: "t".into(), per_hour, per_minute, burst, block_ms }
    }

    /// Counts admissions in every rolling window of `len` ending at each admission.
    fn max_in_any_window(admitted: &[u64], len: u64) -> usize {
        admitted.iter().map(|&end| admitted.iter().filter(|&&t| t + len > end && t <= end).count()).max().unwrap_or(0)
    }

    #[test]
    fn a_limit_of_n_admits_exactly_n_then_refuses() {
        let t = tier(5, 1000, 100, 0);
        let mut l = Limiter::new();
        let now = 1_000_000;
        for i in 0..5 {
            let d = l.check(&t, now + i);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 4 - i as u32);
        }
        let d = l.check(&t, now + 5);
        assert!(!d.allowed);
        assert_eq!(d.window, WindowKind::Minute);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn requests_straddling_a_minute_boundary_do_not_get_2n() {
        // N requests just before a minute boundary, then a stream just after: a fixed window
        // would admit N more at once; the sliding window admits none until the first age out.
        let t = tier(10, 10_000, 1000, 0);
        let mut l = Limiter::new();
        let boundary = 60_000 * 1_000;
        let mut admitted = vec![];
        for i in 0..10 {
            let at = boundary - 500 + i * 50;
            assert!(l.check(&t, at).allowed);
            admitted.push(at);
        }
        let mut now = boundary;
        while now < boundary + 120_000 {
            if l.check(&t, now).allowed {
                admitted.push(now);
            }
            now += 97; // an awkward step that crosses bucket edges everywhere
        }
        assert_eq!(max_in_any_window(&admitted, 60_000), 10);
        assert!(admitted.iter().all(|&t| t < boundary || t >= boundary - 500 + 60_000), "{admitted:?}");
        assert!(admitted.len() >= 20, "the window does re-admit: {}", admitted.len());
    }

    #[test]
    fn the_hour_window_holds_across_an_hour_boundary() {
        let t = tier(1000, 30, 1000, 0);
        let mut l = Limiter::new();
        let boundary = 3_600_000 * 500;
        let mut admitted = vec![];
        let mut now = boundary - 90_000;
        while now < boundary + 3_700_000 {
            if l.check(&t, now).allowed {
                admitted.push(now);
            }
            now += 1_013;
        }
        assert_eq!(max_in_any_window(&admitted, 3_600_000), 30);
        assert!(admitted.len() > 30);
    }

    #[test]
    fn retry_at_is_exactly_when_a_retry_succeeds() {
        let t = tier(3, 1000, 100, 0);
        let mut l = Limiter::new();
        let start = 5_000_250;
        for i in 0..3 {
            assert!(l.check(&t, start + i * 10).allowed);
        }
        let refused = l.check(&t, start + 100);
        let retry_at = refused.retry_at_ms.unwrap();
        assert!(!l.peek(&t, retry_at - 1).allowed, "one ms earlier is still refused");
        assert!(l.check(&t, retry_at).allowed, "at retry_at it is admitted");
        // Never later than one bucket (1 s) after the ideal sliding-log time.
        assert!(retry_at <= start + 60_000 + 1_000);
        assert!(whole_seconds_until(start + 100, retry_at) >= (retry_at - start - 100) / 1000);
    }

    #[test]
    fn a_block_lasts_exactly_its_duration() {
        let t = tier(2, 1000, 100, 30_000);
        let mut l = Limiter::new();
        let now = 10_000_000;
        assert!(l.check(&t, now).allowed);
        assert!(l.check(&t, now).allowed);
        let refused = l.check(&t, now + 1);
        assert!(!refused.allowed && refused.blocked);
        // Refusals during the block do not extend it.
        assert!(!l.check(&t, now + 20_000).allowed);
        // The minute window frees at now+61 s at the latest; the block ends at now+30.001 s.
        let retry_at = refused.retry_at_ms.unwrap();
        assert_eq!(retry_at, l.peek(&t, now + 2).retry_at_ms.unwrap());
        assert!(retry_at >= now + 1 + 30_000);
        assert!(l.check(&t, retry_at).allowed);
    }

    #[test]
    fn a_block_outlasting_the_window_is_reported_and_enforced() {
        let t = tier(1000, 10_000, 2, 5_000);
        let mut l = Limiter::new();
        let now = 42_000_000;
        assert!(l.check(&t, now).allowed);
        assert!(l.check(&t, now).allowed);
        let refused = l.check(&t, now);
        assert_eq!(refused.window, WindowKind::Second);
        assert_eq!(refused.retry_at_ms, Some(now + 5_000));
        assert!(!l.check(&t, now + 4_999).allowed);
        assert!(l.check(&t, now + 5_000).allowed);
    }

    #[test]
    fn burst_is_the_most_admitted_within_one_second() {
        let t = tier(1000, 10_000, 10, 0);
        let mut l = Limiter::new();
        let mut admitted = vec![];
        for ms in 0..3_000u64 {
            if l.check(&t, 7_000_000 + ms).allowed {
                admitted.push(ms);
            }
        }
        assert_eq!(max_in_any_window(&admitted, 1_000), 10);
        assert!(admitted.len() >= 25);
    }

    #[test]
    fn idleness_means_nothing_would_be_lost() {
        let t = tier(5, 100, 5, 1_000);
        let mut l = Limiter::new();
        assert!(l.is_idle(0));
        l.check(&t, 1_000_000);
        assert!(!l.is_idle(1_000_000 + 61_000), "still in the hour window");
        assert!(l.is_idle(1_000_000 + 3_661_000));
    }

    #[test]
    fn state_is_small() {
        let t = tier(5_000, 100_000, 200, 0);
        let mut l = Limiter::new();
        // Fill every bucket of every window.
        for s in 0..3_600u64 {
            l.check(&t, s * 1_000);
        }
        let bytes = std::mem::size_of::<Limiter>() + l.second.heap_bytes() + l.minute.heap_bytes() + l.hour.heap_bytes();
        assert!(bytes < 1024, "{bytes} bytes");
    }

    #[test]
    fn attempts_count_refused_requests_too_and_slide_out() {
        let mut l = Limiter::with_attempt_window(10);
        let t = tier(5, 100, 100, 0);
        let last = (0..20).map(|i| l.check(&t, 1_000 + i * 10)).last().unwrap();
        assert!(!last.allowed);
        assert_eq!(last.attempts, 20, "refusals are attempts");
        assert_eq!(l.peek(&t, 1_500).attempts, 20, "peeking counts nothing");
        assert_eq!(l.peek(&t, 12_000).attempts, 0, "gone once the window has passed");
    }
}
