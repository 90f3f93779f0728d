//! Ending the transport of a session that began with HTTP long-polling.
//!
//! When the server ends a Socket.IO session (its DISCONNECT after `match_end`,
//! `session_replaced`, `kicked`, `too_many_dropped`, or a refused handshake's CONNECT_ERROR),
//! socketioxide leaves the Engine.IO session open, and offers no way to close it. A session
//! opened as a WebSocket is closed through its connection ([`super::socket`]); one opened with
//! long-polling has no connection of its own — its requests may share keep-alive connections
//! with other sessions — so it is ended here, at the HTTP layer, in front of socketioxide:
//!
//! - its long-polling GETs (the one waiting, and any later) are answered with an Engine.IO
//!   close packet (`1`), which closes the transport on the client;
//! - its other requests (POSTs, a late upgrade) get the 400 `Session ID unknown` that
//!   socketioxide gives a session it has closed;
//! - the WebSocket connection it upgraded to, if it did, is closed.
//!
//! The same gate enforces one handshake rule socketioxide cannot enforce in time
//! (docs/PROTOCOL.md §1, step 5): a POST whose payload has packets after the CONNECT — an
//! EVENT sent with it — marks the session, and the handshake is refused before the player is
//! seated ([`PollingSessions::packet_after_connect`]).
//!
//! The Engine.IO session itself then expires in socketioxide by its heartbeat (no pong can
//! reach it): it holds no descriptor meanwhile. A session is followed from its Socket.IO
//! CONNECT (or its upgrade) to [`LINGER`] past its end, so the table stays as small as the
//! sessions that are open or just ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use dashmap::DashMap;
use tokio_util::sync::CancellationToken;

use super::NetState;
use super::conns::{Conn, engine_query};
use crate::metrics::Metrics;

/// How long an ended session's GET may still take the packets queued before its end (its
/// DISCONNECT, its CONNECT_ERROR) before it is answered with the close packet.
const LAST_PACKETS: Duration = Duration::from_millis(50);

/// How long past its end (or its last connection) a session is remembered, beyond the
/// heartbeat's own deadline, so that its late requests are still refused here.
const LINGER: Duration = Duration::from_secs(5);

/// The long-polling sessions of this node that the server may end, by Engine.IO `sid`.
#[derive(Debug)]
pub(crate) struct PollingSessions {
    by_sid: DashMap<Box<str>, Session>,
    /// Ping interval plus ping timeout: socketioxide has closed a session whose client has
    /// been silent that long.
    heartbeat: Duration,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct Session {
    /// Cancelled when the server ends the session.
    ended: CancellationToken,
    /// The WebSocket connection the session was upgraded to.
    websocket: Weak<Conn>,
    /// Whether the session's transport has been counted as closed by the server.
    counted: Arc<AtomicBool>,
    /// A POST carried a packet after the session's CONNECT.
    packet_after_connect: bool,
}

impl PollingSessions {
    pub(crate) fn new(
        ping_interval: Duration,
        ping_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            by_sid: DashMap::new(),
            heartbeat: ping_interval + ping_timeout,
            metrics,
        }
    }

    /// Follows the session `sid` (its Socket.IO socket connected): its requests are watched
    /// from now on, and [`Self::end`] can close it. Forgotten by [`Self::forget_later`].
    pub(crate) fn follow(&self, sid: &str) {
        self.by_sid.entry(sid.into()).or_default();
    }

    /// Ends the session `sid`: its waiting GET is answered with the close packet, later
    /// requests are refused, its WebSocket connection (if it upgraded) is closed.
    pub(crate) fn end(self: &Arc<Self>, sid: &str) {
        let session = self.by_sid.entry(sid.into()).or_default();
        session.ended.cancel();
        if let Some(conn) = session.websocket.upgrade()
            && conn.close()
            && !session.counted.swap(true, Ordering::AcqRel)
        {
            self.metrics.transports_closed.inc();
        }
        drop(session);
        self.forget_later(sid);
    }

