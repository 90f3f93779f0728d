//! A match recorded ([`Room::record`]) replays bit for bit: every checksum in its log equals the
//! replayed room's, through joins, leaves, drops, inputs that repeat and change, and entities a
//! game spawns and despawns with its seeded randomness. A log changed in any way that
//! matters does not replay.

use std::sync::Arc;

use bevy_ecs::prelude::*;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tickroom_engine::replay::{self, ReplayError};
use tickroom_engine::{
    AppliedInputs, Game, GameSystems, Input, Replicate, Replication, Room, RoomConfig, RoomRng,
};
use tickroom_games::arena::{Arena, ArenaInput, ArenaState};
use tickroom_shared::EndReason;
use tickroom_shared::Mirror;

/// A stand-in for a game's own randomness: the seeded [`RoomRng`] each tick.
struct Walk(RoomRng);

impl Walk {
    fn input(&mut self) -> ArenaInput {
        ArenaInput {
            dir: [self.0.range(-1.0, 1.0), self.0.range(-1.0, 1.0)],
            // Boost now and then; never the brake, under which the direction does not count.
            buttons: u8::from(self.0.chance(0.1)),
        }
    }
}

/// An arena match of ten minutes at 30 Hz with 10 players: inputs that change every few ticks
/// and repeat in between, a leave and a late join, a drop and a return.
fn record_arena(ticks: u64) -> (Vec<u8>, u64) {
    let mut room = Room::new(Arc::new(Arena), RoomConfig::with_rate(30));
    assert!(room.record("m-replay"));
    let players: Vec<Arc<str>> = (0..10).map(|i| format!("p{i}").into()).collect();
    for p in &players[..9] {
        room.join(p.clone());
    }
    let mut walk = Walk(RoomRng::new(99));
    let mut held = vec![ArenaInput::default(); players.len()];
    let mut seq = vec![0u32; players.len()];
    for tick in 1..=ticks {
        match tick {
            100 => {
                room.leave(&players[3]);
            }
            150 => {
                room.join(players[9].clone());
            }
            200 => {
                room.set_connected(&players[5], false);
            }
            260 => {
                room.set_connected(&players[5], true);
            }
            _ => {}
        }
        for (i, p) in players.iter().enumerate() {
            if walk.0.chance(0.2) {
                held[i] = walk.input();
            }
            // Most ticks one input, some none, some two (a burst after a hiccup).
            let n = [1, 1, 1, 1, 0, 2][walk.0.below(6) as usize];
            for _ in 0..n {
                seq[i] += 1;
                room.push_input(p, seq[i], held[i]);
            }
        }
        room.step();
    }
    room.end(EndReason::GameOver);
    let mut log = Vec::new();
    room.take_log(&mut log);
    (log, room.checksum())
}

#[test]
fn a_ten_minute_arena_match_replays_bit_exact() {
    let ticks = 10 * 60 * 30;
    let (log, last) = record_arena(ticks);
    let report = replay::replay(Arc::new(Arena), &log).expect("replays");
    assert_eq!(report.ticks, ticks);
    assert_eq!(report.checksums, ticks / 30, "one a second");
    assert_eq!(report.joins, 10);
    assert!(report.inputs > 9 * ticks / 2, "{}", report.inputs);
    assert_eq!(report.end.as_deref(), Some("game_over"));
    assert_eq!(report.final_checksum, last);
    assert_eq!(report.header.match_id, "m-replay");
    // The bound: ≤ 2 KB/s per room (10 players' 30 Hz inputs, each changing every
    // fifth tick on average; a repeat costs its seat, seq and a nil: 3 bytes).
    let per_second = log.len() as f64 / (ticks as f64 / 30.0);
    assert!(per_second <= 2000.0, "{per_second:.0} B/s");
}

