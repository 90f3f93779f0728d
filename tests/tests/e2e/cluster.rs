//! Several nodes on a real Redis the test starts on a free port: the node registry.

use std::time::Duration;

use tickroom_client::ConnectError;
use tickroom_games::arena::ArenaState;
use tickroom_server::config::ClusterConfig;
use tickroom_shared::Role;
use tickroom_tests::redis::RedisServer;
use tickroom_tests::{TestServer, WAIT, next_snapshot, snapshot_where, test_config};

/// The test configuration of node `id` on `redis`, with a fast heartbeat, so the tests wait
/// fractions of a second.
fn node_config(redis: &RedisServer, id: &str) -> tickroom_server::Config {
    let mut config = test_config();
    config.cluster = Some(ClusterConfig {
        node_id: Some(id.into()),
        heartbeat: Duration::from_millis(100),
        node_ttl: Duration::from_millis(600),
        ..ClusterConfig::new(redis.url())
    });
    config
}

/// Node `id` on `redis`.
async fn node(redis: &RedisServer, id: &str) -> TestServer {
    TestServer::start_with(node_config(redis, id)).await
}

/// Writes a registry entry for node `node-0` at a closed port — a node whose entry is alive
/// but whose process is gone — with `rooms` rooms and the lists given (`matches`,
/// `listed`), alive for `ttl_ms`.
async fn ghost(redis: &RedisServer, rooms: u32, lists: &[(&str, serde_json::Value)], ttl_ms: u64) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let entry = serde_json::json!({
        "id": "node-0", "url": format!("http://{closed}"), "version": "0", "rooms": rooms,
        "players": rooms, "max_rooms": 1000, "draining": false, "started_at": 0, "heartbeat_at": 0
    });
    let mut keys = vec![("tickroom:node:node-0".to_owned(), entry.to_string())];
    for (list, value) in lists {
        keys.push((format!("tickroom:{list}:node-0"), value.to_string()));
    }
    let ttl = ttl_ms.to_string();
    for (key, value) in keys {
        let reply = redis
            .command(&["SET", &key, &value, "PX", &ttl])
            .await
            .unwrap();
        assert_eq!(reply, "+OK");
    }
}

