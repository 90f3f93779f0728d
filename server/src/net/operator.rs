//! What an operator does to players wherever they are: find and kick a player, and announce
//! a message to everyone. In a cluster these go through the Redis adapter to every node, so
//! any node's admin API reaches every player.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tickroom_shared::limits::{MAX_ID_LEN, is_valid_id};
use tickroom_shared::{Announcement, ErrorCode};

use super::NetState;
use super::admin::{ApiError, redis_unavailable, require_admin};

/// The longest announcement, in characters.
pub const MAX_ANNOUNCEMENT_CHARS: usize = 1_000;

/// The operator's routes, behind the admin key.
pub(crate) fn routes(app: Arc<NetState>) -> Router {
    Router::new()
        .route("/admin/players/{id}", get(find_player))
        .route("/admin/players/{id}/kick", post(kick_player))
        .route("/admin/announce", post(announce))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            require_admin,
        ))
        .with_state(app)
}

fn checked_player(id: &str) -> Result<(), ApiError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("a player id is 1–{MAX_ID_LEN} ASCII letters, digits, '-', '_', '.' or ':'"),
        ))
    }
}

/// `GET /admin/players/{id}`: how many game connections the player has, on every node.
async fn find_player(
    State(app): State<Arc<NetState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    checked_player(&id)?;
    let connections = app
        .sockets
        .player_connections(&id)
        .await
        .map_err(redis_unavailable)?;
    Ok(Json(json!({ "player": id, "connections": connections })))
}

/// `POST /admin/players/{id}/kick`: every game connection of the player, on every node, gets
/// the error `kicked` and is disconnected; the seats are given back. With Redis away, the
/// player is kicked from this node and the answer is 503.
async fn kick_player(
    State(app): State<Arc<NetState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    checked_player(&id)?;
    let counted = app.sockets.player_connections(&id).await;
    let kicked = app
        .sockets
        .disconnect_player(&id, ErrorCode::Kicked)
        .await
        .map_err(redis_unavailable);
    let connections = counted.map_err(redis_unavailable)?;
    kicked?;
    tracing::info!(player = %id, connections, "player kicked");
    Ok(Json(json!({ "player": id, "connections": connections })))
}

/// The body of `POST /admin/announce`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Announce {
    message: String,
}

/// `POST /admin/announce`: every connection of every node, lobby included, gets the event
/// `announcement`.
async fn announce(
    State(app): State<Arc<NetState>>,
    body: Result<Json<Announce>, JsonRejection>,
) -> Result<Json<Announcement>, ApiError> {
    let Json(Announce { message }) = body?;
    let chars = message.chars().count();
    if chars == 0 || chars > MAX_ANNOUNCEMENT_CHARS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("message must be 1–{MAX_ANNOUNCEMENT_CHARS} characters"),
        ));
    }
    let announcement = Announcement {
        message,
        sent_at_ms: tickroom_shared::token::unix_now_ms(),
    };
    app.sockets
        .announce(announcement.clone())
        .await
        .map_err(redis_unavailable)?;
    tracing::info!(chars, "announcement sent");
    Ok(Json(announcement))
}
