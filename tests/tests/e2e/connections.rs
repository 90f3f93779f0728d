//! TCP connections before any HTTP, on real sockets: one that never sends a byte is closed at
//! the header deadline; one address cannot take every descriptor (1,100 idle sockets from one
//! address leave another address playing); the global cap refuses with a readable code; new
//! Engine.IO sessions are limited per address.

use std::net::SocketAddr;
use std::time::Duration;

use tickroom_shared::{Role, event};
use tickroom_tests::{TestServer, WAIT, next_named, production_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `server` from the loopback address `from` (the whole 127/8 is local).
async fn connect_from(from: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    socket.connect(server).await
}

/// Reads what the server sends until it closes the connection.
async fn read_to_close(mut c: TcpStream) -> String {
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, c.read_to_end(&mut buf))
        .await
        .expect("the server closed the connection")
        .ok();
    String::from_utf8_lossy(&buf).into_owned()
}

async fn wait_for_metric(server: &TestServer, name: &str, at_least: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.metric(name).await < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} < {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_connection_that_never_speaks_is_closed_at_the_header_deadline() {
    let mut config = production_config();
    config.net.header_read_timeout = Duration::from_millis(300);
    let server = TestServer::start_with(config).await;
    let silent = connect_from("127.0.0.1", server.addr).await.unwrap();
    assert_eq!(read_to_close(silent).await, "", "closed without a word");
    assert_eq!(
        server
            .metric("tickroom_connections_idle_closed_total")
            .await,
        1
    );
    // A connection that speaks in time is served.
    let mut talker = connect_from("127.0.0.1", server.addr).await.unwrap();
    talker
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(talker).await.ends_with("ok"));
}

#[tokio::test]
async fn eleven_hundred_idle_sockets_from_one_address_do_not_lock_another_out() {
    let mut config = production_config();
    // As a process with 1,024 descriptors: 960 connections, 240 per address.
    config.limits.max_connections = Some(960);
    let server = TestServer::start_with(config).await;
    let mut idle = Vec::with_capacity(1_100);
    for _ in 0..1_100 {
        idle.push(connect_from("127.0.0.2", server.addr).await.unwrap());
    }
    wait_for_metric(
        &server,
        "tickroom_connections_refused_per_address_total",
        860,
    )
    .await;
    // Another address: health checks answer, a player joins and plays.
    let health = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let m = server.arena(2).await;
    let mut c = server.join(&m, "other-host", Role::Player).await;
    next_named(&mut c, event::SNAPSHOT).await.unwrap();
    // The refused ones were told why.
    let refused = idle.pop().unwrap();
    let answer = read_to_close(refused).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains(r#""code":"too_many_connections""#),
        "{answer}"
    );
}

#[tokio::test]
async fn the_global_cap_refuses_with_server_busy() {
    let mut config = production_config();
    config.limits.max_connections = Some(20);
    config.limits.max_connections_per_ip = Some(0);
    let server = TestServer::start_with(config).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect_from("127.0.0.2", server.addr).await.unwrap());
    }
    // Once the server has taken all twenty, the next connection is refused, whatever its
    // address.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut c = connect_from("127.0.0.1", server.addr).await.unwrap();
        let _ = c
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await;
        let answer = read_to_close(c).await;
        if answer.starts_with("HTTP/1.1 503") {
            assert!(answer.contains(r#""code":"server_busy""#), "{answer}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never refused: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Places are given back as connections close.
    drop(held);
    wait_for_metric(&server, "tickroom_connections_refused_total", 1).await;
}

#[tokio::test]
async fn new_sessions_are_limited_per_address() {
    let mut config = production_config();
    config.limits.session_rate = 1;
    config.limits.session_burst = 3;
    let server = TestServer::start_with(config).await;
    let open = async |from: &str| {
        reqwest::Client::builder()
            .local_address(from.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
            .get(format!("{}/socket.io/?EIO=4&transport=polling", server.url))
            .send()
            .await
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(open("127.0.0.1").await.status(), 200);
    }
    let refused = open("127.0.0.1").await;
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "handshake_rate_limited");
    assert_eq!(open("127.0.0.3").await.status(), 200, "per address");
    assert_eq!(server.metric("tickroom_sessions_refused_total").await, 1);
}

/// An Engine.IO session whose Socket.IO handshake never comes is closed at the connect
/// deadline (socketioxide's default would hold it 45 s).
#[tokio::test]
async fn a_session_without_a_handshake_is_closed_at_the_connect_deadline() {
    use futures_util::StreamExt;
    let mut config = production_config();
    config.net.connect_timeout = Duration::from_millis(300);
    let server = TestServer::start_with(config).await;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with("0{"), "{open:?}");
    // Say nothing more: the server ends the session.
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the session was never closed");
}
