//! Test doubles for games and embedders: a [`Recorder`] sink that keeps what a room sends,
//! [`CountingMetrics`] that keep what it reports, and [`KeptLogs`] that keep recorded matches'
//! command logs. All are real implementations of the engine's traits, used by the engine's own
//! tests and the server's.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tickroom_shared::snapshot::FromFrame;
use tickroom_shared::{MatchEnd, Mirror, Presence, PresenceStatus, Snapshot};

use crate::driver::{BoxFuture, MatchRecorder, SnapshotSink};
use crate::metrics::RoomMetrics;
use crate::room::PushOutcome;

/// A sink that keeps what it is given, to look at rooms from outside.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every snapshot published, in order (all rooms).
    pub snapshots: Mutex<Vec<Bytes>>,
    /// Every viewer's snapshot published (rooms with an interest), in order, by viewer.
    pub views: Mutex<Vec<(String, Bytes)>>,
    /// Every presence change published, in order (all rooms).
    pub presence: Mutex<Vec<Presence>>,
    /// The last match end.
    pub end: Mutex<Option<MatchEnd>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SnapshotSink for Recorder {
    fn publish<'a>(&'a self, _match_id: &'a str, snapshot: Bytes) -> BoxFuture<'a> {
        lock(&self.snapshots).push(snapshot);
        Box::pin(async {})
    }
    fn publish_view<'a>(
        &'a self,
        _match_id: &'a str,
        viewer: &'a str,
        snapshot: Bytes,
    ) -> BoxFuture<'a> {
        lock(&self.views).push((viewer.to_owned(), snapshot));
        Box::pin(async {})
    }
    fn presence<'a>(&'a self, _match_id: &'a str, p: &'a Presence) -> BoxFuture<'a> {
        lock(&self.presence).push(p.clone());
        Box::pin(async {})
    }
    fn ended<'a>(&'a self, end: &'a MatchEnd) -> BoxFuture<'a> {
        *lock(&self.end) = Some(end.clone());
        Box::pin(async {})
    }
}

impl Recorder {
    /// The presence statuses recorded so far, in order, as (player, status).
    pub fn statuses(&self) -> Vec<(String, PresenceStatus)> {
        lock(&self.presence)
            .iter()
            .map(|p| (p.player_id.clone(), p.status))
            .collect()
    }

    /// Snapshots recorded so far.
    pub fn count(&self) -> usize {
        lock(&self.snapshots).len()
    }

    /// The last match end recorded.
    pub fn end(&self) -> Option<MatchEnd> {
        lock(&self.end).clone()
    }

    /// Every state a client would have rebuilt from the snapshots, keyframes and deltas, in
    /// order (one room's snapshots only).
    pub fn rebuild<S: FromFrame>(&self) -> Vec<Snapshot<S>> {
        let mut m = Mirror::new();
        lock(&self.snapshots)
            .iter()
            .filter_map(|b| m.apply_typed(b).expect("the room's snapshots decode"))
            .collect()
    }

    /// Every state `viewer` would have rebuilt from its own snapshots (a room with an
    /// interest), in order.
    pub fn rebuild_view<S: FromFrame>(&self, viewer: &str) -> Vec<Snapshot<S>> {
        let mut m = Mirror::new();
        lock(&self.views)
            .iter()
            .filter(|(v, _)| v == viewer)
            .filter_map(|(_, b)| m.apply_typed(b).expect("the room's snapshots decode"))
            .collect()
    }

    /// The state after the last snapshot, rebuilt as a client would.
    pub fn last<S: FromFrame>(&self) -> Snapshot<S> {
        self.rebuild().pop().expect("a snapshot")
    }
}

/// Durations observed, kept whole so tests can ask anything of them.
#[derive(Debug, Default)]
pub struct Durations(Mutex<Vec<Duration>>);

impl Durations {
    fn observe(&self, d: Duration) {
        lock(&self.0).push(d);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        lock(&self.0).len() as u64
    }

    /// Observations longer than `d`.
    pub fn count_above(&self, d: Duration) -> u64 {
        lock(&self.0).iter().filter(|x| **x > d).count() as u64
    }
}

/// [`RoomMetrics`] that count everything, for tests.
#[derive(Debug, Default)]
#[allow(missing_docs)]
pub struct CountingMetrics {
    pub rooms_open: AtomicI64,
    pub ticks: AtomicU64,
    pub tick_duration: Durations,
    pub tick_lateness: Durations,
    pub tick_overruns: AtomicU64,
    pub ticks_skipped: AtomicU64,
    pub snapshot_bytes: AtomicU64,
    pub snapshots_dropped: AtomicU64,
    pub inputs_queued: AtomicU64,
    pub inputs_refused: AtomicU64,
}

impl CountingMetrics {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl RoomMetrics for CountingMetrics {
    fn room_opened(&self) {
        self.rooms_open.fetch_add(1, Ordering::Relaxed);
    }
    fn room_closed(&self) {
        self.rooms_open.fetch_sub(1, Ordering::Relaxed);
    }
    fn tick(&self, took: Duration) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.tick_duration.observe(took);
    }
    fn tick_lateness(&self, late: Duration) {
        self.tick_lateness.observe(late);
    }
    fn tick_overrun(&self) {
        self.tick_overruns.fetch_add(1, Ordering::Relaxed);
    }
    fn ticks_skipped(&self, n: u64) {
        self.ticks_skipped.fetch_add(n, Ordering::Relaxed);
    }
    fn snapshot(&self, bytes: usize) {
        self.snapshot_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
    fn snapshot_dropped(&self) {
        self.snapshots_dropped.fetch_add(1, Ordering::Relaxed);
    }
    fn input(&self, outcome: PushOutcome) {
        let counter = match outcome {
            PushOutcome::Queued => &self.inputs_queued,
            PushOutcome::Duplicate
            | PushOutcome::Full
            | PushOutcome::NotSeated
            | PushOutcome::OutOfRange => &self.inputs_refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Keeps every recorded match's command log, by match id, with whether it is whole.
#[derive(Debug, Default)]
pub struct KeptLogs {
    logs: Mutex<std::collections::BTreeMap<String, (Vec<u8>, bool)>>,
}

impl KeptLogs {
    /// The log of `match_id` and whether it is complete, once the match ended.
    pub fn get(&self, match_id: &str) -> Option<(Vec<u8>, bool)> {
        lock(&self.logs).get(match_id).cloned()
    }
}

impl MatchRecorder for KeptLogs {
    fn recorded(&self, match_id: &str, log: Vec<u8>, complete: bool) {
        lock(&self.logs).insert(match_id.to_owned(), (log, complete));
    }
}
