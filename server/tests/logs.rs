//! The binary's logs: `--log-format json` writes one JSON object a line (for collectors), a
//! bad `--log-level` is refused before anything starts, and disconnects show at info.

use std::process::Stdio;
use std::time::Duration;

use tickroom_client::admin::AdminClient;
use tickroom_client::{Client, Incoming};
use tickroom_shared::{AuthPayload, Role, event};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The server binary on `port` with JSON logs at info, and its log lines.
fn start_json_logging(port: u16) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickroom-server"))
        .args(["--log-format", "json", "--log-level", "info"])
        .env("TICKROOM_ADDR", format!("127.0.0.1:{port}"))
        .env("TICKROOM_RESULTS_DB", ":memory:")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start tickroom-server");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    let (_child, mut lines) = start_json_logging(free_port());
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the server logs at start-up")
            .expect("read")
            .expect("a line");
        let object: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            object["level"].is_string() && object["fields"].is_object(),
            "{line}"
        );
        assert!(!line.contains('\u{1b}'), "no colour codes: {line}");
        seen.push(object);
    }
    assert!(
        seen.iter()
            .any(|o| o["fields"]["message"] == "tickroom listening"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_bad_log_level_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickroom-server"))
        .args(["--log-level", "loud=please"])
        .env("TICKROOM_ADDR", format!("127.0.0.1:{}", free_port()))
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run tickroom-server");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-level"));
}

/// A player's connection closing is logged at info with the match, the player, a stable
/// reason and what became of the seat.
#[tokio::test]
async fn disconnects_are_logged_at_info_with_their_reason() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (_child, mut lines) = start_json_logging(port);
    let mut next = async || -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("a log line in time")
            .expect("read")
            .expect("a line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    while next().await["fields"]["message"] != "tickroom listening" {}

    let admin = AdminClient::new(&url, "dev-admin-key");
    let m = admin.create_match("arena", None, Some(2)).await.unwrap().id;
    let token = admin.mint(&m, "alice", Role::Player).await.unwrap().token;
    let auth = AuthPayload {
        token,
        match_id: None,
        protocol: None,
    };
    let mut client = Client::connect(&url, &auth, Duration::from_secs(20))
        .await
        .unwrap();
    // Joined and playing: the first snapshot has arrived.
    while !matches!(client.recv().await, Some(Incoming::Event(e)) if e.name == event::SNAPSHOT) {}
    client.close().await;
    let line = loop {
        let line = next().await;
        if line["fields"]["message"] == "disconnected" {
            break line;
        }
    };
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["fields"]["match_id"], m.as_str(), "{line}");
    assert_eq!(line["fields"]["player"], "alice", "{line}");
    assert_eq!(line["fields"]["reason"], "client_disconnect", "{line}");
    assert_eq!(line["fields"]["seat"], "released", "{line}");
}
