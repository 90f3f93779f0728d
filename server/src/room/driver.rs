//! Runs a [`Room`] on a fixed-rate timer and connects it to the outside through channels.
//!
//! The transport talks to a running room only through a [`RoomControl`] (join, leave, input,
//! end) and hears from it only through a [`SnapshotSink`]; neither side knows the other's
//! types, so the same room runs under Socket.IO, in a test, or in a benchmark.
//!
//! A room's task runs on the simulation runtime ([`Runtimes::sim`]): it drains its inbox,
//! ticks, and hands the encoded snapshot to a publisher task on the I/O runtime, which does the
//! socket work. A transport that falls behind costs dropped snapshots (counted), never a late
//! tick.
//!
//! Lifecycle: a room is *waiting* until its first player joins (it does not tick), then
//! *running*, then *ended* — by the admin API, by the game, by server shutdown, or when no
//! player has been seated for the empty-room grace period.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tickroom_shared::codec::{self, DecodeError};
use tickroom_shared::{EndReason, InputMsg, MatchEnd, Presence, PresenceStatus};
use tokio::runtime::Handle as RuntimeHandle;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Game, InvalidInput, PushOutcome, Room, RoomConfig};
use crate::metrics::Metrics;

/// A boxed, sendable future, as [`SnapshotSink`] returns.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Most ticks a late room runs back to back to catch up; beyond that it skips ticks (counted in
/// `tickroom_ticks_skipped_total`), so a stalled room comes back at its rate instead of
/// bursting.
pub const MAX_CATCH_UP: u32 = 3;

/// Snapshots a room may have waiting for its publisher before newer ones are dropped.
const PUBLISH_QUEUE: usize = 4;

/// Where a running room sends what it produces. Implemented by the transport.
pub trait SnapshotSink: Send + Sync + 'static {
    /// Delivers one tick's snapshot (msgpack of [`tickroom_shared::Snapshot`]) to everyone in
    /// `match_id`. Called once per tick, in tick order.
    fn publish<'a>(&'a self, match_id: &'a str, snapshot: Bytes) -> BoxFuture<'a>;
    /// A player joined, left, dropped or came back.
    fn presence<'a>(&'a self, match_id: &'a str, presence: &'a Presence) -> BoxFuture<'a>;
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

/// Where a room is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomState {
    /// Created; no player has joined yet, so it does not tick.
    Waiting,
    /// Ticking.
    Running,
    /// Over; its task has stopped or is stopping.
    Ended,
}

impl RoomState {
    /// The state as the admin API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Ended => "ended",
        }
    }
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
    /// Makes the next snapshot a keyframe, for a connection that just joined.
    fn request_keyframe(&self);
    /// `player`'s connection dropped (`connected = false`; the seat and entity are held) or
    /// came back (`true`).
    fn set_connected(&self, player: Arc<str>, connected: bool);
    /// The last tick the room ran.
    fn tick(&self) -> u64;
    /// Waiting, running or ended.
    fn state(&self) -> RoomState;
    /// Why the room ended, once it has.
    fn end_reason(&self) -> Option<EndReason>;
    /// Ends the match: the room stops after its current tick and tells the sink.
    fn end(&self, reason: EndReason);
    /// Whether the room's task has stopped.
    fn is_closed(&self) -> bool;
    /// Resolves once the room's task has stopped.
    fn closed(&self) -> BoxFuture<'_>;
    /// Players, scores and playing time, once the room has ended (not after a panic).
    fn outcome(&self) -> Option<Outcome>;
}

enum Command<I> {
    Join(Arc<str>),
    Leave(Arc<str>),
    Keyframe,
    Connected(Arc<str>, bool),
    Input {
        player: Arc<str>,
        seq: u32,
        input: I,
    },
}

/// How a room ended, as its result records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Players seated at the end, sorted.
    pub players: Vec<String>,
    /// The game's final scores.
    pub scores: std::collections::BTreeMap<String, i64>,
    /// Time from the first tick to the end.
    pub played: Duration,
}

struct Shared {
    outcome: OnceLock<Outcome>,
    tick: AtomicU64,
    state: AtomicU8,
    end: OnceLock<EndReason>,
    cancel: CancellationToken,
    closed: CancellationToken,
}

impl Shared {
    fn set_state(&self, s: RoomState) {
        self.state.store(s as u8, Ordering::Release);
    }
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

