//! A room: one game instance, a bevy_ecs World stepped one tick at a time.
//!
//! [`Room`] is the simulation alone and can be stepped by a test or a benchmark with no
//! sockets and no clock. [`crate::driver`] runs a room on a timer, feeding it commands and
//! handing each tick's encoded snapshot to a [`SnapshotSink`](crate::SnapshotSink).

mod inputs;

use std::collections::BTreeMap;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;

use crate::command_log::{self, CommandLog, Fnv};
use crate::game::{
    AppliedInput, AppliedInputs, Connection, Controls, Game, GameSystems, MatchControl, PlayerId,
    Players, TickInfo,
};
use crate::interest::{Grid, Interest};
use crate::replication::{Replication, Rows};
use crate::rng::RoomRng;
use bytes::Bytes;
use inputs::InputQueue;
pub use inputs::PushOutcome;
use tickroom_shared::snapshot::{Encoder, View};

/// Fixed parameters of one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomConfig {
    /// Ticks per second.
    pub tick_rate: u32,
    /// Most inputs held per player waiting for their tick; more are refused.
    pub input_buffer: usize,
    /// Inputs per player that may stay queued after a tick. A player whose queue is longer
    /// has the surplus applied at once (all of them in [`AppliedInputs`], the last in
    /// [`Controls`]), so a backlog (after a network hiccup, or a client clock running fast)
    /// drains instead of adding latency forever. Input-to-ack latency stays within
    /// `max_input_lag + 1` ticks.
    pub max_input_lag: usize,
    /// A keyframe every this many snapshots (1: every snapshot is a keyframe); deltas
    /// between. A keyframe is also sent after anyone joins.
    pub keyframe_interval: u32,
    /// A snapshot every this many ticks (1: every tick), so a fast simulation can send at a
    /// lower rate. A requested keyframe (a join) and the last tick of a match are sent at once
    /// whatever the interval.
    pub snapshot_interval: u32,
    /// The match's player seats, given to the game as the [`Capacity`](crate::Capacity)
    /// resource; `None`: not stated.
    pub max_players: Option<u32>,
    /// The seed of the room's [`RoomRng`](crate::RoomRng).
    pub seed: u64,
    /// In a room that keeps a command log ([`Room::record`]): a checksum of the World in the
    /// log every this many ticks (0: none).
    pub checksum_interval: u32,
}

impl RoomConfig {
    /// `tick_rate` Hz with the defaults: 16 inputs buffered, no input held back (lag 0), a
    /// keyframe a second, seed 0, a logged checksum a second.
    pub fn with_rate(tick_rate: u32) -> Self {
        Self {
            tick_rate,
            input_buffer: 16,
            max_input_lag: 0,
            keyframe_interval: tick_rate.max(1),
            snapshot_interval: 1,
            max_players: None,
            seed: 0,
            checksum_interval: tick_rate.max(1),
        }
    }
}

struct Seat<I> {
    entity: Entity,
    /// The seat's number on the wire (acks are keyed by it): the smallest free when taken.
    index: u32,
    queue: InputQueue<I>,
    /// With a command log: the last `seq` and input (msgpack) it logged for this seat.
    logged_seq: u32,
    logged_input: Vec<u8>,
}

