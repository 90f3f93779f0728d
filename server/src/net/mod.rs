//! The transport: Socket.IO (msgpack parser) and the HTTP routes, on one axum router.

pub mod admin;
pub mod raw;
pub mod serve;
pub mod sink;
pub(crate) mod socket;
pub mod tls;

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
        // Client messages are small; a large read buffer is kept per connection for nothing.
        .ws_read_buffer_size(1024)
        .max_buffer_size(config.socket_buffer)
        .connect_timeout(config.connect_timeout())
        .ping_interval(Duration::from_millis(config.ping_interval_ms))
        .ping_timeout(Duration::from_millis(config.ping_timeout_ms))
        .build_layer()
}

/// Registers the handlers and returns the full router.
pub(crate) fn router(app: Arc<App>, io: &SocketIo, layer: SocketIoLayer) -> Router {
    socket::register(io, app.clone());
    let app_for_origin = app.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(admin::routes(app))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .layer(layer)
        // Outermost, so it sees Socket.IO requests before the Socket.IO layer takes them.
        .layer(axum::middleware::from_fn_with_state(
            app_for_origin,
            check_origin,
        ))
}

/// Refuses browser requests from origins not in `--allowed-origins` (when set) with 403.
/// Requests without an `Origin` header (native clients) pass.
async fn check_origin(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let allowed = &app.config.allowed_origins;
    let restricted = allowed.iter().any(|o| !o.is_empty());
    if restricted
        && let Some(origin) = req.headers().get(axum::http::header::ORIGIN)
        && !allowed
            .iter()
            .any(|o| origin.as_bytes() == o.trim().as_bytes())
    {
        let body = serde_json::json!({
            "error": { "code": "origin_not_allowed", "message": "this origin may not connect" }
        });
        return (axum::http::StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    next.run(req).await
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
