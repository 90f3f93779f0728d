//! The real `tickroom-server` binary, stopped with SIGTERM in the middle of a match: clients
//! are told, the match ends at the drain deadline, its result and recording are saved, the
//! process exits 0 in time, and both are readable after a restart. A second signal exits at
//! once.

use std::time::Duration;

use tickroom_client::Client;
use tickroom_client::admin::AdminClient;
use tickroom_shared::{AuthPayload, EndReason, MatchEnd, Role, Shutdown, event};
use tokio::process::Child;

mod common;

use common::{Server, WAIT};

async fn start(db: &std::path::Path, drain_secs: u64) -> Server {
    let (db, drain) = (db.to_string_lossy(), drain_secs.to_string());
    common::start(&[
        ("TICKROOM_RESULTS_DB", &db),
        ("TICKROOM_DRAIN_SECS", &drain),
        ("TICKROOM_SHUTDOWN_TIMEOUT_MS", "3000"),
    ])
    .await
}

/// GET an admin route of `server` as JSON.
async fn admin_get(server: &Server, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{}{path}", server.url))
        .bearer_auth("dev-admin-key")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .expect("kill");
    assert!(status.success());
}

async fn next_named(c: &mut Client, name: &str) -> tickroom_client::EventMsg {
    loop {
        let e = c.next_event(WAIT).await.expect("an event");
        if e.name == name {
            return e;
        }
    }
}

fn db_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("tickroom-{name}-{}.sqlite3", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
    p
}

#[tokio::test]
async fn sigterm_drains_saves_results_and_exits_cleanly() {
    let db = db_path("sigterm");
    let mut server = start(&db, 1).await;
    let admin = AdminClient::new(&server.url, "dev-admin-key");
    let m = admin.create_match("arena", None, Some(2)).await.unwrap().id;
    let idle = admin.create_match("arena", None, Some(2)).await.unwrap().id;
    let token = admin.mint(&m, "alice", Role::Player).await.unwrap().token;
    let auth = AuthPayload {
        token: token.clone(),
        match_id: None,
        protocol: Some(tickroom_shared::PROTOCOL_VERSION),
    };
    let mut alice = Client::connect(&server.url, &auth, WAIT).await.unwrap();
    next_named(&mut alice, event::SNAPSHOT).await;

    let stopping = tokio::time::Instant::now();
    signal(&server.child, "-TERM");
    let notice: Shutdown = next_named(&mut alice, event::SHUTDOWN)
        .await
        .decode()
        .unwrap();
    assert_eq!(notice.reason, "server_shutdown");
    assert_eq!(notice.deadline_ms, 1000);
    // During the drain the match goes on, and newcomers are turned away with a reason.
    next_named(&mut alice, event::SNAPSHOT).await;
    let late = Client::connect(&server.url, &auth, WAIT).await.unwrap_err();
    assert!(
        matches!(late, tickroom_client::ConnectError::Refused { ref code } if code == "server_busy"),
        "{late:?}"
    );
    // At the deadline the match is ended and the client told why.
    let end: MatchEnd = next_named(&mut alice, event::MATCH_END)
        .await
        .decode()
        .unwrap();
    assert_eq!(end.reason, EndReason::Shutdown);
    let status = tokio::time::timeout(WAIT, server.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
    // Drain (1 s) + close (at most 3 s) + slack.
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );

    // After a restart the results are there.
    let mut again = start(&db, 1).await;
    let body = admin_get(&again, &format!("/admin/results/{m}")).await;
    assert_eq!(body["match_id"], m);
    assert_eq!(body["end_reason"], "shutdown");
    assert_eq!(body["players"], serde_json::json!(["alice"]));
    assert!(body["ticks"].as_u64().unwrap() > 0);
    assert!(body["duration_ms"].as_u64().unwrap() > 0);
    let list = admin_get(&again, "/admin/results?limit=10").await;
    let ids: Vec<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["match_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&m.as_str()) && ids.contains(&idle.as_str()),
        "{ids:?}"
    );
    // So is the drained match's recording, whole (docs/REPLAY.md: a drain saves every log).
    let recording = reqwest::Client::new()
        .get(format!("{}/admin/results/{m}/recording", again.url))
        .bearer_auth("dev-admin-key")
        .send()
        .await
        .expect("request");
    assert_eq!(recording.status(), 200);
    assert_eq!(recording.headers()["x-tickroom-recording-complete"], "true");
    let log = recording.bytes().await.expect("the log");
    let report = tickroom_games::builtin().replay(&log).expect("replays");
    assert_eq!(report.end.as_deref(), Some("shutdown"));
    assert_eq!(report.joins, 1);
    signal(&again.child, "-TERM");
    assert!(
        tokio::time::timeout(WAIT, again.child.wait())
            .await
            .unwrap()
            .unwrap()
            .success()
    );
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let db = db_path("second-signal");
    let mut server = start(&db, 60).await;
    let admin = AdminClient::new(&server.url, "dev-admin-key");
    let m = admin.create_match("arena", None, Some(2)).await.unwrap().id;
    let token = admin.mint(&m, "alice", Role::Player).await.unwrap().token;
    let auth = AuthPayload {
        token,
        match_id: None,
        protocol: Some(tickroom_shared::PROTOCOL_VERSION),
    };
    let mut alice = Client::connect(&server.url, &auth, WAIT).await.unwrap();
    next_named(&mut alice, event::SNAPSHOT).await;
    signal(&server.child, "-TERM");
    next_named(&mut alice, event::SHUTDOWN).await;
    // A 60 s drain is under way; the second signal does not wait for it.
    signal(&server.child, "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(5), server.child.wait())
        .await
        .expect("exits at once")
        .unwrap();
    assert_eq!(status.code(), Some(130));
}
