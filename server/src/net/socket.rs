//! Socket.IO handlers: handshake authentication, the `input` event, unknown events, and
//! disconnection. Generic over the adapter so a Redis adapter drops in unchanged.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{Event, SocketRef, TryData};
use socketioxide::handler::MessageHandler;
use socketioxide::socket::{DisconnectReason, Socket};
use socketioxide_core::adapter::DefinedAdapter;
use socketioxide_core::{Sid, Value};
use tickroom_shared::{ErrorCode, ErrorMsg, PROTOCOL_VERSION, Role, Welcome, event};

use tickroom_engine::InputError;
use tickroom_shared::wire;

use super::NetState;
use super::conns::Conn;
use super::sockets::{disconnect_with, player_room, view_room};
use crate::auth::{self, Admission, seat_error_code};
use crate::directory::{Departure, Match};
use crate::ratelimit::{DropWindow, EventLimiter};

/// How often a connection is told about dropped inputs, at most.
const NOTICE_INTERVAL: Duration = Duration::from_secs(1);

/// What the server knows about one admitted connection.
pub(crate) struct Session {
    game_match: Arc<Match>,
    player: Arc<str>,
    role: Role,
    conn: String,
    /// The player's input budget (shared with the player's other connections to the match).
    inputs: Arc<governor::DefaultDirectRateLimiter>,
    /// Milliseconds since `NetState::started` of the last rate-limit notice sent.
    last_notice_ms: AtomicU64,
    /// Budget for events other than inputs.
    events: EventLimiter,
    /// Messages dropped by the rate limits, recently.
    drops: DropWindow,
    /// Set when the connection was cut for flooding: the messages already received behind
    /// the one that crossed the limit are ignored, not counted as a second disconnect.
    cut: AtomicBool,
    closed: AtomicBool,
}

impl Session {
    /// Counts a message dropped by a rate limit: tells the client `rate_limited` at most once
    /// per [`NOTICE_INTERVAL`], and past the abuse limit disconnects it. Returns whether it
    /// was disconnected.
    fn dropped<A: Adapter>(&self, s: &Socket<A>, app: &NetState) -> bool {
        if self.cut.load(Ordering::Acquire) {
            return true;
        }
        let now = app.started.elapsed().as_millis() as u64;
        let limit = app.limits.abuse_drop_limit;
        if limit > 0 && self.drops.drop_one(now) > limit {
            if self.cut.swap(true, Ordering::AcqRel) {
                return true;
            }
            app.metrics.abuse_disconnects.inc();
            tracing::info!(sid = %s.id, player = %self.player, "disconnected for sustained flooding");
            send_error(s, ErrorCode::TooManyDropped, app);
            if let Some(socket) = s.broadcast().get_socket(s.id) {
                let _ = socket.disconnect();
            }
            return true;
        }
        let last = self.last_notice_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= NOTICE_INTERVAL.as_millis() as u64)
            && self
                .last_notice_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            send_error(s, ErrorCode::RateLimited, app);
        }
        false
    }

    /// Gives the seat back (or has it held, for a dropped connection), once.
    fn close(&self, how: Departure) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.game_match
                .release(&self.player, self.role, &self.conn, how);
            self.game_match.unwatch(&self.player);
        }
    }
}

/// Whether a disconnect looks like a network drop (hold the seat) or a deliberate leave.
fn departure(reason: DisconnectReason) -> Departure {
    match reason {
        DisconnectReason::TransportClose
        | DisconnectReason::TransportError
        | DisconnectReason::HeartbeatTimeout => Departure::Dropped,
        DisconnectReason::ClientNSDisconnect
        | DisconnectReason::ServerNSDisconnect
        | DisconnectReason::ClosingServer
        | DisconnectReason::MultipleHttpPollingError
        | DisconnectReason::PacketParsingError => Departure::Left,
    }
}

/// Logs a closed connection at info, so an operator sees why players go; at most a line a
/// second, so a mass disconnect cannot flood the log.
fn log_disconnect<A: Adapter>(
    app: &NetState,
    s: &Socket<A>,
    session: &Session,
    reason: &'static str,
    how: Departure,
) {
    if let Some(suppressed) = app.disconnect_log.ready() {
        let seat = match how {
            Departure::Dropped => "held",
            Departure::Left => "released",
        };
        tracing::info!(
            sid = %s.id,
            match_id = %session.game_match.info().id,
            player = %session.player,
            reason,
            seat,
            suppressed,
            "disconnected"
        );
    }
}

