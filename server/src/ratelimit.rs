//! Input rate limiting with governor, keyed by match and player so that reconnecting does not
//! reset a player's budget.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Per-player input budget: `rate` per second sustained, `burst` at once.
#[derive(Debug)]
pub struct InputLimiter {
    limiter: DefaultKeyedRateLimiter<Arc<str>>,
}

impl InputLimiter {
    /// A limiter allowing `rate` inputs per second with bursts of `burst` (both at least 1).
    pub fn new(rate: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::dashmap(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// The key of `player` in `match_id`.
    pub fn key(match_id: &str, player: &str) -> Arc<str> {
        format!("{match_id}\u{1f}{player}").into()
    }

    /// Takes one input from `key`'s budget; `false` if it is exhausted.
    pub fn check(&self, key: &Arc<str>) -> bool {
        self.limiter.check_key(key).is_ok()
    }

    /// Forgets keys whose budget is full again, bounding memory to recently active players.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_per_key() {
        let l = InputLimiter::new(1, 3);
        let a = InputLimiter::key("m", "a");
        let b = InputLimiter::key("m", "b");
        assert!((0..3).all(|_| l.check(&a)));
        assert!(!l.check(&a));
        assert!(l.check(&b), "another player's budget is separate");
    }
}

/// Handshakes per client address.
#[derive(Debug)]
pub struct HandshakeLimiter {
    limiter: DefaultKeyedRateLimiter<std::net::IpAddr>,
}

impl HandshakeLimiter {
    /// `rate` handshakes per second per address, bursts of `burst`.
    pub fn new(rate: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::dashmap(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Takes one handshake from `ip`'s budget; `false` if it is exhausted.
    pub fn check(&self, ip: std::net::IpAddr) -> bool {
        self.limiter.check_key(&ip).is_ok()
    }

    /// Forgets addresses whose budget is full again.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// One connection's budget for events other than inputs.
#[derive(Debug)]
pub struct EventLimiter {
    limiter: governor::DefaultDirectRateLimiter,
}

impl EventLimiter {
    /// `rate` events per second, bursts of twice that.
    pub fn new(rate: u32) -> Self {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        Self {
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Takes one event from the budget; `false` if it is exhausted.
    pub fn check(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

/// Counts one connection's dropped messages over a fixed window, to tell sustained abuse from
/// a burst.
#[derive(Debug, Default)]
pub struct DropWindow {
    window_start_ms: std::sync::atomic::AtomicU64,
    count: std::sync::atomic::AtomicU32,
}

/// The window [`DropWindow`] counts over.
pub const DROP_WINDOW_MS: u64 = 10_000;

impl DropWindow {
    /// Counts a drop at `now_ms` (any monotonic milliseconds); returns the drops in the
    /// current window including this one.
    pub fn drop_one(&self, now_ms: u64) -> u32 {
        use std::sync::atomic::Ordering::Relaxed;
        let start = self.window_start_ms.load(Relaxed);
        if now_ms.saturating_sub(start) >= DROP_WINDOW_MS
            && self
                .window_start_ms
                .compare_exchange(start, now_ms, Relaxed, Relaxed)
                .is_ok()
        {
            self.count.store(0, Relaxed);
        }
        self.count.fetch_add(1, Relaxed) + 1
    }
}

#[cfg(test)]
mod abuse_tests {
    use super::*;

    #[test]
    fn handshakes_and_events_and_windows() {
        let h = HandshakeLimiter::new(1, 2);
        let a: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let b: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        assert!(h.check(a) && h.check(a));
        assert!(!h.check(a));
        assert!(h.check(b), "per address");
        let e = EventLimiter::new(2);
        assert_eq!(
            (0..10).filter(|_| e.check()).count(),
            4,
            "burst of twice the rate"
        );
        let w = DropWindow::default();
        assert_eq!(w.drop_one(20_000), 1);
        assert_eq!(w.drop_one(25_000), 2);
        assert_eq!(w.drop_one(31_000), 1, "a new window");
    }
}
