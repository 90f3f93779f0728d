//! Runs a [`Room`] on a fixed-rate timer and connects it to the outside through
//! channels.
//!
//! The transport talks to a running room only through a [`RoomControl`] (join, leave, input,
//! end) and hears from it only through a [`SnapshotSink`]; neither side knows the other's
//! types, so the same room runs under Socket.IO, in a test, or in a benchmark.
//!
//! [`spawn`] returns the room's two futures instead of spawning them, so the embedder decides
//! where they run: the server ticks rooms on a simulation runtime of its own and does the
//! socket work of the publisher on its I/O runtime. A transport that falls behind costs
//! dropped snapshots (counted), never a late tick.
//!
//! # Layout
//! - `handle`: the [`RoomControl`] handle and the room's [`MatchState`].
//! - `clock`: the fixed-timestep clock (which ticks are due, how many to skip); pure.
//! - `task`: the room's task: waiting, ticking, ending.
//! - `log`: a recorded room's command log, kept as the match goes and readable meanwhile.
//! - `outbox`: the queue between a room and its publisher: snapshots bounded (never a
//!   keyframe dropped), presence and the match end never dropped.
//! - `publisher`: hands the room's output to the sink, in order.
//! - `stats`: the room's own measurements ([`RoomStats`]).

mod clock;
mod handle;
mod log;
mod outbox;
mod publisher;
mod stats;
mod task;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tickroom_shared::input::{Input, InvalidInput};
use tickroom_shared::wire::{self, DecodeError};
use tickroom_shared::{EndReason, MatchEnd, Presence};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use clock::{Due, TickClock};
pub use handle::MatchState;
pub use log::Recorded;
pub use stats::RoomStats;

use crate::game::Game;
use crate::metrics::RoomMetrics;
use crate::room::{Room, RoomConfig};

/// A boxed, sendable future, as [`SnapshotSink`] and [`RoomControl::closed`] return.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Most ticks a late room runs back to back to catch up; beyond that it skips ticks (counted
/// by [`RoomMetrics::ticks_skipped`]), so a stalled room comes back at its rate instead of
/// bursting.
pub const MAX_CATCH_UP: u32 = 3;

/// Where a running room sends what it produces. Implemented by the transport.
pub trait SnapshotSink: Send + Sync + 'static {
    /// Delivers one tick's snapshot (msgpack of [`tickroom_shared::Snapshot`]) to everyone in
    /// `match_id`. Called once per snapshot, in tick order, for a room without an
    /// [`Interest`](crate::Interest).
    fn publish<'a>(&'a self, match_id: &'a str, snapshot: Bytes) -> BoxFuture<'a>;
    /// Delivers one viewer's own snapshot to the connections of `viewer` (a player's id or a
    /// spectator's) in `match_id`, for a room with an [`Interest`](crate::Interest). Called
    /// for each viewer once per snapshot, in tick order.
    fn publish_view<'a>(
        &'a self,
        match_id: &'a str,
        viewer: &'a str,
        snapshot: Bytes,
    ) -> BoxFuture<'a>;
    /// A player joined, left, dropped or came back.
    fn presence<'a>(&'a self, match_id: &'a str, presence: &'a Presence) -> BoxFuture<'a>;
    /// The match ended: tell its connections and close them.
    fn ended<'a>(&'a self, end: &'a MatchEnd) -> BoxFuture<'a>;
}

/// Why an input was not queued. Each maps to one error code for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The input does not decode into the game's input type.
    #[error("bad payload: {0}")]
    Decode(#[from] DecodeError),
    /// It breaks its type's declared bounds, or the game's `validate` refused it.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The room's inbox is full.
    #[error("room inbox full")]
    InboxFull,
    /// The room has stopped.
    #[error("room closed")]
    Closed,
}

/// Decodes one input of `G` from its msgpack and checks it, as every room does before
/// queueing it: a map (`Decode(NotAMap)` otherwise) that decodes into `G::Input`, within its
/// declared bounds ([`Input::check`]) and accepted by [`Game::validate`].
pub fn decode_input<G: Game>(game: &G, bytes: &[u8]) -> Result<G::Input, InputError> {
    let input: G::Input = wire::decode_map(bytes)?;
    input.check()?;
    game.validate(&input)?;
    Ok(input)
}

