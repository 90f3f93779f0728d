//! A top-down shooter on Tickroom, written as a game developer writes a game: ships move and
//! fire, bullets fly for a second and hit, pickups heal and come back five seconds later.
//!
//! It replicates three kinds of entities, each declared once as a struct:
//! - `ship` ([`ShipRow`]): one per player, built from the ship's components by a query;
//! - `bullet` ([`Bullet`]): a component that is its own row, spawned and despawned by the
//!   simulation many times a second;
//! - `pickup` ([`Pickup`]): a component that is its own row, that flips `ready`.
//!
//! Clients need no game code to rebuild them: every keyframe names each kind and its fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use tickroom_engine::{
    Controls, Game, GameSystems, Input, PlayerId, QueryRow, Replicate, Replication, TickInfo,
};

/// The game's name, as matches are created with.
pub const NAME: &str = "shooter";
/// The map is the square `0..SIZE` × `0..SIZE`.
pub const SIZE: f32 = 100.0;
/// A ship's radius: a bullet closer than this to a ship's centre hits it.
pub const SHIP_RADIUS: f32 = 2.0;
/// Ship speed, units per second.
pub const SHIP_SPEED: f32 = 25.0;
/// Bullet speed, units per second.
pub const BULLET_SPEED: f32 = 60.0;
/// How long a bullet flies, in seconds.
pub const BULLET_LIFE: f64 = 1.0;
/// Seconds between two shots of one ship.
pub const FIRE_COOLDOWN: f64 = 0.25;
/// Hit points of a new ship.
pub const MAX_HP: u8 = 100;
/// Hit points a bullet takes.
pub const DAMAGE: u8 = 20;
/// Hit points a pickup gives back.
pub const HEAL: u8 = 30;
/// A ship closer than this to a ready pickup takes it.
pub const PICKUP_RADIUS: f32 = 3.0;
/// Seconds before a taken pickup is ready again.
pub const PICKUP_RESPAWN: f64 = 5.0;
/// Where the pickups are.
pub const PICKUPS: [(f32, f32); 4] = [(25.0, 25.0), (75.0, 25.0), (25.0, 75.0), (75.0, 75.0)];

/// A player's controls, held until the next input.
///
/// Its bounds are declared (the engine refuses an input outside them before the game sees
/// it) and `shooter-server input-types` prints it as TypeScript for the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, Input)]
#[serde(deny_unknown_fields)]
pub struct ShooterInput {
    /// Where to move, `[x, y]`; a longer vector is shortened to 1.
    #[input(range = -1.0..=1.0)]
    pub dir: [f32; 2],
    /// Where the ship points and fires, in radians (any finite number).
    #[serde(default)]
    pub aim: f32,
    /// Fire while held (one shot every [`FIRE_COOLDOWN`]).
    #[serde(default)]
    pub fire: bool,
}

/// The kind `ship`: one row per player.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Replicate)]
#[replicate(kind = "ship")]
pub struct ShipRow {
    /// The player id.
    pub id: Arc<str>,
    /// Centre x, in tenths.
    #[replicate(step = 0.1)]
    pub x: f32,
    /// Centre y, in tenths.
    #[replicate(step = 0.1)]
    pub y: f32,
    /// Where it points, in radians, in 8 bits.
    #[replicate(angle_bits = 8)]
    pub heading: f32,
    /// Hit points.
    pub hp: u8,
    /// Ships it has sunk.
    pub score: u32,
}

/// The kind `bullet`: a component that is its own row.
#[derive(Component, Debug, Clone, PartialEq, Serialize, Deserialize, Replicate)]
pub struct Bullet {
    /// x, in tenths.
    #[replicate(step = 0.1)]
    pub x: f32,
    /// y, in tenths.
    #[replicate(step = 0.1)]
    pub y: f32,
    /// The key of the ship that fired it (its row's key).
    pub owner: u32,
}

/// The kind `pickup`: a component that is its own row.
#[derive(Component, Debug, Clone, PartialEq, Serialize, Deserialize, Replicate)]
pub struct Pickup {
    /// x, in halves.
    #[replicate(step = 0.5)]
    pub x: f32,
    /// y, in halves.
    #[replicate(step = 0.5)]
    pub y: f32,
    /// Whether a ship can take it.
    pub ready: bool,
}

