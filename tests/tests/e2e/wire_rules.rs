//! Wire rules docs/PROTOCOL.md states exactly, checked on real sockets at the level of the
//! bytes: a packet written before the CONNECT reply, what a snapshot shows and when, and
//! what an idle tick sends.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tickroom_games::arena::{ArenaState, SIZE, SPEED};
use tickroom_shared::wire::{decode_packet, encode_event, encode_packet, kind};
use tickroom_shared::{PROTOCOL_VERSION, Role, event};
use tickroom_tests::{TestServer, WAIT, next_named, next_snapshot, snapshot_where, walk};
use tokio_tungstenite::tungstenite::Message;

/// The CONNECT a raw client sends with `token`.
fn connect_packet(token: &str) -> Vec<u8> {
    let auth = rmp_serde::to_vec_named(&serde_json::json!({
        "token": token,
        "protocol": PROTOCOL_VERSION,
    }))
    .unwrap();
    encode_packet(kind::CONNECT, "/", Some(&auth))
}

/// An `input` EVENT packet.
fn input_packet(seq: u32) -> Vec<u8> {
    let event = encode_event(
        "input",
        &serde_json::json!({"seq": seq, "input": {"dir": [1.0, 0.0]}}),
    );
    encode_packet(kind::EVENT, "/", Some(&event))
}

