//! Every decoder that bytes from a client (or, for the client library, from a server, or
//! for the operator, a recorded command log) reach.
//! None may panic, whatever the input; each either decodes or returns an error.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tickroom_shared::wire::{self, decode_event, skip_value};
use tickroom_games::arena::{ArenaInput, ArenaPlayer, ArenaState};
use tickroom_shared::snapshot::Encoder;
use tickroom_games::tictactoe::{Board, Move};
use tickroom_shared::{InputMsg, Mirror, TokenKey};

fuzz_target!(|data: &[u8]| {
    // Server: an `input` event's payload, for each game's input type.
    let _ = decode_event::<InputMsg<ArenaInput>>(data);
    let _ = decode_event::<InputMsg<Move>>(data);
    // Server: the same payload as the transport splits it and the engine decodes the input.
    if let Ok((_, arg)) = wire::split_event(data)
        && let Ok((_, input)) = wire::split_input(arg)
    {
        let _ = wire::decode_value::<ArenaInput>(input);
        let _ = wire::decode_value::<Move>(input);
    }
    // Server: the handshake `auth` payload, as socketioxide hands it over.
    if let Ok(v) = rmp_serde::from_slice::<rmpv::Value>(data) {
        let _ = tickroom_server::auth::parse_payload(Some(v));
    }
    // Server: a token string.
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = TokenKey::new(b"fuzz-secret-fuzz-secret-fuzz-secret", "fuzz").verify(s);
    }
    // Shared walker.
    let mut rd = data;
    let _ = skip_value(&mut rd);
    let _ = wire::split_input(data);
    // Clients: snapshots (keyframes and deltas, typed) and Socket.IO packets.
    let bytes = Bytes::copy_from_slice(data);
    let mut mirror = Mirror::new();
    let _ = mirror.apply_typed::<ArenaState>(&bytes);
    let _ = mirror.apply_typed::<Board>(&bytes);
    // A mirror that holds a keyframe of tick 1, so a delta naming base 1 reaches the delta
    // decoder (a fresh mirror skips every delta).
    let mut warm = Mirror::new();
    let _ = warm.apply(&KEYFRAME.with(Clone::clone));
    let _ = warm.apply_typed::<ArenaState>(&bytes);
    let _ = warm.apply_typed::<ArenaState>(&bytes);
    let _ = wire::decode_packet(&bytes);
    // Operators: a command log (`tickroom-server replay FILE`, docs/REPLAY.md), as given and
    // after a valid header, so the records reach the replay.
    let catalog = CATALOG.with(Clone::clone);
    let _ = catalog.replay(data);
    let _ = catalog.replay(&[LOG_HEADER, data].concat());
});

/// A command log's header: ["tickroom-log", 1, "arena", "m", [30, 16, 0, 30, 1, nil, 0, 30]].
const LOG_HEADER: &[u8] = &[
    0x95, 0xac, b't', b'i', b'c', b'k', b'r', b'o', b'o', b'm', b'-', b'l', b'o', b'g', 0x01, 0xa5,
    b'a', b'r', b'e', b'n', b'a', 0xa1, b'm', 0x98, 30, 16, 0, 30, 1, 0xc0, 0, 30,
];

thread_local! {
    /// The built-in games, for replaying logs.
    static CATALOG: tickroom_server::Catalog = tickroom_games::builtin();
    /// An arena keyframe of tick 1: two players in seats 0 and 1, rows 3 and 7.
    static KEYFRAME: Bytes = {
        let mut enc = Encoder::for_row::<ArenaPlayer>(30);
        enc.begin();
        for (key, id, x) in [(3, "a", 10.0), (7, "b", 20.5)] {
            let row = ArenaPlayer { id: id.into(), x, y: 50.0 };
            let _ = enc.push_row(key, &row);
        }
        Bytes::copy_from_slice(enc.finish(1, [(0u32, "a", 4u32), (1, "b", 0)].into_iter(), &()))
    };
}