/// A stable name for why a connection closed, for logs.
fn reason_name(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport_close",
        DisconnectReason::TransportError => "transport_error",
        DisconnectReason::HeartbeatTimeout => "ping_timeout",
        DisconnectReason::ClientNSDisconnect => "client_disconnect",
        DisconnectReason::ServerNSDisconnect => "server_disconnect",
        DisconnectReason::ClosingServer => "server_closing",
        DisconnectReason::MultipleHttpPollingError => "polling_conflict",
        DisconnectReason::PacketParsingError => "bad_packet",
    }
}

/// The handshake's refusal; its text is the wire error code and nothing else — except for
/// `match_elsewhere`, which is followed by a space and the URL of the node to go to.
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) ErrorCode, pub(crate) Option<String>);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())?;
        match &self.1 {
            Some(url) => write!(f, " {url}"),
            None => Ok(()),
        }
    }
}

/// Registers the root namespace on `io`.
pub(crate) fn register<A: Adapter + DefinedAdapter>(
    io: &socketioxide::SocketIo<A>,
    app: Arc<NetState>,
) -> A::InitRes {
    let mw_app = app.clone();
    let middleware = move |s: SocketRef<A>, TryData(auth): TryData<rmpv::Value>| {
        let app = mw_app.clone();
        async move {
            let auth = auth.ok();
            // With several nodes, a match not here may be on another: the client is told where.
            let kept = app.registry.get().is_some().then(|| auth.clone()).flatten();
            match authenticate(&s, auth, &app) {
                Err(NotHere) => match elsewhere(kept, &app).await {
                    Some(url) => Err(refuse_to(&s, ErrorCode::MatchElsewhere, Some(url), &app)),
                    None => Err(refuse(&s, ErrorCode::MatchNotFound, &app)),
                },
                Err(Refused(r)) => Err(r),
                Ok(()) => Ok(()),
            }
        }
    };
    let on_connect = move |s: SocketRef<A>| {
        let app = app.clone();
        async move { connected(s, app) }
    };
    io.ns(
        tickroom_shared::NAMESPACE,
        socketioxide::handler::ConnectHandler::with(on_connect, middleware),
    )
}

/// Why a handshake did not pass: refused already, or its match is not on this node.
enum Denied {
    Refused(Refusal),
    NotHere,
}
use Denied::{NotHere, Refused};

/// The URL of the other node of the cluster that holds the match of the token in `auth`: the
/// node it moved to from here, or the one whose match list has it.
async fn elsewhere(auth: Option<rmpv::Value>, app: &NetState) -> Option<String> {
    let registry = app.registry.get()?;
    let claims = app
        .key
        .verify(&auth::parse_payload(auth).ok()?.token)
        .ok()?;
    if let Some(url) = app
        .directory
        .get(&claims.match_id)
        .and_then(|m| m.moved_to().map(str::to_owned))
    {
        return Some(url);
    }
    Some(registry.locate(&claims.match_id).await.ok()??.url)
}

/// Whether the token in `auth` is for a match that moved from here to another node.
fn moved_away(auth: Option<&rmpv::Value>, app: &NetState) -> bool {
    let Some(token) = auth
        .cloned()
        .and_then(|a| auth::parse_payload(Some(a)).ok())
    else {
        return false;
    };
    app.key.verify(&token.token).is_ok_and(|c| {
        app.directory
            .get(&c.match_id)
            .is_some_and(|m| m.moved_to().is_some())
    })
}

fn authenticate<A: Adapter>(
    s: &SocketRef<A>,
    auth: Option<rmpv::Value>,
    app: &NetState,
) -> Result<(), Denied> {
    if app.shutdown.is_cancelled() {
        // A draining node sends the clients of a match it moved to its new node.
        if moved_away(auth.as_ref(), app) {
            return Err(NotHere);
        }
        return Err(Refused(refuse(s, ErrorCode::ServerBusy, app)));
    }
    if packet_before_connect_reply(s, app) {
        return Err(Refused(refuse(s, ErrorCode::BadPayload, app)));
    }
    if !app.dev_keys
        && let Some(ip) = client_ip(s, app)
        && !app.handshakes.check(&ip)
    {
        return Err(Refused(refuse(s, ErrorCode::HandshakeRateLimited, app)));
    }
    let admission = auth::admit(auth, &app.key, &app.directory).map_err(|c| match c {
        ErrorCode::MatchNotFound => NotHere,
        c => Refused(refuse(s, c, app)),
    })?;
    // The seat is taken in `connected`, not here: socketioxide may still fail to send the
    // CONNECT reply after the middleware passes, and then no handler would ever give it back.
    s.extensions.insert(Arc::new(admission));
    Ok(())
}