    fn request_keyframe(&self) {
        // Bounded like joins: one per accepted connection.
        let _ = self.control.send(Command::Keyframe);
    }

    fn set_connected(&self, player: Arc<str>, connected: bool) {
        let _ = self.control.send(Command::Connected(player, connected));
    }

    fn tick(&self) -> u64 {
        self.shared.tick.load(Ordering::Relaxed)
    }

    fn state(&self) -> RoomState {
        match self.shared.state.load(Ordering::Acquire) {
            0 => RoomState::Waiting,
            1 => RoomState::Running,
            _ => RoomState::Ended,
        }
    }

    fn end_reason(&self) -> Option<EndReason> {
        self.shared.end.get().copied()
    }

    fn end(&self, reason: EndReason) {
        let _ = self.shared.end.set(reason);
        self.shared.cancel.cancel();
    }

    fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    fn closed(&self) -> BoxFuture<'_> {
        Box::pin(self.shared.closed.cancelled())
    }

    fn outcome(&self) -> Option<Outcome> {
        self.shared.outcome.get().cloned()
    }
}

/// Everything needed to start a room's task.
#[derive(Debug, Clone)]
pub struct SpawnParams {
    /// The match id; the sink addresses the room by it.
    pub match_id: Arc<str>,
    /// Tick rate and input buffering.
    pub room: RoomConfig,
    /// Capacity of the room's inbox (inputs from all players waiting for the next tick).
    pub inbox: usize,
    /// A room with no seated player for this long ends with [`EndReason::Abandoned`] (a
    /// waiting room counts from its creation).
    pub empty_grace: Duration,
}

/// Where rooms run: simulation on `sim`, socket work on `io`, all tracked by `tracker`.
#[derive(Debug, Clone)]
pub struct Runtimes {
    /// Runs room tasks (ticks).
    pub sim: RuntimeHandle,
    /// Runs publisher tasks (snapshot broadcast).
    pub io: RuntimeHandle,
    /// Tracks every room and publisher task, for shutdown.
    pub tracker: TaskTracker,
}

impl Runtimes {
    /// Everything on the current runtime (tests, benchmarks, single-runtime servers).
    pub fn current(tracker: TaskTracker) -> Self {
        let h = RuntimeHandle::current();
        Self {
            sim: h.clone(),
            io: h,
            tracker,
        }
    }
}

