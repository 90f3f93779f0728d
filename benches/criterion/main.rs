//! Micro-benchmarks of the room engine: `cargo bench -p tickroom-benches`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tickroom_benches::arena_room;
use tickroom_shared::InputMsg;
use tickroom_shared::codec;
use tickroom_shared::games::arena::ArenaInput;

/// One full tick (inputs, schedule, snapshot encode) of arena rooms of several sizes.
fn tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("arena_tick");
    for players in [8, 64] {
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

/// Strict decoding of one input event, as the connection task does for every input.
fn input_decode(c: &mut Criterion) {
    let payload = codec::encode_event(
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
            let (_, arg) = codec::split_event(black_box(&payload)).expect("event");
            let msg: InputMsg<ArenaInput> = codec::decode_map(arg).expect("input");
            black_box(msg.seq)
        });
    });
}

criterion_group!(benches, tick, input_decode);
criterion_main!(benches);
