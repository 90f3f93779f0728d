//! The home page, the browser demo of the arena (`/demo/`, from `assets/demo`, served when
//! the catalog offers the arena) and the development-only endpoint that lets a page join
//! without holding the admin key (`POST /dev/join`, only while the development keys are in
//! use — they only work on loopback).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tickroom_shared::Role;
use tickroom_shared::limits::is_valid_id;

use super::NetState;
use super::admin::{ApiError, MintResponse, sign};
use crate::directory::{CreateError, MatchSpec};

const INDEX: &str = include_str!("../../assets/demo/index.html");
const DEMO_JS: &str = include_str!("../../assets/demo/demo.js");
/// `@tickroom/client`'s browser bundle, committed beside the demo (a test checks it is what
/// `npm run build` makes of the package's source); served at `/client/tickroom.js` for any
/// game's page, and at `/demo/tickroom.js` for the demo.
const CLIENT_JS: &str = include_str!("../../assets/demo/tickroom.js");

/// What `GET /` shows: where to go next (`{demo}`: the demo's line, when it is served).
const HOME: &str = r#"<!doctype html><meta charset="utf-8"><title>Tickroom</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}</style>
<h1>Tickroom</h1>
<p>An authoritative game room server: Socket.IO + MessagePack at <code>/socket.io/</code>.</p>
<ul>
{demo}<li><a href="/dashboard/">/dashboard/</a> — the live dashboard (asks for the admin key)</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics; <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a></li>
<li><code>/admin/…</code> — the admin API (docs/PROTOCOL.md §8)</li>
</ul>"#;

const DEMO_LINE: &str = "<li><a href=\"/demo/\">/demo/</a> — play the arena in the browser (with the development keys)</li>\n";

/// The game the demo page plays; without it in the catalog, `/demo/` is not served.
pub(crate) const DEMO_GAME: &str = "arena";

/// Seats of a match the development endpoint creates.
const DEV_MATCH_SEATS: u32 = 16;

/// The home page, the demo's pages when the catalog offers the arena, and with the
/// development keys the endpoint pages join through.
pub(crate) fn routes(state: Arc<NetState>) -> Router {
    let demo = state.directory.games().any(|g| g == DEMO_GAME);
    let home = axum::response::Html(HOME.replace("{demo}", if demo { DEMO_LINE } else { "" }));
    let pages = Router::new()
        .route("/", get(move || std::future::ready(home.clone())))
        .route("/client/tickroom.js", get(|| async { page(JS, CLIENT_JS) }));
    let pages = if demo {
        pages.merge(demo_pages())
    } else {
        pages
    };
    if !state.dev_keys {
        return pages;
    }
    pages.merge(
        Router::new()
            .route("/dev/join", post(dev_join))
            .with_state(state),
    )
}

/// `/demo/` and its scripts.
fn demo_pages() -> Router {
    Router::new()
        .route("/demo", get(|| async { Redirect::permanent("/demo/") }))
        .route(
            "/demo/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route("/demo/demo.js", get(|| async { page(JS, DEMO_JS) }))
        .route("/demo/tickroom.js", get(|| async { page(JS, CLIENT_JS) }))
}

const JS: &str = "text/javascript; charset=utf-8";

fn page(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The body of `POST /dev/join`; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevJoin {
    /// The match to join, created if it does not exist (default `demo`).
    #[serde(default)]
    match_id: Option<String>,
    /// Its game, when it is created (default `arena`).
    #[serde(default)]
    game: Option<String>,
    /// Who to join as (default: a new `guest-…` id).
    #[serde(default)]
    player_id: Option<String>,
}

/// Joins (creating if needed) a match and answers with a player token for it: what a game's
/// backend would do, for pages and quick starts with the development keys.
async fn dev_join(
    State(app): State<Arc<NetState>>,
    body: axum::body::Bytes,
) -> Result<Json<MintResponse>, ApiError> {
    let req: DevJoin = if body.iter().all(u8::is_ascii_whitespace) {
        DevJoin::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?
    };
    let match_id = req.match_id.unwrap_or_else(|| "demo".to_owned());
    let player_id = req
        .player_id
        .unwrap_or_else(|| format!("guest-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]));
    if !is_valid_id(&player_id) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_player_id",
            "player_id must be 1-64 characters of A-Z a-z 0-9 - _ . :",
        ));
    }
    // An ended match keeps its id for the retention period: a new demo takes it over.
    if let Some(m) = app.directory.get(&match_id)
        && m.state().is_over()
    {
        app.directory
            .end(&match_id, tickroom_shared::EndReason::Admin);
    }
    let spec = MatchSpec {
        game: req.game.unwrap_or_else(|| DEMO_GAME.to_owned()),
        match_id: Some(match_id.clone()),
        tick_rate: None,
        snapshot_rate: None,
        max_players: Some(DEV_MATCH_SEATS),
        listing: None,
    };
    let m = match app.directory.create(spec) {
        Ok(m) => m,
        Err(CreateError::Exists) => app.directory.get(&match_id).ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "match_exists",
                "the match was ending; try again",
            )
        })?,
        Err(e) => return Err(e.into()),
    };
    let ttl = app.token_ttl.as_secs();
    Ok(Json(sign(&app, m.info(), player_id, Role::Player, ttl)?))
}
