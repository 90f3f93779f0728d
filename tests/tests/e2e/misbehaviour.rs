//! Bad input from a connected client gets a clear error code and affects no one else.

use tickroom_games::arena::{ArenaInput, ArenaState};
use tickroom_shared::{InputMsg, Role, event};
use tickroom_tests::{
    TestServer, next_named, next_snapshot, snapshot_where, test_config, wait_closed, walk,
};

async fn expect_error(c: &mut tickroom_client::Client, code: &str) {
    let e = next_named(c, event::ERROR).await.unwrap();
    assert_eq!(e.error().unwrap().code, code);
}

#[tokio::test]
async fn malformed_and_invalid_inputs_get_error_codes() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut mallory = server.join(&m, "mallory", Role::Player).await;
    let mut alice = server.join(&m, "alice", Role::Player).await;

    // wrong types inside a well-formed event
    mallory
        .emit(
            event::INPUT,
            &serde_json::json!({"seq": "one", "input": {}}),
        )
        .await
        .unwrap();
    expect_error(&mut mallory, "bad_payload").await;
    // the input as a positional array instead of a map
    mallory
        .emit(event::INPUT, &(1u32, ([1.0f32, 0.0f32], 0u8)))
        .await
        .unwrap();
    expect_error(&mut mallory, "bad_payload").await;
    // two arguments instead of one
    let mut raw = Vec::new();
    rmp::encode::write_array_len(&mut raw, 3).unwrap();
    rmp::encode::write_str(&mut raw, "input").unwrap();
    rmp::encode::write_uint(&mut raw, 1).unwrap();
    rmp::encode::write_uint(&mut raw, 2).unwrap();
    mallory.emit_raw(&raw).await.unwrap();
    expect_error(&mut mallory, "bad_payload").await;
    // unknown fields are refused on inputs (strict)
    mallory
        .emit(
            event::INPUT,
            &serde_json::json!({"seq": 1, "input": {"dir": [0, 0]}, "x": 1}),
        )
        .await
        .unwrap();
    expect_error(&mut mallory, "bad_payload").await;
    // values outside the input's declared bounds: NaN, out of range, unknown buttons; the
    // message says which field and what it must be
    for (input, reason) in [
        (
            ArenaInput {
                dir: [f32::NAN, 0.0],
                buttons: 0,
            },
            "dir: numbers must be finite",
        ),
        (
            ArenaInput {
                dir: [5.0, 0.0],
                buttons: 0,
            },
            "dir: numbers must be within -1..=1",
        ),
        (
            ArenaInput {
                dir: [0.0, 0.0],
                buttons: 0x80,
            },
            "buttons: only bits 0b11 may be set",
        ),
    ] {
        mallory
            .emit(event::INPUT, &InputMsg { seq: 1, input })
            .await
            .unwrap();
        let e = next_named(&mut mallory, event::ERROR).await.unwrap();
        let e = e.error().unwrap();
        assert_eq!(e.code, "invalid_input");
        assert_eq!(e.message, reason);
    }
    // an event the server does not know
    mallory
        .emit("join_room", &serde_json::json!({"room": "other"}))
        .await
        .unwrap();
    expect_error(&mut mallory, "unknown_event").await;

    // Nothing was applied for mallory, alice's room kept ticking, and mallory is still served.
    let s = snapshot_where::<ArenaState>(&mut alice, |s| s.state.players.len() == 2)
        .await
        .unwrap();
    assert_eq!(s.acks["mallory"], 0);
    let good = walk(1, [0.0, 1.0]);
    mallory.emit(event::INPUT, &good).await.unwrap();
    snapshot_where::<ArenaState>(&mut mallory, |s| s.acks["mallory"] == 1)
        .await
        .unwrap();
}