/// The client's address: the TCP peer, or the first `X-Forwarded-For` entry when the server
/// is configured to trust it.
fn client_ip<A: Adapter>(s: &Socket<A>, app: &NetState) -> Option<std::net::IpAddr> {
    let parts = s.req_parts();
    super::client_ip(
        &parts.headers,
        &parts.extensions,
        app.net.trust_forwarded_for,
    )
}

/// How long a session's last packet (its DISCONNECT, its CONNECT_ERROR) has to reach the
/// client before the server closes a connection the client left open.
const CLOSE_GRACE: Duration = Duration::from_millis(250);

/// Closes the transport under `s` after [`CLOSE_GRACE`], unless the client has closed it by
/// then: a client that ignores the end of its session (and keeps answering pings) would
/// otherwise hold the connection, and its descriptor, for ever. A session opened as a
/// WebSocket is closed through its connection; one opened with long-polling (also once
/// upgraded) through [`super::polling`], since its first request came on a connection that
/// may serve other requests.
pub(crate) fn close_transport_soon<A: Adapter>(s: &Socket<A>, app: &NetState) {
    let metrics = app.metrics.clone();
    match websocket_conn(s) {
        Some(conn) => {
            tokio::spawn(async move {
                tokio::time::sleep(CLOSE_GRACE).await;
                if conn.close() {
                    metrics.transports_closed.inc();
                }
            });
        }
        None if opened_polling(s) => {
            let (polling, sid) = (app.polling.clone(), s.id.to_string());
            // Followed now, so that the GET the client makes after its last packet (a
            // refusal's CONNECT_ERROR: not followed yet) is watched too.
            polling.follow(&sid);
            tokio::spawn(async move {
                tokio::time::sleep(CLOSE_GRACE).await;
                polling.end(&sid);
            });
        }
        None => {}
    }
}

/// Whether the session of `s` was opened with long-polling (its first request did not open
/// a WebSocket session).
fn opened_polling<A: Adapter>(s: &Socket<A>) -> bool {
    !super::conns::opens_websocket_session(s.req_parts().uri.query())
}

/// Whether the client of `s` wrote another packet before the server answered its CONNECT
/// (docs/PROTOCOL.md §1, step 5): on a session opened as a WebSocket, any packet before the
/// reply; on one opened with long-polling, a packet in the same POST as the CONNECT.
/// socketioxide closes the session when that packet arrives before the socket is connected,
/// but still runs the handshake: the server refuses it rather than seat the player for a tick.
fn packet_before_connect_reply<A: Adapter>(s: &Socket<A>, app: &NetState) -> bool {
    match websocket_conn(s) {
        Some(conn) => conn.packet_before_connect_reply(),
        None => opened_polling(s) && app.polling.packet_after_connect(&s.id.to_string()),
    }
}

/// The TCP connection under `s`, if the session was opened on it as a WebSocket (and so is
/// the only thing it carries).
fn websocket_conn<A: Adapter>(s: &Socket<A>) -> Option<Arc<Conn>> {
    let parts = s.req_parts();
    if !super::conns::opens_websocket_session(parts.uri.query()) {
        return None;
    }
    parts.extensions.get::<Arc<Conn>>().cloned()
}

fn refuse<A: Adapter>(s: &Socket<A>, code: ErrorCode, app: &NetState) -> Refusal {
    refuse_to(s, code, None, app)
}

