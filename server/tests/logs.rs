//! The binary's logs: `--log-format json` writes one JSON object a line (for collectors), and a
//! bad `--log-level` is refused before anything starts.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickroom-server"))
        .args(["--log-format", "json", "--log-level", "info"])
        .env("TICKROOM_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("TICKROOM_RESULTS_DB", ":memory:")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start tickroom-server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
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
