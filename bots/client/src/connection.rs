//! A Tickroom client: Engine.IO v4 over WebSocket with Socket.IO msgpack packets.
//!
//! No published Rust Socket.IO client speaks the msgpack parser, so this one is written
//! against the wire facts in `docs/PROTOCOL.md`. [`Client::connect`] returns only once the
//! server has accepted the handshake, so nothing can be sent before CONNECT is answered.
//!
//! A client has no task of its own: [`Client::recv`] reads the WebSocket (answering the
//! server's pings as it goes) and [`Client::emit`] writes it. A swarm of thousands pays no
//! channel hop or task wake-up per message that way; the price is that a client must be
//! polled with `recv` at least once per ping interval plus timeout (45 s by default) to stay
//! connected, as any consumer of a live game connection does.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tickroom_shared::snapshot::{Applied, FromFrame};
use tickroom_shared::wire::{self, DecodeError};
use tickroom_shared::{
    Announcement, AuthPayload, ErrorMsg, MatchEnd, Mirror, Moved, NAMESPACE, Snapshot, Welcome,
    event,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use tickroom_shared::wire::kind;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Read buffer per connection: small, because a swarm holds thousands of connections and
/// snapshots are small; tungstenite grows it for a larger message.
const READ_BUFFER: usize = 4 * 1024;
/// Largest message accepted from the server.
const MAX_MESSAGE: usize = 1024 * 1024;

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not `http(s)://host[:port]` or `ws(s)://...`.
    #[error("bad server url: {0}")]
    BadUrl(String),
    /// TCP or WebSocket failure.
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server did not follow the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server refused the handshake; `code` is the CONNECT_ERROR message (an error code).
    #[error("refused: {code}")]
    Refused {
        /// The wire error code, e.g. `token_expired`.
        code: String,
    },
    /// The match runs on another node of the cluster: connect to `url` with the same token
    /// (CONNECT_ERROR `match_elsewhere <url>`).
    #[error("the match is on {url}")]
    Elsewhere {
        /// The node that holds the match.
        url: String,
    },
    /// No answer in time.
    #[error("timed out")]
    Timeout,
}

/// Something the server sent, or the end of the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// An event with its single argument as raw msgpack.
    Event(EventMsg),
    /// The connection is over; nothing follows.
    Closed(CloseReason),
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The server sent a Socket.IO DISCONNECT.
    ServerDisconnect,
    /// The WebSocket closed or failed.
    Transport(String),
    /// The server stopped pinging.
    PingTimeout,
    /// [`Client::close`] was called.
    ClientClose,
}

/// One server event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMsg {
    /// Event name.
    pub name: String,
    /// The event's argument, raw msgpack (`Nil` when there was none).
    pub arg: Bytes,
}

impl EventMsg {
    /// Decodes the argument as a map into `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        wire::decode_map(&self.arg)
    }

    /// The argument as a [`Welcome`], if this is the welcome event.
    pub fn welcome(&self) -> Option<Welcome> {
        (self.name == event::WELCOME)
            .then(|| self.decode().ok())
            .flatten()
    }

    /// The argument as an [`ErrorMsg`], if this is an error event.
    pub fn error(&self) -> Option<ErrorMsg> {
        (self.name == event::ERROR)
            .then(|| self.decode().ok())
            .flatten()
    }

    /// The argument as an [`Announcement`], if this is an operator's announcement.
    pub fn announcement(&self) -> Option<Announcement> {
        (self.name == event::ANNOUNCEMENT)
            .then(|| self.decode().ok())
            .flatten()
    }

    /// The argument as a [`Moved`], if the match moved to another node (connect there with
    /// the same token).
    pub fn moved(&self) -> Option<Moved> {
        (self.name == event::MOVED)
            .then(|| self.decode().ok())
            .flatten()
    }

    /// The argument as a [`MatchEnd`], if this is the match-end event.
    pub fn match_end(&self) -> Option<MatchEnd> {
        (self.name == event::MATCH_END)
            .then(|| self.decode().ok())
            .flatten()
    }
}

/// Handshake parameters from the server's Engine.IO OPEN packet.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenInfo {
    /// Engine.IO session id.
    pub sid: String,
    /// Milliseconds between the server's pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong.
    pub ping_timeout: u64,
    /// Largest payload the server accepts.
    #[serde(default)]
    pub max_payload: u64,
}

