//! What a room hands its publisher: a queue where snapshots are bounded and may be dropped
//! when the transport falls behind — but never a keyframe (one replaces the snapshots still
//! waiting, which it makes unneeded; after a dropped delta the room sends a keyframe next,
//! since each delta builds on the one before) — and presence changes and the match end are
//! never dropped.
//!
//! Measured (docs/BENCHMARKS.md, "the join-burst tail"): with one channel of 4 for everything,
//! a burst of joins filled it with presence events and the first snapshots before the
//! publisher first ran, and the keyframe that followed the burst was the snapshot dropped; every
//! joiner then waited for the next periodic keyframe, a second later, unable to read its acks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tickroom_shared::{MatchEnd, Presence};
use tokio::sync::Notify;

/// Snapshots that may wait for the publisher; a delta beyond them is dropped.
pub(super) const SNAPSHOT_QUEUE: usize = 4;

/// Presence changes that may wait; beyond this (a transport stuck for a long time while
/// players churn) the oldest are dropped. Seats bound how fast they come.
const PRESENCE_QUEUE: usize = 4096;

/// What a room hands its publisher.
#[derive(Debug)]
pub(super) enum Publish {
    Snapshot(Bytes),
    /// One snapshot per viewer, of one tick.
    Views(Vec<(Arc<str>, Bytes)>),
    Presence(Presence),
    Ended(MatchEnd),
}

/// What happened to a snapshot handed to the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Queued.
    Queued,
    /// A delta, dropped: `SNAPSHOT_QUEUE` snapshots were waiting.
    Dropped,
    /// A keyframe, queued in place of the snapshots that were waiting (this many).
    Replaced(usize),
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Publish>,
    /// Snapshots among `items`.
    snapshots: usize,
    /// Presence changes among `items`.
    presence: usize,
    /// The room's task is gone without its match-end message (its future was dropped).
    closed: bool,
}

/// The queue between a room's task and its publisher (one of each).
#[derive(Debug, Default)]
pub(super) struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
}

impl Outbox {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Every change below keeps the counts and the items together.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a tick's snapshot ([`Publish::Snapshot`] or [`Publish::Views`]). A delta is
    /// dropped when [`SNAPSHOT_QUEUE`] snapshots wait; a keyframe (every viewer's, for views)
    /// is never dropped: it takes the place of the snapshots waiting, which are older and
    /// which it makes unnecessary (it carries the whole state).
    pub(super) fn push_snapshot(&self, snapshot: Publish, keyframe: bool) -> Pushed {
        debug_assert!(matches!(snapshot, Publish::Snapshot(_) | Publish::Views(_)));
        let mut q = self.queue();
        let mut pushed = Pushed::Queued;
        if q.snapshots >= SNAPSHOT_QUEUE {
            if !keyframe {
                return Pushed::Dropped;
            }
            let before = q.items.len();
            q.items
                .retain(|m| !matches!(m, Publish::Snapshot(_) | Publish::Views(_)));
            pushed = Pushed::Replaced(before - q.items.len());
            q.snapshots = 0;
        }
        q.items.push_back(snapshot);
        q.snapshots += 1;
        drop(q);
        self.ready.notify_one();
        pushed
    }

    /// Queues a presence change; returns whether an old one had to make room.
    pub(super) fn push_presence(&self, p: Presence) -> bool {
        let mut q = self.queue();
        let mut evicted = false;
        if q.presence >= PRESENCE_QUEUE
            && let Some(at) = q
                .items
                .iter()
                .position(|m| matches!(m, Publish::Presence(_)))
        {
            q.items.remove(at);
            q.presence -= 1;
            evicted = true;
        }
        q.items.push_back(Publish::Presence(p));
        q.presence += 1;
        drop(q);
        self.ready.notify_one();
        evicted
    }

