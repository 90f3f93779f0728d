//! Nodes as real processes on a real `redis-server` started on a free port: a node killed with
//! SIGKILL leaves the registry by itself within its time-to-live; a node that drains after
//! SIGTERM takes no new match, the others do, and its results are saved.

use std::time::{Duration, Instant};

use tokio::process::Command;

// The same helper the workspace's e2e tests use (tests/src/redis.rs), without depending on
// that crate.
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
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
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
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for id in ["stays", "drains"] {
        eventually("both nodes registered", || {
            let mut c = conn.clone();
            async move { entry(&mut c, id).await.is_some() }
        })
        .await;
    }
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
    let pid = b.id().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
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
        .unwrap()
        .expect("the drained match's result");
    assert_eq!(saved.players, ["stayer"]);
    let _ = std::fs::remove_file(&results);
}
