//! Nodes as real processes on a real `redis-server` (and PostgreSQL) started on free ports: a
//! node killed with SIGKILL leaves the registry by itself within its time-to-live; a node that
//! drains after SIGTERM takes no new match, the others do, and its results are saved; three
//! nodes carry a mixed load of bot matches through a kill, a 10 s Redis outage and a drain
//! without disturbing a match on a surviving node.

use std::time::{Duration, Instant};

use tokio::process::Command;

// The same helper the workspace's e2e tests use (tests/src/redis.rs), without depending on
// that crate.
#[path = "../../tests/src/apt.rs"]
mod apt;
#[path = "../../tests/src/postgres.rs"]
#[allow(dead_code)]
mod postgres_server;
#[path = "../../tests/src/redis.rs"]
#[allow(dead_code)]
mod redis_server;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The server binary as node `id` on a free port of 127.0.0.1, on `redis`, with a fast
/// heartbeat; returns it and its URL.
fn start_node(
    redis: &redis_server::RedisServer,
    id: &str,
    extra: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    start_node_at(redis, id, free_port(), extra)
}

/// [`start_node`] on `port` (a node restarted where it was).
fn start_node_at(
    redis: &redis_server::RedisServer,
    id: &str,
    port: u16,
    extra: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickroom-server"));
    cmd.env("TICKROOM_ADDR", format!("127.0.0.1:{port}"))
        .env("TICKROOM_RESULTS_DB", ":memory:")
        .env("TICKROOM_REDIS_URL", redis.url())
        .env("TICKROOM_NODE_ID", id)
        .env("TICKROOM_NODE_HEARTBEAT_MS", "200")
        .env("TICKROOM_NODE_TTL_MS", "1000")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    (
        cmd.spawn().expect("start tickroom-server"),
        format!("http://127.0.0.1:{port}"),
    )
}

async fn entry(redis: &mut redis::aio::MultiplexedConnection, id: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(format!("tickroom:node:{id}"))
        .query_async(redis)
        .await
        .expect("GET")
}