    /// Forgets the session `sid` once socketioxide has surely closed it too.
    pub(crate) fn forget_later(self: &Arc<Self>, sid: &str) {
        let sessions = Arc::downgrade(self);
        let sid: Box<str> = sid.into();
        let after = self.heartbeat + LINGER;
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if let Some(sessions) = sessions.upgrade() {
                sessions.by_sid.remove(&sid);
            }
        });
    }

    /// Records that session `sid` now runs on the WebSocket `conn`, until `conn` is gone; if
    /// the session has ended already, `conn` is closed at once (and counted).
    fn upgraded(self: &Arc<Self>, sid: &str, conn: Arc<Conn>) {
        let mut session = self.by_sid.entry(sid.into()).or_default();
        session.websocket = Arc::downgrade(&conn);
        let ended = session.ended.is_cancelled();
        let counted = session.counted.clone();
        drop(session);
        if ended && conn.close() && !counted.swap(true, Ordering::AcqRel) {
            self.metrics.transports_closed.inc();
        }
        let sessions = self.clone();
        let sid = sid.to_owned();
        tokio::spawn(async move {
            conn.gone().await;
            sessions.forget_later(&sid);
        });
    }

    /// Whether a POST of session `sid` carried a packet after its CONNECT.
    pub(crate) fn packet_after_connect(&self, sid: &str) -> bool {
        self.by_sid.get(sid).is_some_and(|s| s.packet_after_connect)
    }

    fn mark_packet_after_connect(self: &Arc<Self>, sid: &str) {
        self.by_sid
            .entry(sid.into())
            .or_default()
            .packet_after_connect = true;
        self.forget_later(sid);
    }

    /// The session's end, and its close counter, if it is followed.
    fn watch(&self, sid: &str) -> Option<(CancellationToken, Arc<AtomicBool>)> {
        self.by_sid
            .get(sid)
            .map(|s| (s.ended.clone(), s.counted.clone()))
    }
}

/// The middleware in front of socketioxide that ends the requests of followed sessions the
/// server has ended, and learns which connection a session upgraded to.
pub(crate) async fn gate(State(app): State<Arc<NetState>>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/socket.io") {
        return next.run(req).await;
    }
    let query = req.uri().query().map(str::to_owned);
    let (Some(sid), transport) = engine_query(query.as_deref()) else {
        return next.run(req).await;
    };
    let sessions = &app.polling;
    if transport == Some("websocket") {
        let conn = req.extensions().get::<Arc<Conn>>().cloned();
        if sessions
            .watch(sid)
            .is_some_and(|(ended, _)| ended.is_cancelled())
        {
            return unknown_session();
        }
        let response = next.run(req).await;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(conn) = conn
        {
            // The session now runs on `conn` (closed at once if it ended meanwhile).
            sessions.upgraded(sid, conn);
        }
        return response;
    }
    let Some((ended, counted)) = sessions.watch(sid) else {
        if req.method() == Method::POST {
            return check_handshake(&app, sid, req, next).await;
        }
        return next.run(req).await;
    };
    if req.method() != Method::GET {
        if ended.is_cancelled() {
            return unknown_session();
        }
        return next.run(req).await;
    }
    // A GET waits for the server's next packets; once the session has ended, it takes those
    // queued before the end, if any, and otherwise gets the close packet.
    let closing = async {
        ended.cancelled().await;
        tokio::time::sleep(LAST_PACKETS).await;
    };
    tokio::select! {
        response = next.run(req) => response,
        () = closing => {
            if !counted.swap(true, Ordering::AcqRel) {
                app.metrics.transports_closed.inc();
            }
            close_packet()
        }
    }
}