/// Polls `GET /admin/nodes` on `server` (every 50 ms, at most 10 s) until `done` holds.
async fn nodes_until(
    server: &TestServer,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..200 {
        last = server.admin_get("/admin/nodes").await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the registry never got there; last answer: {last}");
}

/// `POST /admin/matches` with `body` on `server`: status and answer.
async fn create(server: &TestServer, body: serde_json::Value) -> (u16, serde_json::Value) {
    admin_post(server, "/admin/matches", body).await
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["nodes"]
        .as_array()
        .map(|n| {
            n.iter()
                .map(|n| n["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn nodes_register_with_their_url_and_load_and_leave_when_they_stop() {
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    let both = nodes_until(&a, |v| ids(v) == ["node-a", "node-b"]).await;
    assert_eq!(both["node"], "node-a");
    assert_eq!(both["nodes"][1]["url"], b.url, "each node's own URL");
    assert_eq!(both["nodes"][0]["draining"], false);
    // A match on b shows in b's load, read from a.
    let (status, m) = create(
        &b,
        serde_json::json!({ "game": "arena", "node": "node-b", "max_players": 3 }),
    )
    .await;
    assert_eq!(status, 201);
    let loaded = nodes_until(&a, |v| v["nodes"][1]["rooms"] == 1).await;
    assert!(loaded["nodes"][1]["cpu_percent"].is_u64(), "{loaded}");
    // The match directory, read from a: b's match, its state and seats.
    let _ = b.join(m["id"].as_str().unwrap(), "p1", Role::Player).await;
    let mut directory = serde_json::Value::Null;
    for _ in 0..100 {
        directory = a.admin_get("/admin/directory").await;
        if directory["matches"][0]["players"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        directory["matches"],
        serde_json::json!([{ "id": m["id"], "game": "arena", "state": "running", "players": 1,
            "max_players": 3, "node": "node-b", "url": b.url }]),
        "{directory}"
    );
    // b stops: it leaves the registry as it exits, without waiting for its entry to expire.
    b.shutdown.cancel();
    b.task.await.unwrap().unwrap();
    let after = a.admin_get("/admin/nodes").await;
    assert_eq!(ids(&after), ["node-a"], "{after}");
}

#[tokio::test]
async fn matches_carry_on_while_redis_is_away_and_the_node_registers_again() {
    let mut redis = RedisServer::start().await.unwrap();
    let server = node(&redis, "node-r").await;
    nodes_until(&server, |v| ids(v) == ["node-r"]).await;
    let m = server.arena(2).await;
    let mut player = server.join(&m, "p1", Role::Player).await;
    next_snapshot::<ArenaState>(&mut player).await.unwrap();

    redis.stop().await;
    let refused = server.admin_get("/admin/nodes").await;
    assert_eq!(refused["error"]["code"], "redis_unavailable", "{refused}");
    // The match does not need Redis: a second of ticks goes on as before.
    let before = next_snapshot::<ArenaState>(&mut player).await.unwrap().tick;
    snapshot_where::<ArenaState>(&mut player, |s| s.tick >= before + 30)
        .await
        .unwrap();
    assert_eq!(server.metric("tickroom_redis_up").await, 0);

    // Redis comes back empty: the node is in the registry again within a few beats.
    redis.resume().await.unwrap();
    nodes_until(&server, |v| ids(v) == ["node-r"]).await;
    assert_eq!(server.metric("tickroom_redis_up").await, 1);
}

/// `POST /admin/matches` on any node puts the match on the least loaded node, says which and
/// where; a node can be named; a draining node takes no new match.
#[tokio::test]
async fn new_matches_go_to_the_least_loaded_node() {
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    nodes_until(&a, |v| ids(v) == ["node-a", "node-b"]).await;
    let create = |server: &TestServer, body: serde_json::Value| {
        let req = reqwest::Client::new()
            .post(format!("{}/admin/matches", server.url))
            .bearer_auth(&server.admin_key)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    // Two matches pinned to a, then one placed from a: it goes to b.
    for _ in 0..2 {
        let (status, m) =
            create(&a, serde_json::json!({ "game": "arena", "node": "node-a" })).await;
        assert_eq!((status, m["node"].as_str()), (201, Some("node-a")), "{m}");
    }
    nodes_until(&a, |v| v["nodes"][0]["rooms"] == 2).await;
    let (status, placed) = create(&a, serde_json::json!({ "game": "arena" })).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["node"], "node-b", "the least loaded node: {placed}");
    assert_eq!(placed["url"], b.url);
    let id = placed["id"].as_str().unwrap();
    assert_eq!(b.admin.get_match(id).await.unwrap().id, id, "it runs on b");
    assert!(a.admin.get_match(id).await.is_err(), "and not on a");
    // Tokens come from the node that holds the match; players connect there.
    let token = b.token(id, "p1", Role::Player).await;
    b.connect(&token).await.unwrap();
    // An unknown node is refused with its code.
    let (status, refused) =
        create(&a, serde_json::json!({ "game": "arena", "node": "node-z" })).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("node_unavailable"))
    );
    // b drains: new matches go to a.
    b.shutdown.cancel();
    nodes_until(&a, |v| {
        ids(v) == ["node-a"] || v["nodes"][1]["draining"] == true
    })
    .await;
    let (_, next) = create(&a, serde_json::json!({ "game": "arena" })).await;
    assert_eq!(next["node"], "node-a", "{next}");
}

/// A player who connects to a node that does not hold their match is told which node does,
/// and gets in there with the same token.
#[tokio::test]
async fn a_player_at_the_wrong_node_is_told_where_to_go() {
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    nodes_until(&a, |v| ids(v) == ["node-a", "node-b"]).await;
    let (_, m) = create(&b, serde_json::json!({ "game": "arena", "node": "node-b" })).await;
    let id = m["id"].as_str().unwrap();
    let token = b.token(id, "wanderer", Role::Player).await;
    // Until b's next heartbeat a does not know the match; then it points to b.
    let mut tries = 0;
    let url = loop {
        match a.connect(&token).await {
            Err(ConnectError::Elsewhere { url }) => break url,
            Err(ConnectError::Refused { code }) if code == "match_not_found" && tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("expected match_elsewhere, got {:?}", other.map(|_| ())),
        }
    };
    assert_eq!(url, b.url);
    b.connect(&token)
        .await
        .expect("the same token works at the right node");
    // Any node mints a token for any node's match: the node that holds it signs it.
    let (status, minted) = admin_post(
        &a,
        &format!("/admin/matches/{id}/tokens"),
        serde_json::json!({ "player_id": "second" }),
    )
    .await;
    assert_eq!(status, 200, "{minted}");
    assert_eq!(
        (minted["node"].as_str(), minted["url"].as_str()),
        (Some("node-b"), Some(b.url.as_str()))
    );
    let mut second = b.connect(minted["token"].as_str().unwrap()).await.unwrap();
    assert!(second.next_event(WAIT).await.unwrap().welcome().is_some());
    let (status, _) = admin_post(
        &a,
        "/admin/matches/no-such-match/tokens",
        serde_json::json!({ "player_id": "x" }),
    )
    .await;
    assert_eq!(status, 404);
    // A match that is nowhere is still not found.
    let gone = tickroom_tests::sign(&tickroom_tests::claims("no-such-match", "x", Role::Player));
    match a.connect(&gone).await {
        Err(ConnectError::Refused { code }) => assert_eq!(code, "match_not_found"),
        other => panic!("expected match_not_found, got {:?}", other.map(|_| ())),
    }
}

/// Matchmaking on any node sees every node's matches: a player asking node b joins the open
/// match node a holds, and connects to a; a join code works from either node; the lobby of
/// either lists both nodes' matches.
#[tokio::test]
async fn matchmaking_on_any_node_places_players_across_nodes() {
    use tickroom_client::matchmaking::{Matchmaker, Options};
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    nodes_until(&a, |v| ids(v) == ["node-a", "node-b"]).await;
    let options = Options {
        max_players: Some(4),
        ..Options::default()
    };
    // The first request, on b, opens a match on the least loaded node: a (the tie goes by id).
    let first = Matchmaker::new(&b.url, None)
        .join_or_create("arena", &options)
        .await
        .unwrap();
    assert_eq!(first.url, a.url, "placed on a: {first:?}");
    assert!(a.admin.get_match(&first.match_id).await.is_ok());
    // b offers that match's free seats (from what it placed, or a's heartbeat).
    let mut second = None;
    for _ in 0..100 {
        let r = Matchmaker::new(&b.url, None)
            .join_or_create("arena", &options)
            .await
            .unwrap();
        if r.match_id == first.match_id {
            second = Some(r);
            break;
        }
        // Not visible yet: b opened another; end it and ask again.
        let owner = if r.url == a.url { &a } else { &b };
        owner.admin.end_match(&r.match_id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = second.expect("b offered a's open match");
    assert_eq!(
        second.url, a.url,
        "the seat is on a, and the answer says so"
    );
    let mut c = tickroom_client::Client::connect(&second.url, &second.auth(), WAIT)
        .await
        .expect("the reservation is redeemed at a");
    assert!(c.next_event(WAIT).await.unwrap().welcome().is_some());
    let view = a.admin.get_match(&first.match_id).await.unwrap();
    assert_eq!(view.players, std::slice::from_ref(&second.player_id));
    assert_eq!(view.reserved, std::slice::from_ref(&first.player_id));

    // A private match on a, joined by its code through b.
    let host = Matchmaker::new(&a.url, None)
        .create("arena", &Options::default(), true)
        .await
        .unwrap();
    let code = host.code.clone().unwrap();
    let mut friend = None;
    for _ in 0..100 {
        match Matchmaker::new(&b.url, None).join_by_code(&code).await {
            Ok(r) => {
                friend = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let friend = friend.expect("the code works from b");
    assert_eq!(
        (friend.match_id.as_str(), friend.url.as_str()),
        (host.match_id.as_str(), host.url.as_str())
    );
    // b's lobby lists a's public match once a's heartbeat has published it (and never the
    // private one).
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = Matchmaker::new(&b.url, None)
            .list(Some("arena"), &Default::default(), false)
            .await
            .unwrap();
        if listed.iter().any(|m| m.match_id == first.match_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        listed.iter().any(|m| m.match_id == first.match_id),
        "{listed:?}"
    );
    assert!(listed.iter().all(|m| m.match_id != host.match_id));
}

/// A join storm through one node of two: every bot is seated, on whichever node holds its
/// match, and the matches across both nodes are full — none opened half-empty because another
/// node's heartbeat was behind.
#[tokio::test]
async fn a_join_storm_through_one_node_fills_matches_across_both() {
    use std::sync::Arc;
    use tickroom_bots::report::Stats;
    use tickroom_bots::swarm::{self, ArenaGame, Behaviour, SwarmConfig, Tokens};
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    nodes_until(&a, |v| ids(v) == ["node-a", "node-b"]).await;
    let cfg = SwarmConfig {
        server: a.url.clone(),
        rooms: 10,
        players: 4,
        spectators: 0,
        game: ArenaGame::Arena,
        tokens: Tokens::Matchmaking {
            player_secret: None,
        },
        input_rate: None,
        behaviour: Behaviour::Idle,
        ramp_up: Duration::from_millis(500),
        duration: Duration::from_secs(3),
        seed: 1,
        reconnect_every: None,
    };
    let seats = swarm::prepare_seats(&cfg).await.unwrap();
    let stats = Arc::new(Stats::default());
    let run = tokio::spawn({
        let (cfg, stats) = (cfg.clone(), stats.clone());
        async move { swarm::run(&cfg, seats, stats).await }
    });
    // While they all play: every match, on either node, is full.
    for _ in 0..200 {
        if stats.connected.load(std::sync::atomic::Ordering::Relaxed) == 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut sizes = Vec::new();
    for server in [&a, &b] {
        let list = server.admin_get("/admin/matches").await;
        for m in list["matches"].as_array().unwrap() {
            let view = server
                .admin
                .get_match(m["id"].as_str().unwrap())
                .await
                .unwrap();
            sizes.push(view.players.len() + view.reserved.len());
        }
    }
    let report = run.await.unwrap();
    assert_eq!(report.bots.joined, 40, "{}", report.table());
    assert_eq!(report.errors.total(), 0, "{}", report.table());
    assert_eq!(sizes.len(), 10, "40 players in matches of 4: {sizes:?}");
    assert!(sizes.iter().all(|&n| n == 4), "{sizes:?}");
}

/// A node in the registry that does not answer (its entry still alive, the process gone) is
/// skipped by placement: the match goes to the next node, and the request does not fail.
#[tokio::test]
async fn placement_skips_a_node_that_does_not_answer() {
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    nodes_until(&a, |v| ids(v) == ["node-a"]).await;
    // A ghost: the least loaded entry there is (no rooms, first by id).
    ghost(&redis, 0, &[], 60_000).await;
    nodes_until(&a, |v| ids(v) == ["node-0", "node-a"]).await;
    let (status, placed) = create(&a, serde_json::json!({ "game": "arena" })).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(
        placed["node"], "node-a",
        "the ghost was tried, then skipped: {placed}"
    );
}

/// `POST` `body` to `path` on `server` with the admin key: status and answer.
async fn admin_post(
    server: &TestServer,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .bearer_auth(&server.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// A match on `server`, node `node`, joined by `player`.
async fn joined(
    server: &TestServer,
    node: &str,
    player: &str,
) -> (String, tickroom_client::Client) {
    let (status, m) = create(
        server,
        serde_json::json!({ "game": "arena", "max_players": 4, "node": node }),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    let m = m["id"].as_str().unwrap().to_owned();
    let c = server.join(&m, player, Role::Player).await;
    (m, c)
}

/// The next `announcement` `c` hears within a second, if any.
async fn announcement(c: &mut tickroom_client::Client) -> Option<String> {
    use tickroom_client::Incoming;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, c.recv()).await {
            Ok(Some(Incoming::Event(e))) if e.name == "announcement" => {
                return e.announcement().map(|a| a.message);
            }
            Ok(Some(Incoming::Event(_))) => continue,
            _ => return None,
        }
    }
}

/// With `--one-connection-per-player`, a player who connects to a match on one node loses
/// their connection to a match on another, with `session_replaced`; their seat there is given
/// back. Without it, a player may be in matches on two nodes at once.
#[tokio::test]
async fn a_second_connection_on_another_node_replaces_the_first() {
    let redis = RedisServer::start().await.unwrap();
    let one = |id: &'static str| {
        let mut config = node_config(&redis, id);
        config.net.one_connection_per_player = true;
        TestServer::start_with(config)
    };
    let a = one("node-a").await;
    let b = one("node-b").await;
    let (first_match, mut first) = joined(&a, "node-a", "alice").await;
    let (_, mut other) = joined(&a, "node-a", "bob").await;
    let (_, _second) = joined(&b, "node-b", "alice").await;
    let errors = tickroom_tests::wait_closed(&mut first).await;
    assert_eq!(errors, ["session_replaced"]);
    let view = a.admin.get_match(&first_match).await.unwrap();
    assert!(view.players.is_empty(), "the seat is given back: {view:?}");
    // Another player on that node is not touched.
    next_snapshot::<ArenaState>(&mut other).await.unwrap();

    // Without the option, alice may be on both nodes.
    let c = node(&redis, "node-c").await;
    let d = node(&redis, "node-d").await;
    let (_, mut on_c) = joined(&c, "node-c", "alice").await;
    let (_, _on_d) = joined(&d, "node-d", "alice").await;
    next_snapshot::<ArenaState>(&mut on_c).await.unwrap();
    next_snapshot::<ArenaState>(&mut on_c).await.unwrap();
}

/// Any node's admin API finds and kicks a player wherever they are connected, and announces
/// to every connection of every node; when Redis goes away these reach only the node's own
/// connections (and say so), and when it comes back they reach every node again.
#[tokio::test]
async fn kicks_and_announcements_reach_every_node_and_come_back_with_redis() {
    let mut redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    let (m, mut carol) = joined(&a, "node-a", "carol").await;
    let (_, mut dave) = joined(&b, "node-b", "dave").await;
    let (_, mut erin) = joined(&b, "node-b", "erin").await;

    let found = b.admin_get("/admin/players/carol").await;
    assert_eq!(found["connections"], 1, "{found}");
    let (status, sent) = admin_post(
        &b,
        "/admin/announce",
        serde_json::json!({ "message": "restart at noon" }),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        announcement(&mut carol).await.as_deref(),
        Some("restart at noon")
    );
    assert_eq!(
        announcement(&mut dave).await.as_deref(),
        Some("restart at noon")
    );
    let (status, bad) =
        admin_post(&b, "/admin/announce", serde_json::json!({ "message": "" })).await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );

    // Redis away: an announcement reaches this node's connections and the answer says the
    // others were not reached; the matches go on.
    redis.stop().await;
    let (status, refused) = admin_post(
        &b,
        "/admin/announce",
        serde_json::json!({ "message": "only here" }),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (503, Some("redis_unavailable")),
        "{refused}"
    );
    assert_eq!(announcement(&mut dave).await.as_deref(), Some("only here"));
    assert_eq!(announcement(&mut carol).await, None);
    next_snapshot::<ArenaState>(&mut carol).await.unwrap();
    // A kick with Redis away still kicks the player from this node, and says the others were
    // not reached.
    let (status, refused) = admin_post(&b, "/admin/players/erin/kick", serde_json::json!({})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (503, Some("redis_unavailable")),
        "{refused}"
    );
    assert_eq!(tickroom_tests::wait_closed(&mut erin).await, ["kicked"]);

    // Redis back: the nodes subscribe again by themselves, and a kick from b reaches a.
    redis.resume().await.unwrap();
    let mut heard = false;
    for _ in 0..40 {
        let (status, _) = admin_post(
            &b,
            "/admin/announce",
            serde_json::json!({ "message": "back" }),
        )
        .await;
        if status == 200 && announcement(&mut carol).await.as_deref() == Some("back") {
            heard = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(heard, "announcements cross nodes again once Redis is back");
    let (status, kicked) = admin_post(&b, "/admin/players/carol/kick", serde_json::json!({})).await;
    assert_eq!(
        (status, kicked["connections"].as_u64()),
        (200, Some(1)),
        "{kicked}"
    );
    assert_eq!(tickroom_tests::wait_closed(&mut carol).await, ["kicked"]);
    let view = a.admin.get_match(&m).await.unwrap();
    assert!(
        view.players.is_empty(),
        "the kicked player's seat is free: {view:?}"
    );
    next_snapshot::<ArenaState>(&mut dave).await.unwrap();
    let (status, _) = admin_post(&b, "/admin/players/no%20such/kick", serde_json::json!({})).await;
    assert_eq!(status, 400);
}

/// `@tickroom/client` (the official socket.io-client underneath) against two nodes: lobbies
/// hear each other's matches, a player at the wrong node is sent to the right one and plays
/// there, and an announcement and a kick made on one node reach a player on the other.
#[tokio::test]
async fn the_typescript_client_works_against_any_node() {
    tickroom_tests::ensure_client_package_built().unwrap();
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    nodes_until(&a, |v| ids(v) == ["node-a", "node-b"]).await;
    let out =
        tickroom_tests::run_js_script("tickroom-cluster.mjs", &[&a.url, &b.url, &a.admin_key])
            .await
            .unwrap();
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["ok"], true, "{seen}");
    assert_ne!(seen["lobby"]["match_on"], seen["lobby"]["heard_on"]);
    assert_eq!(
        seen["redirect"],
        serde_json::json!({ "to": "a", "match": true })
    );
    assert_eq!(
        seen["announcement"],
        serde_json::json!(["maintenance at noon", "maintenance at noon"])
    );
    assert_eq!(
        seen["kick"],
        serde_json::json!({ "connections": 1, "code": "kicked", "fatal": true, "reason": "closed", "reconnecting": false })
    );
    assert_eq!(
        seen["move"],
        serde_json::json!({ "to": "node-b", "client_url": true, "acked": 15, "paused": true })
    );
}

/// With `--results-db postgres://…`, every node saves its matches' results in one PostgreSQL
/// (started by the test), and any node's admin API lists every node's.
#[tokio::test]
async fn every_nodes_results_are_in_one_postgres() {
    let redis = RedisServer::start().await.unwrap();
    let pg = tickroom_tests::postgres::PostgresServer::start()
        .await
        .unwrap();
    let on_pg = |id: &'static str| {
        let mut config = node_config(&redis, id);
        config.results_db = Some(pg.url().into());
        TestServer::start_with(config)
    };
    let a = on_pg("node-a").await;
    let b = on_pg("node-b").await;
    let (on_a, mut alice) = joined(&a, "node-a", "alice").await;
    let (on_b, mut bob) = joined(&b, "node-b", "bob").await;
    // Seated in their rooms (a snapshot each) before the matches end.
    next_snapshot::<ArenaState>(&mut alice).await.unwrap();
    next_snapshot::<ArenaState>(&mut bob).await.unwrap();
    a.admin.end_match(&on_a).await.unwrap();
    b.admin.end_match(&on_b).await.unwrap();
    let mut listed = serde_json::Value::Null;
    for _ in 0..100 {
        listed = a.admin_get("/admin/results").await;
        if listed["results"].as_array().is_some_and(|r| r.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ids: Vec<&str> = listed["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .map(|r| r["match_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = [on_a.as_str(), on_b.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want, "{listed}");
    // One match's result, from the node that did not run it.
    let bobs = a.admin_get(&format!("/admin/results/{on_b}")).await;
    assert_eq!(bobs["players"], serde_json::json!(["bob"]), "{bobs}");
    assert_eq!(bobs["end_reason"], "admin");
    // Its recording too (docs/REPLAY.md), which replays.
    let http = reqwest::Client::new();
    let mut log = None;
    for _ in 0..100 {
        let res = http
            .get(format!("{}/admin/results/{on_b}/recording", a.url))
            .bearer_auth(&a.admin_key)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            log = Some(res.bytes().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = log.expect("bob's match's recording, in postgres");
    let report = tickroom_games::builtin().replay(&log).expect("replays");
    assert_eq!(report.header.match_id, on_b);
    assert_eq!(report.joins, 1);
    assert_eq!(report.end.as_deref(), Some("admin"));
}

/// One queue for the cluster: players who queue through different nodes are grouped together
/// by the node the heartbeat elected to run the queue, and each is told where their match is.
/// When that node stops, the other takes the queue over.
#[tokio::test]
async fn players_queueing_on_different_nodes_meet_in_one_queue() {
    use tickroom_client::matchmaking::{Matchmaker, QueueOptions};
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    nodes_until(&a, |v| ids(v) == ["node-a", "node-b"]).await;
    // Until both nodes have beaten once, one of them may not know the leader yet.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 0..3 {
        let options = QueueOptions {
            rating: Some(1500.0 + f64::from(round)),
            ..QueueOptions::default()
        };
        let (via_a, via_b) = (Matchmaker::new(&a.url, None), Matchmaker::new(&b.url, None));
        let (x, y) = tokio::join!(
            via_a.queue("tictactoe", &options),
            via_b.queue("tictactoe", &options),
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x.match_id, y.match_id, "round {round}: {x:?} {y:?}");
        assert_eq!(x.url, y.url);
        let mut c = tickroom_client::Client::connect(&x.url, &x.auth(), WAIT)
            .await
            .expect("the seat is where the answer says");
        assert!(c.next_event(WAIT).await.unwrap().welcome().is_some());
    }
    let leader = redis
        .command(&["EXISTS", "tickroom:queue-leader"])
        .await
        .unwrap();
    assert_eq!(leader, ":1", "a node leads the queue");
    assert_eq!(a.metric("tickroom_queue_forward_failed_total").await, 0);
    assert_eq!(b.metric("tickroom_queue_forward_failed_total").await, 0);

    // The leader stops: within its time-to-live and a beat, the other node runs the queue.
    a.shutdown.cancel();
    a.task.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let options = QueueOptions::default();
    let (one, two) = (Matchmaker::new(&b.url, None), Matchmaker::new(&b.url, None));
    let (x, y) = tokio::join!(
        one.queue("tictactoe", &options),
        two.queue("tictactoe", &options)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(
        (x.match_id.as_str(), x.url.as_str()),
        (y.match_id.as_str(), b.url.as_str())
    );
    assert_eq!(
        b.metric("tickroom_queue_forward_failed_total").await,
        0,
        "b took the queue over instead of failing to reach a"
    );
}

/// A node whose public URL other nodes cannot reach (players come through a proxy or a CDN)
/// is called at its `--node-url`, and players are still sent to its public URL.
#[tokio::test]
async fn nodes_call_each_other_at_their_node_url_and_send_players_to_the_public_one() {
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inside = format!("http://{}", listener.local_addr().unwrap());
    let mut config = node_config(&redis, "node-b");
    config.matchmaking.public_url = Some("https://b.game.example".into());
    if let Some(cluster) = config.cluster.as_mut() {
        cluster.node_url = Some(inside.clone());
    }
    let b = TestServer::start_on(listener, config);
    let both = nodes_until(&a, |v| ids(v) == ["node-a", "node-b"]).await;
    assert_eq!(both["nodes"][1]["url"], "https://b.game.example");
    assert_eq!(both["nodes"][1]["node_url"], inside);
    let (status, m) = create(&a, serde_json::json!({ "game": "arena", "node": "node-b" })).await;
    assert_eq!(status, 201, "a reached b at its node URL: {m}");
    assert_eq!(
        m["url"], "https://b.game.example",
        "players go to the public URL"
    );
    assert!(b.admin.get_match(m["id"].as_str().unwrap()).await.is_ok());
}

/// PostgreSQL going away loses no result: a match that ends meanwhile keeps its result in the
/// node's memory (the admin API says the store is unavailable), and it is written once
/// PostgreSQL is back.
#[tokio::test]
async fn results_wait_for_postgres_to_come_back() {
    let redis = RedisServer::start().await.unwrap();
    let mut pg = tickroom_tests::postgres::PostgresServer::start()
        .await
        .unwrap();
    let mut config = node_config(&redis, "node-a");
    config.results_db = Some(pg.url().into());
    let a = TestServer::start_with(config).await;
    let (m, mut pat) = joined(&a, "node-a", "pat").await;
    next_snapshot::<ArenaState>(&mut pat).await.unwrap();
    pg.stop().await;
    a.admin.end_match(&m).await.unwrap();
    let mut refused = serde_json::Value::Null;
    for _ in 0..100 {
        refused = a.admin_get("/admin/results").await;
        if refused["error"]["code"] == "results_unavailable" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused["error"]["code"], "results_unavailable", "{refused}");
    pg.resume().await.unwrap();
    let mut saved = serde_json::Value::Null;
    for _ in 0..200 {
        saved = a.admin_get(&format!("/admin/results/{m}")).await;
        if saved["match_id"] == m.as_str() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(saved["players"], serde_json::json!(["pat"]), "{saved}");
}

/// A seat in a match whose node does not answer is refused with 503 `directory_unavailable`
/// (the player may ask again, or for another match), not a wrong `match_not_found`.
#[tokio::test]
async fn a_seat_on_a_node_that_does_not_answer_is_directory_unavailable() {
    use tickroom_client::matchmaking::Matchmaker;
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    nodes_until(&a, |v| ids(v) == ["node-a"]).await;
    let matches = serde_json::json!([{ "id": "ghost-match", "game": "arena", "state": "running",
        "players": 1, "max_players": 4 }]);
    ghost(&redis, 1, &[("matches", matches)], 60_000).await;
    let refused = Matchmaker::new(&a.url, None)
        .join_by_id("ghost-match")
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("directory_unavailable"),
        "{refused}"
    );
}

/// A node that dies without a word (its keys expire) never publishes its matches' removal:
/// the node that runs the queue does, and a lobby watched with the official client drops them.
#[tokio::test]
async fn a_dead_nodes_matches_leave_every_lobby() {
    use tickroom_client::matchmaking::Matchmaker;
    let redis = RedisServer::start().await.unwrap();
    let a = node(&redis, "node-a").await;
    nodes_until(&a, |v| ids(v) == ["node-a"]).await;
    let listed = serde_json::json!([{ "match_id": "orphan", "game": "arena", "labels": {},
        "players": 1, "max_players": 4, "state": "running", "code": null, "created_at": 1,
        "private": false }]);
    // Alive for 4 s, then gone: the node "dies".
    ghost(&redis, 1, &[("listed", listed)], 4_000).await;
    let lists = |m: &[tickroom_shared::OpenMatch]| m.iter().any(|m| m.match_id == "orphan");
    let mut seen = false;
    for _ in 0..40 {
        let open = Matchmaker::new(&a.url, None)
            .list(Some("arena"), &Default::default(), false)
            .await
            .unwrap();
        if lists(&open) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "a lists the ghost's match");
    let out = tickroom_tests::run_js_script("lobby-orphans.mjs", &[&a.url, "orphan"])
        .await
        .unwrap();
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["removed"], true, "{seen}");
}

/// A node started while Redis is away serves at once; when Redis comes, it registers and
/// subscribes to the other nodes' events (its subscriptions are retried), without a restart.
#[tokio::test]
async fn a_node_started_while_redis_is_away_joins_when_it_comes() {
    let mut redis = RedisServer::start().await.unwrap();
    redis.stop().await;
    let a = node(&redis, "node-a").await;
    let (_, mut carol) = joined(&a, "node-a", "carol").await;
    redis.resume().await.unwrap();
    let b = node(&redis, "node-b").await;
    nodes_until(&b, |v| ids(v) == ["node-a", "node-b"]).await;
    let mut heard = false;
    for _ in 0..40 {
        let (status, _) = admin_post(
            &b,
            "/admin/announce",
            serde_json::json!({ "message": "hi" }),
        )
        .await;
        if status == 200 && announcement(&mut carol).await.as_deref() == Some("hi") {
            heard = true;
            break;
        }
    }
    assert!(heard, "a hears b once its subscriptions went through");
}

/// A queue leader that does not answer: a new ticket is queued on the node that took it (and
/// counted), and a poll for a ticket this node does not hold is 503 `queue_unavailable`.
#[tokio::test]
async fn a_queue_leader_that_does_not_answer_leaves_each_node_its_own_queue() {
    use tickroom_client::matchmaking::{Matchmaker, QueueOptions};
    let redis = RedisServer::start().await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The leadership is held by a node gone silent before this one beats.
    let reply = redis
        .command(&[
            "SET",
            "tickroom:queue-leader",
            &format!("node-0 http://{closed}"),
            "PX",
            "60000",
        ])
        .await
        .unwrap();
    assert_eq!(reply, "+OK");
    let a = node(&redis, "node-a").await;
    nodes_until(&a, |v| ids(v) == ["node-a"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (x, y) = (Matchmaker::new(&a.url, None), Matchmaker::new(&a.url, None));
    let options = QueueOptions::default();
    let (x, y) = tokio::join!(
        x.queue("tictactoe", &options),
        y.queue("tictactoe", &options)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.match_id, y.match_id, "matched by this node's own queue");
    assert_eq!(a.metric("tickroom_queue_forward_failed_total").await, 2);
    let lost = Matchmaker::new(&a.url, None)
        .ticket("no-such-ticket", 0)
        .await
        .unwrap_err();
    assert!(lost.to_string().contains("queue_unavailable"), "{lost}");
}

/// A running match's checkpoint follows its log in Redis: appended as it grows, written whole
/// again after Redis lost it (flushed), deleted when the match ends. A move is refused with a
/// code to no other node, for a match that cannot move (waiting for its first player), for
/// none, and on a node without Redis. A client that does not follow `moved` is disconnected by
/// the server after the grace period, and the node the match left sends it on with
/// `match_elsewhere`.
#[tokio::test]
async fn checkpoints_follow_the_match_and_moves_are_refused_with_a_code() {
    let redis = RedisServer::start().await.unwrap();
    let mut config = node_config(&redis, "node-a");
    if let Some(c) = &mut config.cluster {
        c.checkpoint = Duration::from_millis(200);
    }
    let a = TestServer::start_with(config).await;
    let (id, mut alice) = joined(&a, "node-a", "alice").await;
    next_snapshot::<ArenaState>(&mut alice).await.unwrap();
    let strlen = |key: String| {
        let redis = &redis;
        async move {
            let reply = redis.command(&["STRLEN", &key]).await.unwrap();
            reply.trim_start_matches(':').parse::<u64>().unwrap()
        }
    };
    let log_key = format!("tickroom:log:{id}");
    let mut grown = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let len = strlen(log_key.clone()).await;
        if grown > 0 && len > grown {
            break;
        }
        if grown == 0 {
            grown = len;
        }
    }
    let len = strlen(log_key.clone()).await;
    assert!(
        len > grown && grown > 0,
        "appended as the match goes: {grown} then {len}"
    );
    assert_eq!(
        redis
            .command(&["EXISTS", &format!("tickroom:checkpoint:{id}")])
            .await
            .unwrap(),
        ":1"
    );
    // Redis loses everything: the next checkpoint writes the whole log again.
    assert_eq!(redis.command(&["FLUSHALL"]).await.unwrap(), "+OK");
    let mut again = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        again = strlen(log_key.clone()).await;
        if again > 0 {
            break;
        }
    }
    assert!(again >= len, "the whole log again: {again} after {len}");

    // Moves that cannot be: to no other node, a match waiting for its first player, no
    // match, no Redis.
    let path = format!("/admin/matches/{id}/move");
    let (status, refused) = admin_post(&a, &path, serde_json::json!({})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (503, Some("node_unavailable")),
        "{refused}"
    );
    let b = node(&redis, "node-b").await;
    nodes_until(&a, |v| ids(v) == ["node-a", "node-b"]).await;
    let (status, waiting) =
        create(&a, serde_json::json!({ "game": "arena", "node": "node-a" })).await;
    assert_eq!(status, 201);
    let path = format!("/admin/matches/{}/move", waiting["id"].as_str().unwrap());
    let (status, refused) = admin_post(&a, &path, serde_json::json!({})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("cannot_move")),
        "{refused}"
    );
    let (status, _) = admin_post(&a, "/admin/matches/nope/move", serde_json::json!({})).await;
    assert_eq!(status, 404);
    let alone = TestServer::start().await;
    let (_, m) = create(&alone, serde_json::json!({ "game": "arena" })).await;
    let alone_id = m["id"].as_str().unwrap();
    let mut bob = alone.join(alone_id, "bob", Role::Player).await;
    next_snapshot::<ArenaState>(&mut bob).await.unwrap();
    let path = format!("/admin/matches/{alone_id}/move");
    let (status, refused) = admin_post(&alone, &path, serde_json::json!({})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("not_clustered")),
        "{refused}"
    );

    // Moved to b: alice's client, which does not follow, hears `moved` and is disconnected
    // by the server a grace period later; connecting to a again sends her to b.
    let path = format!("/admin/matches/{id}/move");
    let (status, moved) = admin_post(&a, &path, serde_json::json!({ "node": "node-b" })).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["url"], b.url.as_str());
    let heard = tokio::time::Instant::now();
    let mut told = None;
    let closed = loop {
        match tokio::time::timeout(WAIT, alice.recv()).await.unwrap() {
            Some(tickroom_client::Incoming::Event(e)) => {
                if let Some(m) = e.moved() {
                    told = Some(m.url);
                }
            }
            Some(tickroom_client::Incoming::Closed(r)) => break r,
            None => panic!("no close"),
        }
    };
    assert_eq!(told.as_deref(), Some(b.url.as_str()));
    assert_eq!(closed, tickroom_client::CloseReason::ServerDisconnect);
    assert!(
        heard.elapsed() >= Duration::from_millis(1500),
        "left the grace period to go by itself: {:?}",
        heard.elapsed()
    );
    let token = b
        .admin
        .mint(&id, "alice", Role::Player)
        .await
        .unwrap()
        .token;
    let auth = tickroom_shared::AuthPayload {
        token,
        match_id: None,
        protocol: Some(tickroom_shared::PROTOCOL_VERSION),
    };
    let again = tickroom_client::Client::connect(&a.url, &auth, Duration::from_secs(5)).await;
    assert!(
        matches!(&again, Err(ConnectError::Elsewhere { url }) if *url == b.url),
        "{again:?}"
    );

    // The match ends: its checkpoint goes.
    b.admin.end_match(&id).await.unwrap();
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if redis.command(&["EXISTS", &log_key]).await.unwrap() == ":0" {
            gone = true;
            break;
        }
    }
    assert!(gone, "the ended match's checkpoint was deleted");
    assert_eq!(
        redis
            .command(&["EXISTS", &format!("tickroom:checkpoint:{id}")])
            .await
            .unwrap(),
        ":0"
    );
}
