//! The game API: what a game implements to run inside a Tickroom room.
//!
//! A game is a set of bevy systems plus a few hooks. The room owns the World, the Schedule, the
//! player entities and the inputs; the game adds its components and systems and says what a
//! snapshot contains. Nothing here knows about sockets.

use std::collections::BTreeMap;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use serde::Serialize;
use tickroom_shared::EndReason;
use tickroom_shared::input::{Input, InvalidInput};

use crate::replication::Replication;

/// System sets a game's systems go into. They run in this order every tick, after the room has
/// written each player's [`Controls`] for the tick.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GameSystems {
    /// Turn [`Controls`] into intentions (velocities, actions). Order against this to read
    /// inputs before anything moves.
    Input,
    /// Advance the simulation by one tick of [`TickInfo::dt`].
    Simulate,
    /// Resolve what the simulation produced (collisions, scoring) before the snapshot is taken.
    Resolve,
}

/// How many players the match seats, as a resource inserted before [`Game::build`] runs, so a
/// game may size its world to its room (a map that grows with the room, as `arena_large`'s).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// The match's player seats; `None` for a room built without a stated size (a room
    /// stepped in a test with [`RoomConfig::with_rate`](crate::RoomConfig::with_rate)).
    pub max_players: Option<u32>,
}

/// The tick being run, as a resource.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct TickInfo {
    /// The tick number; 1 during the first tick.
    pub tick: u64,
    /// Ticks per second.
    pub rate: u32,
    /// Seconds per tick (`1 / rate`).
    pub dt: f32,
    /// Simulated seconds since the first tick began (`(tick - 1) * dt`): game time, which
    /// does not jump when the server is late.
    pub elapsed: f64,
}

/// Every seated player's entity, by player id, as a resource. Kept by the room.
#[derive(Resource, Debug, Clone, Default, PartialEq, Eq)]
pub struct Players(pub BTreeMap<Arc<str>, Entity>);

impl Players {
    /// The entity of `player`, if seated.
    pub fn get(&self, player: &str) -> Option<Entity> {
        self.0.get(player).copied()
    }
}

/// The inputs applied this tick, in the order they were applied (by player, then `seq`), as a
/// resource. Usually one per player; more when a player's queue had fallen behind and the room
/// caught up. Games with discrete actions (a move, a shot) read this; games with held controls
/// read [`Controls`].
#[derive(Resource, Debug, Clone)]
pub struct AppliedInputs<I: Send + Sync + 'static>(pub Vec<AppliedInput<I>>);

impl<I: Send + Sync + 'static> Default for AppliedInputs<I> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

/// One applied input.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedInput<I> {
    /// The player's entity.
    pub entity: Entity,
    /// The input's sequence number.
    pub seq: u32,
    /// The input.
    pub input: I,
}

/// Lets a game end its match from a system: set it and the room stops after this tick, with
/// reason `game_over`.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchControl {
    over: bool,
}

impl MatchControl {
    /// Ends the match after the current tick.
    pub fn end_match(&mut self) {
        self.over = true;
    }

    /// Whether the game has ended the match.
    pub fn is_over(&self) -> bool {
        self.over
    }
}

/// The player id of an entity that belongs to a connected (or seated) player.
#[derive(Component, Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlayerId(pub Arc<str>);

/// Whether a player's connection is up. A dropped player keeps its seat and entity for the
/// grace period, with [`Controls`] reset to the input's default (standing still).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// `false` while the seat is held for a dropped connection.
    pub connected: bool,
}

/// The controls a player holds during this tick: the input with the highest sequence number
/// applied so far. The room updates it before [`GameSystems::Input`] runs; when no new input
/// arrived, the previous one is held. See [`AppliedInputs`] for every input of the tick.
#[derive(Component, Debug, Clone, Default)]
pub struct Controls<I: Send + Sync + 'static> {
    /// The held input.
    pub input: I,
    /// Its sequence number (0 before the first input).
    pub seq: u32,
}

/// How matchmaking fills a match of a game ([`Game::match_rules`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchRules {
    /// Player seats of a match of this game: the group size the queue forms, and the size of
    /// matches created without one. `None`: the server's default (`--max-players`).
    pub players: Option<u32>,
    /// Whether the queue may start a match short of `players`, and when.
    pub start_incomplete: Option<IncompleteStart>,
}

/// The queue may start a match with fewer players than its size once the longest waiter has
/// waited `after`, if at least `min_players` can be seated together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncompleteStart {
    /// The fewest players a match may start with.
    pub min_players: u32,
    /// How long the longest waiter of the group waits for a full one first.
    pub after: std::time::Duration,
}

/// A game that rooms can run. See `docs/GAME_API.md` for a walk-through with the arena.
pub trait Game: Send + Sync + 'static {
    /// One player input as it arrives on the wire (a msgpack map): a struct that derives
    /// [`Input`](tickroom_shared::input::Input), whose declared bounds (finite floats,
    /// `#[input(range = ...)]`, `bits`, `max_len`) the engine checks before
    /// [`validate`](Self::validate).
    type Input: Input;
    /// State that is not per entity (a board, a score, a phase), sent whole in every snapshot.
    /// `()` for none.
    type Globals: Serialize + Send + 'static;

    /// The name matches are created with (e.g. `"arena"`).
    fn name(&self) -> &'static str;

    /// How matchmaking fills its matches: the server's default size, always full, unless
    /// the game says otherwise.
    fn match_rules(&self) -> MatchRules {
        MatchRules::default()
    }

    /// Checks what the input's declared bounds cannot say, after decoding and those bounds,
    /// before it is queued; the client gets `invalid_input` with `reason`. Runs on the
    /// connection's task, not in the tick. Accepts every input by default.
    fn validate(&self, _input: &Self::Input) -> Result<(), InvalidInput> {
        Ok(())
    }

    /// Adds the game's resources to `world` and systems to `schedule` (in [`GameSystems`]).
    fn build(&self, world: &mut World, schedule: &mut Schedule);

    /// Declares the kinds of entities that replicate, each a `#[derive(Replicate)]` struct:
    /// `rep.component::<Bullet>()` for a component that is its own row,
    /// `rep.rows::<PlayerRow>()` for a row built from a query ([`QueryRow`](crate::QueryRow)).
    /// Runs once per room, after [`build`](Self::build). After each tick the room sends every
    /// entity of every kind: whole when it appears, then only the fields that changed, and its
    /// removal when it is despawned. None by default (a game whose state is all globals).
    fn replicate(&self, _rep: &mut Replication<'_>) {}

    /// A player joined: `entity` already has [`PlayerId`], [`Controls`] and [`Connection`];
    /// add the game's components. Nothing by default.
    fn on_join(&self, _world: &mut World, _entity: Entity) {}

    /// A player left; the room despawns `entity` right after this returns.
    fn on_leave(&self, _world: &mut World, _entity: Entity) {}

    /// The match is ending for `reason`; the last snapshot has been sent. Runs on the room's
    /// task, once.
    fn on_match_end(&self, _world: &mut World, _reason: EndReason) {}

    /// Final scores by player id, read once as the match ends (after `on_match_end`): sent in
    /// `match_end` and kept with the match's result. None by default.
    fn scores(&self, _world: &mut World) -> BTreeMap<String, i64> {
        BTreeMap::new()
    }

    /// The globals after a tick (`()` for none), read after the rows.
    fn globals(&self, world: &mut World) -> Self::Globals;
}