/// Flips a bit of one byte at a time, across the records: a change either fails to decode or
/// diverges, or it changed nothing the room holds — the replay ends in the recorded state (a
/// letter of the end's reason; a low bit of an input's float that rounding swallows).
#[test]
fn a_changed_log_does_not_replay() {
    let (log, last) = record_arena(600);
    let header_len = {
        let mut rd = &log[..];
        let _ = replay::read_header(rd).unwrap();
        // The header's length: decode it as one msgpack value.
        let _ = rmpv_len(&mut rd);
        log.len() - rd.len()
    };
    let mut caught = 0;
    let mut tried = 0;
    for at in (header_len..log.len()).step_by(97) {
        let mut bad = log.clone();
        bad[at] ^= 0x10;
        tried += 1;
        match replay::replay(Arc::new(Arena), &bad) {
            Err(_) => caught += 1,
            Ok(r) => assert_eq!(
                r.final_checksum, last,
                "the byte at {at} changed the match unnoticed"
            ),
        }
    }
    assert!(caught * 4 >= tried * 3, "{caught} of {tried} caught");
    // The seed is part of the room's state: another seed diverges at the first checksum.
    let mut room = Room::new(
        Arc::new(Arena),
        RoomConfig {
            seed: 1,
            ..RoomConfig::with_rate(30)
        },
    );
    room.record("m");
    room.join("a".into());
    for _ in 0..30 {
        room.step();
    }
    let mut other = Vec::new();
    room.take_log(&mut other);
    let seed_at = find_seed(&other);
    other[seed_at] = 2;
    assert!(matches!(
        replay::replay(Arc::new(Arena), &other),
        Err(ReplayError::Diverged { tick: 30, .. })
    ));
    assert!(matches!(
        replay::replay(Arc::new(Spark), &log),
        Err(ReplayError::WrongGame { .. })
    ));
    assert!(matches!(
        replay::replay(Arc::new(Arena), b"not a log"),
        Err(ReplayError::Format(_))
    ));
}

/// The length of one msgpack value at the front of `rd`, consumed.
fn rmpv_len(rd: &mut &[u8]) -> usize {
    let before = rd.len();
    let _ = rmp_serde::from_read::<_, serde::de::IgnoredAny>(&mut *rd);
    before - rd.len()
}

/// Where the seed (a positive fixint 1) sits in a log recorded with `RoomConfig::with_rate(30)`
/// and seed 1: the settings are `[30, 16, 0, 30, 1, nil, 1, 30]`.
fn find_seed(log: &[u8]) -> usize {
    let settings = [0x98, 30, 16, 0, 30, 1, 0xc0, 1, 30];
    let at = log
        .windows(settings.len())
        .position(|w| w == settings)
        .expect("the settings");
    at + 7
}

/// A game whose systems spawn and despawn entities with the room's randomness: sparks that
/// appear where the dice say and burn out after a few ticks.
#[derive(Debug, Clone, Copy)]
struct Spark;

#[derive(Component, Replicate, Clone, Copy)]
#[replicate(kind = "spark")]
struct Ember {
    #[replicate(step = 0.1)]
    x: f32,
    life: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, Input)]
struct Blow {
    #[input(range = -1.0..=1.0)]
    wind: f32,
}

fn burn(
    mut commands: Commands<'_, '_>,
    mut rng: ResMut<'_, RoomRng>,
    mut q: Query<'_, '_, (Entity, &mut Ember)>,
    inputs: Res<'_, AppliedInputs<Blow>>,
) {
    let wind: f32 = inputs.0.iter().map(|i| i.input.wind).sum();
    for (e, mut ember) in &mut q {
        ember.x += wind + rng.range(-0.5, 0.5);
        ember.life = ember.life.saturating_sub(1);
        if ember.life == 0 {
            commands.entity(e).despawn();
        }
    }
    for _ in 0..rng.below(3) {
        commands.spawn(Ember {
            x: rng.range(0.0, 100.0),
            life: 1 + rng.below(20) as u8,
        });
    }
}

impl Game for Spark {
    type Input = Blow;
    type Globals = ();

    fn name(&self) -> &'static str {
        "spark"
    }

    fn build(&self, _world: &mut World, schedule: &mut Schedule) {
        schedule.add_systems(burn.in_set(GameSystems::Simulate));
    }

    fn replicate(&self, rep: &mut Replication<'_>) {
        rep.component::<Ember>();
    }

    fn globals(&self, _world: &mut World) {}
}

