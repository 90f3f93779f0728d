//! Every decoder that bytes from a client (or, for the client library, from a server) reach.
//! None may panic, whatever the input; each either decodes or returns an error.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tickroom_shared::wire::{self, decode_event, skip_value};
use tickroom_shared::games::arena::{ArenaInput, ArenaState};
use tickroom_shared::games::tictactoe::{Board, Move};
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
    let _ = wire::decode_packet(&bytes);
});
