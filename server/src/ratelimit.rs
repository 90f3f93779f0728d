//! Rate limits (governor): per player for inputs, per address for handshakes, per connection
//! for other events, and the window that tells sustained abuse from a burst.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A budget per key: `rate` a second sustained, bursts of `burst`, memory bounded by
/// [`sweep`](Self::sweep) to the keys used recently.
#[derive(Debug)]
pub(crate) struct KeyedLimiter<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: std::hash::Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter allowing `rate` per second with bursts of `burst` (both at least 1).
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::dashmap(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Takes one from `key`'s budget; `false` if it is exhausted.
    pub(crate) fn check(&self, key: &K) -> bool {
        self.limiter.check_key(key).is_ok()
    }

    /// Forgets keys whose budget is full again.
    pub(crate) fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Per-player input budgets, by match and player, so that reconnecting does not reset a
/// player's budget. A connection takes its player's budget once, when it joins, and checks
/// every input against it directly: no key is hashed and no map is locked per input.
#[derive(Debug)]
pub(crate) struct InputLimiter {
    quota: Quota,
    budgets: dashmap::DashMap<Arc<str>, Arc<governor::DefaultDirectRateLimiter>>,
}

impl InputLimiter {
    /// `rate` inputs per second with bursts of `burst` (both at least 1), per player.
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            quota: Quota::per_second(rate).allow_burst(burst),
            budgets: dashmap::DashMap::new(),
        }
    }

    /// The budget of `player` in `match_id`, shared by every connection of that player.
    pub(crate) fn budget(
        &self,
        match_id: &str,
        player: &str,
    ) -> Arc<governor::DefaultDirectRateLimiter> {
        let key: Arc<str> = format!("{match_id}\u{1f}{player}").into();
        self.budgets
            .entry(key)
            .or_insert_with(|| Arc::new(RateLimiter::direct(self.quota)))
            .clone()
    }

    /// Forgets the budgets no connection holds any more.
    pub(crate) fn sweep(&self) {
        self.budgets.retain(|_, b| Arc::strong_count(b) > 1);
        self.budgets.shrink_to_fit();
    }
}

/// Handshakes per client address.
pub(crate) type HandshakeLimiter = KeyedLimiter<std::net::IpAddr>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_per_player_shared_by_their_connections() {
        let l = InputLimiter::new(1, 3);
        let a = l.budget("m", "a");
        let again = l.budget("m", "a");
        let b = l.budget("m", "b");
        assert!((0..3).all(|_| a.check().is_ok()));
        assert!(
            again.check().is_err(),
            "a second connection shares the budget"
        );
        assert!(b.check().is_ok(), "another player's budget is separate");
        assert!(
            l.budget("n", "a").check().is_ok(),
            "and so is another match's"
        );
        drop((a, again));
        l.sweep();
        assert_eq!(l.budgets.len(), 1, "only the budget still held is kept");
    }
}

/// One connection's budget for events other than inputs.
#[derive(Debug)]
pub(crate) struct EventLimiter {
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
pub(crate) struct DropWindow {
    window_start_ms: std::sync::atomic::AtomicU64,
    count: std::sync::atomic::AtomicU32,
}

/// The window [`DropWindow`] counts over.
pub(crate) const DROP_WINDOW_MS: u64 = 10_000;

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
        assert!(h.check(&a) && h.check(&a));
        assert!(!h.check(&a));
        assert!(h.check(&b), "per address");
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