/// A connected client. Dropping it closes the connection.
#[derive(Debug)]
pub struct Client {
    ws: Ws,
    /// Payload bytes of the binary WebSocket messages received (Socket.IO packets).
    bytes_in: u64,
    /// Every frame's bytes as they crossed the network: payload and WebSocket header.
    wire_bytes_in: u64,
    mirror: Mirror,
    /// The last snapshot received (its bytes identify it) and what the mirror made of it,
    /// until [`snapshot`](Self::snapshot) takes it.
    last: Option<(Bytes, Result<Applied, DecodeError>)>,
    open: OpenInfo,
    /// The server pings every ping interval; silence past interval + timeout means the
    /// connection is dead even if TCP has not noticed.
    silence: Duration,
    /// When the server was last heard from.
    heard: tokio::time::Instant,
    /// When that silence may run out: one timer for the connection's life. A message only
    /// updates `heard`; the timer, when it fires, moves itself to `heard + silence` if the
    /// server spoke meanwhile, so it is re-registered about once a silence period instead
    /// of on every message.
    quiet: Pin<Box<tokio::time::Sleep>>,
    /// Set once the end was reported; `recv` returns `None` after.
    closed: bool,
    /// A ping not yet answered (its pong was interrupted by a cancelled `recv`): sent before
    /// anything else.
    pong_due: bool,
}

/// `http://host:port` (or ws://) → the Engine.IO WebSocket URL.
pub fn socket_url(server: &str) -> Result<String, ConnectError> {
    let base = server.trim_end_matches('/');
    let rest = if let Some(r) = base.strip_prefix("http://") {
        format!("ws://{r}")
    } else if let Some(r) = base.strip_prefix("https://") {
        format!("wss://{r}")
    } else if base.starts_with("ws://") || base.starts_with("wss://") {
        base.to_owned()
    } else {
        return Err(ConnectError::BadUrl(server.to_owned()));
    };
    Ok(format!("{rest}/socket.io/?EIO=4&transport=websocket"))
}

impl Client {
    /// Connects to `server` (`http://host:port`) with `auth` and waits until the server accepts
    /// or refuses the handshake, for at most `timeout`.
    pub async fn connect(
        server: &str,
        auth: &AuthPayload,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let auth = rmp_serde::to_vec_named(auth)
            .map_err(|e| ConnectError::Protocol(format!("cannot encode auth: {e}")))?;
        Self::connect_raw_auth(server, &auth, timeout).await
    }

    /// Like [`connect`](Self::connect) with the `auth` payload given as raw msgpack (empty for
    /// none): for tests of what a broken client would send.
    pub async fn connect_raw_auth(
        server: &str,
        auth: &[u8],
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        tokio::time::timeout(timeout, Self::connect_inner(server, auth))
            .await
            .map_err(|_| ConnectError::Timeout)?
    }

    async fn connect_inner(server: &str, auth: &[u8]) -> Result<Self, ConnectError> {
        let url = socket_url(server)?;
        let mut config = WebSocketConfig::default();
        config.read_buffer_size = READ_BUFFER;
        config.max_message_size = Some(MAX_MESSAGE);
        config.max_frame_size = Some(MAX_MESSAGE);
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;

        // Engine.IO OPEN: text "0{json}".
        let open = loop {
            match next_message(&mut ws).await? {
                Message::Text(t) => match t.as_str().strip_prefix('0') {
                    Some(json) => {
                        break serde_json::from_str::<OpenInfo>(json)
                            .map_err(|e| ConnectError::Protocol(format!("bad OPEN: {e}")))?;
                    }
                    None => return Err(ConnectError::Protocol(format!("expected OPEN, got {t}"))),
                },
                Message::Ping(_) | Message::Pong(_) => continue,
                other => {
                    return Err(ConnectError::Protocol(format!(
                        "expected OPEN, got {other:?}"
                    )));
                }
            }
        };

        let connect =
            wire::encode_packet(kind::CONNECT, NAMESPACE, (!auth.is_empty()).then_some(auth));
        ws.send(Message::Binary(connect.into())).await?;

        // Until CONNECT (accepted) or CONNECT_ERROR; answer pings meanwhile.
        loop {
            match next_message(&mut ws).await? {
                Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).await?,
                Message::Text(t) => {
                    return Err(ConnectError::Protocol(format!("unexpected text {t}")));
                }
                Message::Binary(b) => {
                    let p = wire::decode_packet(&b)
                        .map_err(|e| ConnectError::Protocol(e.to_string()))?;
                    match p.kind {
                        kind::CONNECT => break,
                        kind::CONNECT_ERROR => {
                            #[derive(serde::Deserialize)]
                            struct Msg {
                                message: String,
                            }
                            let code = p
                                .data
                                .and_then(|d| rmp_serde::from_slice::<Msg>(&d).ok())
                                .map_or_else(|| "unknown".to_owned(), |m| m.message);
                            if let Some(url) = code
                                .strip_prefix(tickroom_shared::ErrorCode::MatchElsewhere.as_str())
                                .and_then(|rest| rest.strip_prefix(' '))
                            {
                                return Err(ConnectError::Elsewhere {
                                    url: url.to_owned(),
                                });
                            }
                            return Err(ConnectError::Refused { code });
                        }
                        other => {
                            return Err(ConnectError::Protocol(format!(
                                "unexpected packet type {other} before CONNECT"
                            )));
                        }
                    }
                }
                Message::Close(_) => {
                    return Err(ConnectError::Protocol("closed during handshake".into()));
                }
                _ => {}
            }
        }