#[tokio::test]
async fn input_floods_are_rate_limited_and_reported_once() {
    let mut config = test_config();
    config.limits.input_rate = 10;
    config.limits.input_burst = 5;
    let server = TestServer::start_with(config).await;
    let m = server.arena(2).await;
    let mut c = server.join(&m, "flood", Role::Player).await;
    // 100 inputs at once: 5 fit the burst, the rest are dropped.
    for seq in 1..=100 {
        let msg = walk(seq, [1.0, 0.0]);
        c.emit(event::INPUT, &msg).await.unwrap();
    }
    expect_error(&mut c, "rate_limited").await;
    // Exactly one notice for the flood, and the accepted inputs are the first of the burst.
    let mut notices = 0;
    let mut last_ack = 0;
    for _ in 0..20 {
        match c.next_event(tickroom_tests::WAIT).await.unwrap() {
            e if e.name == event::ERROR => notices += 1,
            e if e.name == event::SNAPSHOT => {
                if let Some(s) = c.snapshot::<ArenaState>(&e).unwrap() {
                    last_ack = s.acks["flood"];
                }
            }
            _ => {}
        }
    }
    assert_eq!(notices, 0, "more than one rate_limited notice");
    assert!((1..=5).contains(&last_ack), "ack {last_ack}");
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tickroom_inputs_rate_limited_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(dropped, 95);
    let _ = next_snapshot::<ArenaState>(&mut c).await.unwrap();
}

#[tokio::test]
async fn broken_packets_close_only_that_connection() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut alice = server.join(&m, "alice", Role::Player).await;
    let token = server.token(&m, "mallory", Role::Player).await;

    // Event data that is not `[name, ...]`, and msgpack cut off in the middle of a map: the
    // Socket.IO parser cannot read the packet, so the transport closes that connection.
    let bare_map = rmp_serde::to_vec_named(&serde_json::json!({"a": 1})).unwrap();
    let mut truncated = Vec::new();
    rmp::encode::write_array_len(&mut truncated, 2).unwrap();
    rmp::encode::write_str(&mut truncated, "input").unwrap();
    rmp::encode::write_map_len(&mut truncated, 2).unwrap();
    rmp::encode::write_str(&mut truncated, "seq").unwrap();
    for garbage in [bare_map, truncated, vec![0xc1], Vec::new()] {
        let mut mallory = server.connect(&token).await.unwrap();
        next_named(&mut mallory, event::WELCOME).await.unwrap();
        mallory.emit_raw(&garbage).await.unwrap();
        wait_closed(&mut mallory).await;
    }
    // alice never noticed: consecutive ticks (unless the machine itself was too busy, which
    // the server counts), and the seat mallory left is free again.
    let mut last = next_snapshot::<ArenaState>(&mut alice).await.unwrap().tick;
    let mut gaps = 0;
    for _ in 0..10 {
        let s = next_snapshot::<ArenaState>(&mut alice).await.unwrap();
        assert!(s.tick > last);
        gaps += s.tick - last - 1;
        last = s.tick;
    }
    assert!(
        gaps == 0 || server.ticks_lost().await > 0,
        "{gaps} ticks missing"
    );
    let s = snapshot_where::<ArenaState>(&mut alice, |s| s.state.players.len() == 1)
        .await
        .unwrap();
    assert_eq!(&*s.state.players[0].id, "alice");
}

/// A `seq` far ahead (`u32::MAX`) is refused instead of making every later input of the seat
/// look old: the player's next inputs are applied, also after a reconnection with the same
/// token (docs/PROTOCOL.md, "input").
#[tokio::test]
async fn a_huge_seq_cannot_wedge_a_seat() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let token = server.token(&m, "wedge", Role::Player).await;
    let mut c = server.connect(&token).await.unwrap();
    next_named(&mut c, event::WELCOME).await.unwrap();
    c.emit(event::INPUT, &walk(u32::MAX, [1.0, 0.0]))
        .await
        .unwrap();
    c.emit(event::INPUT, &walk(1, [1.0, 0.0])).await.unwrap();
    snapshot_where::<ArenaState>(&mut c, |s| s.acks.get("wedge") == Some(&1))
        .await
        .expect("seq 1 applied after the huge one");
    assert_eq!(server.metric("tickroom_inputs_out_of_range_total").await, 1);
    // Same token, new connection: the seat's sequence goes on.
    drop(c);
    let mut again = server.connect(&token).await.unwrap();
    next_named(&mut again, event::WELCOME).await.unwrap();
    again
        .emit(event::INPUT, &walk(2, [0.0, 1.0]))
        .await
        .unwrap();
    snapshot_where::<ArenaState>(&mut again, |s| s.acks.get("wedge") == Some(&2))
        .await
        .expect("seq 2 applied on the new connection");
}
