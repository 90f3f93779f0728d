//! One room's own measurements, for dashboards: written by the room's task after every tick
//! (relaxed atomics, one writer), read by anyone through [`RoomControl::stats`].
//!
//! [`RoomControl::stats`]: super::RoomControl::stats

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A room's measurements so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Time a tick takes, averaged over the last ~16 ticks.
    pub tick_duration: Duration,
    /// The longest tick so far.
    pub tick_duration_max: Duration,
    /// How late ticks start after their scheduled time, averaged over the last ~16 ticks.
    pub tick_lateness: Duration,
    /// Ticks that took longer than the room's tick period.
    pub tick_overruns: u64,
    /// Snapshot bytes encoded (once per tick whatever the audience; with an
    /// [`Interest`](crate::Interest), every viewer's).
    pub snapshot_bytes: u64,
    /// Snapshots dropped because the publisher had not taken the previous ones.
    pub snapshots_dropped: u64,
}

/// Where a room's task keeps its [`RoomStats`].
#[derive(Debug, Default)]
pub(super) struct StatsCell {
    tick_ns: AtomicU64,
    tick_max_ns: AtomicU64,
    late_ns: AtomicU64,
    overruns: AtomicU64,
    snapshot_bytes: AtomicU64,
    dropped: AtomicU64,
}

/// An exponentially weighted moving average with weight 1/16 for the new sample.
fn ewma(old: u64, new: u64) -> u64 {
    if old == 0 {
        new
    } else {
        old - old / 16 + new / 16
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl StatsCell {
    /// Records one tick: how long it took, how late it started, its snapshot's size, whether
    /// it overran and whether its snapshot was dropped. Only the room's task calls this.
    pub(super) fn tick(
        &self,
        took: Duration,
        late: Duration,
        bytes: usize,
        overran: bool,
        dropped: bool,
    ) {
        let took = nanos(took);
        self.tick_ns
            .store(ewma(self.tick_ns.load(Relaxed), took), Relaxed);
        self.tick_max_ns.fetch_max(took, Relaxed);
        self.late_ns
            .store(ewma(self.late_ns.load(Relaxed), nanos(late)), Relaxed);
        self.snapshot_bytes.fetch_add(bytes as u64, Relaxed);
        self.overruns.fetch_add(u64::from(overran), Relaxed);
        self.dropped.fetch_add(u64::from(dropped), Relaxed);
    }

    pub(super) fn get(&self) -> RoomStats {
        RoomStats {
            tick_duration: Duration::from_nanos(self.tick_ns.load(Relaxed)),
            tick_duration_max: Duration::from_nanos(self.tick_max_ns.load(Relaxed)),
            tick_lateness: Duration::from_nanos(self.late_ns.load(Relaxed)),
            tick_overruns: self.overruns.load(Relaxed),
            snapshot_bytes: self.snapshot_bytes.load(Relaxed),
            snapshots_dropped: self.dropped.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_and_totals() {
        let s = StatsCell::default();
        s.tick(Duration::from_micros(100), Duration::ZERO, 50, false, false);
        assert_eq!(
            s.get().tick_duration,
            Duration::from_micros(100),
            "the first sample"
        );
        for _ in 0..64 {
            s.tick(
                Duration::from_micros(20),
                Duration::from_micros(1),
                10,
                false,
                true,
            );
        }
        s.tick(Duration::from_millis(40), Duration::ZERO, 10, true, false);
        let got = s.get();
        assert!(got.tick_duration > Duration::from_micros(20), "{got:?}");
        assert!(got.tick_duration < Duration::from_millis(3), "{got:?}");
        assert_eq!(got.tick_duration_max, Duration::from_millis(40));
        assert_eq!(got.snapshot_bytes, 50 + 64 * 10 + 10);
        assert_eq!((got.tick_overruns, got.snapshots_dropped), (1, 64));
    }
}
