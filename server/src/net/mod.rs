//! The transport: Socket.IO (msgpack parser) and the HTTP routes, on one axum router.

mod admin;
mod demo;
mod origin;
mod raw;
pub(crate) mod serve;
pub(crate) mod sink;
mod socket;
mod stats;
pub(crate) mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{ParserConfig, SocketIo};
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
    /// Per-address handshake budgets.
    pub(crate) handshakes: HandshakeLimiter,
    /// Per-connection budgets and sizes.
    pub(crate) limits: LimitConfig,
    /// Forwarded addresses, timeouts.
    pub(crate) net: NetConfig,
    /// Which browser origins may connect.
    pub(crate) origins: OriginPolicy,
    /// Whether the development keys are in use (they only work on loopback): enables the
    /// development endpoint `POST /dev/join`.
    pub(crate) dev_keys: bool,
    /// Cancelled when the server begins shutting down: handshakes are refused.
    pub(crate) shutdown: CancellationToken,
    /// When the server started (the clock of the drop windows).
    pub(crate) started: Instant,
}

/// Builds the Socket.IO layer and its handle, with every limit from the configuration.
pub(crate) fn socketio(limits: &LimitConfig, net: &NetConfig) -> (SocketIoLayer, SocketIo) {
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
        .build_layer()
}

/// Registers the Socket.IO handlers on `io`: from then on, `io` admits clients into `app`'s
/// matches, and their rooms can broadcast to them.
pub(crate) fn register(app: Arc<NetState>, io: &SocketIo) {
    socket::register(io, app);
}

/// The full router: Socket.IO (`layer`), health, metrics, the admin API, the demo and the
/// dashboard.
pub(crate) fn router(app: Arc<NetState>, io: SocketIo, layer: SocketIoLayer) -> Router {
    let app_for_origin = app.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(admin::routes(app.clone()))
        .merge(demo::routes(app.clone()))
        .merge(stats::routes(app, io))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .layer(layer)
        // Outermost, so it sees Socket.IO requests before the Socket.IO layer takes them.
        .layer(axum::middleware::from_fn_with_state(
            app_for_origin,
            origin::cors,
        ))
}

async fn metrics(
    State(app): State<Arc<NetState>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        app.metrics.render(),
    )
}
