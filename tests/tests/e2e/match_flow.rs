//! A match as players see it: welcome, snapshots, inputs, other players, leaving, ending.

use tickroom_games::arena::{ArenaState, PLAYER_RADIUS, SIZE, SPEED};
use tickroom_shared::{EndReason, InputMsg, MatchEnd, Role, event};
use tickroom_tests::{
    TestServer, WAIT, claims, next_named, next_snapshot, sign, snapshot_where, wait_closed, walk,
};

#[tokio::test]
async fn welcome_then_a_snapshot_every_tick() {
    let server = TestServer::start().await;
    let m = server.arena(4).await;
    let token = server.token(&m, "alice", Role::Player).await;
    let mut c = server.connect(&token).await.unwrap();

    let first = c.next_event(WAIT).await.unwrap();
    let welcome = first.welcome().expect("the first event is the welcome");
    assert_eq!(welcome.protocol, 5);
    assert_eq!(welcome.match_id, m);
    assert_eq!(welcome.player_id, "alice");
    assert_eq!(welcome.role, Role::Player);
    assert_eq!(welcome.game, "arena");
    assert_eq!(welcome.tick_rate, 30);

    // Every tick produces one snapshot: 45 in a row, consecutive tick numbers, none before the
    // welcome's tick. (A machine too busy to keep up makes the server skip ticks or drop
    // snapshots, which it counts; only then may a number jump.)
    let mut last: Option<u64> = None;
    let mut gaps = 0;
    for _ in 0..45 {
        let s = next_snapshot::<ArenaState>(&mut c).await.unwrap();
        assert!(s.tick >= welcome.tick);
        if let Some(prev) = last {
            assert!(s.tick > prev, "a tick was repeated");
            gaps += s.tick - prev - 1;
        }
        last = Some(s.tick);
    }
    assert!(
        gaps == 0 || server.ticks_lost().await > 0,
        "{gaps} ticks missing"
    );
    let s = snapshot_where::<ArenaState>(&mut c, |s| s.state.player("alice").is_some())
        .await
        .unwrap();
    assert_eq!(s.acks.get("alice"), Some(&0), "no input yet");
}

#[tokio::test]
async fn inputs_move_the_player_and_are_acknowledged_in_order() {
    let server = TestServer::start().await;
    let m = server.arena(4).await;
    let mut c = server.join(&m, "alice", Role::Player).await;
    let start = snapshot_where::<ArenaState>(&mut c, |s| s.state.player("alice").is_some())
        .await
        .unwrap();
    let p0 = start.state.player("alice").unwrap().clone();

    // Send 10 inputs out of order: the server must apply them by seq, so the acks seen
    // never go backwards and end at 10.
    let dir = if p0.x < SIZE / 2.0 { 1.0 } else { -1.0 };
    let order = [2u32, 1, 3, 5, 4, 6, 8, 7, 9, 10];
    for seq in order {
        let msg = walk(seq, [dir, 0.0]);
        c.emit(event::INPUT, &msg).await.unwrap();
    }
    let mut last_ack = 0;
    let done = snapshot_where::<ArenaState>(&mut c, |s| {
        let ack = s.acks["alice"];
        assert!(ack >= last_ack, "ack went back from {last_ack} to {ack}");
        last_ack = ack;
        ack == 10
    })
    .await
    .unwrap();
    // All ten may land in one tick (the default lag of 0 applies every waiting input): that
    // tick moves the player by one tick's worth (SPEED / 30 at the default 30 Hz) at least.
    let p1 = done.state.player("alice").unwrap();
    assert!(
        (p1.x - p0.x) * dir >= SPEED / 30.0 * 0.99,
        "moved along x: {} -> {}",
        p0.x,
        p1.x
    );
    assert!((p1.y - p0.y).abs() < 1e-3, "did not move along y");

    // A resend of an applied input is ignored: the ack stays and nothing errors.
    let msg = walk(3, [0.0, 1.0]);
    c.emit(event::INPUT, &msg).await.unwrap();
    for _ in 0..5 {
        let s = next_snapshot::<ArenaState>(&mut c).await.unwrap();
        assert_eq!(s.acks["alice"], 10);
    }
}

