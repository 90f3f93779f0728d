//! A node killed with SIGKILL leaves the registry by itself, within its time-to-live: the real
//! binary, a real `redis-server` on a free port.

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
    let port = free_port();
    let mut node = Command::new(env!("CARGO_BIN_EXE_tickroom-server"))
        .env("TICKROOM_ADDR", format!("127.0.0.1:{port}"))
        .env("TICKROOM_RESULTS_DB", ":memory:")
        .env("TICKROOM_REDIS_URL", redis.url())
        .env("TICKROOM_NODE_ID", "doomed")
        .env("TICKROOM_NODE_HEARTBEAT_MS", "200")
        .env("TICKROOM_NODE_TTL_MS", "1000")
        .kill_on_drop(true)
        .spawn()
        .expect("start tickroom-server");

    let deadline = Instant::now() + Duration::from_secs(20);
    let registered = loop {
        if let Some(e) = entry(&mut conn, "doomed").await {
            break e;
        }
        assert!(Instant::now() < deadline, "the node never registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let registered: serde_json::Value = serde_json::from_str(&registered).unwrap();
    assert_eq!(registered["url"], format!("http://127.0.0.1:{port}"));

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
