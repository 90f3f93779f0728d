//! How a room reports what it does. The engine counts nothing itself: the embedder implements
//! [`RoomMetrics`] over whatever metrics system it exports (the server renders Prometheus
//! text), and `()` ignores everything.

use std::time::Duration;

use crate::room::PushOutcome;

/// Receives a room's measurements. Called from the room's task and its publisher, so every
/// method must be cheap and must not block.
pub trait RoomMetrics: Send + Sync + 'static {
    /// A room's task started.
    fn room_opened(&self) {}
    /// A room's task and publisher stopped.
    fn room_closed(&self) {}
    /// A tick ran and took `took` of real time (inputs, systems, snapshot encode).
    fn tick(&self, _took: Duration) {}
    /// A tick started `late` after its scheduled time.
    fn tick_lateness(&self, _late: Duration) {}
    /// A tick took longer than its room's tick period.
    fn tick_overrun(&self) {}
    /// `n` ticks were skipped: the room fell further behind than it catches up.
    fn ticks_skipped(&self, _n: u64) {}
    /// A tick's snapshots were encoded, `bytes` in all: the room's one snapshot whatever the
    /// audience, or, in a room with an [`Interest`](crate::Interest), every viewer's together.
    fn snapshot(&self, _bytes: usize) {}
    /// A snapshot was dropped: the publisher had not taken the previous ones.
    fn snapshot_dropped(&self) {}
    /// An input reached the room and was queued, or not (see [`PushOutcome`]).
    fn input(&self, _outcome: PushOutcome) {}
}

impl RoomMetrics for () {}