#[test]
fn spawned_entities_and_random_draws_replay_bit_exact() {
    let config = RoomConfig {
        seed: 0x5eed,
        checksum_interval: 7,
        ..RoomConfig::with_rate(30)
    };
    let mut room = Room::new(Arc::new(Spark), config);
    assert!(room.record("sparks"));
    room.join("wind".into());
    for seq in 1..=300u32 {
        let wind = ((seq % 13) as f32 - 6.0) / 6.0;
        room.push_input("wind", seq, Blow { wind });
        room.step();
    }
    let world = room.world_mut();
    assert!(world.query::<&Ember>().iter(world).count() > 0);
    let mut log = Vec::new();
    room.take_log(&mut log);
    let report = replay::replay(Arc::new(Spark), &log).expect("replays");
    assert_eq!(report.checksums, 300 / 7);
    assert_eq!(report.final_checksum, room.checksum());
    assert_eq!(
        report.end, None,
        "no end was recorded: the log stops with the last tick"
    );
    // The same match with another seed is another match.
    let mut other = Room::new(
        Arc::new(Spark),
        RoomConfig {
            seed: 0x5eee,
            ..config
        },
    );
    other.join("wind".into());
    for seq in 1..=300u32 {
        let wind = ((seq % 13) as f32 - 6.0) / 6.0;
        other.push_input("wind", seq, Blow { wind });
        other.step();
    }
    assert_ne!(other.checksum(), room.checksum());
}

/// A room that has seated someone or ticked cannot start a log: it would miss the start.
#[test]
fn a_log_starts_with_the_match() {
    let mut room = Room::new(Arc::new(Arena), RoomConfig::with_rate(30));
    room.join("a".into());
    assert!(!room.record("late"));
    let mut log = Vec::new();
    room.take_log(&mut log);
    assert!(log.is_empty());
    let mut room = Room::new(Arc::new(Arena), RoomConfig::with_rate(30));
    assert!(room.record("m"));
    assert!(!room.record("m"), "one log");
}

/// A playback is what the match sent, byte for byte: the replayed room's snapshots equal the
/// live room's, tick for tick; bounded, it stops early and says so.
#[test]
fn a_playback_sends_the_snapshots_the_match_sent() {
    let mut room = Room::new(Arc::new(Arena), RoomConfig::with_rate(30));
    room.record("live");
    let mut walk = Walk(RoomRng::new(5));
    let mut live = Vec::new();
    for tick in 1..=200u32 {
        if tick == 1 || tick == 90 {
            room.join(format!("p{tick}").into());
        }
        for p in ["p1", "p90"] {
            room.push_input(p, tick, walk.input());
        }
        room.step();
        if room.snapshot_due() {
            live.push(room.snapshot().to_vec());
        }
    }
    let mut log = Vec::new();
    room.take_log(&mut log);
    let played = replay::playback(Arc::new(Arena), &log, usize::MAX).expect("plays");
    assert!(!played.truncated);
    assert_eq!(played.snapshots.len(), live.len());
    let first = played.snapshots.iter().zip(&live).position(|(a, b)| a != b);
    assert_eq!(
        first,
        None,
        "the same bytes: {:?} vs {:?}",
        first.map(|i| &played.snapshots[i]),
        first.map(|i| &live[i])
    );
    let short = replay::playback(Arc::new(Arena), &log, 2000).expect("plays");
    assert!(short.truncated);
    assert!(short.snapshots.len() < live.len());
    assert_eq!(short.snapshots[..], live[..short.snapshots.len()]);
}