/// A ship's centre.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// x.
    pub x: f32,
    /// y.
    pub y: f32,
}

/// The ship's state beside its position.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Ship {
    /// Where it points, in radians.
    pub heading: f32,
    /// Hit points.
    pub hp: u8,
    /// Ships it has sunk.
    pub score: u32,
    /// Game time from which it may fire again.
    pub ready_at: f64,
}

/// A bullet's flight: not replicated (clients see where it is, not where it goes).
#[derive(Component, Debug, Clone, Copy)]
struct Flight {
    vx: f32,
    vy: f32,
    until: f64,
    owner: Entity,
}

/// When a taken pickup is ready again.
#[derive(Component, Debug, Clone, Copy)]
struct Respawn {
    at: f64,
}

/// The shooter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Shooter;

impl Game for Shooter {
    type Input = ShooterInput;
    type Globals = ();

    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        for (x, y) in PICKUPS {
            world.spawn((Pickup { x, y, ready: true }, Respawn { at: 0.0 }));
        }
        schedule.add_systems((
            fire.in_set(GameSystems::Input),
            (move_ships, fly).in_set(GameSystems::Simulate),
            (hits, take_pickups, respawn_pickups)
                .chain()
                .in_set(GameSystems::Resolve),
        ));
    }

    fn replicate(&self, rep: &mut Replication<'_>) {
        rep.rows::<ShipRow>()
            .component::<Bullet>()
            .component::<Pickup>();
    }

    fn on_join(&self, world: &mut World, entity: Entity) {
        let id = world
            .get::<PlayerId>(entity)
            .map(|p| p.0.clone())
            .unwrap_or_else(|| "".into());
        world.entity_mut(entity).insert((
            spawn_point(&id),
            Ship {
                heading: 0.0,
                hp: MAX_HP,
                score: 0,
                ready_at: 0.0,
            },
        ));
    }

    fn scores(&self, world: &mut World) -> BTreeMap<String, i64> {
        world
            .query::<(&PlayerId, &Ship)>()
            .iter(world)
            .map(|(id, ship)| (id.0.to_string(), i64::from(ship.score)))
            .collect()
    }

    fn globals(&self, _world: &mut World) {}
}

