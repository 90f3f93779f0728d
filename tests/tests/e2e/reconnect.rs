//! Network drops: a player cut off mid-match and back within the grace period keeps its seat
//! and entity; one back too late starts over. The hold's timing itself is tested with a paused
//! clock in `server/src/directory/tests.rs`; these check the wiring over real sockets.

use tickroom_client::{Client, CloseReason, Incoming};
use tickroom_games::arena::{ArenaState, SIZE};
use tickroom_shared::{AuthPayload, Presence, PresenceStatus, Role, event};
use tickroom_tests::{
    CutProxy, TestServer, WAIT, next_named, snapshot_where, test_config, wait_closed, walk,
};

async fn presence(c: &mut Client) -> Presence {
    next_named(c, event::PRESENCE)
        .await
        .unwrap()
        .decode()
        .unwrap()
}

async fn connect_via(url: &str, token: &str) -> Client {
    let auth = AuthPayload {
        token: token.to_owned(),
        match_id: None,
        protocol: Some(tickroom_shared::PROTOCOL_VERSION),
    };
    let mut c = Client::connect(url, &auth, WAIT).await.unwrap();
    c.next_event(WAIT)
        .await
        .unwrap()
        .welcome()
        .expect("welcome");
    c
}

/// A server that pings every 100 ms and waits 100 ms for the pong.
async fn fast_ping_server() -> TestServer {
    let mut config = test_config();
    config.net.ping_interval = std::time::Duration::from_millis(100);
    config.net.ping_timeout = std::time::Duration::from_millis(100);
    TestServer::start_with(config).await
}