/// Waits for the handshake of try `attempt` (counting from 0) to end one way or the other
/// after its connection closed — refused (counted), or, as before the fix, the player seated —
/// and checks it was refused: match `m` still waits, with no player.
async fn assert_never_seated(server: &TestServer, m: &str, attempt: u64) {
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            let view = server.admin_get(&format!("/admin/matches/{m}")).await;
            if view["state"] != "waiting"
                || server.metric("tickroom_handshakes_refused_total").await > attempt
            {
                return view;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    let view = ended.await.expect("the handshake ended");
    assert_eq!(view["state"], "waiting", "attempt {attempt}: {view}");
    assert_eq!(view["players"], serde_json::json!([]), "attempt {attempt}");
}

/// An EVENT written in the same TCP write as the CONNECT, before the server has answered it,
/// ends the connection before the player is seated: the match never sees them join (it stays
/// `waiting`, with no player), and no successful CONNECT reply is sent.
#[tokio::test]
async fn an_event_before_the_connect_reply_never_seats_the_player() {
    let server = TestServer::start().await;
    // Several tries: whichever way the server's tasks interleave, none may seat the player.
    for attempt in 0..8 {
        let m = server.arena(2).await;
        let token = server.token(&m, "eager", Role::Player).await;
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let open = ws.next().await.unwrap().unwrap();
        assert!(open.to_text().unwrap().starts_with("0{"), "{open:?}");
        // Both frames are buffered, then written together.
        ws.feed(Message::binary(connect_packet(&token)))
            .await
            .unwrap();
        ws.feed(Message::binary(input_packet(1))).await.unwrap();
        ws.flush().await.unwrap();
        let mut kinds = Vec::new();
        let closed = tokio::time::timeout(WAIT, async {
            while let Some(frame) = ws.next().await {
                match frame {
                    Ok(Message::Binary(b)) => {
                        kinds.push(decode_packet(&Bytes::from(b.to_vec())).unwrap().kind)
                    }
                    Ok(Message::Close(_)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok();
        assert!(closed, "attempt {attempt}: the connection stayed open");
        assert!(
            !kinds.contains(&kind::CONNECT),
            "attempt {attempt}: a CONNECT reply came: {kinds:?}"
        );
        assert_never_seated(&server, &m, attempt).await;
    }
}

/// Over HTTP long-polling, an EVENT in the same POST as the CONNECT is refused the same way:
/// the player is never seated, the session gets no CONNECT reply, and it is closed.
#[tokio::test]
async fn an_event_in_the_connects_post_never_seats_the_player() {
    use base64::Engine as _;
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let b64 = |p: Vec<u8>| format!("b{}", base64::engine::general_purpose::STANDARD.encode(p));
    for attempt in 0..4 {
        let m = server.arena(2).await;
        let token = server.token(&m, "eager", Role::Player).await;
        let session = tickroom_tests::open_polling_session(&http, &server.url).await;
        let payload = format!(
            "{}\x1e{}",
            b64(connect_packet(&token)),
            b64(input_packet(1))
        );
        http.post(&session).body(payload).send().await.unwrap();
        let mut kinds = Vec::new();
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                let got = http.get(&session).send().await.unwrap();
                if got.status() != 200 {
                    return;
                }
                for packet in got.text().await.unwrap().split('\x1e') {
                    if packet == "1" {
                        return;
                    }
                    if let Some(b) = packet.strip_prefix('b') {
                        let raw = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
                        kinds.push(decode_packet(&Bytes::from(raw)).unwrap().kind);
                    }
                }
            }
        })
        .await
        .is_ok();
        assert!(closed, "attempt {attempt}: the session stayed open");
        assert!(
            !kinds.contains(&kind::CONNECT),
            "attempt {attempt}: a CONNECT reply came: {kinds:?}"
        );
        assert_never_seated(&server, &m, attempt).await;
    }
}

/// §5 `input`: the snapshot of tick t shows the state after the input acked in it (the room
/// applies a tick's inputs before it simulates that tick), and a direction shorter than 1
/// moves proportionally: `[0.5, 0]` walks at half speed.
#[tokio::test]
async fn the_snapshot_acking_an_input_shows_its_effect_and_a_short_dir_moves_slower() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let tick_rate = server.admin_get(&format!("/admin/matches/{m}")).await["tick_rate"]
        .as_f64()
        .unwrap() as f32;
    let mut c = server.join(&m, "alice", Role::Player).await;
    let start = snapshot_where::<ArenaState>(&mut c, |s| s.state.player("alice").is_some())
        .await
        .unwrap();
    let x0 = start.state.player("alice").unwrap().x;
    let dir = if x0 < SIZE / 2.0 { 1.0 } else { -1.0 };
    c.emit(event::INPUT, &walk(1, [0.5 * dir, 0.0]))
        .await
        .unwrap();
    let mut prev = start;
    let acked = loop {
        let s = next_snapshot::<ArenaState>(&mut c).await.unwrap();
        if s.acks["alice"] == 1 {
            break s;
        }
        prev = s;
    };
    assert_eq!(acked.tick, prev.tick + 1, "snapshots of consecutive ticks");
    let before = prev.state.player("alice").unwrap().x;
    assert_eq!(before, x0, "nothing moved before the input was applied");
    let moved = (acked.state.player("alice").unwrap().x - before) * dir;
    let half_step = 0.5 * SPEED / tick_rate;
    // Positions travel in hundredths: each end is within half of one.
    assert!(
        (moved - half_step).abs() <= 0.011,
        "the acking snapshot moved {moved}, half a tick's walk is {half_step}"
    );
    let next = next_snapshot::<ArenaState>(&mut c).await.unwrap();
    let moved =
        (next.state.player("alice").unwrap().x - acked.state.player("alice").unwrap().x) * dir;
    assert!((moved - half_step).abs() <= 0.011, "then {moved} a tick");
}

/// §4 `s` (snapshot): a tick where nothing moved still sends its delta, `[tick, 1, [], [], []]`
/// (acks, changes and removed all empty, no globals), to a player who stands still. (That a
/// key is never both changed and removed is checked on every frame of the conformance
/// vectors, which `Mirror` and `StateStore` refuse otherwise, and on real sockets by the
/// shooter example's bullets.)
#[tokio::test]
async fn an_idle_tick_sends_an_empty_delta() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut alice = server.join(&m, "alice", Role::Player).await;
    let mut deltas = 0;
    loop {
        let e = next_named(&mut alice, event::SNAPSHOT).await.unwrap();
        let msg = rmpv::decode::read_value(&mut &e.arg[..]).unwrap();
        let parts = msg.as_array().expect("a snapshot is an array");
        if parts[1].as_u64() == Some(0) {
            continue; // a keyframe
        }
        let empty = rmpv::Value::Array(Vec::new());
        assert_eq!(parts.len(), 5, "no globals in an idle delta: {msg}");
        assert_eq!(
            parts[1].as_u64(),
            Some(1),
            "its base is the tick before: {msg}"
        );
        assert_eq!(parts[2..], [empty.clone(), empty.clone(), empty], "{msg}");
        deltas += 1;
        if deltas == 5 {
            break;
        }
    }
}
