//! Abuse: floods, oversize payloads, handshake storms and foreign origins are refused with a
//! clear code and never reach the other players.

use std::time::Duration;

use tickroom_client::{ConnectError, Incoming};
use tickroom_games::arena::ArenaState;
use tickroom_shared::{Role, event};
use tickroom_tests::{
    TestServer, WAIT, claims, connect_and_stop_reading, next_named, next_snapshot, sign,
    test_config, wait_closed, walk,
};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn an_input_flood_is_cut_off_without_touching_the_other_players() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut alice = server.join(&m, "alice", Role::Player).await;
    let mut mallory = server.join(&m, "mallory", Role::Player).await;
    let first = next_snapshot::<ArenaState>(&mut alice).await.unwrap().tick;

    // 10× the allowed 60 inputs/s, for up to 3 s (bounded), until the server hangs up; alice
    // plays on meanwhile at 10 inputs/s, well within her own limit.
    let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / 600));
    let mut sent = 0u32;
    let mut alice_seq = 0u32;
    // mallory reads what the server says between inputs, as a real client does (one that
    // never reads can lose it: a close with unread data resets the connection).
    let mut errors = Vec::new();
    let mut closed = false;
    'flood: for seq in 1..=1800u32 {
        loop {
            tokio::select! {
                _ = pace.tick() => break,
                m = mallory.recv() => match m {
                    Some(Incoming::Event(e)) => errors.extend(e.error().map(|err| err.code)),
                    Some(Incoming::Closed(_)) | None => {
                        closed = true;
                        break 'flood;
                    }
                },
            }
        }
        if seq % 60 == 0 {
            alice_seq += 1;
            alice
                .emit(event::INPUT, &walk(alice_seq, [0.0, 1.0]))
                .await
                .unwrap();
        }
        let msg = walk(seq, [1.0, 0.0]);
        if mallory.emit(event::INPUT, &msg).await.is_err() {
            break;
        }
        sent = seq;
    }
    if !closed {
        errors.extend(wait_closed(&mut mallory).await);
    }
    assert!(errors.contains(&"rate_limited".to_owned()), "{errors:?}");
    assert_eq!(
        errors.last().map(String::as_str),
        Some("too_many_dropped"),
        "{errors:?}"
    );
    // At most one rate_limited notice per second of flooding.
    let notices = errors.iter().filter(|e| *e == "rate_limited").count();
    assert!(notices <= 4, "{notices} notices for {sent} inputs");
    assert!(
        alice_seq >= 3,
        "alice sent {alice_seq} inputs during the flood"
    );

    // alice: every one of her inputs was applied, she was told of nothing wrong, and every
    // tick reached her (or the server counted why not).
    let mut last = first;
    let mut gaps = 0;
    let mut alice_errors = Vec::new();
    let mut acked = 0;
    let mut ticks_seen = 0;
    while acked < alice_seq || ticks_seen < 30 {
        let e = alice.next_event(WAIT).await.unwrap();
        if let Some(err) = e.error() {
            alice_errors.push(err.code);
            continue;
        }
        let Some(s) = alice.snapshot::<ArenaState>(&e).unwrap() else {
            continue;
        };
        gaps += s.tick - last - 1;
        last = s.tick;
        ticks_seen += 1;
        acked = s.acks.get("alice").copied().unwrap_or(0);
    }
    assert!(alice_errors.is_empty(), "alice was told {alice_errors:?}");
    assert_eq!(acked, alice_seq);
    assert!(
        gaps == 0 || server.ticks_lost().await > 0,
        "{gaps} ticks missing"
    );
    assert!(server.metric("tickroom_inputs_rate_limited_total").await > 500);
    assert_eq!(server.metric("tickroom_abuse_disconnects_total").await, 1);
}

#[tokio::test]
async fn unknown_event_floods_get_bounded_answers() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut c = server.join(&m, "chatty", Role::Player).await;
    for _ in 0..200 {
        c.emit("nope", &serde_json::json!({})).await.unwrap();
    }
    // The per-connection event budget (10/s, bursts of 20) bounds the error replies.
    let mut errors = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, c.next_event(WAIT)).await {
        errors += usize::from(e.name == event::ERROR);
    }
    assert!(
        (20..=40).contains(&errors),
        "{errors} error events for 200 unknown events"
    );
}

#[tokio::test]
async fn oversize_payloads_are_refused_on_both_transports() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let mut alice = server.join(&m, "alice", Role::Player).await;
    let mut big = server.join(&m, "big", Role::Player).await;
    // 1 MiB in one WebSocket message: over the 16 KiB limit, the connection is closed.
    big.send_frame(Message::Binary(vec![0x90; 1 << 20].into()))
        .await
        .unwrap();
    wait_closed(&mut big).await;

    // 1 MiB in one long-polling POST: refused with 413.
    let http = reqwest::Client::new();
    let session = tickroom_tests::open_polling_session(&http, &server.url).await;
    let post = http
        .post(session)
        .body(vec![b'4'; 1 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 413);

    // alice kept playing throughout. To the server big's connection failed like a network
    // drop, so its seat is held for the grace period like any dropped player's.
    next_snapshot::<ArenaState>(&mut alice).await.unwrap();
    let view = server.admin.get_match(&m).await.unwrap();
    assert_eq!(view.disconnected, ["big"]);
}

