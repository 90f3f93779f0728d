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
                    // `join!` starts with each in turn, and every other snapshot would wait
                    // for the task's next turn through the run queue.
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
