//! The real `tickroom-server` binary for the tests that run it as a process.
// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long a test waits for the server, or for what it expects from it.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `tickroom-server` process (killed when dropped) and its URL.
pub struct Server {
    pub child: Child,
    pub url: String,
}

/// Starts `tickroom-server` on a free loopback port with `env` (its logs at `warn`, its output
/// discarded) and waits until `/healthz` answers.
pub async fn start(env: &[(&str, &str)]) -> Server {
    // Bind, read the port the kernel chose, release it for the server to take.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_tickroom-server"))
        .env("TICKROOM_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start tickroom-server");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !reqwest::get(format!("{url}/healthz"))
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server { child, url }
}
