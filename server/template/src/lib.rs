//! Coins: players move around a square and pick up coins; each coin picked up scores a point
//! and comes back somewhere else. Two kinds of entities replicate: `player` and `coin`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use tickroom_engine::{
    Controls, Game, GameSystems, Input, PlayerId, QueryRow, Replicate, Replication, TickInfo,
};

/// The map is the square `0..SIZE` × `0..SIZE`.
pub const SIZE: f32 = 50.0;
/// Units per second.
pub const SPEED: f32 = 15.0;
/// A player closer than this to a coin picks it up.
pub const REACH: f32 = 1.5;
/// Coins on the map at any time.
pub const COINS: u32 = 5;

/// A player's input. The engine refuses one outside its declared bounds before the game
/// sees it; `cargo run -- input-types` prints it as TypeScript for a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, Input)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// The direction, `[x, y]`.
    #[input(range = -1.0..=1.0)]
    pub dir: [f32; 2],
}

/// The kind `player`: a row per player, built from its components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Replicate)]
#[replicate(kind = "player")]
pub struct PlayerRow {
    /// The player id.
    pub id: Arc<str>,
    /// x, in tenths.
    #[replicate(step = 0.1)]
    pub x: f32,
    /// y, in tenths.
    #[replicate(step = 0.1)]
    pub y: f32,
    /// Coins picked up.
    pub score: u32,
}

/// The kind `coin`: a component that is its own row.
#[derive(Component, Debug, Clone, PartialEq, Serialize, Deserialize, Replicate)]
pub struct Coin {
    /// x, in tenths.
    #[replicate(step = 0.1)]
    pub x: f32,
    /// y, in tenths.
    #[replicate(step = 0.1)]
    pub y: f32,
}

/// A player's position and score.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Player {
    /// x.
    pub x: f32,
    /// y.
    pub y: f32,
    /// Coins picked up.
    pub score: u32,
}

/// Where the next coin goes: a counter, spread over the map (the same on every run).
#[derive(Resource, Debug, Default)]
struct NextSpot(u64);

impl NextSpot {
    fn take(&mut self) -> (f32, f32) {
        self.0 += 1;
        let h = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let f = |bits: u64| 2.0 + (bits & 0xffff) as f32 / 65535.0 * (SIZE - 4.0);
        (f(h >> 16), f(h >> 32))
    }
}

/// The game.
#[derive(Debug, Default, Clone, Copy)]
pub struct Coins;

impl Game for Coins {
    type Input = Move;
    type Globals = ();

    fn name(&self) -> &'static str {
        "coins"
    }

    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        let mut spots = NextSpot::default();
        for _ in 0..COINS {
            let (x, y) = spots.take();
            world.spawn(Coin { x, y });
        }
        world.insert_resource(spots);
        schedule.add_systems((
            walk.in_set(GameSystems::Simulate),
            pick_up.in_set(GameSystems::Resolve),
        ));
    }

    fn replicate(&self, rep: &mut Replication<'_>) {
        rep.rows::<PlayerRow>().component::<Coin>();
    }

    fn on_join(&self, world: &mut World, entity: Entity) {
        world.entity_mut(entity).insert(Player {
            x: SIZE / 2.0,
            y: SIZE / 2.0,
            score: 0,
        });
    }

    fn scores(&self, world: &mut World) -> BTreeMap<String, i64> {
        world
            .query::<(&PlayerId, &Player)>()
            .iter(world)
            .map(|(id, p)| (id.0.to_string(), i64::from(p.score)))
            .collect()
    }

    fn globals(&self, _world: &mut World) {}
}

impl QueryRow for PlayerRow {
    type Query = (&'static PlayerId, &'static Player);
    type Filter = ();

    fn from_query((id, p): (&PlayerId, &Player)) -> Self {
        PlayerRow {
            id: id.0.clone(),
            x: p.x,
            y: p.y,
            score: p.score,
        }
    }
}

fn walk(tick: Res<'_, TickInfo>, mut players: Query<'_, '_, (&Controls<Move>, &mut Player)>) {
    for (controls, mut p) in &mut players {
        let [dx, dy] = controls.input.dir;
        p.x = (p.x + dx * SPEED * tick.dt).clamp(0.0, SIZE);
        p.y = (p.y + dy * SPEED * tick.dt).clamp(0.0, SIZE);
    }
}

/// A coin within reach of a player scores and moves on: the same entity, a new place.
fn pick_up(
    mut spots: ResMut<'_, NextSpot>,
    mut coins: Query<'_, '_, &mut Coin>,
    mut players: Query<'_, '_, &mut Player>,
) {
    for mut coin in &mut coins {
        for mut p in &mut players {
            let (dx, dy) = (coin.x - p.x, coin.y - p.y);
            if dx * dx + dy * dy < REACH * REACH {
                p.score += 1;
                (coin.x, coin.y) = spots.take();
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use tickroom_engine::{Room, RoomConfig};
    use tickroom_shared::Mirror;

    use super::*;

    /// Steps a room with no sockets, reading its snapshots back as a client does.
    #[test]
    fn walking_onto_a_coin_scores_and_moves_it() {
        let mut room = Room::new(Arc::new(Coins), RoomConfig::with_rate(30));
        let mut mirror = Mirror::new();
        room.join("ann".into());
        mirror.apply(&Bytes::copy_from_slice(room.tick())).unwrap();
        let coins = Coin::read_rows(mirror.frame()).unwrap();
        assert_eq!(coins.len(), COINS as usize);
        let before = PlayerRow::read_rows(mirror.frame()).unwrap()[0].1.score;
        // Stand on the first coin.
        let (key, target) = coins[0].clone();
        let ann = room.entity_of("ann").unwrap();
        let mut p = room.world_mut().get_mut::<Player>(ann).unwrap();
        (p.x, p.y) = (target.x, target.y);
        mirror.apply(&Bytes::copy_from_slice(room.tick())).unwrap();
        let players = PlayerRow::read_rows(mirror.frame()).unwrap();
        assert_eq!(players[0].1.score, before + 1);
        let moved = Coin::read_rows(mirror.frame()).unwrap();
        let now = &moved.iter().find(|(k, _)| *k == key).unwrap().1;
        assert_ne!(now, &target, "the coin came back elsewhere");
    }

    #[test]
    fn out_of_range_moves_are_refused() {
        // What the engine checks before the game sees an input: the declared bounds.
        assert!(Move { dir: [2.0, 0.0] }.check().is_err());
        assert!(Move { dir: [f32::NAN, 0.0] }.check().is_err());
        assert!(Move { dir: [1.0, -1.0] }.check().is_ok());
    }
}