/// A running room, as its owner sees it, independent of the game type.
pub trait RoomControl: Send + Sync + 'static {
    /// Decodes `input` (the msgpack of one game input) into the game's input type, validates
    /// it and queues it as `player`'s input `seq`. Runs on the caller's task: decoding never
    /// happens inside the tick.
    fn submit_input(&self, player: &Arc<str>, seq: u32, input: &[u8]) -> Result<(), InputError>;
    /// Seats `player` (spawns its entity at the next tick). Seating an already seated player
    /// keeps its entity.
    fn join(&self, player: Arc<str>);
    /// Unseats `player` (despawns its entity at the next tick).
    fn leave(&self, player: Arc<str>);
    /// Makes the next snapshot a keyframe (every viewer's, with an interest).
    fn request_keyframe(&self);
    /// A connection of `viewer` (a player's id or a spectator's) came: its next snapshot is a
    /// keyframe. With an [`Interest`](crate::Interest) only that viewer's is, and a spectator
    /// is sent snapshots from then until [`unwatch`](Self::unwatch); without one the room's
    /// next snapshot is a keyframe.
    fn watch(&self, viewer: Arc<str>);
    /// A spectator's connection went: it is no longer sent snapshots of its own.
    fn unwatch(&self, viewer: Arc<str>);
    /// A player is expected within `within` (a seat was reserved for them): until then the
    /// room is not ended as abandoned for having no player.
    fn expect_player(&self, within: Duration);
    /// `player`'s connection dropped (`connected = false`; the seat and entity are held) or
    /// came back (`true`).
    fn set_connected(&self, player: Arc<str>, connected: bool);
    /// Stops the room between two ticks so its match can move to another process, and hands
    /// over its whole command log so far ([`crate::replay::restore`] goes on from it). The room
    /// stays frozen until the [`Frozen`] is dropped (it ticks on, at its rate from then) or
    /// [`Frozen::moved`] (it stops for good, without an end: state `Ended(Moved)`, no end
    /// hook, no `match_end`, no recording handed over). `None`: the room cannot move — it
    /// keeps no whole log (not recorded, or cut at its bound), has not started, or has ended.
    fn freeze(&self) -> Pin<Box<dyn Future<Output = Option<Frozen>> + Send + '_>>;
    /// A copy of the command log from byte `offset` to its end, as the room has kept it so
    /// far (whole records: everything up to its last tick); `None` for a room not recorded.
    fn recorded_since(&self, offset: usize) -> Option<Recorded>;
    /// The last tick the room ran.
    fn tick(&self) -> u64;
    /// Where the match is in its life.
    fn state(&self) -> MatchState;
    /// Ends the match: the room stops after its current tick and tells the sink. The first
    /// reason given wins.
    fn end(&self, reason: EndReason);
    /// Whether the room's task and its publisher have stopped.
    fn is_closed(&self) -> bool;
    /// Resolves once the room's task and its publisher have stopped.
    fn closed(&self) -> BoxFuture<'_>;
    /// Players, scores and playing time, once the room has ended (not after a panic).
    fn outcome(&self) -> Option<Outcome>;
    /// The room's own measurements so far (tick duration and lateness, snapshot bytes).
    fn stats(&self) -> RoomStats;
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

/// A room stopped between two ticks for its match to move ([`RoomControl::freeze`]).
#[derive(Debug)]
pub struct Frozen {
    /// The match's whole command log up to the last tick run.
    pub log: Vec<u8>,
    /// The last tick run.
    pub tick: u64,
    verdict: Option<tokio::sync::oneshot::Sender<Verdict>>,
}

/// What becomes of a frozen room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The match goes on elsewhere: the room stops.
    Moved,
    /// The room ticks on.
    Thaw,
}

impl Frozen {
    /// The match goes on elsewhere: the room stops for good, in state `Ended(Moved)`.
    pub fn moved(mut self) {
        if let Some(v) = self.verdict.take() {
            let _ = v.send(Verdict::Moved);
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Some(v) = self.verdict.take() {
            let _ = v.send(Verdict::Thaw);
        }
    }
}

/// Everything needed to start a room.
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
    /// Keep the match's command log ([`Room::record`]) and hand it to this recorder when the
    /// match ends; `None`: no log.
    pub recording: Option<Recording>,
}

/// Where a recorded match's command log goes (docs/REPLAY.md), and how much of it to keep.
#[derive(Clone)]
pub struct Recording {
    /// Given the log when the match ends.
    pub recorder: Arc<dyn MatchRecorder>,
    /// The most bytes of log kept; a longer match's log stops at the last whole record that
    /// fits (and is handed over as incomplete).
    pub max_bytes: usize,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Keeps recorded matches' command logs. Implemented by the embedder (the server keeps them
/// with the match results).
pub trait MatchRecorder: Send + Sync + 'static {
    /// The command log of `match_id`, once it ended: the whole match (`complete`), or its
    /// start up to [`Recording::max_bytes`]. Not called for a room whose game panicked.
    fn recorded(&self, match_id: &str, log: Vec<u8>, complete: bool);
}

