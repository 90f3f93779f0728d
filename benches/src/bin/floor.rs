//! The floor: the arena served by bare tokio-tungstenite, with no Socket.IO library — the same
//! wire protocol (Engine.IO open, Socket.IO msgpack CONNECT/EVENT packets, tokens, welcome,
//! inputs, keyframe/delta snapshots) written by hand with the least work per message. It has
//! no rate limits, validation beyond decoding or seat holds, and of metrics only how late its
//! ticks start (`/metrics`, as Tickroom reports it). Tickroom is measured against it to see
//! what its socket layer costs (`tickroom-load --target floor`).
//!
//! Usage: tickroom-floor PORT   (admin key and token secret: the development defaults)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tickroom_benches::lateness::Lateness;
use tickroom_engine::{Room, RoomConfig};
use tickroom_games::arena::Arena;
use tickroom_games::arena::ArenaInput;
use tickroom_shared::wire;
use tickroom_shared::wire::{decode_packet, encode_packet, kind};
use tickroom_shared::{InputMsg, MatchClaims, Role, TokenKey, Welcome};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role as WsRole, WebSocketConfig};

struct FloorRoom {
    room: Mutex<Room<Arena>>,
    conns: Mutex<Vec<mpsc::Sender<Bytes>>>,
    tick_rate: u32,
}

#[derive(Clone)]
struct Floor {
    key: Arc<TokenKey>,
    rooms: Arc<Mutex<HashMap<String, Arc<FloorRoom>>>>,
    /// How late the rooms' ticks start, served on `/metrics` as Tickroom serves it, so
    /// `tickroom-load` can set the two side by side.
    lateness: Arc<Lateness>,
}

fn key() -> TokenKey {
    TokenKey::new(b"dev-token-secret-change-me", "tickroom")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7352);
    let floor = Floor {
        key: Arc::new(key()),
        rooms: Arc::default(),
        lateness: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(|State(f): State<Floor>| async move { f.lateness.render() }),
        )
        .route("/admin/matches", post(create))
        .route("/admin/matches/{id}/tokens", post(mint))
        .route("/socket.io/", get(upgrade))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn create(State(f): State<Floor>, Json(body): Json<serde_json::Value>) -> Response {
    let id = uuid_like();
    let tick_rate = body["tick_rate"].as_u64().unwrap_or(30) as u32;
    let room = Arc::new(FloorRoom {
        room: Mutex::new(Room::new(Arc::new(Arena), RoomConfig::with_rate(tick_rate))),
        conns: Mutex::default(),
        tick_rate,
    });
    f.rooms
        .lock()
        .expect("rooms")
        .insert(id.clone(), room.clone());
    tokio::spawn(tick(room, f.lateness.clone()));
    let view = serde_json::json!({"id": id, "game": "arena", "tick_rate": tick_rate,
        "max_players": body["max_players"], "state": "running", "tick": 0, "players": [], "spectators": 0});
    (StatusCode::CREATED, Json(view)).into_response()
}

fn uuid_like() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("floor-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn mint(
    State(f): State<Floor>,
    Path(id): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let player = body["player_id"].as_str().unwrap_or("anon").to_owned();
    let role = if body["role"] == "spectator" {
        Role::Spectator
    } else {
        Role::Player
    };
    let claims = MatchClaims::new(id, player, role, 3600, f.key.issuer());
    match f.key.sign(&claims) {
        Ok(token) => {
            Json(serde_json::json!({"token": token, "expires_at": claims.exp})).into_response()
        }
        Err(_) => StatusCode::UNPROCESSABLE_ENTITY.into_response(),
    }
}

/// Ticks the room and hands the same snapshot packet to every connection.
async fn tick(room: Arc<FloorRoom>, lateness: Arc<Lateness>) {
    let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(room.tick_rate)));
    let mut data = Vec::with_capacity(512);
    loop {
        let scheduled = every.tick().await;
        data.clear();
        {
            let mut r = room.room.lock().expect("room");
            if r.player_count() == 0 {
                continue;
            }
            // Only the ticks that run: an empty floor room skips its tick.
            lateness.record(scheduled.elapsed());
            let _ = rmp::encode::write_array_len(&mut data, 2);
            let _ = rmp::encode::write_str(&mut data, tickroom_shared::event::SNAPSHOT);
            data.extend_from_slice(r.tick());
        }
        let packet = Bytes::from(encode_packet(kind::EVENT, "/", Some(&data)));
        // A connection whose queue is full misses this snapshot; a closed one is forgotten.
        room.conns.lock().expect("conns").retain(|c| {
            let _ = c.try_send(packet.clone());
            !c.is_closed()
        });
    }
}

