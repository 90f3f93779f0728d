//! The transport: Socket.IO (msgpack parser) and the HTTP routes, on one axum router.

pub mod admin;
pub mod raw;
pub mod sink;
pub(crate) mod socket;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{ParserConfig, SocketIo};

use crate::App;
use crate::config::Config;

/// Admin request bodies are small JSON documents.
const ADMIN_BODY_LIMIT: usize = 64 * 1024;

/// Builds the Socket.IO layer and its handle, with every limit from `config`.
pub fn socketio(config: &Config) -> (SocketIoLayer, SocketIo) {
    SocketIo::builder()
        .with_parser(ParserConfig::msgpack())
        .max_payload(config.max_message_bytes as u64)
        .ws_max_message_size(config.max_message_bytes)
        .ws_max_frame_size(config.max_message_bytes)
        .ws_read_buffer_size(4 * 1024)
        .max_buffer_size(config.socket_buffer)
        .connect_timeout(config.connect_timeout())
        .ping_interval(Duration::from_millis(config.ping_interval_ms))
        .ping_timeout(Duration::from_millis(config.ping_timeout_ms))
        .build_layer()
}

/// Registers the handlers and returns the full router.
pub(crate) fn router(app: Arc<App>, io: &SocketIo, layer: SocketIoLayer) -> Router {
    socket::register(io, app.clone());
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(admin::routes(app))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .layer(layer)
}

async fn metrics(
    State(app): State<Arc<App>>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        app.metrics.render(),
    )
}
