//! The official JS client (`socket.io-client` + `socket.io-msgpack-parser`, pinned by
//! `tests/js/package-lock.json`) joins, sends inputs and sees them acknowledged: over
//! WebSocket, and restricted to HTTP long-polling.

use tickroom_shared::Role;
use tickroom_tests::{TestServer, claims, run_js_client, sign};

async fn js_plays(transport: &str) {
    let server = TestServer::start().await;
    let m = server.arena(4).await;
    let token = server
        .token(&m, &format!("js-{transport}"), Role::Player)
        .await;
    let out = run_js_client(&server.url, &token, transport, None)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let line: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(line["ok"], true);
    assert_eq!(line["transport"], transport);
    assert_eq!(line["ack"], 5);
    assert!(line["toX"].as_f64().unwrap() > line["fromX"].as_f64().unwrap());
    assert!(
        line["deltas"].as_u64().unwrap() > 0,
        "the client rebuilt state from deltas"
    );
}

#[tokio::test]
async fn js_client_over_websocket() {
    js_plays("websocket").await;
}

#[tokio::test]
async fn js_client_over_long_polling() {
    js_plays("polling").await;
}

#[tokio::test]
async fn js_client_sees_refusal_codes() {
    let server = TestServer::start().await;
    let m = server.arena(1).await;
    let mut expired = claims(&m, "alice", Role::Player);
    expired.exp = 1;
    expired.iat = 0;
    for transport in ["websocket", "polling"] {
        let out = run_js_client(
            &server.url,
            &sign(&expired),
            transport,
            Some("token_expired"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(out.contains("\"refused\":\"token_expired\""), "{out}");
    }
}

/// `@tickroom/client` in Node: when the network drops, socket.io-client reconnects with the
/// same token and the player is back in its own seat (same row), its inputs acknowledged
/// again.
#[tokio::test]
async fn the_typescript_client_reconnects_to_its_seat() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    tickroom_tests::ensure_client_package_built().unwrap_or_else(|e| panic!("{e:#}"));
    let server = TestServer::start().await;
    let proxy = tickroom_tests::CutProxy::start(server.addr).await;
    let m = server.arena(4).await;
    let token = server.token(&m, "ts-client", Role::Player).await;
    let mut node = tokio::process::Command::new("node")
        .arg("tickroom-client.mjs")
        .arg(&proxy.url)
        .arg(&token)
        .current_dir(tickroom_tests::js_dir())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let next = async |lines: &mut tokio::io::Lines<_>| {
        tokio::time::timeout(tickroom_tests::WAIT, lines.next_line())
            .await
            .expect("the Node client answers")
            .expect("read")
            .expect("a line")
    };
    assert_eq!(next(&mut lines).await, "READY");
    proxy.cut_all();
    let line: String = next(&mut lines).await;
    let seen: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(seen["welcomes"], 2, "{seen}");
    assert_eq!(seen["player"], "ts-client");
    assert_eq!(
        seen["keyAfter"], seen["keyBefore"],
        "the same entity: the seat was held"
    );
    assert!(seen["ackAfter"].as_u64() > seen["ackBefore"].as_u64());
    assert_eq!(seen["disconnects"][0]["reconnecting"], true, "{seen}");
    assert!(node.wait().await.unwrap().success());
}

/// The README's JavaScript example runs as written (with the official packages, against a
/// server with the development keys): it finds a seat through matchmaking, joins, and exits
/// once its input was applied.
#[tokio::test]
async fn the_readme_javascript_example_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme
        .find("```js\n// join.mjs")
        .expect("the README's example")
        + "```js\n".len();
    let example = &readme[start..];
    let example = &example[..example.find("```").expect("the end of the example")];
    let server = TestServer::start().await;
    assert!(example.contains("http://127.0.0.1:7350"));
    let script = example.replace("http://127.0.0.1:7350", &server.url);
    tickroom_tests::ensure_js_deps().unwrap_or_else(|e| panic!("{e:#}"));
    // Beside tests/js's node_modules, as it would be beside the reader's.
    let path = tickroom_tests::js_dir().join(".readme-join.mjs");
    std::fs::write(&path, script).unwrap();
    let out = tokio::time::timeout(
        tickroom_tests::WAIT,
        tokio::process::Command::new("node")
            .arg(&path)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the example exits by itself")
    .expect("node");
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("I am anon-"),
        "an anonymous player seated by matchmaking: {stdout}"
    );
    assert!(stdout.trim_end().ends_with("ack 1"), "{stdout}");
}