#[tokio::test]
async fn two_players_see_each_other_and_leaving_despawns() {
    let server = TestServer::start().await;
    let m = server.arena(4).await;
    let mut a = server.join(&m, "alice", Role::Player).await;
    let mut b = server.join(&m, "bob", Role::Player).await;
    for c in [&mut a, &mut b] {
        let s = snapshot_where::<ArenaState>(c, |s| s.state.players.len() == 2)
            .await
            .unwrap();
        let ids: Vec<&str> = s.state.players.iter().map(|p| &*p.id).collect();
        assert_eq!(ids, ["alice", "bob"]);
        for p in &s.state.players {
            assert!((PLAYER_RADIUS..=SIZE - PLAYER_RADIUS).contains(&p.x));
        }
    }
    b.close().await;
    let s = snapshot_where::<ArenaState>(&mut a, |s| s.state.players.len() == 1)
        .await
        .unwrap();
    assert_eq!(&*s.state.players[0].id, "alice");
    assert!(!s.acks.contains_key("bob"));
    let view = server.admin.get_match(&m).await.unwrap();
    assert_eq!(view.players, ["alice"]);
}

#[tokio::test]
async fn spectators_watch_but_cannot_act() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut player = server.join(&m, "alice", Role::Player).await;
    let mut watcher = server.join(&m, "eve", Role::Spectator).await;

    let s = snapshot_where::<ArenaState>(&mut watcher, |s| s.state.player("alice").is_some())
        .await
        .unwrap();
    assert!(s.state.player("eve").is_none(), "spectators have no entity");
    assert!(!s.acks.contains_key("eve"));

    let msg = walk(1, [1.0, 0.0]);
    watcher.emit(event::INPUT, &msg).await.unwrap();
    let err = next_named(&mut watcher, event::ERROR)
        .await
        .unwrap()
        .error()
        .unwrap();
    assert_eq!(err.code, "spectator_cannot_act");
    // Still connected and watching.
    next_snapshot::<ArenaState>(&mut watcher).await.unwrap();
    // The player's seat is untouched by the spectator's input.
    let s = next_snapshot::<ArenaState>(&mut player).await.unwrap();
    assert_eq!(s.acks["alice"], 0);
}

