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
