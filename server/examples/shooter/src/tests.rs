//! The shooter stepped as a room with no sockets: its snapshots rebuilt by a `Mirror`, as a
//! client does, one kind at a time.

use std::sync::Arc;

use bytes::Bytes;
use tickroom_engine::{Room, RoomConfig};
use tickroom_shared::Mirror;
use tickroom_shared::snapshot::{Applied, Replicate};

use super::*;

/// Holding fire toward `aim`, standing still.
fn standing_fire(aim: f32) -> ShooterInput {
    ShooterInput {
        dir: [0.0, 0.0],
        aim,
        fire: true,
    }
}

struct Match {
    room: Room<Shooter>,
    mirror: Mirror,
    seq: u32,
}

impl Match {
    fn new(players: &[&str]) -> Self {
        let mut room = Room::new(Arc::new(Shooter), RoomConfig::with_rate(30));
        for p in players {
            room.join((*p).into());
        }
        let mut m = Self {
            room,
            mirror: Mirror::new(),
            seq: 0,
        };
        m.tick();
        m
    }

    fn place(&mut self, player: &str, x: f32, y: f32) {
        let e = self.room.entity_of(player).unwrap();
        *self.room.world_mut().get_mut::<Position>(e).unwrap() = Position { x, y };
    }

    fn input(&mut self, player: &str, input: ShooterInput) {
        self.seq += 1;
        self.room.push_input(player, self.seq, input);
    }

    fn tick(&mut self) {
        let bytes = Bytes::copy_from_slice(self.room.tick());
        let applied = self.mirror.apply(&bytes).unwrap();
        assert!(matches!(applied, Applied::State { .. }), "{applied:?}");
    }

    fn ships(&self) -> Vec<ShipRow> {
        ShipRow::read_rows(self.mirror.frame())
            .unwrap()
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }

    fn ship(&self, id: &str) -> ShipRow {
        self.ships().into_iter().find(|s| &*s.id == id).unwrap()
    }

    fn bullets(&self) -> Vec<(u32, Bullet)> {
        Bullet::read_rows(self.mirror.frame()).unwrap()
    }

    fn pickups(&self) -> Vec<(u32, Pickup)> {
        Pickup::read_rows(self.mirror.frame()).unwrap()
    }
}

#[test]
fn every_keyframe_names_the_three_kinds() {
    let m = Match::new(&["ann"]);
    let kinds: Vec<&str> = m
        .mirror
        .frame()
        .kinds
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(kinds, ["ship", "bullet", "pickup"]);
    assert_eq!(m.ships().len(), 1);
    assert!(m.bullets().is_empty());
    assert_eq!(m.pickups().len(), PICKUPS.len());
}

#[test]
fn a_shot_flies_hits_and_is_gone() {
    let mut m = Match::new(&["ann", "bob"]);
    m.place("ann", 20.0, 50.0);
    m.place("bob", 35.0, 50.0);
    let ann_key = m.room.entity_of("ann").unwrap().index_u32();
    m.input("ann", standing_fire(0.0));
    m.tick();
    let bullets = m.bullets();
    assert_eq!(bullets.len(), 1, "one shot");
    assert_eq!(bullets[0].1.owner, ann_key);
    // Fired from just ahead of the ship (22.5), it has flown one tick (2 units) already.
    assert!((bullets[0].1.x - 24.5).abs() < 0.11, "{:?}", bullets[0]);
    // Held fire: another shot every 0.25 s; the first reaches bob 12.5 units away in ~0.2 s.
    let mut hit_at = None;
    for t in 0..10 {
        m.tick();
        if m.ship("bob").hp < MAX_HP && hit_at.is_none() {
            hit_at = Some(t);
        }
    }
    assert_eq!(m.ship("bob").hp, MAX_HP - DAMAGE, "one bullet hit so far");
    assert!(hit_at.is_some_and(|t| t <= 6), "{hit_at:?}");
    assert!(
        m.bullets().iter().all(|(_, b)| b.x < 35.0),
        "the bullet that hit is gone: {:?}",
        m.bullets()
    );
    assert_eq!(
        m.ship("ann").hp,
        MAX_HP,
        "a ship is not hit by its own bullets"
    );
}

#[test]
fn bullets_that_miss_are_gone_after_their_life() {
    let mut m = Match::new(&["ann"]);
    m.place("ann", 50.0, 50.0);
    // Fire once, straight up, then stop.
    m.input("ann", standing_fire(std::f32::consts::FRAC_PI_2));
    m.tick();
    m.input("ann", ShooterInput::default());
    let key = m.bullets()[0].0;
    let mut gone_after = None;
    for t in 1..=40 {
        m.tick();
        if m.bullets().is_empty() {
            gone_after = Some(t);
            break;
        }
    }
    // 47.5 units to the top wall at 60/s: it leaves the map before its second is up.
    assert!(
        gone_after.is_some_and(|t| (20..=30).contains(&t)),
        "{gone_after:?} (key {key})"
    );
}

#[test]
fn a_ship_at_zero_comes_back_whole_and_its_sinker_scores() {
    let mut m = Match::new(&["ann", "bob"]);
    let bob = m.room.entity_of("bob").unwrap();
    m.room.world_mut().get_mut::<Ship>(bob).unwrap().hp = DAMAGE;
    m.place("ann", 20.0, 50.0);
    m.place("bob", 30.0, 50.0);
    m.input("ann", standing_fire(0.0));
    m.tick();
    m.input("ann", ShooterInput::default());
    for _ in 0..10 {
        m.tick();
    }
    let bob = m.ship("bob");
    assert_eq!(bob.hp, MAX_HP);
    let home = spawn_point("bob");
    assert!((bob.x - home.x).abs() < 0.1 && (bob.y - home.y).abs() < 0.1);
    assert_eq!(m.ship("ann").score, 1);
    assert_eq!(m.room.end(tickroom_shared::EndReason::Admin)["ann"], 1);
}

#[test]
fn pickups_heal_and_come_back() {
    let mut m = Match::new(&["ann"]);
    let ann = m.room.entity_of("ann").unwrap();
    m.room.world_mut().get_mut::<Ship>(ann).unwrap().hp = 50;
    let (px, py) = PICKUPS[0];
    m.place("ann", px + 1.0, py);
    m.tick();
    assert_eq!(m.ship("ann").hp, 50 + HEAL);
    let taken: Vec<_> = m.pickups().into_iter().filter(|(_, p)| !p.ready).collect();
    assert_eq!(taken.len(), 1);
    m.place("ann", 50.0, 50.0);
    // Ready again after five seconds (150 ticks at 30 Hz), not before.
    for _ in 0..148 {
        m.tick();
    }
    assert!(m.pickups().iter().any(|(_, p)| !p.ready));
    for _ in 0..3 {
        m.tick();
    }
    assert!(m.pickups().iter().all(|(_, p)| p.ready));
}

#[test]
fn bad_inputs_are_refused() {
    for input in [
        ShooterInput {
            dir: [f32::NAN, 0.0],
            ..Default::default()
        },
        ShooterInput {
            dir: [1.5, 0.0],
            ..Default::default()
        },
        ShooterInput {
            aim: f32::INFINITY,
            ..Default::default()
        },
    ] {
        // The engine runs the declared bounds' check before the game's `validate`.
        assert!(input.check().is_err(), "{input:?}");
    }
    assert!(ShooterInput::default().check().is_ok());
}