/// Builds a room for `game`, starts its task and its publisher, and returns its control
/// handle. The room runs until [`RoomControl::end`], `stop` (the registry cancels it at the
/// end of a shutdown drain), the game ending it, or the empty-room grace period.
pub fn spawn<G: Game>(
    game: Arc<G>,
    params: SpawnParams,
    sink: Arc<dyn SnapshotSink>,
    metrics: Arc<Metrics>,
    runtimes: &Runtimes,
    stop: CancellationToken,
) -> Arc<dyn RoomControl> {
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (input_tx, input_rx) = mpsc::channel(params.inbox.max(1));
    let (publish_tx, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
    let shared = Arc::new(Shared {
        outcome: OnceLock::new(),
        tick: AtomicU64::new(0),
        state: AtomicU8::new(RoomState::Waiting as u8),
        end: OnceLock::new(),
        cancel: stop.child_token(),
        closed: CancellationToken::new(),
    });
    let room = Room::new(game.clone(), params.room);
    let task = RoomTask {
        room,
        match_id: params.match_id.clone(),
        empty_grace: params.empty_grace,
        control: control_rx,
        inputs: input_rx,
        publish: publish_tx,
        metrics: metrics.clone(),
        shared: shared.clone(),
        presence: Vec::new(),
        started: None,
    };
    runtimes.tracker.spawn_on(
        publisher(params.match_id, publish_rx, sink, shared.clone(), metrics),
        &runtimes.io,
    );
    runtimes.tracker.spawn_on(task.run_guarded(), &runtimes.sim);
    Arc::new(Handle {
        game,
        control: control_tx,
        inputs: input_tx,
        shared,
    })
}

enum Publish {
    Snapshot(Bytes),
    Presence(Presence),
    Ended(MatchEnd),
}

/// Hands a room's output to the sink on the I/O runtime, in order; ends after `Ended`.
async fn publisher(
    match_id: Arc<str>,
    mut rx: mpsc::Receiver<Publish>,
    sink: Arc<dyn SnapshotSink>,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
) {
    while let Some(msg) = rx.recv().await {
        match msg {
            Publish::Snapshot(bytes) => sink.publish(&match_id, bytes).await,
            Publish::Presence(p) => sink.presence(&match_id, &p).await,
            Publish::Ended(end) => {
                sink.ended(&end).await;
                break;
            }
        }
    }
    metrics.rooms_open.dec();
    shared.set_state(RoomState::Ended);
    shared.closed.cancel();
}

struct RoomTask<G: Game> {
    room: Room<G>,
    match_id: Arc<str>,
    empty_grace: Duration,
    control: mpsc::UnboundedReceiver<Command<G::Input>>,
    inputs: mpsc::Receiver<Command<G::Input>>,
    publish: mpsc::Sender<Publish>,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    /// Presence changes applied since the last publish.
    presence: Vec<Presence>,
    /// When the first tick ran.
    started: Option<Instant>,
}

impl<G: Game> RoomTask<G> {
    /// Runs the room; if the game panics, the match ends with [`EndReason::Error`] instead of
    /// leaving its clients waiting for snapshots that will never come. Other rooms and the
    /// server are unaffected either way.
    async fn run_guarded(self) {
        use futures_util::FutureExt;
        let match_id = self.match_id.clone();
        let publish = self.publish.clone();
        let shared = self.shared.clone();
        self.metrics.rooms_open.inc();
        let reason = match std::panic::AssertUnwindSafe(self.run())
            .catch_unwind()
            .await
        {
            Ok(reason) => reason,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(%match_id, panic = %what, "room panicked; ending the match");
                EndReason::Error
            }
        };
        let _ = shared.end.set(reason);
        let end = MatchEnd {
            match_id: match_id.to_string(),
            reason: *shared.end.get().unwrap_or(&reason),
            tick: shared.tick.load(Ordering::Relaxed),
            scores: shared
                .outcome
                .get()
                .map(|o| o.scores.clone())
                .unwrap_or_default(),
        };
        tracing::info!(%match_id, reason = ?end.reason, tick = end.tick, "match ended");
        shared.set_state(RoomState::Ended);
        // The publisher is still running (it ends on this message), so this cannot fail.
        let _ = publish.send(Publish::Ended(end)).await;
    }

    async fn run(mut self) -> EndReason {
        let reason = self.run_until_end().await;
        // The first recorded reason wins (an admin end racing a game over keeps the admin's).
        let _ = self.shared.end.set(reason);
        let reason = self.shared.end.get().copied().unwrap_or(reason);
        let scores = self.room.end(reason);
        let _ = self.shared.outcome.set(Outcome {
            players: self.room.player_ids(),
            scores,
            played: self.started.map_or(Duration::ZERO, |t| t.elapsed()),
        });
        reason
    }

    async fn run_until_end(&mut self) -> EndReason {
        // Waiting: no ticks until the first player, or the grace period, or an end.
        let grace = tokio::time::sleep(self.empty_grace);
        tokio::pin!(grace);
        loop {
            if self.room.player_count() > 0 {
                break;
            }
            tokio::select! {
                biased;
                _ = self.shared.cancel.cancelled() => return self.requested_end(),
                _ = &mut grace => return EndReason::Abandoned,
                cmd = self.control.recv() => match cmd {
                    Some(cmd) => self.apply(cmd),
                    None => return self.requested_end(),
                },
            }
            self.flush_presence().await;
        }
        self.shared.set_state(RoomState::Running);
        self.started = Some(Instant::now());

        let rate = self.room.config.tick_rate.max(1);
        let period = Duration::from_secs_f64(1.0 / f64::from(rate));
        let mut next = Instant::now();
        let mut empty_since: Option<Instant> = None;
        let mut overrun_warned = false;
        loop {
            tokio::select! {
                biased;
                _ = self.shared.cancel.cancelled() => return self.requested_end(),
                _ = tokio::time::sleep_until(next) => {}
            }
            let now = Instant::now();
            let late = now.saturating_duration_since(next);
            self.metrics.tick_lateness.observe(late);
            // Ticks due now: this one plus any whole periods we are behind.
            let behind =
                u32::try_from(late.as_nanos() / period.as_nanos().max(1)).unwrap_or(u32::MAX);
            let due = behind.saturating_add(1);
            let run = due.min(MAX_CATCH_UP);
            if due > run {
                self.metrics.ticks_skipped.add(u64::from(due - run));
            }
            for i in 0..run {
                if i > 0 {
                    // Catching up: give the thread back between ticks, so a late room delays
                    // the others on its thread by one tick at a time, not by the whole backlog.
                    tokio::task::yield_now().await;
                }
                self.drain();
                self.flush_presence().await;
                // Real time, not the runtime's clock: what a tick costs is CPU, whatever the
                // scheduler's notion of now.
                let started = std::time::Instant::now();
                let snapshot = Bytes::copy_from_slice(self.room.tick());
                let took = started.elapsed();
                self.metrics.tick_duration.observe(took);
                if took > period {
                    self.metrics.tick_overruns.inc();
                    if !overrun_warned {
                        overrun_warned = true;
                        tracing::warn!(match_id = %self.match_id, ?took, ?period, "tick overran its period");
                    }
                }
                self.shared
                    .tick
                    .store(self.room.tick_number(), Ordering::Relaxed);
                self.metrics.ticks.inc();
                self.metrics.snapshot_bytes.add(snapshot.len() as u64);
                if self.publish.try_send(Publish::Snapshot(snapshot)).is_err() {
                    self.metrics.snapshots_dropped.inc();
                }
                if self.room.is_over() {
                    return EndReason::GameOver;
                }
            }
            next += period * due;
            if self.room.player_count() == 0 {
                let since = *empty_since.get_or_insert(now);
                if now.duration_since(since) >= self.empty_grace {
                    return EndReason::Abandoned;
                }
            } else {
                empty_since = None;
            }
        }
    }

    fn note(&mut self, player: Arc<str>, status: PresenceStatus) {
        self.presence.push(Presence {
            player_id: player.to_string(),
            status,
            tick: self.room.tick_number(),
        });
    }

    /// Hands the presence changes gathered so far to the publisher. Unlike snapshots they are
    /// never dropped: this waits for room in the queue.
    async fn flush_presence(&mut self) {
        for p in self.presence.drain(..) {
            let _ = self.publish.send(Publish::Presence(p)).await;
        }
    }

    fn requested_end(&self) -> EndReason {
        self.shared
            .end
            .get()
            .copied()
            .unwrap_or(EndReason::Shutdown)
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
                if self.room.join(player.clone()) {
                    self.note(player, PresenceStatus::Joined);
                }
            }
            Command::Leave(player) => {
                if self.room.leave(&player) {
                    self.note(player, PresenceStatus::Left);
                }
            }
            Command::Keyframe => self.room.request_keyframe(),
            Command::Connected(player, connected) => {
                if self.room.set_connected(&player, connected) {
                    let status = if connected {
                        PresenceStatus::Reconnected
                    } else {
                        PresenceStatus::Disconnected
                    };
                    self.note(player, status);
                }
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

/// Test helpers shared by the room and registry tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Mutex;

    use tickroom_shared::games::arena::ArenaState;
    use tickroom_shared::{Mirror, Snapshot};

    use super::*;

    /// A sink that keeps what it is given, to look at the room from outside.
    #[derive(Default)]
    pub(crate) struct Recorder {
        pub(crate) snapshots: Mutex<Vec<Bytes>>,
        pub(crate) presence: Mutex<Vec<Presence>>,
        pub(crate) end: Mutex<Option<MatchEnd>>,
    }

    impl SnapshotSink for Recorder {
        fn publish<'a>(&'a self, _match_id: &'a str, snapshot: Bytes) -> BoxFuture<'a> {
            self.snapshots.lock().unwrap().push(snapshot);
            Box::pin(async {})
        }
        fn presence<'a>(&'a self, _match_id: &'a str, p: &'a Presence) -> BoxFuture<'a> {
            self.presence.lock().unwrap().push(p.clone());
            Box::pin(async {})
        }
        fn ended<'a>(&'a self, end: &'a MatchEnd) -> BoxFuture<'a> {
            *self.end.lock().unwrap() = Some(end.clone());
            Box::pin(async {})
        }
    }

    impl Recorder {
        /// The presence statuses recorded so far, in order, as (player, status).
        pub(crate) fn statuses(&self) -> Vec<(String, PresenceStatus)> {
            let all = self.presence.lock().unwrap();
            all.iter()
                .map(|p| (p.player_id.clone(), p.status))
                .collect()
        }
        pub(crate) fn count(&self) -> usize {
            self.snapshots.lock().unwrap().len()
        }
        /// The state after the last snapshot, rebuilt from keyframes and deltas as a client
        /// would.
        pub(crate) fn last(&self) -> Snapshot<ArenaState> {
            self.rebuild().pop().expect("a snapshot")
        }
        pub(crate) fn rebuild<S: tickroom_shared::snapshot::FromFrame>(&self) -> Vec<Snapshot<S>> {
            let mut m = Mirror::new();
            let all = self.snapshots.lock().unwrap();
            all.iter()
                .filter_map(|b| m.apply_typed(b).unwrap())
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use tickroom_shared::games::arena::ArenaInput;
    use tokio_util::task::TaskTracker;

    use super::*;
    use crate::games::arena::Arena;

    use super::testing::Recorder;

    /// Rooms on the test's (paused) runtime, all publishing to one recorder.
    struct Harness {
        sink: Arc<Recorder>,
        metrics: Arc<Metrics>,
        tracker: TaskTracker,
    }

    impl Harness {
        fn new() -> Self {
            Self {
                sink: Arc::new(Recorder::default()),
                metrics: Arc::new(Metrics::default()),
                tracker: TaskTracker::new(),
            }
        }

        fn spawn<G: Game>(&self, game: G, params: SpawnParams) -> Arc<dyn RoomControl> {
            spawn(
                Arc::new(game),
                params,
                self.sink.clone(),
                self.metrics.clone(),
                &Runtimes::current(self.tracker.clone()),
                CancellationToken::new(),
            )
        }

        async fn wait_closed(&self) {
            self.tracker.close();
            self.tracker.wait().await;
        }
    }

    fn params(id: &str, rate: u32) -> SpawnParams {
        SpawnParams {
            match_id: id.into(),
            room: RoomConfig::with_rate(rate),
            inbox: 8,
            empty_grace: Duration::from_secs(5),
        }
    }

    /// An arena room at `rate` Hz with an inbox of `inbox`.
    fn start(rate: u32, inbox: usize) -> (Arc<Recorder>, Arc<dyn RoomControl>, TaskTracker) {
        let h = Harness::new();
        let room = h.spawn(
            Arena,
            SpawnParams {
                inbox,
                ..params("m", rate)
            },
        );
        (h.sink, room, h.tracker)
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
        // The first join starts the clock: tick 1 at once, then one every 1/30 s.
        room.join("a".into());
        tokio::time::sleep(Duration::from_millis(990)).await;
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
        // After a tick the inbox has room again; with the default lag of 0 that tick applied
        // both waiting inputs.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(sink.last().acks["a"], 2);
        assert_eq!(room.submit_input(&a, &input(3, [0.0, 0.0])), Ok(()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(sink.last().acks["a"], 3);
    }

    /// A test game made of one system; its globals are the tick number.
    struct OneSystem(fn(bevy_ecs::prelude::Res<'_, crate::room::TickInfo>));

    impl Game for OneSystem {
        type Input = ArenaInput;
        type Row = ();
        type Globals = u64;
        fn name(&self) -> &'static str {
            "one-system"
        }
        fn build(
            &self,
            _world: &mut bevy_ecs::world::World,
            schedule: &mut bevy_ecs::schedule::Schedule,
        ) {
            use bevy_ecs::prelude::*;
            schedule.add_systems(self.0.in_set(crate::room::GameSystems::Simulate));
        }
        fn on_join(&self, _world: &mut bevy_ecs::world::World, _entity: bevy_ecs::entity::Entity) {}
        fn row_fields(&self) -> &'static [&'static str] {
            &[]
        }
        fn snapshot(
            &self,
            world: &mut bevy_ecs::world::World,
            _rows: &mut crate::room::Rows<'_, ()>,
        ) -> u64 {
            world.resource::<crate::room::TickInfo>().tick
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_game_ends_its_match_only() {
        let h = Harness::new();
        let faulty = h.spawn(
            OneSystem(|tick| assert!(tick.tick < 3, "simulated game bug")),
            params("bad", 10),
        );
        let healthy = h.spawn(Arena, params("good", 10));
        faulty.join("p".into());
        healthy.join("p".into());
        tokio::time::sleep(Duration::from_millis(1050)).await;
        assert!(faulty.is_closed());
        let end = h
            .sink
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
        assert_eq!(
            healthy.tick(),
            11,
            "the other room kept its rate: ticks at 0, 0.1, .. 1.0 s"
        );
        assert_eq!(h.metrics.rooms_open.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_rooms_do_not_tick_and_empty_rooms_are_abandoned() {
        let h = Harness::new();
        let never = h.spawn(Arena, params("never", 10));
        let left = h.spawn(Arena, params("left", 10));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(never.state(), RoomState::Waiting);
        assert_eq!(never.tick(), 0);
        assert_eq!(h.sink.count(), 0, "waiting rooms send nothing");

        left.join("a".into());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(left.state(), RoomState::Running);
        left.leave("a".into());
        // `never` waited 5 s since creation; `left` runs on, empty, until 5 s after the leave.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert!(never.is_closed());
        assert_eq!(never.end_reason(), Some(EndReason::Abandoned));
        assert!(!left.is_closed());
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(left.is_closed());
        assert_eq!(left.end_reason(), Some(EndReason::Abandoned));
        assert_eq!(h.metrics.rooms_open.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_game_can_end_its_match() {
        use crate::games::tictactoe::TicTacToe;
        use tickroom_shared::games::tictactoe::{Board, Move, X};
        let h = Harness::new();
        let room = h.spawn(TicTacToe, params("ttt", 20));
        let (x, o): (Arc<str>, Arc<str>) = ("x".into(), "o".into());
        room.join(x.clone());
        room.join(o.clone());
        let mv = |seq: u32, cell: u8| {
            codec::encode_event(
                "input",
                &InputMsg {
                    seq,
                    input: Move { cell },
                },
            )
        };
        for (who, seq, cell) in [(&x, 1, 0), (&o, 1, 3), (&x, 2, 1), (&o, 2, 4), (&x, 3, 2)] {
            room.submit_input(who, &mv(seq, cell)).unwrap();
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        h.wait_closed().await;
        let end = h.sink.end.lock().unwrap().clone().unwrap();
        assert_eq!(end.reason, EndReason::GameOver);
        let last = h.sink.rebuild::<Board>().pop().unwrap();
        assert_eq!(last.state.winner, Some(X));
        assert_eq!(
            last.tick, end.tick,
            "the final board was published before the end"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn overruns_are_measured_and_counted() {
        let h = Harness::new();
        // Every tick takes 30 ms of real time (the paused clock does not move meanwhile):
        // within a 50 ms period at 20 Hz, over a 20 ms period at 50 Hz.
        let slow = |_: bevy_ecs::prelude::Res<'_, crate::room::TickInfo>| {
            std::thread::sleep(Duration::from_millis(30));
        };
        let fits = h.spawn(OneSystem(slow), params("fits", 20));
        fits.join("p".into());
        tokio::time::sleep(Duration::from_millis(120)).await;
        let ticks = h.metrics.ticks.get();
        assert!(ticks >= 3, "{ticks}");
        assert_eq!(h.metrics.tick_overruns.get(), 0);
        assert_eq!(h.metrics.tick_duration.count(), ticks);
        assert_eq!(
            h.metrics.tick_duration.count_above(25_000),
            ticks,
            "each tick took its 30 ms"
        );
        fits.end(EndReason::Admin);

        let over = h.spawn(OneSystem(slow), params("over", 50));
        over.join("p".into());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            h.metrics.tick_overruns.get() >= 3,
            "{}",
            h.metrics.tick_overruns.get()
        );
        over.end(EndReason::Admin);
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_room_catches_up_three_ticks_and_skips_the_rest() {
        let h = Harness::new();
        let room = h.spawn(Arena, params("late", 30));
        room.join("p".into());
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(h.metrics.ticks.get(), 1);
        // The whole runtime stalls for a second (as if the machine froze): 30 ticks fall due
        // at once. The room runs 3 of them back to back and skips the rest.
        tokio::time::advance(Duration::from_secs(1)).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(h.metrics.ticks.get(), 1 + MAX_CATCH_UP as u64);
        assert_eq!(h.metrics.ticks_skipped.get(), 30 - u64::from(MAX_CATCH_UP));
        // Then it is back on its clock: one tick per period.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(h.metrics.ticks.get(), 1 + u64::from(MAX_CATCH_UP) + 3);
        assert!(
            h.metrics.tick_lateness.count_above(900_000) >= 1,
            "the late tick was measured"
        );
    }
}
