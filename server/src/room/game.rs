//! The game API: what a game implements to run inside a Tickroom room.
//!
//! A game is a set of bevy systems plus a few hooks. The room owns the World, the Schedule, the
//! player entities and the inputs; the game adds its components and systems and says what a
//! snapshot contains. Nothing here knows about sockets.

use std::sync::Arc;

use bevy_ecs::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

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

/// The tick being run, as a resource.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct TickInfo {
    /// The tick number; 1 during the first tick.
    pub tick: u64,
    /// Ticks per second.
    pub rate: u32,
    /// Seconds per tick (`1 / rate`).
    pub dt: f32,
}

/// The player id of an entity that belongs to a connected (or seated) player.
#[derive(Component, Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlayerId(pub Arc<str>);

/// The controls a player holds during this tick: the input with the highest sequence number
/// applied so far. The room updates it before [`GameSystems::Input`] runs; when no new input
/// arrived, the previous one is held.
#[derive(Component, Debug, Clone, Default)]
pub struct Controls<I: Send + Sync + 'static> {
    /// The held input.
    pub input: I,
    /// Its sequence number (0 before the first input).
    pub seq: u32,
}

/// An input the game refused; `reason` is logged, the client gets `invalid_input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {reason}")]
pub struct InvalidInput {
    /// Why, for logs.
    pub reason: &'static str,
}

/// A game that rooms can run. See `docs/GAME_API.md` for a walk-through with the arena.
pub trait Game: Send + Sync + 'static {
    /// One player input as it arrives on the wire (a msgpack map).
    type Input: DeserializeOwned + Default + Clone + Send + Sync + 'static;
    /// What a snapshot carries in its `state` field.
    type State: Serialize + Send + 'static;

    /// The name matches are created with (e.g. `"arena"`).
    fn name(&self) -> &'static str;

    /// Checks an input's values after decoding, before it is queued. Runs on the connection's
    /// task, not in the tick.
    fn validate(&self, _input: &Self::Input) -> Result<(), InvalidInput> {
        Ok(())
    }

    /// Adds the game's resources to `world` and systems to `schedule` (in [`GameSystems`]).
    fn build(&self, world: &mut World, schedule: &mut Schedule);

    /// A player joined: `entity` already has [`PlayerId`] and [`Controls`]; add the game's
    /// components.
    fn on_join(&self, world: &mut World, entity: Entity);

    /// A player left; the room despawns `entity` right after this returns.
    fn on_leave(&self, _world: &mut World, _entity: Entity) {}

    /// The state to send after a tick.
    fn snapshot(&self, world: &mut World) -> Self::State;
}