/// What a tick's snapshot is: one for the whole room, or one per viewer (the game declared
/// an [`Interest`]).
#[derive(Debug, Clone, Copy)]
pub enum Snapshots<'a> {
    /// The snapshot every connection of the room is sent.
    Room(&'a [u8]),
    /// Each viewer's own snapshot, by viewer (a player's id, or a spectator's).
    Views(&'a [(Arc<str>, Bytes)]),
}

/// A room's viewers, when it sends each its own snapshot.
struct Views {
    interest: Interest,
    grid: Grid,
    /// Every seated player, and every spectator watching.
    viewers: BTreeMap<Arc<str>, Viewer>,
    /// A viewer asked for a keyframe since the last snapshot.
    keyframe_requested: bool,
    /// Every view written last was a keyframe.
    all_keyframes: bool,
    /// Scratch, kept for their allocations: the rows' keys, one viewer's rows.
    keys: Vec<u32>,
    visible: Vec<u32>,
    /// The last tick's snapshots.
    out: Vec<(Arc<str>, Bytes)>,
}

/// One viewer: what it was sent, and how many connections watch as it.
#[derive(Default)]
struct Viewer {
    view: View,
    /// Connections watching (a spectator's count; a seated player is a viewer whatever it is).
    watchers: u32,
}

impl Views {
    /// A connection of `viewer` came (`watching`), or the player seated: its next snapshot
    /// is a keyframe.
    fn watch(&mut self, viewer: &Arc<str>, watching: bool) {
        let v = self.viewers.entry(viewer.clone()).or_default();
        v.view.request_keyframe();
        v.watchers += u32::from(watching);
        self.keyframe_requested = true;
    }
}

/// A game instance: World, Schedule, players and their input queues.
pub struct Room<G: Game> {
    game: Arc<G>,
    world: World,
    schedule: Schedule,
    config: RoomConfig,
    tick: u64,
    seats: BTreeMap<Arc<str>, Seat<G::Input>>,
    encoder: Encoder,
    /// Every replicated kind's query: owned by the room, so no game keeps a query of its own.
    rows: Rows,
    /// The list [`AppliedInputs`] held before the last tick, kept for its allocation: each
    /// tick fills it and swaps it into the world (`resource_scope` would move the resource's
    /// entity between archetypes twice a tick).
    applied: Vec<AppliedInput<G::Input>>,
    /// With an [`Interest`]: the viewers, each sent its own snapshot.
    views: Option<Box<Views>>,
    /// With [`record`](Self::record): the command log. Then `scratch` holds one input's
    /// msgpack as it is logged (and the globals' for [`checksum`](Self::checksum)).
    log: Option<Box<CommandLog>>,
    scratch: Vec<u8>,
}

impl<G: Game> std::fmt::Debug for Room<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("game", &self.game.name())
            .field("tick", &self.tick)
            .field("players", &self.seats.len())
            .finish_non_exhaustive()
    }
}

impl<G: Game> Room<G> {
    /// A room with the game's systems built and no players.
    pub fn new(game: Arc<G>, config: RoomConfig) -> Self {
        let mut world = World::new();
        let rate = config.tick_rate.max(1);
        world.insert_resource(TickInfo {
            tick: 0,
            rate,
            dt: 1.0 / rate as f32,
            elapsed: 0.0,
        });
        world.insert_resource(Players::default());
        world.insert_resource(AppliedInputs::<G::Input>::default());
        world.insert_resource(MatchControl::default());
        world.insert_resource(crate::Capacity {
            max_players: config.max_players,
        });
        world.insert_resource(RoomRng::new(config.seed));
        let mut schedule = Schedule::default();
        // One room never fans out over threads: rooms are the unit of parallelism.
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.configure_sets(
            (
                GameSystems::Input,
                GameSystems::Simulate,
                GameSystems::Resolve,
            )
                .chain(),
        );
        game.build(&mut world, &mut schedule);
        let mut replication = Replication::new(&mut world);
        game.replicate(&mut replication);
        let (kinds, rows, interest) = replication.finish();
        let encoder = Encoder::new(&kinds, config.keyframe_interval);
        let views = interest.map(|interest| {
            Box::new(Views {
                interest,
                grid: Grid::default(),
                viewers: BTreeMap::new(),
                keyframe_requested: false,
                all_keyframes: false,
                keys: Vec::new(),
                visible: Vec::new(),
                out: Vec::new(),
            })
        });
        Self {
            game,
            world,
            schedule,
            config,
            tick: 0,
            seats: BTreeMap::new(),
            encoder,
            rows,
            applied: Vec::new(),
            views,
            log: None,
            scratch: Vec::new(),
        }
    }

    /// Keeps a command log of the match from now on (docs/REPLAY.md): every join, leave,
    /// connection change and applied input, a checksum every
    /// [`RoomConfig::checksum_interval`] ticks and the end, for
    /// [`replay`](crate::replay::replay). Only a room that has not run a tick or seated anyone
    /// can start one (a log must hold the whole match): `false` otherwise, or if it already
    /// keeps one.
    pub fn record(&mut self, match_id: &str) -> bool {
        if self.tick > 0 || !self.seats.is_empty() || self.log.is_some() {
            return false;
        }
        self.log = Some(Box::new(CommandLog::new(
            self.game.name(),
            match_id,
            &self.config,
        )));
        true
    }

