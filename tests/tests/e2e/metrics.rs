//! `/metrics`, rendered by `prometheus-client`: connections by their transport, matches
//! created and ended by game and reason, build information and the process's own figures,
//! with label sets that stay bounded however many matches and players come and go.

use std::time::Duration;

use base64::Engine as _;
use tickroom_shared::{AuthPayload, PROTOCOL_VERSION, Role, event};
use tickroom_tests::{TestServer, next_named};

/// Opens an Engine.IO session over HTTP long-polling and sends the Socket.IO CONNECT with
/// `token`, as a MessagePack packet (base64 in a polling payload, prefixed `b`). The session
/// stays connected until its ping timeout.
async fn connect_polling(url: &str, token: &str) {
    let http = reqwest::Client::new();
    let session = tickroom_tests::open_polling_session(&http, url).await;
    #[derive(serde::Serialize)]
    struct Connect<'a> {
        r#type: u8,
        nsp: &'a str,
        data: AuthPayload,
    }
    let packet = rmp_serde::to_vec_named(&Connect {
        r#type: 0,
        nsp: "/",
        data: AuthPayload {
            token: token.into(),
            match_id: None,
            protocol: Some(PROTOCOL_VERSION),
        },
    })
    .unwrap();
    let body = format!(
        "b{}",
        base64::engine::general_purpose::STANDARD.encode(packet)
    );
    let posted = http.post(&session).body(body).send().await.unwrap();
    assert_eq!(posted.status(), 200, "CONNECT posted");
}

/// Polls `/metrics` until the series `name{labels}` reads `want`.
async fn wait_for_series(server: &TestServer, name: &str, labels: &str, want: u64) {
    for _ in 0..200 {
        let series = server.metric_series(name).await;
        if series.iter().any(|(l, v)| l == labels && *v == want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let series = server.metric_series(name).await;
    panic!("{name}{labels} never read {want}: {series:?}");
}

#[tokio::test]
async fn metrics_count_connections_by_transport_and_matches_by_game_and_reason() {
    let server = TestServer::start().await;
    let m = server.arena(4).await;
    let other = server.arena(4).await;
    let mut ws = server.join(&m, "ws", Role::Player).await;
    next_named(&mut ws, event::SNAPSHOT).await.unwrap();
    let token = server.token(&m, "lp", Role::Player).await;
    connect_polling(&server.url, &token).await;
    wait_for_series(
        &server,
        "tickroom_connections",
        "{transport=\"polling\"}",
        1,
    )
    .await;
    wait_for_series(
        &server,
        "tickroom_connections",
        "{transport=\"websocket\"}",
        1,
    )
    .await;
    assert_eq!(
        server.metric_series("tickroom_matches_created_total").await,
        [("{game=\"arena\"}".to_owned(), 2)]
    );

    server.admin.end_match(&other).await.unwrap();
    wait_for_series(
        &server,
        "tickroom_matches_ended_total",
        "{game=\"arena\",reason=\"admin\"}",
        1,
    )
    .await;
    assert_eq!(
        server
            .metric_series("tickroom_matches_ended_total")
            .await
            .len(),
        1,
        "one series per (game, reason) seen"
    );

    let response = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let build = format!(
        "tickroom_build_info{{version=\"{}\",protocol=\"{PROTOCOL_VERSION}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.lines().any(|l| l == build), "{text}");
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_threads",
        "process_start_time_seconds",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing"
        );
    }
    assert!(server.metric("process_open_fds").await >= 3);
}