/// A room ready to run: its handle and the two futures that run it. Spawn both (on any
/// runtimes); the room ends when its handle says so, when `stop` is cancelled, when the game
/// ends it, or after the empty-room grace period.
pub struct Spawned {
    /// The room's handle.
    pub control: Arc<dyn RoomControl>,
    /// Ticks the room; finishes once the match has ended and its last message is queued.
    pub room: BoxFuture<'static>,
    /// Hands the room's output to the sink; finishes after the match-end message.
    pub publisher: BoxFuture<'static>,
}

impl std::fmt::Debug for Spawned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawned").finish_non_exhaustive()
    }
}

/// Builds a room for `game` and returns its handle and the futures that run it. `stop` ends
/// the room with [`EndReason::Shutdown`] unless another reason was given first.
pub fn spawn<G: Game>(
    game: Arc<G>,
    params: SpawnParams,
    sink: Arc<dyn SnapshotSink>,
    metrics: Arc<dyn RoomMetrics>,
    stop: CancellationToken,
) -> Spawned {
    let mut room = Room::new(game.clone(), params.room);
    let log = params.recording.clone().map(|r| {
        room.record(&params.match_id);
        log::Log::new(r, Vec::new())
    });
    start(game, room, log, params, sink, metrics, stop)
}

/// Builds the room a match's command log leaves ([`crate::replay::restore`]) — its World,
/// seats, acks, tick and randomness — and returns it ready to run as [`spawn`] does: it ticks
/// at once (its players are seated), from the log's next tick. `params.room` is ignored (the
/// log's settings are the match's); with `params.recording` the room's log goes on from
/// `log`, and the recording handed over at its end is the whole match. A player whose
/// connection was not there when the log stopped keeps its seat and entity as they were.
pub fn spawn_restored<G: Game>(
    game: Arc<G>,
    log: &[u8],
    mut params: SpawnParams,
    sink: Arc<dyn SnapshotSink>,
    metrics: Arc<dyn RoomMetrics>,
    stop: CancellationToken,
) -> Result<Restored, crate::replay::ReplayError> {
    let (mut room, report) = crate::replay::restore(game.clone(), log)?;
    params.room = report.header.config;
    let (players, tick) = (room.player_ids(), room.tick_number());
    let kept = params
        .recording
        .clone()
        .map(|r| log::Log::new(r, log.to_vec()));
    if kept.is_none() {
        room.stop_recording();
    }
    Ok(Restored {
        spawned: start(game, room, kept, params, sink, metrics, stop),
        players,
        tick,
    })
}

/// A room restored from a command log ([`spawn_restored`]), ready to run.
#[derive(Debug)]
pub struct Restored {
    /// The room's handle and futures, as [`spawn`] returns them.
    pub spawned: Spawned,
    /// The players seated when the log stopped, sorted.
    pub players: Vec<String>,
    /// The last tick the log ran: the room goes on from the next.
    pub tick: u64,
}

fn start<G: Game>(
    game: Arc<G>,
    room: Room<G>,
    log: Option<log::Log>,
    params: SpawnParams,
    sink: Arc<dyn SnapshotSink>,
    metrics: Arc<dyn RoomMetrics>,
    stop: CancellationToken,
) -> Spawned {
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (input_tx, input_rx) = mpsc::channel(params.inbox.max(1));
    let outbox = Arc::new(outbox::Outbox::default());
    let shared = Arc::new(handle::Shared::new(stop.child_token()));
    shared
        .tick
        .store(room.tick_number(), std::sync::atomic::Ordering::Relaxed);
    let kept = log.as_ref().map(|l| l.kept.clone());
    let task = task::RoomTask {
        room,
        log,
        match_id: params.match_id.clone(),
        empty_grace: params.empty_grace,
        control: control_rx,
        inputs: input_rx,
        outbox: outbox.clone(),
        metrics: metrics.clone(),
        shared: shared.clone(),
        presence: Vec::new(),
        started: None,
        expected_until: None,
        log_scratch: Vec::new(),
        freezing: None,
    };
    Spawned {
        control: Arc::new(handle::Handle::new(
            game,
            control_tx,
            input_tx,
            shared.clone(),
            kept,
        )),
        room: Box::pin(task.run_guarded()),
        publisher: Box::pin(publisher::run(
            params.match_id,
            outbox,
            sink,
            shared,
            metrics,
        )),
    }
}
