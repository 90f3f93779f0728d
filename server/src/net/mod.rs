//! The transport: Socket.IO (msgpack parser) and the HTTP routes, on one axum router.

mod admin;
pub(crate) mod conns;
pub(crate) mod demo;
mod handshake_watch;
pub(crate) mod lobby;
mod matchmaking;
pub(crate) mod migration;
mod operator;
mod origin;
pub(crate) mod polling;
mod raw;
pub(crate) mod serve;
pub(crate) mod sink;
mod socket;
pub(crate) mod sockets;
mod stats;
pub(crate) mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use socketioxide::adapter::Adapter;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{ParserConfig, SocketIo, SocketIoBuilder};
use tickroom_shared::TokenKey;
use tokio_util::sync::CancellationToken;

use crate::config::{LimitConfig, NetConfig};
use crate::directory::Directory;
use crate::metrics::Metrics;
use crate::ratelimit::{HandshakeLimiter, InputLimiter};
pub(crate) use origin::OriginPolicy;

/// Admin request bodies are small JSON documents.
const ADMIN_BODY_LIMIT: usize = 64 * 1024;

/// What the transport's handlers share: the directory they admit into, the keys they check
/// and the budgets they enforce.
#[derive(Debug)]
pub(crate) struct NetState {
    /// The matches of this node.
    pub(crate) directory: Arc<Directory>,
    /// Verifies (and for the admin API, signs) match tokens.
    pub(crate) key: TokenKey,
    /// The admin API key.
    pub(crate) admin_key: String,
    /// Lifetime of tokens the admin API mints when the request names none.
    pub(crate) token_ttl: Duration,
    /// Counters.
    pub(crate) metrics: Arc<Metrics>,
    /// Per-player input budgets.
    pub(crate) limiter: InputLimiter,
    /// Per-address handshake budgets (Socket.IO CONNECT).
    pub(crate) handshakes: HandshakeLimiter,
    /// Per-address Engine.IO session budgets (a new session, before any Socket.IO work).
    pub(crate) sessions: HandshakeLimiter,
    /// Keeps the log of refused sessions to a line a second.
    pub(crate) session_log: conns::LogLimiter,
    /// Keeps the log of refused handshakes to a line a second.
    pub(crate) refusal_log: conns::LogLimiter,
    /// Keeps the log of closed connections to a line a second.
    pub(crate) disconnect_log: conns::LogLimiter,
    /// Per-connection budgets and sizes.
    pub(crate) limits: LimitConfig,
    /// Forwarded addresses, timeouts.
    pub(crate) net: NetConfig,
    /// Which browser origins may connect.
    pub(crate) origins: OriginPolicy,
    /// Whether the development keys are in use (they only work on loopback): enables the
    /// development endpoint `POST /dev/join`, and turns the per-address limits off — every
    /// client of a loopback server has a loopback address, so they would only stop a local
    /// bot swarm.
    pub(crate) dev_keys: bool,
    /// Cancelled when the server begins shutting down: handshakes are refused.
    pub(crate) shutdown: CancellationToken,
    /// When the server started (the clock of the drop windows).
    pub(crate) started: Instant,
    /// Places players in matches.
    pub(crate) matchmaker: Arc<crate::matchmaking::Matchmaker>,
    /// The matchmaking queue.
    pub(crate) queue: Arc<crate::matchmaking::queue::Queue>,
    /// Who a matchmaking request comes from.
    pub(crate) identities: crate::matchmaking::Identities,
    /// Per-address matchmaking budgets.
    pub(crate) matchmaking_addresses: HandshakeLimiter,
    /// Per-player matchmaking budgets.
    pub(crate) matchmaking_players: crate::ratelimit::KeyedLimiter<Arc<str>>,
    /// `--public-url`: where reservations tell clients to connect.
    pub(crate) public_url: Option<String>,
    /// The node registry, with `--redis-url` (set once the node listens).
    pub(crate) registry: Arc<std::sync::OnceLock<Arc<crate::cluster::Registry>>>,
    /// This node's checkpoints in Redis, with `--redis-url` and checkpoints on (set once the
    /// node listens).
    pub(crate) checkpoints: std::sync::OnceLock<Arc<crate::cluster::checkpoint::Checkpoints>>,
    /// Calls other nodes (placement).
    pub(crate) http: reqwest::Client,
    /// The Socket.IO server: its connections on this node and, in a cluster, on every node.
    pub(crate) sockets: Arc<dyn sockets::Sockets>,
    /// The long-polling sessions the server may end.
    pub(crate) polling: Arc<polling::PollingSessions>,
}

