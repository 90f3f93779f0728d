//! When the server ends a Socket.IO session it closes the connection too, even for a raw
//! client that ignores the end and keeps answering pings (docs/PROTOCOL.md §4, §6): after a
//! `match_end` or a `session_replaced` DISCONNECT, and after a refused handshake's
//! CONNECT_ERROR — on a session opened as a WebSocket, on one opened with long-polling and on
//! one upgraded from it. Before, such a client held its WebSocket (and a descriptor) until it
//! chose to leave, a refused one for the whole connect timeout, and a polling one as long as
//! it kept polling.

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tickroom_shared::wire::{decode_packet, encode_packet, kind};
use tickroom_shared::{PROTOCOL_VERSION, Role};
use tickroom_tests::{TestServer, WAIT, test_config};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket-only Engine.IO session to `server` that has sent its CONNECT with `token`.
async fn raw_connect(server: &TestServer, token: &str) -> Ws {
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with("0{"), "{open:?}");
    let auth = rmp_serde::to_vec_named(&serde_json::json!({
        "token": token,
        "protocol": PROTOCOL_VERSION,
    }))
    .unwrap();
    let connect = encode_packet(kind::CONNECT, "/", Some(&auth));
    ws.send(Message::binary(connect)).await.unwrap();
    ws
}

/// Reads up to the CONNECT reply (answering pings): the session is admitted.
async fn expect_admitted(ws: &mut Ws) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                ws.send(Message::text("3")).await.unwrap();
            }
            // WebSocket control frames (tungstenite answers pings itself).
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Binary(b))) => {
                let reply = decode_packet(&Bytes::from(b.to_vec())).unwrap();
                assert_eq!(reply.kind, kind::CONNECT, "{reply:?}");
                return;
            }
            other => panic!("expected the CONNECT reply, got {other:?}"),
        }
    }
}

/// Reads what the server sends, answering every ping as a live client does, and returns the
/// Socket.IO packet kinds seen, and whether the server closed the connection within `WAIT`.
async fn until_closed(ws: &mut Ws) -> (Vec<u8>, bool) {
    let mut kinds = Vec::new();
    let closed = tokio::time::timeout(WAIT, async {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Message::Text(t)) if t.as_str() == "2" => {
                    if ws.send(Message::text("3")).await.is_err() {
                        return;
                    }
                }
                Ok(Message::Binary(b)) => {
                    kinds.push(decode_packet(&Bytes::from(b.to_vec())).unwrap().kind);
                }
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok();
    (kinds, closed)
}

#[tokio::test]
async fn match_end_closes_the_transport() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let token = server.token(&m, "raw", Role::Player).await;
    let mut ws = raw_connect(&server, &token).await;
    expect_admitted(&mut ws).await;
    server.admin.end_match(&m).await.unwrap();
    let (kinds, closed) = until_closed(&mut ws).await;
    assert!(kinds.contains(&kind::DISCONNECT), "{kinds:?}");
    assert!(closed, "the server kept the transport open after match_end");
    assert!(server.metric("tickroom_transports_closed_total").await >= 1);
}

#[tokio::test]
async fn session_replaced_closes_the_transport() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let token = server.token(&m, "raw", Role::Player).await;
    let mut old = raw_connect(&server, &token).await;
    expect_admitted(&mut old).await;
    // The same player again: the new connection takes the seat.
    let _new = server.join(&m, "raw", Role::Player).await;
    let (kinds, closed) = until_closed(&mut old).await;
    assert!(kinds.contains(&kind::DISCONNECT), "{kinds:?}");
    assert!(closed, "the server kept the replaced transport open");
}

#[tokio::test]
async fn a_refused_handshake_closes_at_once() {
    let mut config = test_config();
    // Longer than the wait: only the server's own close can end the session in time.
    config.net.connect_timeout = WAIT * 3;
    let server = TestServer::start_with(config).await;
    let mut ws = raw_connect(&server, "not-a-token").await;
    let (kinds, closed) = until_closed(&mut ws).await;
    assert_eq!(kinds, [kind::CONNECT_ERROR]);
    assert!(closed, "the refused session stayed open");
}

/// A raw Engine.IO long-polling client, which answers pings and ignores the end of its
/// session (the official client closes its transport itself).
struct Polling {
    http: reqwest::Client,
    /// The session's polling URL, with its `sid`.
    url: String,
}

/// What one long-polling GET brought.
#[derive(Debug, Default)]
struct Polled {
    /// The Socket.IO packet kinds, in order.
    kinds: Vec<u8>,
    /// An Engine.IO close packet (`1`) came.
    closed: bool,
}