    /// Keeps a command log from here on that continues the one this room was replayed from
    /// ([`crate::replay::restore`]): its records append to that log.
    pub(crate) fn continue_log(&mut self) {
        self.log = Some(Box::new(CommandLog::continuing()));
    }

    /// Moves the command log written since the last call to the end of `into` (nothing
    /// without [`record`](Self::record)).
    pub fn take_log(&mut self, into: &mut Vec<u8>) {
        if let Some(log) = &mut self.log {
            log.take(into);
        }
    }

    /// Stops the command log: nothing more is written (what was written and not taken is
    /// dropped).
    pub fn stop_recording(&mut self) {
        self.log = None;
    }

    /// The room's checksum: FNV-1a over the tick, the [`RoomRng`]'s state, the seat table with
    /// each seat's last applied `seq`, every replicated row of every kind at full precision
    /// (its key, generation and every field, a quantized one as its float) and the globals.
    /// Equal in a replay of the same log.
    pub fn checksum(&mut self) -> u64 {
        let mut h = Fnv::default();
        h.write_u64(self.tick);
        if let Some(rng) = self.world.get_resource::<RoomRng>() {
            for s in rng.state() {
                h.write_u64(s);
            }
        }
        // The seat table and every seat's last applied seq (its ack).
        for (player, seat) in &self.seats {
            h.write(player.as_bytes());
            h.write_u64(u64::from(seat.index));
            h.write_u64(u64::from(seat.queue.last_applied()));
        }
        self.rows.checksum(&self.world, &mut h);
        let globals = self.game.globals(&mut self.world);
        self.scratch.clear();
        let _ = rmp_serde::encode::write(&mut self.scratch, &globals);
        h.write(&self.scratch);
        h.0
    }

    /// Whether each viewer is sent its own snapshot (the game declared an [`Interest`]):
    /// then [`snapshots`](Self::snapshots) gives them, and [`snapshot`](Self::snapshot)
    /// is not used.
    pub fn has_interest(&self) -> bool {
        self.views.is_some()
    }

    /// Has the next snapshot include what `viewer` sees, starting with a keyframe: a
    /// connection of a seated player or a spectator came. A spectator stays a viewer until
    /// [`unwatch`](Self::unwatch); a player is one while seated. Without an interest every
    /// connection is sent the room's snapshot, and this makes the next one a keyframe.
    pub fn watch(&mut self, viewer: &Arc<str>) {
        match &mut self.views {
            Some(views) => views.watch(viewer, true),
            None => self.encoder.request_keyframe(),
        }
    }

    /// A connection of `viewer` that [`watch`](Self::watch)ed went (a spectator left): once
    /// none is left, a viewer that is not a seated player is sent nothing more.
    pub fn unwatch(&mut self, viewer: &str) {
        let Some(views) = &mut self.views else {
            return;
        };
        if let Some(v) = views.viewers.get_mut(viewer) {
            v.watchers = v.watchers.saturating_sub(1);
            if v.watchers == 0 && !self.seats.contains_key(viewer) {
                views.viewers.remove(viewer);
            }
        }
    }

    /// How many viewers the room sends its own snapshot to (0 without an interest).
    pub fn viewer_count(&self) -> usize {
        self.views.as_ref().map_or(0, |v| v.viewers.len())
    }

    /// The room's fixed parameters.
    pub fn config(&self) -> &RoomConfig {
        &self.config
    }

    /// The number of the last tick run (0 before the first).
    pub fn tick_number(&self) -> u64 {
        self.tick
    }

    /// The game this room runs.
    pub fn game(&self) -> &Arc<G> {
        &self.game
    }

    /// The room's World, for inspection.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The room's World, for tests and tools that set state up.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// Number of seated players.
    pub fn player_count(&self) -> usize {
        self.seats.len()
    }

    /// The seat number of `player`, if seated.
    pub(crate) fn seat_index(&self, player: &str) -> Option<u32> {
        self.seats.get(player).map(|s| s.index)
    }

    /// The entity of `player`, if seated.
    pub fn entity_of(&self, player: &str) -> Option<Entity> {
        self.seats.get(player).map(|s| s.entity)
    }