/// Reads `c` for `span`, failing if its connection ends meanwhile.
async fn read_events_for(c: &mut Client, span: std::time::Duration) {
    let until = tokio::time::Instant::now() + span;
    while tokio::time::Instant::now() < until {
        match tokio::time::timeout(WAIT, c.recv())
            .await
            .expect("an event")
        {
            Some(Incoming::Event(_)) => {}
            other => panic!("the connection ended while the server was talking: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_player_back_within_the_grace_period_keeps_its_entity() {
    let server = TestServer::start().await;
    let proxy = CutProxy::start(server.addr).await;
    let m = server.arena(2).await;
    let mut bob = server.join(&m, "bob", Role::Player).await;
    let token = server.token(&m, "alice", Role::Player).await;
    let mut alice = connect_via(&proxy.url, &token).await;
    let start = snapshot_where::<ArenaState>(&mut alice, |s| s.state.player("alice").is_some())
        .await
        .unwrap();
    let dir = if start.state.player("alice").unwrap().x < SIZE / 2.0 {
        1.0
    } else {
        -1.0
    };
    let input = |seq| walk(seq, [dir, 0.0]);
    for seq in 1..=5 {
        alice.emit(event::INPUT, &input(seq)).await.unwrap();
    }
    snapshot_where::<ArenaState>(&mut alice, |s| s.acks["alice"] == 5)
        .await
        .unwrap();
    assert_eq!(presence(&mut bob).await.status, PresenceStatus::Joined);
    assert_eq!(presence(&mut bob).await.status, PresenceStatus::Joined);

    proxy.cut_all();
    wait_closed(&mut alice).await;
    let p = presence(&mut bob).await;
    assert_eq!(
        (p.player_id.as_str(), p.status),
        ("alice", PresenceStatus::Disconnected)
    );
    // Held: still in the match, standing still (its controls were released).
    let held = snapshot_where::<ArenaState>(&mut bob, |s| s.acks.contains_key("alice"))
        .await
        .unwrap();
    let at_drop = held.state.player("alice").unwrap().clone();
    let still = snapshot_where::<ArenaState>(&mut bob, |s| s.tick > held.tick + 3)
        .await
        .unwrap();
    assert_eq!(still.state.player("alice").unwrap(), &at_drop);
    assert_eq!(
        server.admin.get_match(&m).await.unwrap().disconnected,
        ["alice"]
    );

    let mut alice = connect_via(&proxy.url, &token).await;
    let p = presence(&mut bob).await;
    assert_eq!(
        (p.player_id.as_str(), p.status),
        ("alice", PresenceStatus::Reconnected)
    );
    // Same entity, same place, same acknowledged inputs.
    let back = snapshot_where::<ArenaState>(&mut alice, |_| true)
        .await
        .unwrap();
    assert_eq!(back.acks["alice"], 5);
    assert_eq!(back.state.player("alice").unwrap(), &at_drop);
    assert_eq!(back.state.players.len(), 2);
    // Resending inputs the server already applied does nothing.
    for seq in 3..=5 {
        alice.emit(event::INPUT, &input(seq)).await.unwrap();
    }
    let later = snapshot_where::<ArenaState>(&mut alice, |s| s.tick > back.tick + 5)
        .await
        .unwrap();
    assert_eq!(later.acks["alice"], 5);
    assert_eq!(
        later.state.player("alice").unwrap(),
        &at_drop,
        "no input was applied twice"
    );
    // And new ones are.
    alice.emit(event::INPUT, &input(6)).await.unwrap();
    snapshot_where::<ArenaState>(&mut alice, |s| s.acks["alice"] == 6)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_player_back_after_the_grace_period_starts_over() {
    let mut config = test_config();
    config.matches.seat_grace = std::time::Duration::from_secs(1);
    let server = TestServer::start_with(config).await;
    let proxy = CutProxy::start(server.addr).await;
    let m = server.arena(2).await;
    let mut bob = server.join(&m, "bob", Role::Player).await;
    let token = server.token(&m, "alice", Role::Player).await;
    let mut alice = connect_via(&proxy.url, &token).await;
    snapshot_where::<ArenaState>(&mut alice, |s| s.state.player("alice").is_some())
        .await
        .unwrap();

    proxy.cut_all();
    wait_closed(&mut alice).await;
    let statuses = [
        presence(&mut bob).await,
        presence(&mut bob).await,
        presence(&mut bob).await,
    ];
    let alice_said: Vec<_> = statuses
        .iter()
        .filter(|p| p.player_id == "alice")
        .map(|p| p.status)
        .collect();
    assert_eq!(
        alice_said,
        [PresenceStatus::Joined, PresenceStatus::Disconnected]
    );
    // The grace period runs out: the seat is given up and the entity removed.
    let p = presence(&mut bob).await;
    assert_eq!(
        (p.player_id.as_str(), p.status),
        ("alice", PresenceStatus::Left)
    );
    snapshot_where::<ArenaState>(&mut bob, |s| s.state.player("alice").is_none())
        .await
        .unwrap();

    // Coming back now is a new join (the token is still valid and a seat is free).
    let mut alice = connect_via(&proxy.url, &token).await;
    let p = presence(&mut bob).await;
    assert_eq!(
        (p.player_id.as_str(), p.status),
        ("alice", PresenceStatus::Joined)
    );
    let fresh = snapshot_where::<ArenaState>(&mut alice, |s| s.state.player("alice").is_some())
        .await
        .unwrap();
    assert_eq!(
        fresh.acks["alice"], 0,
        "a new seat starts with no acknowledged input"
    );
}

/// The Rust client has no task of its own: it answers the server's pings from `recv`. With a
/// 100 ms ping interval and timeout, a client that keeps reading stays connected through many
/// pings; one that stops reading is dropped by the server's ping timeout, and says so when it
/// reads again.
#[tokio::test]
async fn the_client_answers_pings_while_it_reads() {
    let server = fast_ping_server().await;
    let m = server.arena(2).await;
    let mut c = server.join(&m, "pinged", Role::Player).await;
    read_events_for(&mut c, std::time::Duration::from_millis(1_500)).await;
    assert_eq!(server.metric("tickroom_connections").await, 1);

    // Not read for 10 ping intervals: the server gives up on it.
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    assert!(
        wait_closed(&mut c).await.is_empty(),
        "no error event, just closed"
    );
    // The server counts the connection closed as it closes it; allow that to land.
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.metric("tickroom_connections").await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "still counted open");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A network that silently stops delivering (no close, no reset) is noticed by the client
/// itself: past the server's ping interval + timeout without hearing from it, `recv` reports
/// `PingTimeout`. Until then every message (snapshots, pings) keeps the connection alive.
#[tokio::test]
async fn the_client_notices_a_silent_network_by_its_ping_timeout() {
    let server = fast_ping_server().await;
    let proxy = CutProxy::start(server.addr).await;
    let m = server.arena(2).await;
    let token = server.token(&m, "alice", Role::Player).await;
    let mut alice = connect_via(&proxy.url, &token).await;
    // Well past one silence period (200 ms) of traffic: messages keep it alive.
    read_events_for(&mut alice, std::time::Duration::from_millis(600)).await;
    proxy.freeze_all();
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match alice.recv().await {
                Some(Incoming::Event(_)) => {} // what was in flight before the freeze
                other => break other,
            }
        }
    })
    .await
    .expect("the client gives up on a silent server");
    assert!(
        matches!(end, Some(Incoming::Closed(CloseReason::PingTimeout))),
        "{end:?}"
    );
}

/// `recv` is cancel-safe, as the swarm's `select!` loop relies on: with a 1 ms timer racing
/// it, most calls are dropped mid-wait, yet every snapshot still arrives, in order, with no
/// tick missing (unless the server counted one lost).
#[tokio::test]
async fn a_recv_dropped_mid_wait_loses_nothing() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut c = server.join(&m, "raced", Role::Player).await;
    let (mut cancelled, mut ticks) = (0u32, Vec::new());
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(1_000);
    while tokio::time::Instant::now() < until {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(1)) => cancelled += 1,
            m = c.recv() => match m {
                Some(Incoming::Event(e)) => {
                    if let Some(s) = c.snapshot::<ArenaState>(&e).unwrap() {
                        ticks.push(s.tick);
                    }
                }
                other => panic!("the connection ended: {other:?}"),
            },
        }
    }
    assert!(cancelled > 100, "only {cancelled} calls were cancelled");
    assert!(ticks.len() >= 15, "{} snapshots in a second", ticks.len());
    let gaps: u64 = ticks.windows(2).map(|w| w[1] - w[0] - 1).sum();
    assert!(
        gaps == 0 || server.ticks_lost().await > 0,
        "{gaps} ticks missing from {ticks:?}"
    );
}
