//! Set-ups shared by Tickroom's benchmarks: rooms built and warmed up outside the timed code,
//! and the tick lateness histogram the floor serves and the load harness reads ([`lateness`]).
//!
//! # Layout
//! - `criterion/main.rs`: micro-benchmarks (`cargo bench -p tickroom-benches`).
#![warn(missing_docs)]

pub mod lateness;

use std::sync::Arc;

use tickroom_engine::{Room, RoomConfig};
use tickroom_games::arena::Arena;
use tickroom_games::arena::ArenaInput;

/// An arena room with `players` seated players, each holding a different direction, ticked
/// once so every entity exists.
pub fn arena_room(players: usize) -> Room<Arena> {
    let mut room = Room::new(Arc::new(Arena), RoomConfig::with_rate(30));
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
    room.tick();
    room
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