    /// Queues the match end, the last message.
    pub(super) fn push_end(&self, end: MatchEnd) {
        self.queue().items.push_back(Publish::Ended(end));
        self.ready.notify_one();
    }

    /// The next message, in order; `None` once the room's task is gone and nothing waits.
    pub(super) async fn pop(&self) -> Option<Publish> {
        loop {
            {
                let mut q = self.queue();
                if let Some(m) = q.items.pop_front() {
                    match &m {
                        Publish::Snapshot(_) | Publish::Views(_) => q.snapshots -= 1,
                        Publish::Presence(_) => q.presence -= 1,
                        Publish::Ended(_) => {}
                    }
                    return Some(m);
                }
                if q.closed {
                    return None;
                }
            }
            // One consumer: a notification sent since the check is kept as a permit.
            self.ready.notified().await;
        }
    }
}

/// Held by the room's task: if the task goes away without its match-end message (its future
/// dropped), the publisher is told instead of waiting forever.
#[derive(Debug)]
pub(super) struct CloseOnDrop(pub(super) Arc<Outbox>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.queue().closed = true;
        self.0.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use tickroom_shared::PresenceStatus;

    use super::*;

    fn presence(n: u64) -> Presence {
        Presence {
            player_id: format!("p{n}"),
            status: PresenceStatus::Joined,
            tick: n,
        }
    }

    fn drain(o: &Outbox) -> Vec<String> {
        let mut out = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            o.queue().closed = true;
            while let Some(m) = o.pop().await {
                out.push(match m {
                    Publish::Snapshot(bytes) => format!("s{}", bytes[0]),
                    Publish::Views(views) => format!("v{}", views.len()),
                    Publish::Presence(p) => p.player_id,
                    Publish::Ended(_) => "end".into(),
                });
            }
        });
        out
    }

    #[test]
    fn presence_never_takes_a_snapshots_place_and_keyframes_are_never_dropped() {
        let o = Outbox::default();
        let snap = |n: u8| Bytes::from(vec![n]);
        assert_eq!(
            o.push_snapshot(Publish::Snapshot(snap(1)), true),
            Pushed::Queued
        );
        for i in 0..10 {
            o.push_presence(presence(i));
        }
        for n in 2..=4 {
            assert_eq!(
                o.push_snapshot(Publish::Snapshot(snap(n)), false),
                Pushed::Queued
            );
        }
        assert_eq!(
            o.push_snapshot(Publish::Snapshot(snap(5)), false),
            Pushed::Dropped
        );
        assert_eq!(
            o.push_snapshot(Publish::Snapshot(snap(6)), true),
            Pushed::Replaced(4)
        );
        assert_eq!(
            o.push_snapshot(Publish::Snapshot(snap(7)), false),
            Pushed::Queued
        );
        o.push_end(MatchEnd {
            match_id: "m".into(),
            reason: tickroom_shared::EndReason::Admin,
            tick: 7,
            scores: Default::default(),
        });
        let order = drain(&o);
        assert_eq!(
            order,
            [
                "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "s6", "s7", "end"
            ]
        );
    }

    #[test]
    fn a_stuck_transport_bounds_the_presence_changes_too() {
        let o = Outbox::default();
        for i in 0..PRESENCE_QUEUE as u64 {
            assert!(!o.push_presence(presence(i)));
        }
        assert!(
            o.push_presence(presence(PRESENCE_QUEUE as u64)),
            "the oldest made room"
        );
        let order = drain(&o);
        assert_eq!(order.len(), PRESENCE_QUEUE);
        assert_eq!(order[0], "p1");
        assert_eq!(order.last().unwrap(), &format!("p{PRESENCE_QUEUE}"));
    }

    #[test]
    fn a_dropped_room_task_ends_the_publisher() {
        let o = Arc::new(Outbox::default());
        o.push_presence(presence(1));
        drop(CloseOnDrop(o.clone()));
        assert_eq!(drain(&o), ["p1"]);
    }
}
