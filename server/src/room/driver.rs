//! Runs a [`Room`] on a fixed-rate timer and connects it to the outside through channels.
//!
//! The transport talks to a running room only through a [`RoomControl`] (join, leave, input,
//! end) and hears from it only through a [`SnapshotSink`]; neither side knows the other's
//! types, so the same room runs under Socket.IO, in a test, or in a benchmark.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tickroom_shared::codec::{self, DecodeError};
use tickroom_shared::{EndReason, InputMsg, MatchEnd};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{Game, InvalidInput, PushOutcome, Room, RoomConfig};
use crate::metrics::Metrics;

/// A boxed, sendable future, as [`SnapshotSink`] returns.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where a running room sends what it produces. Implemented by the transport.
pub trait SnapshotSink: Send + Sync + 'static {
    /// Delivers one tick's snapshot (msgpack of [`tickroom_shared::Snapshot`]) to everyone in
    /// `match_id`. Called once per tick, in tick order.
    fn publish<'a>(&'a self, match_id: &'a str, snapshot: Bytes) -> BoxFuture<'a>;
    /// The match ended: tell its connections and close them.
    fn ended<'a>(&'a self, end: &'a MatchEnd) -> BoxFuture<'a>;
}

/// Why an input was not queued. Each maps to one error code for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The payload does not decode into `{seq, input}` of the game's input type.
    #[error("bad payload: {0}")]
    Decode(#[from] DecodeError),
    /// The game's validation hook refused it.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The room's inbox is full.
    #[error("room inbox full")]
    InboxFull,
    /// The room has stopped.
    #[error("room closed")]
    Closed,
}

/// The transport's view of a running room, independent of the game type.
pub trait RoomControl: Send + Sync + 'static {
    /// Decodes and validates one `input` event payload (`[name, {seq, input}]`) and queues it
    /// for `player`. Runs on the caller's task: decoding never happens inside the tick.
    fn submit_input(&self, player: &Arc<str>, payload: &[u8]) -> Result<(), InputError>;
    /// Seats `player` (spawns its entity at the next tick). Seating an already seated player
    /// keeps its entity.
    fn join(&self, player: Arc<str>);
    /// Unseats `player` (despawns its entity at the next tick).
    fn leave(&self, player: Arc<str>);
    /// The last tick the room ran.
    fn tick(&self) -> u64;
    /// Ends the match: the room stops after its current tick and tells the sink.
    fn end(&self, reason: EndReason);
    /// Whether the room's task has stopped.
    fn is_closed(&self) -> bool;
}

enum Command<I> {
    Join(Arc<str>),
    Leave(Arc<str>),
    Input {
        player: Arc<str>,
        seq: u32,
        input: I,
    },
}

struct Shared {
    tick: AtomicU64,
    end: OnceLock<EndReason>,
    cancel: CancellationToken,
    closed: CancellationToken,
}

struct Handle<G: Game> {
    game: Arc<G>,
    control: mpsc::UnboundedSender<Command<G::Input>>,
    inputs: mpsc::Sender<Command<G::Input>>,
    shared: Arc<Shared>,
}

impl<G: Game> RoomControl for Handle<G> {
    fn submit_input(&self, player: &Arc<str>, payload: &[u8]) -> Result<(), InputError> {
        let (_, arg) = codec::split_event(payload)?;
        let msg: InputMsg<G::Input> = codec::decode_map(arg)?;
        self.game.validate(&msg.input)?;
        self.inputs
            .try_send(Command::Input {
                player: player.clone(),
                seq: msg.seq,
                input: msg.input,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => InputError::InboxFull,
                mpsc::error::TrySendError::Closed(_) => InputError::Closed,
            })
    }

    fn join(&self, player: Arc<str>) {
        // The control channel is unbounded but cannot grow without bound: a join or leave is
        // sent only when a seat is taken or given back, and seats are bounded per match.
        let _ = self.control.send(Command::Join(player));
    }

    fn leave(&self, player: Arc<str>) {
        let _ = self.control.send(Command::Leave(player));
    }