    /// Seats `player` and spawns its entity. Seating a player who is already seated keeps the
    /// existing entity (a reconnect), and returns `false`.
    pub fn join(&mut self, player: Arc<str>) -> bool {
        if self.seats.contains_key(&player) {
            return false;
        }
        let entity = self
            .world
            .spawn((
                PlayerId(player.clone()),
                Controls::<G::Input>::default(),
                Connection { connected: true },
            ))
            .id();
        self.game.on_join(&mut self.world, entity);
        match &mut self.views {
            // The newcomer's first snapshot is a keyframe; no other viewer's seat table changed.
            Some(views) => views.watch(&player, false),
            None => self.encoder.request_keyframe(),
        }
        if let Some(mut players) = self.world.get_resource_mut::<Players>() {
            players.0.insert(player.clone(), entity);
        }
        let index = self.free_seat_index();
        if let Some(log) = &mut self.log {
            log.player(command_log::JOIN, &player);
        }
        self.seats.insert(
            player,
            Seat {
                entity,
                index,
                queue: InputQueue::new(self.config.input_buffer),
                logged_seq: 0,
                logged_input: Vec::new(),
            },
        );
        true
    }

    /// The smallest seat number no seated player holds.
    fn free_seat_index(&self) -> u32 {
        let mut taken: Vec<u32> = self.seats.values().map(|s| s.index).collect();
        taken.sort_unstable();
        taken
            .iter()
            .enumerate()
            .find(|(i, index)| *i as u32 != **index)
            .map_or(taken.len() as u32, |(i, _)| i as u32)
    }

    /// Unseats `player` and despawns its entity; `false` if it was not seated.
    pub fn leave(&mut self, player: &str) -> bool {
        let Some(seat) = self.seats.remove(player) else {
            return false;
        };
        if let Some(log) = &mut self.log {
            log.player(command_log::LEAVE, player);
        }
        self.game.on_leave(&mut self.world, seat.entity);
        self.world.despawn(seat.entity);
        if let Some(views) = &mut self.views
            && views.viewers.get(player).is_some_and(|v| v.watchers == 0)
        {
            views.viewers.remove(player);
        }
        if let Some(mut players) = self.world.get_resource_mut::<Players>() {
            players.0.remove(player);
        }
        true
    }

    /// Marks `player`'s connection as dropped (its held input is released, so the entity stands
    /// still) or back. Returns whether anything changed.
    pub fn set_connected(&mut self, player: &str, connected: bool) -> bool {
        let Some(seat) = self.seats.get(player) else {
            return false;
        };
        let entity = seat.entity;
        let Some(mut c) = self.world.get_mut::<Connection>(entity) else {
            return false;
        };
        if c.connected == connected {
            return false;
        }
        c.connected = connected;
        if let Some(log) = &mut self.log {
            log.connected(player, connected);
        }
        if !connected && let Some(mut controls) = self.world.get_mut::<Controls<G::Input>>(entity) {
            controls.input = G::Input::default();
        }
        true
    }

    /// Queues an input of `player` for a coming tick.
    pub fn push_input(&mut self, player: &str, seq: u32, input: G::Input) -> PushOutcome {
        match self.seats.get_mut(player) {
            Some(seat) => seat.queue.push(seq, input),
            None => PushOutcome::NotSeated,
        }
    }

    /// Runs one tick ([`step`](Self::step)) and encodes the snapshot. Returns the snapshot's
    /// msgpack bytes, valid until the next call.
    ///
    /// # Panics
    /// In a room with an interest ([`has_interest`](Self::has_interest)), which has no one
    /// snapshot: [`step`](Self::step) then [`snapshots`](Self::snapshots) instead.
    pub fn tick(&mut self) -> &[u8] {
        self.step();
        self.encode_snapshot()
    }

    /// Whether the tick just run should be sent: it falls on the snapshot interval (the first
    /// tick always does), a keyframe was requested (someone joined), or the game ended the
    /// match.
    pub fn snapshot_due(&self) -> bool {
        let interval = u64::from(self.config.snapshot_interval.max(1));
        (self.tick - 1).is_multiple_of(interval)
            || self.encoder.keyframe_requested()
            || self.views.as_ref().is_some_and(|v| v.keyframe_requested)
            || self.is_over()
    }

