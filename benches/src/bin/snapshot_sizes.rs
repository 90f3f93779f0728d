//! Prints snapshot sizes in bytes: keyframe ("full") and delta, for rooms of 8, 64 and 100
//! entities, beside Colyseus's published schema figures.
//!
//! `cargo run --release -p tickroom-benches --bin snapshot-sizes`

use tickroom_benches::{ArenaLargeEveryone, arena_room, populated, sent};
use tickroom_engine::Snapshots;
use tickroom_games::arena::ArenaLarge;
use tickroom_shared::snapshot::{Encoder, Replicate};

/// Colyseus's published schema figures (bytes): 100-entity initial state; x/y change of 50
/// entities; x/y change of 100 entities.
const COLYSEUS: [(&str, usize); 3] = [
    ("100 entities, initial state", 2_671),
    ("x/y change of 50 entities", 342),
    ("x/y change of 100 entities", 668),
];

/// x and y as float32.
#[derive(Replicate)]
struct FloatXy {
    x: f32,
    y: f32,
}

/// x and y in hundredths (as the arena sends them).
#[derive(Replicate)]
struct QuantXy {
    #[replicate(step = 0.01)]
    x: f32,
    #[replicate(step = 0.01)]
    y: f32,
}

/// How far a moving entity moves between two snapshots: 1.5 units (the figure these tables
/// always used), and 0.67, one 30 Hz tick of the arena's walking speed (20 units/s).
const MOVES: [f32; 2] = [1.5, 0.67];

/// Sizes for rows of only x and y, keyed by entity (the shape of the Colyseus benchmark):
/// the keyframe, a delta where the first `moving` entities moved by `by` in x and y, and a
/// delta where nothing changed since. `row` builds a row from a position.
fn xy_sizes<R: Replicate>(
    n: u32,
    moving: u32,
    by: f32,
    row: impl Fn(f32, f32) -> R,
) -> (usize, usize, usize) {
    let mut enc = Encoder::for_row::<R>(1000);
    let mut frame = |tick: u64, moved: &dyn Fn(u32) -> bool| {
        enc.begin();
        for i in 0..n {
            let t = if moved(i) { by } else { 0.0 };
            let _ = enc.push_row(i, &row(i as f32 * 0.73 + t, i as f32 * 0.41 - t));
        }
        enc.finish(tick, std::iter::empty(), &()).len()
    };
    let key = frame(1, &|_| false);
    let delta = frame(2, &|i| i < moving);
    let idle = frame(3, &|i| i < moving);
    (key, delta, idle)
}

fn float_pos(x: f32, y: f32) -> FloatXy {
    FloatXy { x, y }
}

fn quant_pos(x: f32, y: f32) -> QuantXy {
    QuantXy { x, y }
}

fn main() {
    println!(
        "## Arena rooms (real game: rows [id, x, y], x and y in hundredths, and every player's ack)\n"
    );
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
    println!(
        "\n## Large map (400 x 400), all moving: bytes a client is sent per snapshot, with interest (the discs within 40, kept to 50) and without (every disc)\n"
    );
    println!("| players | with interest: mean / max per client | without: per client |");
    println!("|---|---|---|");
    for players in [100, 200, 500] {
        let (mut interest, mut everyone) = (
            populated(ArenaLarge, players),
            populated(ArenaLargeEveryone, players),
        );
        // A second of play, so the discs spread from their spawn points and the periodic
        // keyframes are in the mean (one a second each).
        let (mut total, mut sends, mut max, mut all) = (0, 0, 0, 0);
        for _ in 0..30 {
            interest.step();
            let Snapshots::Views(views) = interest.snapshots() else {
                unreachable!("arena_large has an interest")
            };
            total += views.iter().map(|(_, b)| b.len()).sum::<usize>();
            sends += views.len();
            max = max.max(views.iter().map(|(_, b)| b.len()).max().unwrap_or(0));
            everyone.step();
            all += sent(&mut everyone).0 / players;
        }
        println!(
            "| {players} | {} / {max} B | {} B |",
            total / sends.max(1),
            all / 30
        );
    }
    for by in MOVES {
        println!(
            "\n## x/y rows only (the Colyseus benchmark's shape; no acks), a move of {by} units\n"
        );
        println!("| case | Tickroom, float32 x/y | Tickroom, x/y in hundredths | Colyseus |");
        println!("|---|---|---|---|");
        let f50 = xy_sizes(100, 50, by, float_pos);
        let f100 = xy_sizes(100, 100, by, float_pos);
        let i50 = xy_sizes(100, 50, by, quant_pos);
        let i100 = xy_sizes(100, 100, by, quant_pos);
        let rows = [(f50.0, i50.0), (f50.1, i50.1), (f100.1, i100.1)];
        for ((case, theirs), (f, i)) in COLYSEUS.iter().zip(rows) {
            println!("| {case} | {f} B | {i} B | {theirs} B |");
        }
        println!(
            "| 100 entities, nothing changed since the last snapshot | {} B | {} B | — |",
            f100.2, i100.2
        );
        for n in [8u32, 64] {
            let (fk, fd, fi) = xy_sizes(n, n, by, float_pos);
            let (ik, id, ii) = xy_sizes(n, n, by, quant_pos);
            println!(
                "| {n} entities: initial / all x/y change / nothing changed | {fk} / {fd} / {fi} B | {ik} / {id} / {ii} B | — |"
            );
        }
    }
}