#[tokio::test]
async fn ending_a_match_tells_everyone_and_disconnects() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut a = server.join(&m, "alice", Role::Player).await;
    let mut w = server.join(&m, "eve", Role::Spectator).await;
    next_snapshot::<ArenaState>(&mut a).await.unwrap();

    let ended = server.admin.end_match(&m).await.unwrap();
    assert_eq!(ended.state, "ended");
    for c in [&mut a, &mut w] {
        let end: MatchEnd = next_named(c, event::MATCH_END)
            .await
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(end.match_id, m);
        assert_eq!(end.reason, EndReason::Admin);
        // Then the server closes the connection.
        wait_closed(c).await;
    }
    assert!(
        server.admin.get_match(&m).await.is_err(),
        "gone from the directory"
    );
    let token = sign(&claims(&m, "alice", Role::Player));
    let refused = server.connect(&token).await.unwrap_err();
    assert!(
        matches!(refused, tickroom_client::ConnectError::Refused { ref code } if code == "match_not_found"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn shutdown_ends_matches_and_returns() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut a = server.join(&m, "alice", Role::Player).await;
    next_snapshot::<ArenaState>(&mut a).await.unwrap();
    server.shutdown.cancel();
    let end: MatchEnd = next_named(&mut a, event::MATCH_END)
        .await
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(end.reason, EndReason::Shutdown);
    let result = tokio::time::timeout(WAIT, server.task)
        .await
        .expect("run() returns in time");
    result.unwrap().unwrap();
}

#[tokio::test]
async fn a_tictactoe_match_is_played_to_a_win_and_ends_itself() {
    use tickroom_games::tictactoe::{Board, Move, X};
    let server = TestServer::start().await;
    let m = server
        .admin
        .create_match("tictactoe", Some(10), Some(2))
        .await
        .unwrap()
        .id;
    let mut x = server.join(&m, "ann", Role::Player).await;
    let mut o = server.join(&m, "bob", Role::Player).await;
    snapshot_where::<Board>(&mut x, |s| s.state.o.is_some())
        .await
        .unwrap();
    let view = server.admin.get_match(&m).await.unwrap();
    assert_eq!(view.state, "running");

    // X takes the top row while O plays the middle row; each waits to see the other's move.
    let moves = [(0u8, 3u8), (1, 4), (2, 5)];
    for (turn, (xc, oc)) in moves.iter().enumerate() {
        let seq = turn as u32 + 1;
        x.emit(
            event::INPUT,
            &InputMsg {
                seq,
                input: Move { cell: *xc },
            },
        )
        .await
        .unwrap();
        let s = snapshot_where::<Board>(&mut o, |s| s.state.cells[*xc as usize] == X)
            .await
            .unwrap();
        if s.state.winner.is_some() {
            break;
        }
        o.emit(
            event::INPUT,
            &InputMsg {
                seq,
                input: Move { cell: *oc },
            },
        )
        .await
        .unwrap();
        snapshot_where::<Board>(&mut x, |s| s.state.cells[*oc as usize] != 0)
            .await
            .unwrap();
    }
    for c in [&mut x, &mut o] {
        let end: MatchEnd = next_named(c, event::MATCH_END)
            .await
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(end.reason, EndReason::GameOver);
    }
    // The ended match stays readable with its reason.
    let view = server.admin.get_match(&m).await.unwrap();
    assert_eq!(view.state, "ended");
    assert_eq!(view.end_reason.as_deref(), Some("game_over"));
}

#[tokio::test]
async fn shutdown_does_not_wait_for_matches_nobody_is_in() {
    let mut config = tickroom_tests::test_config();
    config.shutdown.drain = std::time::Duration::from_secs(600);
    let server = TestServer::start_with(config).await;
    let _waiting = server.arena(2).await;
    let left = server.arena(2).await;
    let c = server.join(&left, "alice", Role::Player).await;
    c.close().await; // leaves on purpose: the room runs on, empty
    server.shutdown.cancel();
    // A 10-minute drain, yet nothing to drain: run() returns long before.
    tokio::time::timeout(WAIT, server.task)
        .await
        .expect("empty matches did not hold up the shutdown")
        .unwrap()
        .unwrap();
}

/// `/readyz` is 503 `full` while the room limit is reached, and ready again once a match
/// ends.
#[tokio::test]
async fn readiness_turns_off_while_the_room_limit_is_reached() {
    let mut config = tickroom_tests::test_config();
    config.matches.max_rooms = 2;
    let server = TestServer::start_with(config).await;
    let get = async |path: &str| {
        let r = reqwest::get(format!("{}{path}", server.url)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let first = server.arena(2).await;
    assert_eq!(get("/readyz").await, (200, "ready".into()));
    server.arena(2).await;
    assert_eq!(get("/readyz").await, (503, "full".into()));
    assert_eq!(get("/healthz").await, (200, "ok".into()));
    server.admin.end_match(&first).await.unwrap();
    assert_eq!(get("/readyz").await, (200, "ready".into()));
}

/// `/readyz` turns 503 as soon as a drain begins, while `/healthz` stays 200 and the running
/// match plays on; a player leaving ends the drain.
#[tokio::test]
async fn readiness_turns_off_when_the_drain_begins() {
    let mut config = tickroom_tests::test_config();
    config.shutdown.drain = std::time::Duration::from_secs(600);
    let server = TestServer::start_with(config).await;
    let get = async |path: &str| {
        let r = reqwest::get(format!("{}{path}", server.url)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(get("/readyz").await, (200, "ready".into()));
    let m = server.arena(2).await;
    let mut c = server.join(&m, "alice", Role::Player).await;
    server.shutdown.cancel();
    let deadline = tokio::time::Instant::now() + WAIT;
    while get("/readyz").await.0 != 503 {
        assert!(tokio::time::Instant::now() < deadline, "still ready");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(get("/readyz").await, (503, "draining".into()));
    assert_eq!(get("/healthz").await, (200, "ok".into()));
    next_named(&mut c, event::SNAPSHOT)
        .await
        .expect("the running match plays on");
    c.close().await;
    tokio::time::timeout(WAIT, server.task)
        .await
        .expect("the last player leaving ended the drain")
        .unwrap()
        .unwrap();
}
