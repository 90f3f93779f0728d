//! The arena's simulation: the [`Arena`] game, built on the engine's Game API.
//!
//! It uses only the public game API ([`Game`], [`GameSystems`], [`Controls`], [`TickInfo`]);
//! nothing in the server knows about it beyond its entry in the default catalog.

use bevy_ecs::prelude::*;

use crate::arena::{
    ArenaInput, ArenaPlayer, BOOST_FACTOR, BUTTON_BOOST, BUTTON_BRAKE, LARGE_NAME, LARGE_VIEW,
    LargeMap, NAME, PLAYER_RADIUS, SIZE, SPEED, large_size,
};

use std::time::Duration;

use tickroom_engine::{
    Capacity, Controls, Game, GameSystems, IncompleteStart, Interest, MatchRules, PlayerId,
    QueryRow, Replication, TickInfo,
};

/// A disc's centre.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// x, in `[PLAYER_RADIUS, size - PLAYER_RADIUS]`.
    pub x: f32,
    /// y, likewise.
    pub y: f32,
}

/// The map's width and height, as a resource: [`SIZE`], or [`large_size`] for the large map.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct MapSize(pub f32);

/// The arena game.
#[derive(Debug, Default, Clone, Copy)]
pub struct Arena;

impl Game for Arena {
    type Input = ArenaInput;
    type Globals = ();

    fn name(&self) -> &'static str {
        NAME
    }

    /// The server's default size; the queue may start a match of two or more after 10 s.
    fn match_rules(&self) -> MatchRules {
        MatchRules {
            players: None,
            start_incomplete: Some(IncompleteStart {
                min_players: 2,
                after: Duration::from_secs(10),
            }),
        }
    }

    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        build(world, schedule, SIZE);
    }

    fn on_join(&self, world: &mut World, entity: Entity) {
        place_joiner(world, entity, SIZE);
    }

    fn replicate(&self, rep: &mut Replication<'_>) {
        rep.rows::<ArenaPlayer>();
    }

    fn globals(&self, _world: &mut World) {}
}

/// The arena on a large map that grows with the room ([`large_size`] of its seats, from the
/// [`Capacity`] resource), for rooms of hundreds: each player is sent only the discs within
/// [`LARGE_VIEW`] of its own ([`Interest`]), so what a client receives grows with the crowd
/// around it, not with the room. Same input and rows as [`Arena`]; the map's side in the
/// globals ([`LargeMap`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct ArenaLarge;

impl Game for ArenaLarge {
    type Input = ArenaInput;
    type Globals = LargeMap;

    fn name(&self) -> &'static str {
        LARGE_NAME
    }

    fn match_rules(&self) -> MatchRules {
        Arena.match_rules()
    }

    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        let size = large_size(world.resource::<Capacity>().max_players);
        build(world, schedule, size);
    }

    fn on_join(&self, world: &mut World, entity: Entity) {
        let size = world.resource::<MapSize>().0;
        place_joiner(world, entity, size);
    }

    fn replicate(&self, rep: &mut Replication<'_>) {
        rep.rows::<ArenaPlayer>()
            .interest(Interest::within(LARGE_VIEW, |p: &Position| [p.x, p.y]));
    }

    fn globals(&self, world: &mut World) -> LargeMap {
        LargeMap {
            size: world.resource::<MapSize>().0,
        }
    }
}

fn build(world: &mut World, schedule: &mut Schedule, size: f32) {
    world.insert_resource(MapSize(size));
    schedule.add_systems((
        movement.in_set(GameSystems::Simulate),
        separate.in_set(GameSystems::Resolve),
    ));
}

fn place_joiner(world: &mut World, entity: Entity, size: f32) {
    let id = world
        .get::<PlayerId>(entity)
        .map(|p| p.0.clone())
        .unwrap_or_else(|| "".into());
    world.entity_mut(entity).insert(spawn_point(&id, size));
}

/// A player's row: its id and its disc's centre.
impl QueryRow for ArenaPlayer {
    type Query = (&'static PlayerId, &'static Position);
    type Filter = ();

    fn from_query((id, pos): (&PlayerId, &Position)) -> Self {
        ArenaPlayer {
            id: id.0.clone(),
            x: pos.x,
            y: pos.y,
        }
    }
}

