//! Where the server's tasks run: rooms tick on a simulation runtime of their own, so socket
//! work (a flood, a slow client) can never make a tick late; everything else runs on the I/O
//! runtime the server was started on. Every task is tracked, for shutdown.

use std::future::Future;
use std::sync::Arc;

use tickroom_engine::RoomControl;
use tickroom_engine::driver::Spawned;
use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

/// The simulation runtime, if the server has one. Dropping a runtime from async code must not
/// block, so its threads are stopped in the background — also when the server's future is
/// dropped rather than finished.
#[derive(Debug)]
pub(crate) struct SimRuntime(Option<tokio::runtime::Runtime>);

impl SimRuntime {
    /// `threads` worker threads that tick rooms; 0 for none (rooms share the I/O runtime).
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        Ok(Self(match threads {
            0 => None,
            n => Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(n)
                    .thread_name("tickroom-sim")
                    .enable_time()
                    .build()?,
            ),
        }))
    }
}

impl Drop for SimRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Handles to the runtimes and the tracker of every task spawned on them.
#[derive(Debug, Clone)]
pub(crate) struct Runtimes {
    sim: Handle,
    io: Handle,
    /// Whether rooms tick on the I/O runtime (no simulation runtime: one core).
    shared: bool,
    pub(crate) tracker: TaskTracker,
}

impl Runtimes {
    /// Rooms on `sim`'s runtime if it has one, everything else on the current runtime.
    pub(crate) fn new(sim: &SimRuntime) -> Self {
        let io = Handle::current();
        Self {
            sim: sim
                .0
                .as_ref()
                .map_or_else(|| io.clone(), |rt| rt.handle().clone()),
            shared: sim.0.is_none(),
            io,
            tracker: TaskTracker::new(),
        }
    }

    /// Starts a room: its ticks on the simulation runtime, its publisher on the I/O runtime.
    /// When both are one runtime (one core), the room and its publisher are one task: a
    /// snapshot goes out in the same poll as the tick that made it, not after another task's
    /// wake-up behind every socket task the tick woke. The ticks do not wait on the sink for
    /// it: the Socket.IO sink's broadcasts are `local()` and complete at once.
    pub(crate) fn start_room(&self, room: Spawned) -> Arc<dyn RoomControl> {
        if self.shared {
            let (ticks, publisher) = (room.room, room.publisher);
            self.tracker.spawn_on(
                async move {
                    // `biased`: the ticks first, then the publisher, in every poll. Unbiased,
                    // `join!` starts with each in turn, and a snapshot made after the
                    // publisher's turn waits for the task's next trip through the run queue,
                    // behind every task its tick woke.
                    tokio::join!(biased; ticks, publisher);
                },
                &self.io,
            );
        } else {
            self.tracker.spawn_on(room.publisher, &self.io);
            self.tracker.spawn_on(room.room, &self.sim);
        }
        room.control
    }

    /// Runs `task` on the I/O runtime, tracked.
    pub(crate) fn spawn_io<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn_on(task, &self.io);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use tickroom_engine::driver::{self, BoxFuture, SnapshotSink, SpawnParams};
    use tickroom_engine::{RoomConfig, RoomMetrics};
    use tickroom_games::arena::Arena;
    use tickroom_shared::{EndReason, MatchEnd, Presence};
    use tokio::sync::Notify;
    use tokio_util::sync::CancellationToken;

    use super::*;

    /// Each tick wakes another task, as a tick's snapshot wakes socket tasks; counts that
    /// task's turns, read when each tick ends and when each snapshot is published.
    #[derive(Default)]
    struct Turns {
        wake: Notify,
        other: AtomicU64,
        at_tick: Mutex<Vec<u64>>,
        at_publish: Mutex<Vec<u64>>,
    }

    impl Turns {
        fn read(&self, into: &Mutex<Vec<u64>>) {
            let turns = self.other.load(Ordering::Relaxed);
            into.lock().expect("turns").push(turns);
        }
    }

    impl RoomMetrics for Turns {
        fn tick(&self, _took: Duration) {
            self.read(&self.at_tick);
            self.wake.notify_one();
        }
    }

    impl SnapshotSink for Turns {
        fn publish<'a>(&'a self, _match_id: &'a str, _snapshot: Bytes) -> BoxFuture<'a> {
            self.read(&self.at_publish);
            Box::pin(async {})
        }
        fn publish_view<'a>(
            &'a self,
            _match_id: &'a str,
            _viewer: &'a str,
            _snapshot: Bytes,
        ) -> BoxFuture<'a> {
            self.read(&self.at_publish);
            Box::pin(async {})
        }
        fn presence<'a>(&'a self, _match_id: &'a str, _p: &'a Presence) -> BoxFuture<'a> {
            Box::pin(async {})
        }
        fn ended<'a>(&'a self, _end: &'a MatchEnd) -> BoxFuture<'a> {
            Box::pin(async {})
        }
    }

    /// On one core a snapshot goes out in the poll of the tick that made it, ahead of the
    /// tasks that tick woke. (When the room's task took turns at which of its two futures it
    /// polled first, the publisher came first on almost every tick — the extra poll of each
    /// tick's own wake-up kept the turn in step — and the snapshot waited behind them.)
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn on_one_core_each_snapshot_leaves_in_the_poll_of_its_tick() {
        let runtimes = Runtimes::new(&SimRuntime::new(0).expect("no threads to start"));
        let turns = Arc::new(Turns::default());
        let other = turns.clone();
        tokio::spawn(async move {
            loop {
                other.wake.notified().await;
                other.other.fetch_add(1, Ordering::Relaxed);
            }
        });
        let params = SpawnParams {
            match_id: "m".into(),
            room: RoomConfig::with_rate(30),
            inbox: 8,
            empty_grace: Duration::from_secs(60),
            recording: None,
        };
        let room = driver::spawn(
            Arc::new(Arena),
            params,
            turns.clone(),
            turns.clone(),
            CancellationToken::new(),
        );
        let control = runtimes.start_room(room);
        control.join("p".into());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let at_tick = turns.at_tick.lock().expect("turns").clone();
        let at_publish = turns.at_publish.lock().expect("turns").clone();
        assert!(at_tick.len() >= 20, "{} ticks", at_tick.len());
        assert_eq!(at_tick.len(), at_publish.len(), "a snapshot a tick");
        assert_eq!(
            at_tick, at_publish,
            "turns taken between a tick and its snapshot"
        );
        control.end(EndReason::Shutdown);
    }
}