async fn upgrade(State(f): State<Floor>, req: Request) -> Response {
    let Some(ws_key) = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            // tungstenite zero-fills its read buffer up to `read_buffer_size` before every read:
            // the 128 KiB default costs a 128 KiB memset per incoming message. Tickroom's
            // server uses 1 KiB; so does the floor.
            let mut config = WebSocketConfig::default();
            config.read_buffer_size = 1024;
            let ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                WsRole::Server,
                Some(config),
            )
            .await;
            serve_connection(f, ws).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, ws_key)
        .body(axum::body::Body::empty())
        .unwrap_or_default()
}

async fn serve_connection(f: Floor, mut ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>) {
    let open = r#"0{"sid":"floor","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":16384}"#;
    if ws.send(Message::text(open)).await.is_err() {
        return;
    }
    // CONNECT with the token.
    let claims = loop {
        let Some(Ok(msg)) = ws.next().await else {
            return;
        };
        let Message::Binary(b) = msg else { continue };
        let Ok(p) = decode_packet(&b) else { return };
        if p.kind != kind::CONNECT {
            return;
        }
        #[derive(serde::Deserialize)]
        struct Auth {
            token: String,
        }
        let auth: Option<Auth> = p.data.and_then(|d| rmp_serde::from_slice(&d).ok());
        match auth.map(|a| f.key.verify(&a.token)) {
            Some(Ok(c)) => break c,
            _ => return,
        }
    };
    let Some(room) = f
        .rooms
        .lock()
        .expect("rooms")
        .get(&claims.match_id)
        .cloned()
    else {
        return;
    };
    let sid = rmp_serde::to_vec_named(&serde_json::json!({"sid": "floor"})).unwrap_or_default();
    let welcome = Welcome {
        protocol: tickroom_shared::PROTOCOL_VERSION,
        match_id: claims.match_id.clone(),
        player_id: claims.player_id.clone(),
        role: claims.role,
        game: "arena".into(),
        tick_rate: room.tick_rate,
        snapshot_rate: room.tick_rate,
        tick: 0,
    };
    let welcome = wire::encode_event("welcome", &welcome);
    for packet in [
        encode_packet(kind::CONNECT, "/", Some(&sid)),
        encode_packet(kind::EVENT, "/", Some(&welcome)),
    ] {
        if ws.send(Message::Binary(packet.into())).await.is_err() {
            return;
        }
    }
    let player: Arc<str> = claims.player_id.as_str().into();
    let (tx, mut rx) = mpsc::channel(128);
    {
        let mut r = room.room.lock().expect("room");
        if claims.role == Role::Player {
            r.join(player.clone());
        }
        r.request_keyframe();
    }
    room.conns.lock().expect("conns").push(tx);
    let mut ping = tokio::time::interval(Duration::from_secs(25));
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    let Ok(p) = decode_packet(&b) else { break };
                    let Some(data) = p.data else { continue };
                    if let Ok(("input", msg)) = wire::decode_event::<InputMsg<ArenaInput>>(&data) {
                        room.room.lock().expect("room").push_input(&player, msg.seq, msg.input);
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
            Some(packet) = rx.recv() => {
                // Everything queued goes out with one flush (one write syscall).
                let mut ok = ws.feed(Message::Binary(packet)).await.is_ok();
                while ok && let Ok(more) = rx.try_recv() {
                    ok = ws.feed(Message::Binary(more)).await.is_ok();
                }
                if !ok || ws.flush().await.is_err() {
                    break;
                }
            }
            _ = ping.tick() => {
                if ws.send(Message::text("2")).await.is_err() {
                    break;
                }
            }
        }
    }
    room.room.lock().expect("room").leave(&player);
}