/// The Socket.IO server's builder, with every limit from the configuration; its adapter is
/// chosen by the caller.
pub(crate) fn socketio(limits: &LimitConfig, net: &NetConfig) -> SocketIoBuilder {
    SocketIo::builder()
        .with_parser(ParserConfig::msgpack())
        .max_payload(limits.max_message_bytes as u64)
        .ws_max_message_size(limits.max_message_bytes)
        .ws_max_frame_size(limits.max_message_bytes)
        // Client messages are small; a large read buffer is kept per connection for nothing.
        .ws_read_buffer_size(1024)
        .max_buffer_size(limits.socket_buffer)
        .connect_timeout(net.connect_timeout)
        .ping_interval(net.ping_interval)
        .ping_timeout(net.ping_timeout)
}

/// The full router: Socket.IO (`layer`), health, metrics, the admin API, the demo, the
/// dashboard, and the embedder's `extra` routes.
pub(crate) fn router<A: Adapter>(
    app: Arc<NetState>,
    layer: SocketIoLayer<A>,
    extra: Router,
) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(admin::routes(app.clone()))
        .merge(demo::routes(app.clone()))
        .merge(matchmaking::routes(app.clone()))
        .merge(operator::routes(app.clone()))
        .merge(stats::routes(app.clone()))
        .merge(extra)
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .layer(layer)
        // Outside the Socket.IO layer, so they see its requests before it takes them; the
        // origin check outermost.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            polling::gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            limit_sessions,
        ))
        .layer(axum::middleware::from_fn_with_state(app, origin::cors))
}

/// The client's address: the TCP peer, or the first `X-Forwarded-For` entry when the server
/// is configured to trust it.
pub(crate) fn client_ip(
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
    trust_forwarded_for: bool,
) -> Option<std::net::IpAddr> {
    if trust_forwarded_for
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(ip);
    }
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Refuses a new Engine.IO session (a Socket.IO request without `sid`) over the address's
/// budget with 429 `handshake_rate_limited`, before socketioxide allocates anything for it.
async fn limit_sessions(
    State(app): State<Arc<NetState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let new_session = req.uri().path().starts_with("/socket.io")
        && conns::engine_query(req.uri().query()).0.is_none();
    if new_session
        && !app.dev_keys
        && let Some(ip) = client_ip(req.headers(), req.extensions(), app.net.trust_forwarded_for)
        && !app.sessions.check(&ip)
    {
        app.metrics.sessions_refused.inc();
        if let Some(suppressed) = app.session_log.ready() {
            tracing::info!(%ip, suppressed, "Engine.IO session refused: handshake_rate_limited");
        }
        let body = serde_json::json!({
            "error": { "code": "handshake_rate_limited", "message": "too many new sessions from this address" }
        });
        return (axum::http::StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    }
    next.run(req).await
}

/// Readiness, for load balancers and orchestrators: 200 `ready` while the server takes new
/// matches, 503 `draining` from the moment a shutdown begins and 503 `full` while the room
/// limit is reached (`/healthz` stays 200 — the process is alive — until it exits).
async fn ready(State(app): State<Arc<NetState>>) -> (axum::http::StatusCode, &'static str) {
    if app.shutdown.is_cancelled() {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if app.directory.is_full() {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "full")
    } else {
        (axum::http::StatusCode::OK, "ready")
    }
}

async fn metrics(
    State(app): State<Arc<NetState>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        app.metrics.render(app.sockets.transports()),
    )
}
