//! Wire rules docs/PROTOCOL.md states exactly, checked on real sockets at the level of the
//! bytes: what a snapshot shows and when, and what an idle tick sends.

use tickroom_games::arena::{ArenaState, SIZE, SPEED};
use tickroom_shared::{Role, event};
use tickroom_tests::{TestServer, next_named, next_snapshot, snapshot_where, walk};

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

/// §4 `snapshot`: a tick where nothing moved still sends its delta, `[tick, base, [], [], []]`
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
        let tick = parts[0].as_u64().unwrap();
        let empty = rmpv::Value::Array(Vec::new());
        assert_eq!(parts.len(), 5, "no globals in an idle delta: {msg}");
        assert_eq!(parts[1].as_u64(), Some(tick - 1), "{msg}");
        assert_eq!(parts[2..], [empty.clone(), empty.clone(), empty], "{msg}");
        deltas += 1;
        if deltas == 5 {
            break;
        }
    }
}