    fn tick(&self) -> u64 {
        self.shared.tick.load(Ordering::Relaxed)
    }

    fn end(&self, reason: EndReason) {
        let _ = self.shared.end.set(reason);
        self.shared.cancel.cancel();
    }

    fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }
}

/// Everything needed to start a room's task.
#[derive(Debug, Clone)]
pub struct SpawnParams {
    /// The match id; the sink addresses the room by it.
    pub match_id: Arc<str>,
    /// Tick rate and input buffer.
    pub room: RoomConfig,
    /// Capacity of the room's inbox (inputs from all players waiting for the next tick).
    pub inbox: usize,
}

/// Builds a room for `game`, spawns its task on the current runtime, and returns its control
/// handle. The task runs until [`RoomControl::end`] or `shutdown` is cancelled.
pub fn spawn<G: Game>(
    game: Arc<G>,
    params: SpawnParams,
    sink: Arc<dyn SnapshotSink>,
    metrics: Arc<Metrics>,
    tracker: &tokio_util::task::TaskTracker,
    shutdown: CancellationToken,
) -> Arc<dyn RoomControl> {
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (input_tx, input_rx) = mpsc::channel(params.inbox.max(1));
    let shared = Arc::new(Shared {
        tick: AtomicU64::new(0),
        end: OnceLock::new(),
        cancel: shutdown.child_token(),
        closed: CancellationToken::new(),
    });
    let room = Room::new(game.clone(), params.room);
    let task = RoomTask {
        room,
        match_id: params.match_id,
        control: control_rx,
        inputs: input_rx,
        sink,
        metrics,
        shared: shared.clone(),
    };
    tracker.spawn(task.run_guarded());
    Arc::new(Handle {
        game,
        control: control_tx,
        inputs: input_tx,
        shared,
    })
}

struct RoomTask<G: Game> {
    room: Room<G>,
    match_id: Arc<str>,
    control: mpsc::UnboundedReceiver<Command<G::Input>>,
    inputs: mpsc::Receiver<Command<G::Input>>,
    sink: Arc<dyn SnapshotSink>,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
}

