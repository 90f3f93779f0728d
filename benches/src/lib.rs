//! Set-ups shared by Tickroom's benchmarks: rooms built and warmed up outside the timed code,
//! and the tick lateness histogram the floor serves and the load harness reads ([`lateness`]).
//!
//! # Layout
//! - `criterion/main.rs`: micro-benchmarks (`cargo bench -p tickroom-benches`).
#![warn(missing_docs)]

pub mod lateness;

use std::sync::Arc;

use bevy_ecs::prelude::*;
use tickroom_engine::{Game, Replication, Room, RoomConfig, Snapshots};
use tickroom_games::arena::ArenaInput;
use tickroom_games::arena::{Arena, ArenaLarge, ArenaPlayer};

/// An arena room with `players` seated players, each holding a different direction, ticked
/// once so every entity exists.
pub fn arena_room(players: usize) -> Room<Arena> {
    populated(Arena, players)
}

/// The large-map arena without its interest: every client is sent every disc, as a room did
/// before interest management (the baseline of the big-room benchmarks).
#[derive(Debug, Clone, Copy)]
pub struct ArenaLargeEveryone;

impl Game for ArenaLargeEveryone {
    type Input = ArenaInput;
    type Globals = ();

    fn name(&self) -> &'static str {
        "arena_large_everyone"
    }

    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        ArenaLarge.build(world, schedule);
    }

    fn on_join(&self, world: &mut World, entity: Entity) {
        ArenaLarge.on_join(world, entity);
    }

    fn replicate(&self, rep: &mut Replication<'_>) {
        rep.rows::<ArenaPlayer>();
    }

    fn globals(&self, _world: &mut World) {}
}

/// A room of `game` (an arena) with `players` seated players, each holding a different
/// direction, ticked once so every entity exists.
pub fn populated<G: Game<Input = ArenaInput>>(game: G, players: usize) -> Room<G> {
    let mut room = Room::new(Arc::new(game), RoomConfig::with_rate(30));
    for i in 0..players {
        let id: Arc<str> = format!("p{i}").into();
        room.join(id.clone());
        let angle = i as f32 * 0.7;
        room.push_input(
            &id,
            1,
            ArenaInput {
                dir: [angle.cos(), angle.sin()],
                buttons: 0,
            },
        );
    }
    room.step();
    room.snapshots();
    room
}

/// Bytes of the last tick's snapshots: (the total sent, the number of clients it went to),
/// counting a room snapshot once for each seated player.
pub fn sent<G: Game>(room: &mut Room<G>) -> (usize, usize) {
    let players = room.player_count();
    match room.snapshots() {
        Snapshots::Room(bytes) => (bytes.len() * players, players),
        Snapshots::Views(views) => (views.iter().map(|(_, b)| b.len()).sum(), views.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_populated() {
        let mut room = arena_room(8);
        assert_eq!(room.player_count(), 8);
        use tickroom_games::arena::ArenaState;
        let mut mirror = tickroom_shared::Mirror::new();
        let key = bytes::Bytes::copy_from_slice(room.last_snapshot());
        let first = mirror.apply_typed::<ArenaState>(&key).expect("decodes");
        assert!(first.expect("the set-up tick was a keyframe").keyframe);
        let delta = bytes::Bytes::copy_from_slice(room.tick());
        let snap = mirror
            .apply_typed::<ArenaState>(&delta)
            .expect("decodes")
            .expect("a delta on that keyframe");
        assert!(!snap.keyframe);
        assert_eq!(snap.state.players.len(), 8);
        assert!(snap.acks.values().all(|a| *a == 1));
    }
}