/// [`refuse`], with the URL `match_elsewhere` sends the client to.
fn refuse_to<A: Adapter>(
    s: &Socket<A>,
    code: ErrorCode,
    url: Option<String>,
    app: &NetState,
) -> Refusal {
    app.metrics.handshakes_refused.inc();
    app.metrics.error(code);
    close_transport_soon(s, app);
    // At info, so an operator sees refusals; at most a line a second, so a storm of them
    // cannot flood the log.
    if let Some(suppressed) = app.refusal_log.ready() {
        tracing::info!(sid = %s.id, code = %code, suppressed, "handshake refused");
    }
    Refusal(code, url)
}

fn connected<A: Adapter>(s: SocketRef<A>, app: Arc<NetState>) {
    let Some(admission) = s.extensions.get::<Arc<Admission>>() else {
        // Unreachable: the middleware admits only with an admission.
        let _ = s.disconnect();
        return;
    };
    if packet_before_connect_reply(&s, &app) {
        // Written after the middleware looked, before the reply: socketioxide may have
        // closed the session already (it still sends the reply and calls this handler).
        // The player is not seated, so the match never sees it come and go.
        app.metrics.handshakes_refused.inc();
        tracing::debug!(sid = %s.id, "packet before the CONNECT reply: not seated");
        close_transport_soon(&s, &app);
        let _ = s.disconnect();
        return;
    }
    let claims = &admission.claims;
    let m = admission.game_match.clone();
    let player: Arc<str> = claims.player_id.as_str().into();
    let conn = s.id.to_string();
    let reserved_only = claims.reserved_until.is_some();
    let claim = match m.claim(&player, claims.role, &conn, reserved_only) {
        Ok(claim) => claim,
        Err(e) => {
            // Lost a race for the last seat (or the match ended) since the handshake check.
            send_error(&s, seat_error_code(e), &app);
            close_transport_soon(&s, &app);
            let _ = s.disconnect();
            return;
        }
    };
    if opened_polling(&s) {
        // Forgotten when the socket disconnects (or, ended by the server, after its end).
        app.polling.follow(&s.id.to_string());
    }
    if let Some(old) = claim.replaced
        && let Ok(old_sid) = Sid::from_str(&old)
        && let Some(old_socket) = s.broadcast().get_socket(old_sid)
    {
        send_error(&old_socket, ErrorCode::SessionReplaced, &app);
        let _ = old_socket.disconnect();
    }
    let session = Arc::new(Session {
        inputs: app.limiter.budget(&m.info().id, &player),
        game_match: m.clone(),
        player,
        role: claims.role,
        conn,
        last_notice_ms: AtomicU64::new(0),
        events: EventLimiter::new(app.limits.event_rate),
        drops: DropWindow::default(),
        cut: AtomicBool::new(false),
        closed: AtomicBool::new(false),
    });

    let welcome = Welcome {
        protocol: PROTOCOL_VERSION,
        match_id: m.info().id.to_string(),
        player_id: session.player.to_string(),
        role: session.role,
        game: m.info().game.to_owned(),
        tick_rate: m.info().tick_rate,
        snapshot_rate: m.info().snapshot_rate,
        tick: m.tick(),
    };
    // Welcome first, then join the room: the per-socket queue keeps that order, so no
    // snapshot can precede the welcome.
    let _ = s.emit(event::WELCOME, &welcome);
    s.join([
        m.info().id.to_string(),
        player_room(&session.player),
        view_room(&m.info().id, &session.player),
    ]);
    if app.net.one_connection_per_player {
        replace_elsewhere(&s, &session.player);
    }
    // Deltas are relative to a keyframe this connection has not seen: have the next tick send
    // one (to this viewer only, in a game with an interest).
    m.watch(&session.player);
    s.on(
        event::INPUT,
        InputHandler {
            session: session.clone(),
            app: app.clone(),
        },
    );
    let fallback_app = app.clone();
    let fallback_session = session.clone();
    s.on_fallback(move |s: SocketRef<A>, Event(name): Event| {
        let app = fallback_app.clone();
        let session = fallback_session.clone();
        async move {
            if !session.events.check() {
                // Over the per-connection event budget: dropped without an answer, so a flood
                // of unknown events cannot turn into a flood of error events.
                app.metrics.events_dropped.inc();
                session.dropped(&s, &app);
                return;
            }
            tracing::debug!(sid = %s.id, event = %name.chars().take(64).collect::<String>(), "unknown event");
            send_error(&s, ErrorCode::UnknownEvent, &app);
        }
    });
    let close_session = session.clone();
    let close_app = app.clone();
    s.on_disconnect(move |s: SocketRef<A>, reason: DisconnectReason| {
        let session = close_session.clone();
        let app = close_app.clone();
        async move {
            let how = departure(reason);
            log_disconnect(&app, &s, &session, reason_name(reason), how);
            session.close(how);
            if reason == DisconnectReason::ServerNSDisconnect {
                // match_end, session_replaced, kicked, too_many_dropped: the session is over.
                close_transport_soon(&s, &app);
            } else if opened_polling(&s) {
                app.polling.forget_later(&s.id.to_string());
            }
        }
    });
    // The socket may have closed before `on_disconnect` was registered; then no handler runs.
    if !s.connected() {
        log_disconnect(&app, &s, &session, "closed_while_joining", Departure::Left);
        session.close(Departure::Left);
        if opened_polling(&s) {
            app.polling.forget_later(&s.id.to_string());
        }
    }
    tracing::debug!(sid = %s.id, match_id = %m.info().id, player = %session.player, role = session.role.as_str(), "connected");
}