/// A spawn point spread over a map of `size` by the player id, so that joiners do not stack.
fn spawn_point(id: &str, size: f32) -> Position {
    // FNV-1a: stable across runs and platforms, unlike std's RandomState.
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    // FNV's last multiply barely moves bits 16..32 for ids that differ in their last
    // character ("bot-1", "bot-2"): without this avalanche (splitmix64's finaliser) they spawn
    // on one line.
    let h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let h = h ^ (h >> 31);
    let span = size - 4.0 * PLAYER_RADIUS;
    let fx = (h & 0xffff) as f32 / 65535.0;
    let fy = ((h >> 16) & 0xffff) as f32 / 65535.0;
    Position {
        x: 2.0 * PLAYER_RADIUS + fx * span,
        y: 2.0 * PLAYER_RADIUS + fy * span,
    }
}

fn clamp_to_walls(p: &mut Position, size: f32) {
    p.x = p.x.clamp(PLAYER_RADIUS, size - PLAYER_RADIUS);
    p.y = p.y.clamp(PLAYER_RADIUS, size - PLAYER_RADIUS);
}

fn movement(
    tick: Res<'_, TickInfo>,
    size: Res<'_, MapSize>,
    mut q: Query<'_, '_, (&Controls<ArenaInput>, &mut Position)>,
) {
    for (controls, mut pos) in &mut q {
        let input = &controls.input;
        if input.buttons & BUTTON_BRAKE != 0 {
            continue;
        }
        let [mut dx, mut dy] = input.dir;
        let len = (dx * dx + dy * dy).sqrt();
        if len > 1.0 {
            dx /= len;
            dy /= len;
        }
        let boost = if input.buttons & BUTTON_BOOST != 0 {
            BOOST_FACTOR
        } else {
            1.0
        };
        let step = SPEED * boost * tick.dt;
        pos.x += dx * step;
        pos.y += dy * step;
        clamp_to_walls(&mut pos, size.0);
    }
}

/// Pushes overlapping discs apart, half the overlap each, then keeps them inside the walls.
///
/// Every pair once, in the order of bevy's `iter_combinations` — (0, 1), (0, 2), …, (1, 2),
/// … — each push seeing the ones before it, so a match replays the same as with that iterator;
/// but over a copy of the positions: the combination iterator fetches both discs through the
/// query again for every pair, which made this most of a 500-player tick.
fn separate(
    size: Res<'_, MapSize>,
    mut q: Query<'_, '_, &mut Position>,
    mut discs: Local<'_, Vec<(Position, bool)>>,
) {
    discs.clear();
    discs.extend(q.iter().map(|p| (*p, false)));
    for i in 1..discs.len() {
        let (done, rest) = discs.split_at_mut(i);
        let a = &mut done[i - 1];
        for b in rest {
            push_apart(a, b, size.0);
        }
    }
    for (&(p, pushed), mut pos) in discs.iter().zip(&mut q) {
        if pushed {
            *pos = p;
        }
    }
}