#[tokio::test]
async fn handshake_storms_from_one_address_are_refused() {
    let mut config = tickroom_tests::production_config();
    config.limits.handshake_rate = 1;
    config.limits.handshake_burst = 3;
    let server = TestServer::start_with(config).await;
    let m = server.arena(2).await;
    let forged = sign(&claims(&m, "x", Role::Player)).replace('.', ".x");
    let mut codes = Vec::new();
    for _ in 0..5 {
        match server.connect(&forged).await {
            Err(ConnectError::Refused { code }) => codes.push(code),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        codes,
        [
            "token_invalid",
            "token_invalid",
            "token_invalid",
            "handshake_rate_limited",
            "handshake_rate_limited"
        ]
    );
    assert_eq!(server.metric("tickroom_handshakes_refused_total").await, 5);
}

#[tokio::test]
async fn only_allowed_origins_may_connect() {
    let mut config = test_config();
    config.net.allowed_origins = vec!["https://game.example".into()];
    let server = TestServer::start_with(config).await;
    let http = reqwest::Client::new();
    let open = |origin: Option<&'static str>| {
        let mut req = http.get(format!("{}/socket.io/?EIO=4&transport=polling", server.url));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    assert_eq!(
        open(Some("https://evil.example")).await.unwrap().status(),
        403
    );
    assert_eq!(
        open(Some("https://game.example")).await.unwrap().status(),
        200
    );
    assert_eq!(
        open(None).await.unwrap().status(),
        200,
        "native clients send no Origin"
    );
    // Native clients are unaffected.
    let m = server.arena(2).await;
    let mut c = server.join(&m, "bot", Role::Player).await;
    next_named(&mut c, event::SNAPSHOT).await.unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_cannot_stall_shutdown() {
    let mut config = test_config();
    config.net.write_timeout = Duration::from_secs(1);
    config.matches.seat_grace = Duration::ZERO;
    let server = TestServer::start_with(config).await;
    let m = server.arena(4).await;
    // A reading player keeps the room busy.
    let mut alice = server.join(&m, "alice", Role::Player).await;
    let reader = tokio::spawn(async move { while alice.recv().await.is_some() {} });

    // The staller: a tiny receive buffer, a real handshake, then it never reads again.
    let token = server.token(&m, "staller", Role::Player).await;
    let ws = connect_and_stop_reading(&server, &token).await;
    assert_eq!(
        server.admin.get_match(&m).await.unwrap().players,
        ["alice", "staller"]
    );

    // Snapshots pile up until the kernel gives up on the unread data and the server drops
    // the connection; with no seat grace its seat goes too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let view = server.admin.get_match(&m).await.unwrap();
        if view.players == ["alice"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the staller was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(server.metric("tickroom_connections").await, 1);

    // A second staller, still connected at shutdown, cannot hold the server up.
    let token = server.token(&m, "staller2", Role::Player).await;
    let ws2 = connect_and_stop_reading(&server, &token).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.shutdown.cancel();
    // Shutdown timeout is 3 s in tests; allow a margin.
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("run() returned despite a client that never reads")
        .unwrap()
        .unwrap();
    reader.abort();
    drop((ws, ws2));
}

#[tokio::test]
async fn tls_serves_the_same_protocol() {
    use futures_util::{SinkExt, StreamExt};
    use std::sync::Arc;
    use tickroom_shared::wire::{decode_packet, encode_packet, kind};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, pki_types::ServerName};

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("tickroom-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut config = test_config();
    config.net.tls = Some(tickroom_server::config::TlsFiles {
        cert: cert_path,
        key: key_path,
    });
    let server = TestServer::start_with(config).await;

    // Plain HTTP to a TLS port gets nowhere.
    let plain = reqwest::Client::new()
        .get(format!("{}/healthz", server.url))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    // A Socket.IO handshake over TLS (WSS) that trusts only this certificate.
    // The admin API is behind TLS too; the token is signed with the shared secret instead.
    let m = "tls-match";
    let mut roots = RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let url = format!(
        "wss://localhost:{}/socket.io/?EIO=4&transport=websocket",
        server.addr.port()
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with("0{"));
    // No such match: the refusal comes back over TLS with its code.
    let token = sign(&claims(m, "alice", Role::Player));
    let auth = rmp_serde::to_vec_named(&serde_json::json!({ "token": token })).unwrap();
    ws.send(Message::Binary(
        encode_packet(kind::CONNECT, "/", Some(&auth)).into(),
    ))
    .await
    .unwrap();
    let reply = loop {
        if let Message::Binary(b) = ws.next().await.unwrap().unwrap() {
            break decode_packet(&b).unwrap();
        }
    };
    assert_eq!(reply.kind, kind::CONNECT_ERROR);
    let data: serde_json::Value = rmp_serde::from_slice(&reply.data.unwrap()).unwrap();
    assert_eq!(data["message"], "match_not_found");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = test_config();
    config.net.header_read_timeout = Duration::from_millis(500);
    let server = TestServer::start_with(config).await;
    // A slowloris: the start of a request, then silence.
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(WAIT, slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server kept a half-sent request open");
    // Complete requests are served as before.
    let ok = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(ok.text().await.unwrap(), "ok");
}
