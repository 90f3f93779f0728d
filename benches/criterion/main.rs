//! Micro-benchmarks of the room engine: `cargo bench -p tickroom-benches --bench criterion`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tickroom_benches::{ArenaLargeEveryone, arena_room, populated, sent};
use tickroom_games::arena::{ArenaInput, ArenaLarge, ArenaPlayer};
use tickroom_shared::InputMsg;
use tickroom_shared::snapshot::Encoder;
use tickroom_shared::wire;

/// One full tick (inputs, schedule, snapshot encode) of arena rooms of several sizes.
fn tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("arena_tick");
    for players in [8, 64, 512] {
        group.bench_function(format!("{players}_players"), |b| {
            b.iter_batched_ref(
                || arena_room(players),
                |room| {
                    black_box(room.tick().len());
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

/// A room of 500 on the large map, all moving: one tick (inputs, schedule, snapshots) with
/// interest management (each player its own snapshot of the discs within 40) and without
/// (one snapshot of every disc for all), side by side.
fn big_room(c: &mut Criterion) {
    let mut group = c.benchmark_group("big_room_500");
    group.bench_function("interest", |b| {
        b.iter_batched_ref(
            || populated(ArenaLarge, 500),
            |room| {
                room.step();
                black_box(sent(room));
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("everyone", |b| {
        b.iter_batched_ref(
            || populated(ArenaLargeEveryone, 500),
            |room| {
                room.step();
                black_box(sent(room));
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// Room-ticks per second on one core: 100 rooms of 8 players ticked in turn, as one
/// simulation thread does.
fn room_ticks(c: &mut Criterion) {
    let mut group = c.benchmark_group("room_ticks");
    let mut rooms: Vec<_> = (0..100).map(|_| arena_room(8)).collect();
    group.throughput(Throughput::Elements(rooms.len() as u64));
    group.bench_function("100_rooms_of_8", |b| {
        b.iter(|| {
            for room in &mut rooms {
                black_box(room.tick().len());
            }
        });
    });
    group.finish();
}

/// Encoding one snapshot of 64 moving rows: as a keyframe (every row) and as a delta.
fn snapshot_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot_encode_64");
    let ids: Vec<Arc<str>> = (0..64).map(|i| format!("p{i}").into()).collect();
    for (name, interval) in [("full", 1), ("delta", 1_000_000)] {
        let mut enc = Encoder::for_row::<ArenaPlayer>(interval);
        let mut t = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                t += 1;
                enc.begin();
                for (i, id) in ids.iter().enumerate() {
                    let row = ArenaPlayer {
                        id: id.clone(),
                        x: i as f32 + t as f32 * 0.1,
                        y: 50.0,
                    };
                    let _ = enc.push_row(i as u32, &row);
                }
                let seats = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (i as u32, &**id, t as u32));
                black_box(enc.finish(t, seats, &()).len())
            });
        });
    }
    group.finish();
}

/// What a client does with each snapshot of an 8-player arena: rebuild the state from the
/// keyframe and the delta, then type it.
fn mirror_apply(c: &mut Criterion) {
    use tickroom_games::arena::ArenaState;
    use tickroom_shared::Mirror;
    let mut room = arena_room(8);
    let key = bytes::Bytes::copy_from_slice(room.last_snapshot());
    let delta = bytes::Bytes::copy_from_slice(room.tick());
    let mut mirror = Mirror::new();
    mirror.apply(&key).expect("keyframe");
    // A delta applies to the state of its base tick only, so each run starts from a copy of
    // the keyframe's state (the copy is not timed).
    c.bench_function("mirror_apply_delta_8", |b| {
        b.iter_batched_ref(
            || mirror.clone(),
            |m| {
                let s = m.apply_typed::<ArenaState>(&delta).expect("delta");
                black_box(s.expect("the delta applies to the keyframe"))
            },
            BatchSize::SmallInput,
        )
    });
}

/// Strict decoding of one input event, as every input goes: the connection task splits the
/// event and its `{seq, input}` map, the room's handle decodes the game's input.
fn input_decode(c: &mut Criterion) {
    let payload = wire::encode_event(
        "input",
        &InputMsg {
            seq: 42,
            input: ArenaInput {
                dir: [0.6, -0.8],
                buttons: 1,
            },
        },
    );
    c.bench_function("input_decode", |b| {
        b.iter(|| {
            let (_, arg) = wire::split_event(black_box(&payload)).expect("event");
            let (seq, input) = wire::split_input(arg).expect("{seq, input}");
            let input: ArenaInput = wire::decode_value(input).expect("input");
            black_box((seq, input))
        });
    });
}

criterion_group!(
    benches,
    tick,
    big_room,
    room_ticks,
    snapshot_encode,
    mirror_apply,
    input_decode
);
criterion_main!(benches);
