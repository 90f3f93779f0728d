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
    let port = free_port();
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
    let shared = [
        ("TICKROOM_RESULTS_DB", pg_url.as_str()),
        ("TICKROOM_DRAIN_SECS", "2"),
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