        let silence = Duration::from_millis(open.ping_interval + open.ping_timeout);
        Ok(Self {
            ws,
            bytes_in: 0,
            wire_bytes_in: 0,
            mirror: Mirror::new(),
            last: None,
            open,
            silence,
            heard: tokio::time::Instant::now(),
            quiet: Box::pin(tokio::time::sleep(silence)),
            closed: false,
            pong_due: false,
        })
    }

    /// Rebuilds the game state from a `snapshot` event with this connection's [`Mirror`]
    /// (keyframes and deltas, see [`tickroom_shared::snapshot`]). `Ok(None)` for a delta that
    /// arrived before this connection's first keyframe, or for another event.
    pub fn snapshot<S: FromFrame>(
        &mut self,
        e: &EventMsg,
    ) -> Result<Option<Snapshot<S>>, DecodeError> {
        if e.name != event::SNAPSHOT {
            return Ok(None);
        }
        // `recv` applied it already (every snapshot must reach the mirror, or the deltas
        // after a skipped keyframe could not be rebuilt): type that result, don't apply twice.
        match self.last.take() {
            Some((arg, applied)) if same_bytes(&arg, &e.arg) => self.mirror.typed(applied?),
            _ => self.mirror.apply_typed(&e.arg),
        }
    }

    /// Payload bytes of the Socket.IO packets received since connecting (WebSocket framing
    /// not included).
    pub fn bytes_received(&self) -> u64 {
        self.bytes_in
    }

    /// Bytes of every WebSocket frame received since connecting (Engine.IO pings included),
    /// with the frames' headers: what the downstream link carried, before TCP/IP.
    pub fn wire_bytes_received(&self) -> u64 {
        self.wire_bytes_in
    }

    /// The server's Engine.IO handshake parameters.
    pub fn open_info(&self) -> &OpenInfo {
        &self.open
    }

    /// The next event or the close; `None` after [`Incoming::Closed`] was returned. Answers
    /// the server's pings while it waits. Cancel-safe: a `recv` dropped while waiting (in a
    /// `select!`) loses nothing.
    pub async fn recv(&mut self) -> Option<Incoming> {
        if self.closed {
            return None;
        }
        let got = loop {
            if let Err(reason) = self.answer_ping().await {
                break Incoming::Closed(reason);
            }
            let msg = tokio::select! {
                () = self.quiet.as_mut() => {
                    let deadline = self.heard + self.silence;
                    if deadline <= tokio::time::Instant::now() {
                        break Incoming::Closed(CloseReason::PingTimeout);
                    }
                    self.quiet.as_mut().reset(deadline);
                    continue;
                }
                msg = self.ws.next() => msg,
            };
            let msg = match msg {
                None => break Incoming::Closed(CloseReason::Transport("connection closed".into())),
                Some(Err(e)) => break Incoming::Closed(CloseReason::Transport(e.to_string())),
                Some(Ok(msg)) => msg,
            };
            self.heard = tokio::time::Instant::now();
            match self.on_message(msg).await {
                Ok(Some(event)) => break Incoming::Event(event),
                Ok(None) => {}
                Err(reason) => break Incoming::Closed(reason),
            }
        };
        match &got {
            Incoming::Event(e) if e.name == event::SNAPSHOT => {
                self.last = Some((e.arg.clone(), self.mirror.apply(&e.arg)));
            }
            Incoming::Event(_) => {}
            Incoming::Closed(_) => self.closed = true,
        }
        Some(got)
    }

    /// Sends the pong owed for the server's last ping, if any.
    async fn answer_ping(&mut self) -> Result<(), CloseReason> {
        if self.pong_due {
            self.ws
                .send(Message::text("3"))
                .await
                .map_err(|e| CloseReason::Transport(e.to_string()))?;
            self.pong_due = false;
        }
        Ok(())
    }

    /// One message from the server: an event for the consumer, nothing (a ping answered,
    /// another packet), or the end of the connection.
    async fn on_message(&mut self, msg: Message) -> Result<Option<EventMsg>, CloseReason> {
        let len = msg.len();
        self.wire_bytes_in += (len + ws_header_len(len)) as u64;
        match msg {
            Message::Text(t) => match t.as_str() {
                "2" => {
                    self.pong_due = true;
                    self.answer_ping().await.map(|()| None)
                }
                "1" => Err(CloseReason::ServerDisconnect),
                _ => Ok(None),
            },
            Message::Binary(b) => {
                self.bytes_in += b.len() as u64;
                let Ok(p) = wire::decode_packet(&b) else {
                    return Ok(None);
                };
                match p.kind {
                    kind::EVENT => Ok(p
                        .data
                        .as_ref()
                        .and_then(|d| split_any(d).ok())
                        .map(|(name, arg)| EventMsg { name, arg })),
                    kind::DISCONNECT => Err(CloseReason::ServerDisconnect),
                    _ => Ok(None),
                }
            }
            Message::Close(_) => Err(CloseReason::Transport("closed by server".into())),
            _ => Ok(None),
        }
    }

    /// The next event, skipping nothing, or an error if the connection closed or `timeout`
    /// passed first.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<EventMsg, CloseReason> {
        match tokio::time::timeout(timeout, self.recv()).await {
            Ok(Some(Incoming::Event(e))) => Ok(e),
            Ok(Some(Incoming::Closed(r))) => Err(r),
            Ok(None) => Err(CloseReason::ClientClose),
            Err(_) => Err(CloseReason::Transport(
                "timed out waiting for an event".into(),
            )),
        }
    }

    /// Emits `name` with one argument (serialized as a msgpack map for structs).
    pub async fn emit<T: Serialize>(&mut self, name: &str, arg: &T) -> Result<(), CloseReason> {
        let data = wire::encode_event(name, arg);
        self.emit_raw(&data).await
    }

    /// Emits an event whose `data` (`[name, ...args]`) is already msgpack. For tests that need
    /// to send exactly what a broken client would.
    pub async fn emit_raw(&mut self, data: &[u8]) -> Result<(), CloseReason> {
        let frame = wire::encode_packet(kind::EVENT, NAMESPACE, Some(data));
        self.send_frame(Message::Binary(frame.into())).await
    }

    /// Sends one WebSocket message as is.
    pub async fn send_frame(&mut self, msg: Message) -> Result<(), CloseReason> {
        if self.closed {
            return Err(CloseReason::Transport("connection closed".into()));
        }
        self.answer_ping().await?;
        self.ws
            .send(msg)
            .await
            .map_err(|e| CloseReason::Transport(e.to_string()))
    }

    /// Sends a Socket.IO DISCONNECT and closes the WebSocket, waiting briefly (2 s at most)
    /// for the server's side of the close.
    pub async fn close(mut self) {
        let bye = wire::encode_packet(kind::DISCONNECT, NAMESPACE, None);
        let _ = self.ws.send(Message::Binary(bye.into())).await;
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

async fn next_message(ws: &mut Ws) -> Result<Message, ConnectError> {
    match ws.next().await {
        Some(Ok(m)) => Ok(m),
        Some(Err(e)) => Err(e.into()),
        None => Err(ConnectError::Protocol("connection closed".into())),
    }
}

/// The same buffer (a clone of it), not merely equal contents.
fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}

/// `[name, arg?]` → name and the raw bytes of `arg` (msgpack nil when absent).
fn split_any(data: &Bytes) -> Result<(String, Bytes), wire::PacketError> {
    let mut rd: &[u8] = data;
    let n = rmp::decode::read_array_len(&mut rd).map_err(|_| bad())?;
    let (name, rest) = rmp::decode::read_str_from_slice(rd).map_err(|_| bad())?;
    let name = name.to_owned();
    if n < 2 {
        return Ok((name, Bytes::from_static(&[0xc0])));
    }
    let start = data.len() - rest.len();
    let mut rd = rest;
    wire::skip_value(&mut rd).map_err(|_| bad())?;
    let end = data.len() - rd.len();
    Ok((name, data.slice(start..end)))
}

fn bad() -> wire::PacketError {
    wire::PacketError("event data is not [name, ...]")
}

/// The header of an unmasked WebSocket frame (server to client) with a payload of `len` bytes.
fn ws_header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    }
}