#[tokio::test]
async fn a_killed_node_leaves_the_registry_within_its_ttl() {
    let redis = redis_server::RedisServer::start().await.unwrap();
    let mut conn = connect(&redis).await;
    let (mut node, url) = start_node(&redis, "doomed", &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let registered = loop {
        if let Some(e) = entry(&mut conn, "doomed").await {
            break e;
        }
        assert!(Instant::now() < deadline, "the node never registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let registered: serde_json::Value = serde_json::from_str(&registered).unwrap();
    assert_eq!(registered["url"], url);

    // SIGKILL: no shutdown, no goodbye.
    node.start_kill().unwrap();
    node.wait().await.unwrap();
    let killed = Instant::now();
    while entry(&mut conn, "doomed").await.is_some() {
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "the dead node's entry outlived its TTL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        killed.elapsed() > Duration::from_millis(100),
        "the entry went by expiring, not at once"
    );
}

/// Sends SIGTERM to `child`: the node drains.
fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("running");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
}

/// `GET url` with the development admin key, as JSON.
async fn admin_get(url: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth("dev-admin-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A connection to `redis`, for reading the registry's keys.
async fn connect(redis: &redis_server::RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Waits until every node of `ids` has an entry in the registry.
async fn registered(conn: &redis::aio::MultiplexedConnection, ids: &[&'static str]) {
    for &id in ids {
        eventually("the nodes registered", || {
            let mut c = conn.clone();
            async move { entry(&mut c, id).await.is_some() }
        })
        .await;
    }
}

/// Polls `check` every 50 ms for up to 20 s.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_draining_node_takes_no_new_match_the_others_do_and_its_results_are_saved() {
    use tickroom_client::admin::AdminClient;
    let redis = redis_server::RedisServer::start().await.unwrap();
    let results =
        std::env::temp_dir().join(format!("tickroom-drain-{}.sqlite3", std::process::id()));
    let _ = std::fs::remove_file(&results);
    let results_path = results.to_str().unwrap().to_owned();
    let (_a, a_url) = start_node(&redis, "stays", &[]);
    let (mut b, b_url) = start_node(
        &redis,
        "drains",
        &[
            ("TICKROOM_RESULTS_DB", &results_path),
            ("TICKROOM_DRAIN_SECS", "20"),
            // Its match drains here (a moving one: the tests below).
            ("TICKROOM_NO_MIGRATE_ON_DRAIN", "true"),
        ],
    );
    let mut conn = connect(&redis).await;
    registered(&conn, &["stays", "drains"]).await;
    // A match on the draining-to-be node, with a player in it to keep the drain going.
    let admin_b = AdminClient::new(&b_url, "dev-admin-key");
    let m = admin_b.create_match("arena", None, Some(2)).await.unwrap();
    let token = admin_b
        .mint(&m.id, "stayer", tickroom_shared::Role::Player)
        .await
        .unwrap();
    let auth = tickroom_shared::AuthPayload {
        token: token.token,
        match_id: None,
        protocol: Some(tickroom_shared::PROTOCOL_VERSION),
    };
    let player = tickroom_client::Client::connect(&b_url, &auth, Duration::from_secs(5))
        .await
        .unwrap();

    // SIGTERM: b drains.
    sigterm(&b);
    eventually("b says it drains", || {
        let mut c = conn.clone();
        async move {
            entry(&mut c, "drains")
                .await
                .is_some_and(|e| e.contains("\"draining\":true"))
        }
    })
    .await;
    // New matches go to a, from either node; b refuses to create one itself.
    let placed: serde_json::Value = reqwest::Client::new()
        .post(format!("{a_url}/admin/matches"))
        .bearer_auth("dev-admin-key")
        .json(&serde_json::json!({ "game": "arena" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(placed["node"], "stays", "{placed}");
    let refused = reqwest::Client::new()
        .post(format!("{b_url}/admin/matches"))
        .bearer_auth("dev-admin-key")
        .json(&serde_json::json!({ "game": "arena", "node": "drains" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status().as_u16(),
        422,
        "a draining node is no candidate"
    );

    // The last player leaves: b's match ends, its result is saved, b exits and leaves.
    player.close().await;
    let status = tokio::time::timeout(Duration::from_secs(20), b.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        entry(&mut conn, "drains").await.is_none(),
        "b removed its entry"
    );
    let store = tickroom_server::results::ResultStore::open(&results).unwrap();
    let saved = store
        .get(&m.id)
        .await
        .unwrap()
        .expect("the drained match's result");
    assert_eq!(saved.players, ["stayer"]);
    let _ = std::fs::remove_file(&results);
}

/// What one bot saw.
#[derive(Debug, Default)]
struct BotReport {
    snapshots: u64,
    /// The longest time between two snapshots (arena bots only).
    max_gap: Duration,
    errors: Vec<String>,
    ended: Option<String>,
    shutdown_notice: bool,
    /// Why the connection closed, if it did before the bot was stopped.
    closed: Option<String>,
}

/// A bot seated in `match_id` at `url` with `token`: arena bots walk (an input every 100 ms)
/// and time the gaps between snapshots; every bot records errors, the shutdown notice, the
/// match's end and whether its connection closed, until `stop`.
async fn bot(
    url: String,
    token: String,
    arena: bool,
    stop: tokio_util::sync::CancellationToken,
) -> BotReport {
    use tickroom_client::{Client, Incoming};
    let auth = tickroom_shared::AuthPayload {
        token,
        match_id: None,
        protocol: Some(tickroom_shared::PROTOCOL_VERSION),
    };
    let mut c = Client::connect(&url, &auth, Duration::from_secs(10))
        .await
        .expect("bot connects");
    let mut report = BotReport::default();
    let mut last: Option<Instant> = None;
    let mut every = tokio::time::interval(Duration::from_millis(100));
    let mut seq = 0u32;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick(), if arena => {
                seq += 1;
                let angle = seq as f32 * 0.3;
                let input = tickroom_shared::InputMsg {
                    seq,
                    input: tickroom_games::arena::ArenaInput { dir: [angle.cos(), angle.sin()], buttons: 0 },
                };
                if let Err(e) = c.emit(tickroom_shared::event::INPUT, &input).await {
                    report.closed = Some(format!("{e:?}"));
                    break;
                }
            }
            incoming = c.recv() => match incoming {
                Some(Incoming::Event(e)) => {
                    if e.name == tickroom_shared::event::SNAPSHOT {
                        report.snapshots += 1;
                        let now = Instant::now();
                        if arena && let Some(prev) = last {
                            report.max_gap = report.max_gap.max(now - prev);
                        }
                        last = Some(now);
                    } else if e.name == tickroom_shared::event::SHUTDOWN {
                        report.shutdown_notice = true;
                    } else if let Some(end) = e.match_end() {
                        report.ended = Some(format!("{:?}", end.reason));
                    } else if let Some(err) = e.error() {
                        report.errors.push(err.code);
                    }
                }
                Some(Incoming::Closed(r)) => {
                    report.closed = Some(format!("{r:?}"));
                    break;
                }
                None => {
                    report.closed = Some("gone".into());
                    break;
                }
            }
        }
    }
    report
}

/// The "done when" of issue #16: three nodes and one Redis run a mixed load of bot matches
/// placed across all three (arena matches of 3 walking bots, tictactoe pairs); node c is
/// killed, Redis stops for 10 s, and node b drains — and no match on a surviving node is
/// disturbed: node a's bots never lose their connection, get no error, and never wait more
/// than a second for a snapshot. The killed node's matches leave the registry within its TTL;
/// placement stops choosing it; the registry is whole again when Redis returns; the drained
/// node's results are in the shared PostgreSQL, read from node a.
#[tokio::test]
async fn three_nodes_carry_a_mixed_load_through_a_kill_a_redis_outage_and_a_drain() {
    use tickroom_client::admin::AdminClient;
    let mut redis = redis_server::RedisServer::start().await.unwrap();
    let pg = postgres_server::PostgresServer::start().await.unwrap();
    let pg_url = pg.url();
    // The matches of the drained and the killed node end with them here (moving and
    // restoring them: the tests below).
    let shared = [
        ("TICKROOM_RESULTS_DB", pg_url.as_str()),
        ("TICKROOM_DRAIN_SECS", "2"),
        ("TICKROOM_NO_MIGRATE_ON_DRAIN", "true"),
        ("TICKROOM_CHECKPOINT_MS", "0"),
    ];
    let mut nodes = std::collections::BTreeMap::new();
    for id in ["node-a", "node-b", "node-c"] {
        nodes.insert(id, start_node(&redis, id, &shared));
    }
    let url_of = |id: &str| nodes[id].1.clone();
    let a_url = url_of("node-a");
    let conn = connect(&redis).await;
    registered(&conn, &["node-a", "node-b", "node-c"]).await;
    let http = reqwest::Client::new();
    let create = |body: serde_json::Value| {
        let req = http
            .post(format!("{a_url}/admin/matches"))
            .bearer_auth("dev-admin-key")
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 201);
            resp.json::<serde_json::Value>().await.unwrap()
        }
    };

    // Nine matches created through node a, a heartbeat apart, so each sees the others' load.
    let stop = tokio_util::sync::CancellationToken::new();
    let mut bots = Vec::new();
    let mut matches_on: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for i in 0..9 {
        let arena = i % 3 != 2;
        let body = if arena {
            serde_json::json!({ "game": "arena", "max_players": 4 })
        } else {
            serde_json::json!({ "game": "tictactoe" })
        };
        let m = create(body).await;
        let (node, url, id) = (
            m["node"].as_str().unwrap().to_owned(),
            m["url"].as_str().unwrap().to_owned(),
            m["id"].as_str().unwrap().to_owned(),
        );
        let admin = AdminClient::new(&url, "dev-admin-key");
        for p in 0..if arena { 3 } else { 2 } {
            let token = admin
                .mint(&id, &format!("bot-{i}-{p}"), tickroom_shared::Role::Player)
                .await
                .unwrap()
                .token;
            bots.push((
                node.clone(),
                tokio::spawn(bot(url.clone(), token, arena, stop.clone())),
            ));
        }
        matches_on.entry(node).or_default().push(id);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        matches_on.keys().collect::<Vec<_>>(),
        ["node-a", "node-b", "node-c"],
        "placed across all three: {matches_on:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Node c is killed: its entry and match list expire; placement stops choosing it.
    let (mut c, _) = nodes.remove("node-c").unwrap();
    c.start_kill().unwrap();
    c.wait().await.unwrap();
    let killed = Instant::now();
    eventually("c leaves the registry", || {
        let mut conn = conn.clone();
        async move { entry(&mut conn, "node-c").await.is_none() }
    })
    .await;
    assert!(killed.elapsed() < Duration::from_secs(3), "within its TTL");
    for _ in 0..3 {
        let m = create(serde_json::json!({ "game": "arena" })).await;
        assert_ne!(m["node"], "node-c", "placement skips the dead node");
    }

    // Redis stops for 10 s: the registry is unavailable, the matches go on.
    redis.stop().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = admin_get(&format!("{a_url}/admin/nodes")).await;
    assert_eq!(during["error"]["code"], "redis_unavailable", "{during}");
    redis.resume().await.unwrap();
    // The registry is whole again (a new connection: the old one went with Redis).
    let conn = connect(&redis).await;
    registered(&conn, &["node-a", "node-b"]).await;

    // Node b drains: its matches end (drain of 2 s), their results are saved in PostgreSQL,
    // and node a reads them.
    let (mut b, _) = nodes.remove("node-b").unwrap();
    sigterm(&b);
    let status = tokio::time::timeout(Duration::from_secs(20), b.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let admin_a = AdminClient::new(&a_url, "dev-admin-key");
    for id in &matches_on["node-b"] {
        let result = admin_get(&format!("{a_url}/admin/results/{id}")).await;
        assert_eq!(result["match_id"], id.as_str(), "{result}");
        assert_eq!(result["end_reason"], "shutdown", "{result}");
    }

    // Node a's matches were never disturbed.
    stop.cancel();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for (node, handle) in bots {
        let report = handle.await.unwrap();
        *seen.entry(node.clone()).or_default() += 1;
        eprintln!(
            "{node}: {} snapshots, longest gap {:?}, closed {:?}, ended {:?}",
            report.snapshots, report.max_gap, report.closed, report.ended
        );
        match node.as_str() {
            "node-a" => {
                assert_eq!(report.closed, None, "a bot on node a lost its connection");
                assert!(report.errors.is_empty(), "{report:?}");
                assert_eq!(report.ended, None, "{report:?}");
                assert!(report.snapshots > 100, "{report:?}");
                assert!(
                    report.max_gap < Duration::from_secs(1),
                    "a snapshot gap on node a: {report:?}"
                );
            }
            "node-b" => {
                assert!(report.shutdown_notice, "{report:?}");
                assert_eq!(report.ended.as_deref(), Some("Shutdown"), "{report:?}");
            }
            _ => assert!(
                report.closed.is_some(),
                "the killed node's bots were cut off"
            ),
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    for id in &matches_on["node-a"] {
        let m = admin_a.get_match(id).await.unwrap();
        assert_eq!(m.state, "running", "{m:?}");
    }
}

/// Player tokens for `players` bots in a new arena match of 4 seats placed through `via` on
/// node `node` (`None`: the least loaded): the match's id and the tokens.
async fn arena_match(via: &str, node: Option<&str>, players: usize) -> (String, Vec<String>) {
    use tickroom_client::admin::AdminClient;
    let mut body = serde_json::json!({ "game": "arena", "max_players": 4 });
    if let Some(node) = node {
        body["node"] = node.into();
    }
    let m: serde_json::Value = reqwest::Client::new()
        .post(format!("{via}/admin/matches"))
        .bearer_auth("dev-admin-key")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, url) = (
        m["id"].as_str().expect("created").to_owned(),
        m["url"].as_str().unwrap().to_owned(),
    );
    let admin = AdminClient::new(&url, "dev-admin-key");
    let mut tokens = Vec::new();
    for p in 0..players {
        let minted = admin
            .mint(&id, &format!("bot-{p}"), tickroom_shared::Role::Player)
            .await
            .unwrap();
        tokens.push(minted.token);
    }
    (id, tokens)
}

/// A swarm of walking bots (10 inputs a second each) with `tokens`, entering through `entry`,
/// for `secs` after a half-second ramp-up: they follow `moved`, rejoin lost connections
/// through `entry`, and wait for their last inputs' acknowledgement.
async fn swarm(entry: &str, tokens: Vec<String>, secs: f64) -> tickroom_bots::report::Report {
    use tickroom_bots::swarm::{self, ArenaGame, Behaviour, Seat, SwarmConfig, Tokens};
    let cfg = SwarmConfig {
        server: entry.to_owned(),
        rooms: 0,
        players: 3,
        spectators: 0,
        game: ArenaGame::Arena,
        tokens: Tokens::Given(tokens.clone()),
        input_rate: Some(10),
        behaviour: Behaviour::RandomWalk,
        ramp_up: Duration::from_millis(500),
        duration: Duration::from_secs_f64(secs),
        seed: 7,
        reconnect_every: None,
    };
    let seats = tokens.into_iter().map(Seat::Token).collect();
    swarm::run(&cfg, seats, Default::default()).await
}

/// Checks that the `joined` bots of `report` followed their matches through `moves` moves in
/// all — no connection lost, no input left unacknowledged, no error or refusal — and returns
/// its totals.
fn followed(
    what: &str,
    report: &tickroom_bots::report::Report,
    joined: u64,
    moves: u64,
) -> tickroom_bots::report::Totals {
    let t = report.totals;
    eprintln!(
        "{what}: {} bots, {} moves, {} inputs, longest snapshot gap {:.0} ms, errors {:?}",
        report.bots.joined, t.moves, t.inputs_sent, t.longest_snapshot_gap_ms, report.errors
    );
    assert_eq!(report.bots.joined, joined, "{report:?}");
    assert_eq!(
        t.moves, moves,
        "each bot followed its match at each move: {t:?}"
    );
    assert_eq!((t.rejoins, t.inputs_unacked), (0, 0), "{t:?}");
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    t
}

/// Where each live match of the cluster is, from `via`'s `/admin/directory`: id → node URL.
async fn where_matches_are(via: &str) -> std::collections::BTreeMap<String, String> {
    let dir = admin_get(&format!("{via}/admin/directory")).await;
    dir["matches"]
        .as_array()
        .unwrap_or_else(|| panic!("{dir}"))
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["url"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Ends match `id` at `url` and replays its recording there (checksums checked): the report.
async fn end_and_replay(url: &str, id: &str) -> tickroom_engine::replay::ReplayReport {
    let http = reqwest::Client::new();
    let ended = http
        .delete(format!("{url}/admin/matches/{id}"))
        .bearer_auth("dev-admin-key")
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    let deadline = Instant::now() + Duration::from_secs(20);
    let log = loop {
        let r = http
            .get(format!("{url}/admin/results/{id}/recording"))
            .bearer_auth("dev-admin-key")
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            break r.bytes().await.unwrap().to_vec();
        }
        assert!(
            Instant::now() < deadline,
            "the recording of {id} was never saved"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tickroom_engine::replay::replay(std::sync::Arc::new(tickroom_games::arena::Arena), &log)
        .expect("the recording of the moved match replays, checksums equal")
}

/// Issue #27's migration: a node that drains moves its running matches to another node. Its
/// bots are sent there (`moved`), connect with the same tokens and go on; every input they
/// sent is applied once (the recording, ended on the other node, replays both halves as one
/// match, and its inputs are exactly those sent); nothing is refused, nothing ends.
#[tokio::test]
async fn a_draining_node_moves_its_matches_and_no_input_is_lost() {
    let redis = redis_server::RedisServer::start().await.unwrap();
    let (_a, a_url) = start_node(&redis, "takes", &[]);
    let (mut b, b_url) = start_node(&redis, "drains", &[]);
    let conn = connect(&redis).await;
    registered(&conn, &["takes", "drains"]).await;
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (id, t) = arena_match(&a_url, Some("drains"), 3).await;
        ids.push(id);
        tokens.extend(t);
    }
    let bots = tokio::spawn({
        let b_url = b_url.clone();
        async move { swarm(&b_url, tokens, 5.0).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigterm(&b);
    let status = tokio::time::timeout(Duration::from_secs(20), b.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let report = bots.await.unwrap();
    let t = followed("drain", &report, 6, 6);
    assert!(t.longest_snapshot_gap_ms < 5000.0, "{t:?}");
    let here = where_matches_are(&a_url).await;
    let mut applied = 0;
    for id in &ids {
        assert_eq!(here.get(id), Some(&a_url), "{id} runs on a: {here:?}");
        let replayed = end_and_replay(&a_url, id).await;
        assert!(replayed.ticks > 100, "{replayed:?}");
        applied += replayed.inputs_by_player.values().sum::<u64>();
    }
    assert_eq!(applied, t.inputs_sent, "every input sent was applied once");
}

/// Issue #27's restore: a node killed with SIGKILL leaves its matches' checkpoints in Redis;
/// the node running the queue restores them within seconds, the players' connections come
/// back (through the entry node, which sends them on with `match_elsewhere`), and the match
/// goes on — losing only the inputs after its last checkpoint.
#[tokio::test]
async fn a_killed_nodes_match_comes_back_on_another_node() {
    let redis = redis_server::RedisServer::start().await.unwrap();
    let fast = [("TICKROOM_CHECKPOINT_MS", "200")];
    let (_a, a_url) = start_node(&redis, "survives", &fast);
    let (mut b, _) = start_node(&redis, "dies", &fast);
    let conn = connect(&redis).await;
    registered(&conn, &["survives", "dies"]).await;
    let (id, tokens) = arena_match(&a_url, Some("dies"), 3).await;
    eventually("a knows where the match is", || {
        let (a_url, id) = (a_url.clone(), id.clone());
        async move { where_matches_are(&a_url).await.contains_key(&id) }
    })
    .await;
    // The bots enter through a: sent to b (match_elsewhere) at first, and back through a.
    let bots = tokio::spawn({
        let a_url = a_url.clone();
        async move { swarm(&a_url, tokens, 8.0).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    b.start_kill().unwrap();
    b.wait().await.unwrap();
    let killed = Instant::now();
    eventually("the match runs on a", || {
        let a_url = a_url.clone();
        let id = id.clone();
        async move {
            let m = admin_get(&format!("{a_url}/admin/matches/{id}")).await;
            m["state"] == "running"
        }
    })
    .await;
    let back = killed.elapsed();
    let report = bots.await.unwrap();
    let t = &report.totals;
    eprintln!(
        "kill: restored on a {back:?} after the kill; {} rejoins, longest snapshot gap {:.0} ms, {} inputs sent, errors {:?}",
        t.rejoins, t.longest_snapshot_gap_ms, t.inputs_sent, report.errors
    );
    // Within the node TTL (1 s) and two heartbeats (0.2 s), and the replay.
    assert!(back < Duration::from_secs(5), "{back:?}");
    assert_eq!(report.bots.joined, 3, "{report:?}");
    assert_eq!(t.rejoins, 3, "{t:?}");
    assert_eq!(t.inputs_unacked, 0, "{t:?}");
    let replayed = end_and_replay(&a_url, &id).await;
    let applied: u64 = replayed.inputs_by_player.values().sum();
    // What is lost: the inputs b applied after its last checkpoint (every 200 ms), at most a
    // second of the bots' inputs here.
    let lost = t.inputs_sent - applied;
    eprintln!("kill: {lost} of {} inputs lost", t.inputs_sent);
    assert!(lost <= 30, "{lost} inputs lost");
}

/// Issue #27's rolling restart: three nodes restarted one after the other (SIGTERM, exit,
/// start again at the same address) under a bot load lose no match and no input: every
/// match is running at the end, each bot followed its match from node to node, and the
/// recordings replay with every input sent.
#[tokio::test]
async fn a_rolling_restart_of_three_nodes_loses_no_match() {
    let redis = redis_server::RedisServer::start().await.unwrap();
    let ids = ["roll-a", "roll-b", "roll-c"];
    let mut nodes = Vec::new();
    for id in ids {
        let port = free_port();
        nodes.push((id, port, start_node_at(&redis, id, port, &[]).0));
    }
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let entry = url(nodes[0].1);
    let conn = connect(&redis).await;
    registered(&conn, &ids).await;
    let mut tokens = Vec::new();
    let mut matches = Vec::new();
    for _ in 0..6 {
        let (id, t) = arena_match(&entry, None, 3).await;
        matches.push(id);
        tokens.extend(t);
        // A heartbeat apart: placement sees each node's load.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let placed = where_matches_are(&entry).await;
    let mut by_node: Vec<&String> = placed.values().collect();
    by_node.sort();
    by_node.dedup();
    assert_eq!(by_node.len(), 3, "placed on every node: {placed:?}");
    let bots = tokio::spawn({
        let entry = entry.clone();
        async move { swarm(&entry, tokens, 40.0).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Each restart moves every match of the node: three bots each.
    let mut moves = 0;
    for (id, port, child) in &mut nodes {
        let on_it = where_matches_are(&entry)
            .await
            .into_values()
            .filter(|u| *u == url(*port))
            .count();
        moves += 3 * on_it as u64;
        sigterm(child);
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{id}: {status}");
        *child = start_node_at(&redis, id, *port, &[]).0;
        registered(&conn, &[*id]).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // 40 s of load outlast the three restarts (about 15 s; more on a loaded machine).
    assert!(!bots.is_finished(), "the load outlasts the restarts");
    let report = bots.await.unwrap();
    let t = followed("rolling restart", &report, 18, moves);
    let here = where_matches_are(&entry).await;
    let mut applied = 0;
    for id in &matches {
        let at = here
            .get(id)
            .unwrap_or_else(|| panic!("{id} was lost: {here:?}"));
        applied += end_and_replay(at, id)
            .await
            .inputs_by_player
            .values()
            .sum::<u64>();
    }
    assert_eq!(applied, t.inputs_sent, "every input sent was applied once");
}

/// A node killed and started again at once under the same id (a process manager restarting
/// it) is another process: the matches of the one killed are restored all the same, on
/// either node, from their checkpoints.
#[tokio::test]
async fn a_node_restarted_under_its_id_after_a_kill_gets_its_matches_restored() {
    let redis = redis_server::RedisServer::start().await.unwrap();
    let fast = [("TICKROOM_CHECKPOINT_MS", "200")];
    let (_a, a_url) = start_node(&redis, "stays", &fast);
    let port = free_port();
    let (mut b, _) = start_node_at(&redis, "restarts", port, &fast);
    let conn = connect(&redis).await;
    registered(&conn, &["stays", "restarts"]).await;
    let (id, tokens) = arena_match(&a_url, Some("restarts"), 1).await;
    let player = tokio::spawn({
        let b_url = format!("http://127.0.0.1:{port}");
        async move { swarm(&b_url, tokens, 6.0).await }
    });
    // Its entry's start time, in seconds, tells the two processes apart.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    b.start_kill().unwrap();
    b.wait().await.unwrap();
    let (_b, _) = start_node_at(&redis, "restarts", port, &fast);
    // The player rejoined it (at the new process, or sent on to a) and played on.
    let report = player.await.unwrap();
    assert_eq!(report.totals.rejoins, 1, "{:?}", report.totals);
    assert_eq!(report.totals.inputs_unacked, 0, "{:?}", report.totals);
    assert_eq!(
        report.errors.total(),
        1,
        "the lost connection: {:?}",
        report.errors
    );
    // By now every node has beaten since the restart: the directory is current.
    assert!(
        where_matches_are(&a_url).await.contains_key(&id),
        "the match runs"
    );
}