impl<G: Game> RoomTask<G> {
    /// Runs the room; if the game panics, the match ends with [`EndReason::Error`] instead of
    /// leaving its clients waiting for snapshots that will never come. Other rooms and the
    /// server are unaffected either way.
    async fn run_guarded(self) {
        use futures_util::FutureExt;
        let match_id = self.match_id.clone();
        let sink = self.sink.clone();
        let metrics = self.metrics.clone();
        let shared = self.shared.clone();
        metrics.rooms_open.inc();
        let outcome = std::panic::AssertUnwindSafe(self.run())
            .catch_unwind()
            .await;
        if let Err(panic) = outcome {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%match_id, panic = %what, "room panicked; ending the match");
            let end = MatchEnd {
                match_id: match_id.to_string(),
                reason: EndReason::Error,
                tick: shared.tick.load(Ordering::Relaxed),
            };
            sink.ended(&end).await;
        }
        metrics.rooms_open.dec();
        shared.closed.cancel();
    }

    async fn run(mut self) {
        let rate = self.room.config.tick_rate.max(1);
        let period = Duration::from_secs_f64(1.0 / f64::from(rate));
        let mut timer = tokio::time::interval_at(Instant::now() + period, period);
        // A late room skips the ticks it missed rather than bursting to catch up, so one slow
        // tick cannot turn into a storm of snapshots.
        timer.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                _ = self.shared.cancel.cancelled() => break,
                _ = timer.tick() => {}
            }
            self.drain();
            let snapshot = Bytes::copy_from_slice(self.room.tick());
            self.shared
                .tick
                .store(self.room.tick_number(), Ordering::Relaxed);
            self.metrics.ticks.inc();
            self.metrics.snapshot_bytes.add(snapshot.len() as u64);
            self.sink.publish(&self.match_id, snapshot).await;
        }
        let end = MatchEnd {
            match_id: self.match_id.to_string(),
            reason: *self.shared.end.get().unwrap_or(&EndReason::Shutdown),
            tick: self.room.tick_number(),
        };
        self.sink.ended(&end).await;
        tracing::info!(match_id = %self.match_id, reason = ?end.reason, tick = end.tick, "match ended");
    }

    fn drain(&mut self) {
        // Joins and leaves first, so an input sent right after joining finds its seat.
        while let Ok(cmd) = self.control.try_recv() {
            self.apply(cmd);
        }
        // At most what was queued when the drain began: a flood cannot keep the tick waiting.
        for _ in 0..self.inputs.len() {
            match self.inputs.try_recv() {
                Ok(cmd) => self.apply(cmd),
                Err(_) => break,
            }
        }
    }

    fn apply(&mut self, cmd: Command<G::Input>) {
        match cmd {
            Command::Join(player) => {
                self.room.join(player);
            }
            Command::Leave(player) => {
                self.room.leave(&player);
            }
            Command::Input { player, seq, input } => {
                match self.room.push_input(&player, seq, input) {
                    PushOutcome::Queued => self.metrics.inputs_accepted.inc(),
                    PushOutcome::Duplicate => self.metrics.inputs_duplicate.inc(),
                    PushOutcome::Full => self.metrics.inputs_overflow.inc(),
                    PushOutcome::NotSeated => self.metrics.inputs_unseated.inc(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tickroom_shared::Snapshot;
    use tickroom_shared::games::arena::{ArenaInput, ArenaState};
    use tokio_util::task::TaskTracker;

    use super::*;
    use crate::games::arena::Arena;

    /// A sink that keeps what it is given, to look at the room from outside.
    #[derive(Default)]
    struct Recorder {
        snapshots: Mutex<Vec<Bytes>>,
        end: Mutex<Option<MatchEnd>>,
    }

    impl SnapshotSink for Recorder {
        fn publish<'a>(&'a self, _match_id: &'a str, snapshot: Bytes) -> BoxFuture<'a> {
            self.snapshots.lock().unwrap().push(snapshot);
            Box::pin(async {})
        }
        fn ended<'a>(&'a self, end: &'a MatchEnd) -> BoxFuture<'a> {
            *self.end.lock().unwrap() = Some(end.clone());
            Box::pin(async {})
        }
    }

    impl Recorder {
        fn count(&self) -> usize {
            self.snapshots.lock().unwrap().len()
        }
        fn last(&self) -> Snapshot<ArenaState> {
            let all = self.snapshots.lock().unwrap();
            rmp_serde::from_slice(all.last().unwrap()).unwrap()
        }
    }

    fn start(rate: u32, inbox: usize) -> (Arc<Recorder>, Arc<dyn RoomControl>, TaskTracker) {
        let sink = Arc::new(Recorder::default());
        let tracker = TaskTracker::new();
        let room = spawn(
            Arc::new(Arena),
            SpawnParams {
                match_id: "m".into(),
                room: RoomConfig {
                    tick_rate: rate,
                    input_buffer: 8,
                },
                inbox,
            },
            sink.clone(),
            Arc::new(Metrics::default()),
            &tracker,
            CancellationToken::new(),
        );
        (sink, room, tracker)
    }

    fn input(seq: u32, dir: [f32; 2]) -> Vec<u8> {
        codec::encode_event(
            "input",
            &InputMsg {
                seq,
                input: ArenaInput { dir, buttons: 0 },
            },
        )
    }

    #[tokio::test(start_paused = true)]
    async fn ticks_at_its_rate_and_applies_inputs() {
        let (sink, room, tracker) = start(30, 16);
        room.join("a".into());
        tokio::time::sleep(Duration::from_millis(1010)).await;
        assert_eq!(sink.count(), 30, "30 Hz for one second");
        assert_eq!(room.tick(), 30);
        let x0 = sink.last().state.player("a").unwrap().x;

        let a: Arc<str> = "a".into();
        let dir = if x0 < 50.0 { 1.0 } else { -1.0 };
        room.submit_input(&a, &input(1, [dir, 0.0])).unwrap();
        tokio::time::sleep(Duration::from_millis(34)).await;
        let s = sink.last();
        assert_eq!(s.tick, 31);
        assert_eq!(s.acks["a"], 1);
        assert!((s.state.player("a").unwrap().x - x0) * dir > 0.0);

        room.end(EndReason::Admin);
        tracker.close();
        tracker.wait().await;
        assert!(room.is_closed());
        let end = sink.end.lock().unwrap().clone().unwrap();
        assert_eq!(end.reason, EndReason::Admin);
        assert_eq!(end.tick, 31);
        assert_eq!(
            room.submit_input(&a, &input(2, [0.0, 0.0])),
            Err(InputError::Closed)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn inbox_is_bounded_and_decoding_is_strict() {
        let (sink, room, _tracker) = start(10, 2);
        let a: Arc<str> = "a".into();
        room.join(a.clone());
        assert_eq!(room.submit_input(&a, &input(1, [0.0, 0.0])), Ok(()));
        assert_eq!(room.submit_input(&a, &input(2, [0.0, 0.0])), Ok(()));
        assert_eq!(
            room.submit_input(&a, &input(3, [0.0, 0.0])),
            Err(InputError::InboxFull)
        );
        assert!(matches!(
            room.submit_input(&a, &input(4, [f32::NAN, 0.0])),
            Err(InputError::Invalid(_))
        ));
        assert!(matches!(
            room.submit_input(&a, b"\x92\xa5input\xc0"),
            Err(InputError::Decode(DecodeError::NotAMap))
        ));
        // After a tick the inbox has room again; the two queued inputs are applied one per tick.
        tokio::time::sleep(Duration::from_millis(110)).await;
        assert_eq!(sink.last().acks["a"], 1);
        assert_eq!(room.submit_input(&a, &input(3, [0.0, 0.0])), Ok(()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(sink.last().acks["a"], 3);
    }

    /// A game whose simulation panics on its third tick.
    struct Faulty;

    impl Game for Faulty {
        type Input = ArenaInput;
        type State = u64;
        fn name(&self) -> &'static str {
            "faulty"
        }
        fn build(
            &self,
            _world: &mut bevy_ecs::world::World,
            schedule: &mut bevy_ecs::schedule::Schedule,
        ) {
            use bevy_ecs::prelude::*;
            schedule.add_systems(
                (|tick: Res<'_, crate::room::TickInfo>| {
                    assert!(tick.tick < 3, "simulated game bug");
                })
                .in_set(crate::room::GameSystems::Simulate),
            );
        }
        fn on_join(&self, _world: &mut bevy_ecs::world::World, _entity: bevy_ecs::entity::Entity) {}
        fn snapshot(&self, world: &mut bevy_ecs::world::World) -> u64 {
            world.resource::<crate::room::TickInfo>().tick
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_game_ends_its_match_only() {
        let sink = Arc::new(Recorder::default());
        let tracker = TaskTracker::new();
        let metrics = Arc::new(Metrics::default());
        let params = |id: &str| SpawnParams {
            match_id: id.into(),
            room: RoomConfig {
                tick_rate: 10,
                input_buffer: 8,
            },
            inbox: 8,
        };
        let faulty = spawn(
            Arc::new(Faulty),
            params("bad"),
            sink.clone(),
            metrics.clone(),
            &tracker,
            CancellationToken::new(),
        );
        let healthy = spawn(
            Arc::new(Arena),
            params("good"),
            sink.clone(),
            metrics.clone(),
            &tracker,
            CancellationToken::new(),
        );
        tokio::time::sleep(Duration::from_millis(1050)).await;
        assert!(faulty.is_closed());
        let end = sink
            .end
            .lock()
            .unwrap()
            .clone()
            .expect("the faulty match ended");
        assert_eq!(
            (end.match_id.as_str(), end.reason, end.tick),
            ("bad", EndReason::Error, 2)
        );
        assert!(!healthy.is_closed());
        assert_eq!(healthy.tick(), 10, "the other room kept its rate");
        assert_eq!(metrics.rooms_open.get(), 1);
    }
}