/// Passes on a POST of a session not followed yet — one whose handshake is not over — after
/// marking the session if its payload has a packet after its CONNECT. Only a body whose
/// length is declared and within the payload limit is read here; any other goes on as it is
/// (socketioxide refuses an oversize one).
async fn check_handshake(app: &NetState, sid: &str, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_none_or(|n| n > app.limits.max_message_bytes) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, app.limits.max_message_bytes).await else {
        // The body broke off (or outgrew its length): as socketioxide answers an unreadable
        // one.
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Body::empty())
            .expect("a valid response");
    };
    if packet_after_connect(&bytes) {
        app.polling.mark_packet_after_connect(sid);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether an Engine.IO long-polling payload holds a Socket.IO CONNECT followed by another
/// packet (Engine.IO pings, pongs and no-ops aside).
fn packet_after_connect(payload: &[u8]) -> bool {
    use base64::Engine as _;
    let mut packets = payload.split(|&b| b == 0x1e);
    let Some(first) = packets.next() else {
        return false;
    };
    let is_connect = first.strip_prefix(b"b").is_some_and(|b64| {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|raw| tickroom_shared::wire::decode_packet(&raw.into()).ok())
            .is_some_and(|p| p.kind == tickroom_shared::wire::kind::CONNECT)
    });
    is_connect && packets.any(|p| !matches!(p, b"2" | b"3" | b"6"))
}

/// An Engine.IO long-polling payload of one close packet.
fn close_packet() -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=UTF-8")
        .body(Body::from("1"))
        .expect("a valid response")
}

/// What socketioxide answers a request of a session it does not hold.
fn unknown_session() -> Response {
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"code":"1","message":"Session ID unknown"}"#))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_packet_after_the_connect_in_one_payload() {
        use base64::Engine as _;
        use tickroom_shared::wire::{encode_packet, kind};
        let b = |kind: u8| {
            format!(
                "b{}",
                base64::engine::general_purpose::STANDARD.encode(encode_packet(kind, "/", None))
            )
        };
        let connect = b(kind::CONNECT);
        let event = b(kind::EVENT);
        assert!(!packet_after_connect(connect.as_bytes()));
        assert!(!packet_after_connect(format!("{connect}\x1e3").as_bytes()));
        assert!(packet_after_connect(
            format!("{connect}\x1e{event}").as_bytes()
        ));
        assert!(packet_after_connect(format!("{connect}\x1e1").as_bytes()));
        assert!(!packet_after_connect(
            format!("{event}\x1e{event}").as_bytes()
        ));
        assert!(!packet_after_connect(b"bnot base64\x1e4x"));
        assert!(!packet_after_connect(b""));
    }

    #[tokio::test(start_paused = true)]
    async fn an_ended_session_is_forgotten_after_the_heartbeat_and_the_linger() {
        let sessions = Arc::new(PollingSessions::new(
            Duration::from_secs(25),
            Duration::from_secs(20),
            Arc::new(Metrics::default()),
        ));
        sessions.follow("a");
        sessions.follow("b");
        sessions.end("a");
        assert!(sessions.watch("a").unwrap().0.is_cancelled());
        assert!(!sessions.watch("b").unwrap().0.is_cancelled());
        tokio::time::sleep(Duration::from_secs(49)).await;
        assert!(sessions.watch("a").is_some(), "still refused just before");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(sessions.watch("a").is_none());
        assert!(
            sessions.watch("b").is_some(),
            "b was not ended nor forgotten"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ending_an_upgraded_session_closes_its_websocket_once() {
        let metrics = Arc::new(Metrics::default());
        let sessions = Arc::new(PollingSessions::new(
            Duration::from_secs(1),
            Duration::from_secs(1),
            metrics.clone(),
        ));
        let conn = Arc::new(Conn::default());
        sessions.follow("a");
        sessions.upgraded("a", conn.clone());
        sessions.end("a");
        sessions.end("a");
        assert!(!conn.close(), "already closed by the end");
        assert_eq!(metrics.transports_closed.get(), 1);
        // An upgrade that completes after the end is closed at once.
        let late = Arc::new(Conn::default());
        sessions.upgraded("a", late.clone());
        assert!(!late.close(), "closed by the upgrade");
        assert_eq!(
            metrics.transports_closed.get(),
            1,
            "one session, counted once"
        );
    }
}