/// Pushes `a` and `b` apart if they overlap, marking each one pushed.
fn push_apart(a: &mut (Position, bool), b: &mut (Position, bool), size: f32) {
    let min = 2.0 * PLAYER_RADIUS;
    let (dx, dy) = (b.0.x - a.0.x, b.0.y - a.0.y);
    let dist2 = dx * dx + dy * dy;
    if dist2 >= min * min {
        return;
    }
    let dist = dist2.sqrt();
    // Coincident centres: separate along x, deterministically.
    let (nx, ny) = if dist > f32::EPSILON {
        (dx / dist, dy / dist)
    } else {
        (1.0, 0.0)
    };
    let push = (min - dist) / 2.0;
    a.0.x -= nx * push;
    a.0.y -= ny * push;
    b.0.x += nx * push;
    b.0.y += ny * push;
    clamp_to_walls(&mut a.0, size);
    clamp_to_walls(&mut b.0, size);
    a.1 = true;
    b.1 = true;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::arena::ArenaState;
    use bytes::Bytes;
    use tickroom_engine::Input as _;
    use tickroom_shared::{Mirror, Snapshot};

    use super::*;
    use tickroom_engine::{PushOutcome, Room, RoomConfig};

    fn room() -> Room<Arena> {
        room_with_lag(0)
    }

    fn room_with_lag(max_input_lag: usize) -> Room<Arena> {
        Room::new(
            Arc::new(Arena),
            RoomConfig {
                keyframe_interval: 1,
                max_input_lag,
                ..RoomConfig::with_rate(30)
            },
        )
    }

    fn applied_seqs(r: &Room<Arena>) -> Vec<u32> {
        r.world()
            .resource::<tickroom_engine::AppliedInputs<ArenaInput>>()
            .0
            .iter()
            .map(|a| a.seq)
            .collect()
    }

    /// Every test snapshot is decoded as a keyframe-only stream would be: each room here has
    /// a keyframe interval of 1.
    fn decode(bytes: &[u8]) -> Snapshot<ArenaState> {
        Mirror::new()
            .apply_typed(&Bytes::copy_from_slice(bytes))
            .unwrap()
            .expect("a keyframe")
    }

    #[test]
    fn input_moves_and_is_acked() {
        let mut r = room();
        r.join("alice".into());
        let start = decode(r.tick()).state.player("alice").unwrap().clone();
        let right = ArenaInput {
            dir: [1.0, 0.0],
            buttons: 0,
        };
        assert_eq!(r.push_input("alice", 1, right), PushOutcome::Queued);
        let snap = decode(r.tick());
        assert_eq!(snap.tick, 2);
        assert_eq!(snap.acks["alice"], 1);
        let p = snap.state.player("alice").unwrap();
        let expected = (start.x + SPEED / 30.0).min(SIZE - PLAYER_RADIUS);
        // Positions travel in hundredths: each side of the comparison is off by up to 0.005.
        assert!((p.x - expected).abs() <= 0.0101, "{} vs {expected}", p.x);
        // the input is held: the next tick moves again
        let again = decode(r.tick());
        assert!(again.state.player("alice").unwrap().x > p.x || p.x >= SIZE - PLAYER_RADIUS);
        assert_eq!(again.acks["alice"], 1);
    }

    #[test]
    fn a_backlog_is_caught_up_within_the_allowed_lag() {
        let up = ArenaInput {
            dir: [0.0, 1.0],
            buttons: 0,
        };
        // Lag 0 (the default): every waiting input is applied in the next tick.
        let mut r = room();
        r.join("alice".into());
        for seq in 1..=5 {
            r.push_input("alice", seq, up);
        }
        assert_eq!(decode(r.tick()).acks["alice"], 5);
        assert_eq!(applied_seqs(&r), [1, 2, 3, 4, 5]);
        assert_eq!(decode(r.tick()).acks["alice"], 5);
        assert!(applied_seqs(&r).is_empty());

        // Lag 1: four applied at once (all listed, the last held), one left for the next tick.
        let mut r = room_with_lag(1);
        r.join("alice".into());
        for seq in 1..=5 {
            r.push_input("alice", seq, up);
        }
        assert_eq!(decode(r.tick()).acks["alice"], 4);
        assert_eq!(applied_seqs(&r), [1, 2, 3, 4]);
        assert_eq!(decode(r.tick()).acks["alice"], 5);
        assert_eq!(applied_seqs(&r), [5]);
        assert_eq!(decode(r.tick()).acks["alice"], 5);
        assert!(applied_seqs(&r).is_empty());
        // Within the lag, one input a tick: the second waits for the next tick.
        r.push_input("alice", 6, up);
        r.push_input("alice", 7, up);
        assert_eq!(decode(r.tick()).acks["alice"], 6);
        assert_eq!(decode(r.tick()).acks["alice"], 7);
    }

    #[test]
    fn walls_and_collisions_hold() {
        let mut r = room();
        r.join("a".into());
        r.join("b".into());
        let ea = r.entity_of("a").unwrap();
        let eb = r.entity_of("b").unwrap();
        *r.world_mut().get_mut::<Position>(ea).unwrap() = Position { x: 50.0, y: 50.0 };
        *r.world_mut().get_mut::<Position>(eb).unwrap() = Position { x: 50.5, y: 50.0 };
        let left = ArenaInput {
            dir: [-1.0, 0.0],
            buttons: BUTTON_BOOST,
        };
        for seq in 1..=8 {
            r.push_input("a", seq, left);
        }
        for _ in 0..300 {
            r.tick();
        }
        let s = decode(r.last_snapshot()).state;
        let (a, b) = (s.player("a").unwrap(), s.player("b").unwrap());
        assert!(
            (a.x - PLAYER_RADIUS).abs() < 1e-4,
            "a is at the left wall: {}",
            a.x
        );
        let d = ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
        // (from positions in hundredths, each off by up to 0.005)
        assert!(d >= 2.0 * PLAYER_RADIUS - 0.015, "discs overlap: {d}");
    }

    #[test]
    fn leave_despawns() {
        let mut r = room();
        r.join("a".into());
        r.tick();
        assert!(r.leave("a"));
        let s = decode(r.tick());
        assert!(s.state.players.is_empty());
        assert!(s.acks.is_empty());
        let w = r.world_mut();
        assert_eq!(
            w.query::<&Position>().iter(w).count(),
            0,
            "entity despawned"
        );
        assert_eq!(w.query::<&PlayerId>().iter(w).count(), 0);
    }

    #[test]
    fn declared_input_bounds() {
        let ok = ArenaInput {
            dir: [0.5, -1.0],
            buttons: BUTTON_BRAKE,
        };
        assert!(ok.check().is_ok());
        for bad in [
            ArenaInput {
                dir: [f32::NAN, 0.0],
                buttons: 0,
            },
            ArenaInput {
                dir: [f32::INFINITY, 0.0],
                buttons: 0,
            },
            ArenaInput {
                dir: [1.5, 0.0],
                buttons: 0,
            },
            ArenaInput {
                dir: [0.0, 0.0],
                buttons: 0x80,
            },
        ] {
            // The engine runs this check on every input before the game sees it.
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    /// The large map grows with the match's seats, at least the arena's side, and says its
    /// side in the globals; a room of no stated size has the default.
    #[test]
    fn the_large_map_grows_with_the_room() {
        let side = |seats: Option<u32>| {
            let config = RoomConfig {
                max_players: seats,
                ..RoomConfig::with_rate(30)
            };
            let mut room = Room::new(Arc::new(ArenaLarge), config);
            let globals = room.world_mut().resource::<MapSize>().0;
            assert_eq!(ArenaLarge.globals(room.world_mut()).size, globals);
            globals
        };
        assert_eq!(side(None), crate::arena::LARGE_SIZE);
        assert_eq!(side(Some(4)), SIZE);
        assert!((side(Some(50)) - 144.7).abs() < 0.1, "{}", side(Some(50)));
        assert!((side(Some(500)) - 457.6).abs() < 0.1, "{}", side(Some(500)));
        // A view's disc is 12 seats' area: spread evenly, 12 others in it away from the walls
        // (the walls cut the views near them: about 10 on average in a room of 50).
        let per_view = std::f32::consts::PI * LARGE_VIEW * LARGE_VIEW;
        let others = 499.0 * per_view / (side(Some(500)) * side(Some(500)));
        assert!((11.5..12.5).contains(&others), "{others}");
    }

    /// `separate` over its copy pushes exactly as bevy's combination iterator did, bit for
    /// bit: matches recorded before it replay the same. A crowd of 300 on a small map —
    /// chains of overlaps, coincident centres, discs at the walls — for 20 rounds.
    #[test]
    fn separation_pushes_as_the_combination_iterator_did() {
        fn by_combinations(size: Res<'_, MapSize>, mut q: Query<'_, '_, &mut Position>) {
            let min = 2.0 * PLAYER_RADIUS;
            let mut pairs = q.iter_combinations_mut();
            while let Some([mut a, mut b]) = pairs.fetch_next() {
                let (dx, dy) = (b.x - a.x, b.y - a.y);
                let dist2 = dx * dx + dy * dy;
                if dist2 >= min * min {
                    continue;
                }
                let dist = dist2.sqrt();
                let (nx, ny) = if dist > f32::EPSILON {
                    (dx / dist, dy / dist)
                } else {
                    (1.0, 0.0)
                };
                let push = (min - dist) / 2.0;
                a.x -= nx * push;
                a.y -= ny * push;
                b.x += nx * push;
                b.y += ny * push;
                clamp_to_walls(&mut a, size.0);
                clamp_to_walls(&mut b, size.0);
            }
        }
        let crowd = |schedule: &mut Schedule| {
            let mut world = World::new();
            world.insert_resource(MapSize(40.0));
            let mut seed = 0x2545_f491_u32;
            let mut next = || {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1 << 24) as f32 * 40.0
            };
            for i in 0..300 {
                let p = if i % 50 == 0 {
                    Position { x: 20.0, y: 20.0 }
                } else {
                    Position {
                        x: next(),
                        y: next(),
                    }
                };
                world.spawn(p);
            }
            for _ in 0..20 {
                schedule.run(&mut world);
            }
            let mut q = world.query::<&Position>();
            q.iter(&world)
                .map(|p| (p.x.to_bits(), p.y.to_bits()))
                .collect::<Vec<_>>()
        };
        let mut ours = Schedule::default();
        ours.add_systems(separate);
        let mut theirs = Schedule::default();
        theirs.add_systems(by_combinations);
        let (a, b) = (crowd(&mut ours), crowd(&mut theirs));
        assert_eq!(a, b);
        // The crowd did move: the test compares pushes, not two idle worlds.
        assert_ne!(a, crowd(&mut Schedule::default()));
    }
}