impl Polling {
    /// A session to `server` opened with long-polling, that has sent its CONNECT with `token`.
    async fn connect(server: &TestServer, token: &str) -> Self {
        let http = reqwest::Client::new();
        let url = tickroom_tests::open_polling_session(&http, &server.url).await;
        let auth = rmp_serde::to_vec_named(&serde_json::json!({
            "token": token,
            "protocol": PROTOCOL_VERSION,
        }))
        .unwrap();
        let polling = Self { http, url };
        polling
            .post(format!(
                "b{}",
                base64::engine::general_purpose::STANDARD.encode(encode_packet(
                    kind::CONNECT,
                    "/",
                    Some(&auth)
                ))
            ))
            .await;
        polling
    }

    /// The session's id.
    fn sid(&self) -> &str {
        self.url.rsplit("sid=").next().unwrap()
    }

    /// POSTs `body`; returns the status.
    async fn post(&self, body: String) -> u16 {
        let posted = self.http.post(&self.url).body(body).send().await.unwrap();
        posted.status().as_u16()
    }

    /// One long-polling GET, its pings answered. A refusal of the session (HTTP 400) counts
    /// as closed.
    async fn poll(&self) -> Polled {
        let got = self.http.get(&self.url).send().await.unwrap();
        let mut polled = Polled {
            closed: got.status() == 400,
            ..Polled::default()
        };
        let body = got.text().await.unwrap();
        if polled.closed {
            return polled;
        }
        for packet in body.split('\x1e') {
            match packet.as_bytes().first() {
                Some(b'1') => polled.closed = true,
                Some(b'2') => {
                    self.post("3".into()).await;
                }
                Some(b'b') => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(&packet[1..])
                        .unwrap();
                    polled
                        .kinds
                        .push(decode_packet(&Bytes::from(bytes)).unwrap().kind);
                }
                _ => {}
            }
        }
        polled
    }

    /// Polls up to the CONNECT reply: the session is admitted.
    async fn expect_admitted(&self) {
        tokio::time::timeout(WAIT, async {
            loop {
                let polled = self.poll().await;
                assert!(!polled.closed, "closed before the CONNECT reply");
                if let Some(&first) = polled.kinds.first() {
                    assert_eq!(first, kind::CONNECT, "{polled:?}");
                    return;
                }
            }
        })
        .await
        .expect("the CONNECT reply in time");
    }

    /// Polls as a live client does; returns the packet kinds seen and whether the server
    /// closed the session within `WAIT`.
    async fn until_closed(&self) -> (Vec<u8>, bool) {
        let mut kinds = Vec::new();
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                let polled = self.poll().await;
                kinds.extend(polled.kinds);
                if polled.closed {
                    return;
                }
            }
        })
        .await
        .is_ok();
        (kinds, closed)
    }
}

#[tokio::test]
async fn match_end_closes_a_long_polling_session() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let token = server.token(&m, "raw", Role::Player).await;
    let polling = Polling::connect(&server, &token).await;
    polling.expect_admitted().await;
    server.admin.end_match(&m).await.unwrap();
    let (kinds, closed) = polling.until_closed().await;
    assert!(kinds.contains(&kind::DISCONNECT), "{kinds:?}");
    assert!(
        closed,
        "the server kept the polling session open after match_end"
    );
    assert_eq!(server.metric("tickroom_transports_closed_total").await, 1);
    // What the session sends now is refused: it cannot keep itself alive with pongs.
    assert_eq!(polling.post("3".into()).await, 400);
}

#[tokio::test]
async fn match_end_closes_a_session_upgraded_from_long_polling() {
    let server = TestServer::start().await;
    let m = server.arena(2).await;
    let token = server.token(&m, "raw", Role::Player).await;
    let polling = Polling::connect(&server, &token).await;
    polling.expect_admitted().await;
    // The upgrade, as socket.io-client does it by default: a probe, then the switch.
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&sid={}",
        server.addr,
        polling.sid()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("2probe")).await.unwrap();
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(t) if t.as_str() == "3probe" => break,
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected the probe's answer, got {other:?}"),
        }
    }
    ws.send(Message::text("5")).await.unwrap();
    server.admin.end_match(&m).await.unwrap();
    let (kinds, closed) = until_closed(&mut ws).await;
    assert!(kinds.contains(&kind::DISCONNECT), "{kinds:?}");
    assert!(
        closed,
        "the server kept the upgraded transport open after match_end"
    );
    assert_eq!(server.metric("tickroom_transports_closed_total").await, 1);
}

#[tokio::test]
async fn a_refused_long_polling_handshake_closes_at_once() {
    let mut config = test_config();
    // Longer than the wait: only the server's own close can end the session in time.
    config.net.connect_timeout = WAIT * 3;
    let server = TestServer::start_with(config).await;
    let polling = Polling::connect(&server, "not-a-token").await;
    let (kinds, closed) = polling.until_closed().await;
    assert_eq!(kinds, [kind::CONNECT_ERROR]);
    assert!(closed, "the refused polling session stayed open");
}