/// Disconnects `player`'s other game connections, on every node, with `session_replaced`
/// (`--one-connection-per-player`). The one to the same match, if any, is already gone.
fn replace_elsewhere<A: Adapter>(s: &SocketRef<A>, player: &str) {
    let others = s.to(player_room(player));
    tokio::spawn(async move {
        if let Err(e) = disconnect_with(others, ErrorCode::SessionReplaced).await {
            tracing::debug!(error = %e, "could not replace the player's connections on other nodes");
        }
    });
}

/// Sends an `error` event with `code` to one socket and counts it.
pub(crate) fn send_error<A: Adapter>(s: &Socket<A>, code: ErrorCode, app: &NetState) {
    app.metrics.error(code);
    let _ = s.emit(event::ERROR, &ErrorMsg::new(code));
}

/// [`send_error`] with `message` instead of the code's description.
fn send_error_saying<A: Adapter>(s: &Socket<A>, code: ErrorCode, message: String, app: &NetState) {
    app.metrics.error(code);
    let _ = s.emit(event::ERROR, &ErrorMsg::with_message(code, message));
}

/// Handles `input` inline on the connection's task: no task is spawned per input, and decoding,
/// validation and rate limiting are synchronous.
struct InputHandler {
    session: Arc<Session>,
    app: Arc<NetState>,
}

#[derive(Debug, Clone, Copy)]
struct InputMarker;

impl<A: Adapter> MessageHandler<A, InputMarker> for InputHandler {
    fn call(&self, s: Arc<Socket<A>>, v: Value, _ack_id: Option<i64>) {
        let app = &*self.app;
        let session = &*self.session;
        if session.cut.load(Ordering::Acquire) {
            // Cut for flooding; what it sent before the disconnect lands is ignored.
            return;
        }
        if session.role == Role::Spectator {
            if session.events.check() {
                send_error(&s, ErrorCode::SpectatorCannotAct, app);
            } else {
                app.metrics.events_dropped.inc();
                session.dropped(&s, app);
            }
            return;
        }
        if session.inputs.check().is_err() {
            app.metrics.inputs_rate_limited.inc();
            session.dropped(&s, app);
            return;
        }
        // With the msgpack parser an event's data is the raw msgpack of `[name, arg]`.
        let Value::Bytes(payload) = v else {
            send_error(&s, ErrorCode::BadPayload, app);
            return;
        };
        let Ok((seq, input)) =
            wire::split_event(&payload).and_then(|(_, arg)| wire::split_input(arg))
        else {
            send_error(&s, ErrorCode::BadPayload, app);
            return;
        };
        match session.game_match.submit_input(&session.player, seq, input) {
            Ok(()) => {}
            Err(InputError::Decode(_)) => send_error(&s, ErrorCode::BadPayload, app),
            Err(InputError::Invalid(e)) => {
                tracing::debug!(sid = %s.id, reason = %e.reason, "input refused");
                // The reason is the message: which field, and what it must be.
                send_error_saying(&s, ErrorCode::InvalidInput, e.reason.into_owned(), app);
            }
            Err(InputError::InboxFull) => send_error(&s, ErrorCode::InboxFull, app),
            // The match is ending; its end message and disconnect are on their way.
            Err(InputError::Closed) => {}
        }
    }
}