impl QueryRow for ShipRow {
    type Query = (&'static PlayerId, &'static Position, &'static Ship);
    type Filter = ();

    fn from_query((id, pos, ship): (&PlayerId, &Position, &Ship)) -> Self {
        ShipRow {
            id: id.0.clone(),
            x: pos.x,
            y: pos.y,
            heading: ship.heading,
            hp: ship.hp,
            score: ship.score,
        }
    }
}

/// A spawn point spread over the map by the player id (FNV-1a: the same on every run).
pub fn spawn_point(id: &str) -> Position {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let span = SIZE - 10.0;
    Position {
        x: 5.0 + (h & 0xffff) as f32 / 65535.0 * span,
        y: 5.0 + ((h >> 16) & 0xffff) as f32 / 65535.0 * span,
    }
}

/// Aims every ship, and fires a bullet from each that holds fire and may.
fn fire(
    tick: Res<'_, TickInfo>,
    mut ships: Query<'_, '_, (Entity, &Controls<ShooterInput>, &Position, &mut Ship)>,
    mut commands: Commands<'_, '_>,
) {
    for (entity, controls, pos, mut ship) in &mut ships {
        let input = controls.input;
        ship.heading = input.aim.rem_euclid(std::f32::consts::TAU);
        if !input.fire || tick.elapsed < ship.ready_at {
            continue;
        }
        ship.ready_at = tick.elapsed + FIRE_COOLDOWN;
        let (dy, dx) = input.aim.sin_cos();
        commands.spawn((
            Bullet {
                x: pos.x + dx * (SHIP_RADIUS + 0.5),
                y: pos.y + dy * (SHIP_RADIUS + 0.5),
                owner: entity.index_u32(),
            },
            Flight {
                vx: dx * BULLET_SPEED,
                vy: dy * BULLET_SPEED,
                until: tick.elapsed + BULLET_LIFE,
                owner: entity,
            },
        ));
    }
}

fn move_ships(
    tick: Res<'_, TickInfo>,
    mut ships: Query<'_, '_, (&Controls<ShooterInput>, &mut Position)>,
) {
    for (controls, mut pos) in &mut ships {
        let [mut dx, mut dy] = controls.input.dir;
        let len = (dx * dx + dy * dy).sqrt();
        if len > 1.0 {
            dx /= len;
            dy /= len;
        }
        pos.x = (pos.x + dx * SHIP_SPEED * tick.dt).clamp(SHIP_RADIUS, SIZE - SHIP_RADIUS);
        pos.y = (pos.y + dy * SHIP_SPEED * tick.dt).clamp(SHIP_RADIUS, SIZE - SHIP_RADIUS);
    }
}

/// Moves bullets; those whose time is up or that left the map are gone.
fn fly(
    tick: Res<'_, TickInfo>,
    mut bullets: Query<'_, '_, (Entity, &mut Bullet, &Flight)>,
    mut commands: Commands<'_, '_>,
) {
    for (entity, mut bullet, flight) in &mut bullets {
        bullet.x += flight.vx * tick.dt;
        bullet.y += flight.vy * tick.dt;
        let outside = !(0.0..=SIZE).contains(&bullet.x) || !(0.0..=SIZE).contains(&bullet.y);
        if outside || tick.elapsed >= flight.until {
            commands.entity(entity).despawn();
        }
    }
}

/// A bullet that reaches a ship other than its own is gone and takes [`DAMAGE`]; a ship at 0
/// comes back at its spawn point, whole, and its sinker scores.
fn hits(
    bullets: Query<'_, '_, (Entity, &Bullet, &Flight)>,
    mut ships: Query<'_, '_, (Entity, &PlayerId, &mut Position, &mut Ship)>,
    mut commands: Commands<'_, '_>,
) {
    let mut sunk_by = Vec::new();
    for (bullet_entity, bullet, flight) in &bullets {
        for (ship_entity, id, mut pos, mut ship) in &mut ships {
            if ship_entity == flight.owner {
                continue;
            }
            let (dx, dy) = (bullet.x - pos.x, bullet.y - pos.y);
            if dx * dx + dy * dy >= SHIP_RADIUS * SHIP_RADIUS {
                continue;
            }
            commands.entity(bullet_entity).despawn();
            ship.hp = ship.hp.saturating_sub(DAMAGE);
            if ship.hp == 0 {
                ship.hp = MAX_HP;
                *pos = spawn_point(&id.0);
                sunk_by.push(flight.owner);
            }
            break;
        }
    }
    for owner in sunk_by {
        if let Ok((_, _, _, mut ship)) = ships.get_mut(owner) {
            ship.score += 1;
        }
    }
}

/// A damaged ship on a ready pickup takes it.
fn take_pickups(
    tick: Res<'_, TickInfo>,
    mut pickups: Query<'_, '_, (&mut Pickup, &mut Respawn)>,
    mut ships: Query<'_, '_, (&Position, &mut Ship)>,
) {
    for (mut pickup, mut respawn) in &mut pickups {
        if !pickup.ready {
            continue;
        }
        for (pos, mut ship) in &mut ships {
            let (dx, dy) = (pickup.x - pos.x, pickup.y - pos.y);
            if ship.hp < MAX_HP && dx * dx + dy * dy < PICKUP_RADIUS * PICKUP_RADIUS {
                ship.hp = ship.hp.saturating_add(HEAL).min(MAX_HP);
                pickup.ready = false;
                respawn.at = tick.elapsed + PICKUP_RESPAWN;
                break;
            }
        }
    }
}

fn respawn_pickups(tick: Res<'_, TickInfo>, mut pickups: Query<'_, '_, (&mut Pickup, &Respawn)>) {
    for (mut pickup, respawn) in &mut pickups {
        if !pickup.ready && tick.elapsed >= respawn.at {
            pickup.ready = true;
        }
    }
}

#[cfg(test)]
mod tests;
