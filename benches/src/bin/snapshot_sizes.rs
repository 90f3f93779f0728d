//! Prints snapshot sizes in bytes: keyframe ("full") and delta, for rooms of 8, 64 and 100
//! entities, beside Colyseus's published schema figures.
//!
//! `cargo run --release -p tickroom-benches --bin snapshot-sizes`

use std::collections::BTreeMap;

use tickroom_benches::arena_room;
use tickroom_shared::snapshot::Encoder;

/// Colyseus's published schema figures (bytes): 100-entity initial state; x/y change of 50
/// entities; x/y change of 100 entities.
const COLYSEUS: [(&str, usize); 3] = [
    ("100 entities, initial state", 2_671),
    ("x/y change of 50 entities", 342),
    ("x/y change of 100 entities", 668),
];

/// Sizes for rows of only x and y, keyed by entity (the shape of the Colyseus benchmark):
/// the keyframe, a delta where the first `moving` entities moved, and a delta where nothing
/// differs from the keyframe. `pos` gives entity `i`'s position, moved or not.
fn xy_sizes<T: serde::Serialize>(
    n: u32,
    moving: u32,
    pos: impl Fn(u32, bool) -> (T, T),
) -> (usize, usize, usize) {
    let mut enc = Encoder::new(&["x", "y"], 1000);
    let acks: BTreeMap<String, u32> = BTreeMap::new();
    let mut frame = |tick: u64, moved: &dyn Fn(u32) -> bool| {
        enc.begin();
        for i in 0..n {
            let _ = enc.push(i, &pos(i, moved(i)));
        }
        enc.finish(tick, &acks, &()).len()
    };
    let key = frame(1, &|_| false);
    let delta = frame(2, &|i| i < moving);
    let idle = frame(3, &|_| false);
    (key, delta, idle)
}

/// float32 positions.
fn float_pos(i: u32, moved: bool) -> (f32, f32) {
    let t = if moved { 1.5 } else { 0.0 };
    (i as f32 * 0.73 + t, i as f32 * 0.41 - t)
}

/// Small integer positions (0..127), as a game that quantizes to a coarse grid sends them.
fn int_pos(i: u32, moved: bool) -> (u8, u8) {
    let t = u8::from(moved);
    ((i % 100) as u8 + t, (i * 7 % 100) as u8 + t)
}

fn main() {
    println!("## Arena rooms (real game: rows [id, x, y], acks of every player in the envelope)\n");
    println!("| players | keyframe (full) | delta, all moving |");
    println!("|---|---|---|");
    for players in [8, 64, 100] {
        let mut room = arena_room(players);
        // arena_room's set-up tick was the keyframe after the joins; every player holds a
        // direction, so every following tick moves everyone.
        let key = room.last_snapshot().len();
        let moving = room.tick().len();
        println!("| {players} | {key} B | {moving} B |");
    }
    println!("\n## x/y rows only (the Colyseus benchmark's shape; no acks)\n");
    println!("| case | Tickroom, float32 x/y | Tickroom, small-int x/y | Colyseus |");
    println!("|---|---|---|---|");
    let f50 = xy_sizes(100, 50, float_pos);
    let f100 = xy_sizes(100, 100, float_pos);
    let i50 = xy_sizes(100, 50, int_pos);
    let i100 = xy_sizes(100, 100, int_pos);
    let rows = [(f50.0, i50.0), (f50.1, i50.1), (f100.1, i100.1)];
    for ((case, theirs), (f, i)) in COLYSEUS.iter().zip(rows) {
        println!("| {case} | {f} B | {i} B | {theirs} B |");
    }
    println!(
        "| 100 entities, nothing changed since the keyframe | {} B | {} B | — |",
        f100.2, i100.2
    );
    for n in [8u32, 64] {
        let (fk, fd, fi) = xy_sizes(n, n, float_pos);
        let (ik, id, ii) = xy_sizes(n, n, int_pos);
        println!(
            "| {n} entities: initial / all x/y change / nothing changed | {fk} / {fd} / {fi} B | {ik} / {id} / {ii} B | — |"
        );
    }
}
