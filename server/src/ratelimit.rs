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
