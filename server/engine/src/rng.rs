//! [`RoomRng`]: the one source of randomness a game's systems may use, seeded per match, so
//! that a match replays bit for bit from its command log (docs/REPLAY.md).

use bevy_ecs::prelude::*;

/// A room's random numbers: xoshiro256** seeded from the match's seed (`RoomConfig::seed`)
/// through SplitMix64. Every room has one as a resource; a game draws from it
/// (`ResMut<RoomRng>`) instead of `rand::random` or any clock, and its state is part of the
/// room's checksum. The sequence is fixed for a seed on every platform and version: a
/// recorded match replays with the same draws.
///
/// ```
/// use tickroom_engine::RoomRng;
/// let mut rng = RoomRng::new(7);
/// let roll = rng.below(6) + 1;
/// assert!((1..=6).contains(&roll));
/// let x = rng.range(10.0, 20.0);
/// assert!((10.0..20.0).contains(&x));
/// assert_eq!(RoomRng::new(7).next_u64(), RoomRng::new(7).next_u64());
/// ```
#[derive(Resource, Debug, Clone, PartialEq, Eq)]
pub struct RoomRng {
    s: [u64; 4],
}

impl RoomRng {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// A number in `0.0..1.0`, uniform (24 random bits).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A number in `lo..hi`, uniform (`lo` when the range is empty).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        if hi <= lo {
            return lo;
        }
        (lo + (hi - lo) * self.unit()).min(hi.next_down())
    }

    /// An integer in `0..n`, uniform (0 when `n` is 0).
    pub fn below(&mut self, n: u32) -> u32 {
        // Lemire's multiply-shift: no division, bias below 2^-32.
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// The generator's state, for the room's checksum.
    pub(crate) fn state(&self) -> [u64; 4] {
        self.s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sequence is part of the replay contract: a change here breaks every recording.
    #[test]
    fn the_sequence_is_fixed_for_a_seed() {
        let mut rng = RoomRng::new(0);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            first,
            [0x99ec5f36cb75f2b4, 0xbf6e1f784956452a, 0x1a5f849d4933e6e0]
        );
        assert_ne!(RoomRng::new(1).next_u64(), RoomRng::new(0).next_u64());
    }

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut rng = RoomRng::new(42);
        let mut counts = [0u32; 6];
        for _ in 0..6000 {
            counts[rng.below(6) as usize] += 1;
            let x = rng.range(-1.0, 1.0);
            assert!((-1.0..1.0).contains(&x), "{x}");
            assert!((0.0..1.0).contains(&rng.unit()));
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.range(3.0, 3.0), 3.0);
    }
}