/// A room restored from a log halfway through goes on exactly as the original: the same
/// inputs give the same checksums, and the log it goes on writing, appended to the first
/// half, replays as the whole match.
#[test]
fn a_restored_room_goes_on_as_the_original() {
    let mut original = Room::new(Arc::new(Arena), RoomConfig::with_rate(30));
    original.record("moving");
    for p in ["a", "b", "c"] {
        original.join(p.into());
    }
    let mut walk = Walk(RoomRng::new(11));
    let inputs: Vec<Vec<ArenaInput>> = (0..600)
        .map(|_| (0..3).map(|_| walk.input()).collect())
        .collect();
    let push = |room: &mut Room<Arena>, tick: usize| {
        for (i, p) in ["a", "b", "c"].iter().enumerate() {
            // Every other tick the input repeats: the log's repeat marker across the cut.
            room.push_input(p, tick as u32, inputs[(tick - 1) & !1][i]);
        }
    };
    for tick in 1..=300 {
        push(&mut original, tick);
        original.step();
    }
    original.set_connected("b", false);
    let mut first = Vec::new();
    original.take_log(&mut first);
    let (mut restored, report) = replay::restore(Arc::new(Arena), &first).expect("restores");
    assert_eq!(report.ticks, 300);
    assert_eq!(restored.tick_number(), 300);
    assert_eq!(restored.checksum(), original.checksum());
    let mut mirrors = (Mirror::new(), Mirror::new());
    let _ = mirrors
        .0
        .apply(&Bytes::copy_from_slice(original.snapshot()));
    for tick in 301..=600 {
        if tick == 400 {
            for room in [&mut original, &mut restored] {
                room.set_connected("b", true);
                room.leave("c");
                room.join("d".into());
            }
        }
        for room in [&mut original, &mut restored] {
            push(room, tick);
            room.push_input("d", tick as u32, inputs[tick - 1][0]);
            room.step();
        }
        assert_eq!(restored.checksum(), original.checksum(), "tick {tick}");
        // Their snapshots too (the restored room's first is a keyframe): clients see one state.
        let [a, b] =
            [&mut original, &mut restored].map(|room| Bytes::copy_from_slice(room.snapshot()));
        let (a, b) = (
            mirrors.0.apply_typed::<ArenaState>(&a).unwrap(),
            mirrors.1.apply_typed::<ArenaState>(&b).unwrap(),
        );
        assert_eq!(a.map(|s| s.state), b.map(|s| s.state), "tick {tick}");
    }
    let mut whole = first.clone();
    restored.take_log(&mut whole);
    let report = replay::replay(Arc::new(Arena), &whole).expect("the joined log replays");
    assert_eq!(report.ticks, 600);
    assert_eq!(report.checksums, 20);
    assert_eq!(report.final_checksum, original.checksum());
    // An ended match has no room to restore.
    original.end(EndReason::Admin);
    let mut ended = first;
    original.take_log(&mut ended);
    assert!(matches!(
        replay::restore(Arc::new(Arena), &ended),
        Err(ReplayError::Ended)
    ));
}

/// Whatever the bytes — a log cut anywhere, a tick record claiming four billion inputs, noise
/// after a valid header — a replay answers (an error, or a report), never a panic.
#[test]
fn any_bytes_replay_to_an_answer() {
    let (log, _) = record_arena(90);
    for cut in (0..log.len()).step_by(7) {
        let _ = replay::replay(Arc::new(Arena), &log[..cut]);
    }
    let header_len = find_header_end(&log);
    let mut huge = log[..header_len].to_vec();
    huge.extend_from_slice(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x03, 0x00, 0x01]);
    assert!(matches!(
        replay::replay(Arc::new(Arena), &huge),
        Err(ReplayError::Record { .. })
    ));
    let mut rng = RoomRng::new(3);
    for _ in 0..500 {
        let mut noisy = log[..header_len].to_vec();
        noisy.extend((0..rng.below(64)).map(|_| rng.below(256) as u8));
        let _ = replay::replay(Arc::new(Arena), &noisy);
    }
}

/// Where the header ends: the settings array's last value (`checksum_interval`, 30) closes it.
fn find_header_end(log: &[u8]) -> usize {
    let seed_at = log
        .windows(9)
        .position(|w| w[..6] == [0x98, 30, 16, 0, 30, 1] && w[6] == 0xc0)
        .expect("the settings");
    seed_at + 9
}