    /// Encodes the snapshot of the tick just run; the bytes are valid until the next call.
    ///
    /// # Panics
    /// In a room with an interest: [`snapshots`](Self::snapshots) instead.
    pub fn snapshot(&mut self) -> &[u8] {
        self.encode_snapshot()
    }

    /// Encodes the tick just run: the room's snapshot, or, with an interest, each viewer's
    /// (every seated, connected player's and every watching spectator's). Valid until the
    /// next call.
    pub fn snapshots(&mut self) -> Snapshots<'_> {
        if self.views.is_some() {
            self.encode_views();
            Snapshots::Views(self.views.as_ref().map_or(&[], |v| &v.out))
        } else {
            Snapshots::Room(self.encode_snapshot())
        }
    }

    /// Runs one tick without encoding its snapshot: applies queued inputs (lowest `seq` first;
    /// one per player, more when a player is behind by over [`RoomConfig::max_input_lag`]) and
    /// runs the schedule.
    pub fn step(&mut self) {
        let mut applied = std::mem::take(&mut self.applied);
        applied.clear();
        for seat in self.seats.values_mut() {
            let queued = seat.queue.len();
            let n = if queued == 0 {
                0
            } else {
                queued.saturating_sub(self.config.max_input_lag).max(1)
            };
            for _ in 0..n {
                let Some((seq, input)) = seat.queue.pop() else {
                    break;
                };
                if let Some(log) = &mut self.log {
                    self.scratch.clear();
                    let _ = rmp_serde::encode::write(&mut self.scratch, &input);
                    log.input(
                        seat.index,
                        seq,
                        seat.logged_seq,
                        &self.scratch,
                        &mut seat.logged_input,
                    );
                    seat.logged_seq = seq;
                }
                Self::control(&mut self.world, seat.entity, seq, &input);
                applied.push(AppliedInput {
                    entity: seat.entity,
                    seq,
                    input,
                });
            }
        }
        self.run_tick(applied);
    }

    /// Runs one tick applying exactly `inputs` — `(seat, seq, input)`, in order — whatever
    /// the queues hold: a replay's tick. An input for a seat no one holds is skipped.
    pub(crate) fn step_applying(&mut self, inputs: Vec<(u32, u32, G::Input)>) {
        let mut applied = std::mem::take(&mut self.applied);
        applied.clear();
        for (index, seq, input) in inputs {
            let Some(seat) = self.seats.values_mut().find(|s| s.index == index) else {
                continue;
            };
            seat.queue.set_applied(seq);
            // As if logged: a log continued from here ([`Self::continue_log`]) writes its next
            // inputs against these.
            seat.logged_seq = seq;
            seat.logged_input.clear();
            let _ = rmp_serde::encode::write(&mut seat.logged_input, &input);
            let entity = seat.entity;
            Self::control(&mut self.world, entity, seq, &input);
            applied.push(AppliedInput { entity, seq, input });
        }
        self.run_tick(applied);
    }

    /// Makes `input` the held input of the player's entity.
    fn control(world: &mut World, entity: Entity, seq: u32, input: &G::Input) {
        if let Some(mut controls) = world.get_mut::<Controls<G::Input>>(entity) {
            controls.input = input.clone();
            controls.seq = seq;
        }
    }

    /// The tick itself, once its inputs are chosen: hands them to the game, runs the
    /// schedule, logs the tick (and the checksum when due).
    fn run_tick(&mut self, mut applied: Vec<AppliedInput<G::Input>>) {
        if let Some(mut res) = self.world.get_resource_mut::<AppliedInputs<G::Input>>() {
            std::mem::swap(&mut res.0, &mut applied);
        }
        self.applied = applied;
        self.tick += 1;
        if let Some(mut info) = self.world.get_resource_mut::<TickInfo>() {
            info.tick = self.tick;
            info.elapsed = (self.tick - 1) as f64 * f64::from(info.dt);
        }
        self.schedule.run(&mut self.world);
        if self.log.is_some() {
            let interval = u64::from(self.config.checksum_interval);
            let checksum =
                (interval > 0 && self.tick.is_multiple_of(interval)).then(|| self.checksum());
            if let Some(log) = &mut self.log {
                log.tick();
                if let Some(c) = checksum {
                    log.checksum(self.tick, c);
                }
            }
        }
    }

    /// Makes the next snapshot a keyframe — every viewer's, with an interest (a snapshot was
    /// lost before it reached anyone).
    pub fn request_keyframe(&mut self) {
        match &mut self.views {
            Some(views) => {
                for v in views.viewers.values_mut() {
                    v.view.request_keyframe();
                }
                views.keyframe_requested = true;
            }
            None => self.encoder.request_keyframe(),
        }
    }

    /// Whether the last snapshot was a keyframe; with an interest, whether every viewer's
    /// was.
    pub fn last_was_keyframe(&self) -> bool {
        match &self.views {
            Some(views) => views.all_keyframes,
            None => self.encoder.last_was_keyframe(),
        }
    }

    /// Whether the game has ended the match ([`MatchControl::end_match`]).
    pub fn is_over(&self) -> bool {
        self.world
            .get_resource::<MatchControl>()
            .is_some_and(MatchControl::is_over)
    }

    /// Runs the game's match-end hook and returns the final scores.
    pub fn end(&mut self, reason: tickroom_shared::EndReason) -> BTreeMap<String, i64> {
        if let Some(log) = &mut self.log {
            log.end(self.tick, reason);
        }
        self.game.on_match_end(&mut self.world, reason);
        self.game.scores(&mut self.world)
    }

    /// Ids of the seated players, sorted.
    pub fn player_ids(&self) -> Vec<String> {
        self.seats.keys().map(|p| p.to_string()).collect()
    }

    /// The snapshot of the last tick (empty before the first); with an interest, the last
    /// viewer's.
    pub fn last_snapshot(&self) -> &[u8] {
        self.encoder.last()
    }

    /// Pushes every replicated row of the World into the encoder.
    fn collect_rows(&mut self) {
        self.encoder.begin();
        let rejected = self.rows.collect(&self.world, &mut self.encoder);
        if rejected > 0 {
            tracing::error!(
                game = self.game.name(),
                rejected,
                "rows whose fields did not serialize were left out"
            );
        }
    }

    fn encode_snapshot(&mut self) -> &[u8] {
        assert!(
            self.views.is_none(),
            "this room sends each viewer its own snapshot (its game declares an Interest): \
             use Room::snapshots"
        );
        self.collect_rows();
        let globals = self.game.globals(&mut self.world);
        let seats = self
            .seats
            .iter()
            .map(|(player, seat)| (seat.index, &**player, seat.queue.last_applied()));
        self.encoder.finish(self.tick, seats, &globals)
    }

    /// Writes every viewer's snapshot of the tick just run into `views.out`. A seated player
    /// whose connection dropped is skipped (its next snapshot, once it is back, is a keyframe).
    fn encode_views(&mut self) {
        self.collect_rows();
        let globals = self.game.globals(&mut self.world);
        self.encoder.begin_views(&globals);
        let Some(views) = self.views.as_deref_mut() else {
            return;
        };
        views.keys.clear();
        views.keys.extend(self.encoder.keys());
        views.grid.build(
            &mut views.interest,
            &mut self.world,
            views.keys.iter().copied(),
        );
        views.out.clear();
        let mut all_keyframes = true;
        for (viewer, Viewer { view, .. }) in &mut views.viewers {
            let seat = self.seats.get(viewer);
            let place = match seat {
                Some(seat) => {
                    let connected = self
                        .world
                        .get::<Connection>(seat.entity)
                        .is_none_or(|c| c.connected);
                    if !connected {
                        continue;
                    }
                    views.interest.place_of(&self.world, seat.entity)
                }
                None => None,
            };
            views
                .grid
                .visible(place, &views.keys, |key| view.had(key), &mut views.visible);
            let seat = seat.map(|s| (s.index, &**viewer, s.queue.last_applied()));
            let bytes = self
                .encoder
                .write_view(self.tick, view, seat, &views.visible);
            all_keyframes &= view.last_was_keyframe();
            views
                .out
                .push((viewer.clone(), Bytes::copy_from_slice(bytes)));
        }
        self.encoder.finish_views(self.tick);
        views.keyframe_requested = false;
        views.all_keyframes = all_keyframes;
    }
}
