//! When the server ends a Socket.IO session it closes the connection too, even for a raw
//! client that ignores the end and keeps answering pings (docs/PROTOCOL.md §4, §6): after a
//! `match_end` or a `session_replaced` DISCONNECT, and after a refused handshake's
//! CONNECT_ERROR. Before, such a client held its WebSocket (and a descriptor) until it chose
//! to leave, and a refused one for the whole connect timeout.

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
