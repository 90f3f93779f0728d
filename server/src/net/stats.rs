//! The live dashboard (`/dashboard/`), the playback page of recorded matches
//! (`/dashboard/replay.html`), and what the dashboard reads: `GET /admin/stats`, the node's totals
//! and one page of its matches, sorted, so a node with thousands of rooms answers with the
//! few rows a screen shows.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tickroom_shared::error::ALL as ALL_CODES;
use tickroom_shared::token::unix_now;

use super::NetState;
use super::admin::{ApiError, require_admin};
use crate::directory::Match;

const INDEX: &str = include_str!("../../assets/dashboard/index.html");
const SCRIPT: &str = include_str!("../../assets/dashboard/dashboard.js");
/// The playback page of a recorded match (docs/REPLAY.md).
const REPLAY: &str = include_str!("../../assets/dashboard/replay.html");
const REPLAY_SCRIPT: &str = include_str!("../../assets/dashboard/replay.js");

/// Most matches one stats request lists.
const MAX_PAGE: usize = 200;

/// The dashboard's pages (public: they hold nothing; the admin key is asked for in the page)
/// and the stats endpoint (behind the admin key).
pub(crate) fn routes(app: Arc<NetState>) -> Router {
    let api = Router::new()
        .route("/admin/stats", get(stats))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            require_admin,
        ))
        .with_state(app);
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::permanent("/dashboard/") }),
        )
        .route(
            "/dashboard/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/dashboard/dashboard.js",
            get(|| async { page("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/dashboard/replay.html",
            get(|| async { page("text/html; charset=utf-8", REPLAY) }),
        )
        .route(
            "/dashboard/replay.js",
            get(|| async { page("text/javascript; charset=utf-8", REPLAY_SCRIPT) }),
        )
        .merge(api)
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// How `GET /admin/stats` orders the matches.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum SortBy {
    /// Most players first.
    #[default]
    Players,
    /// Slowest ticks first.
    Tick,
    /// Latest ticks first.
    Lateness,
    /// Most snapshot bytes first.
    Bytes,
    /// Oldest first.
    Age,
    /// By id.
    Id,
}

/// Query of `GET /admin/stats`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    #[serde(default)]
    sort: SortBy,
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    offset: usize,
}

fn default_limit() -> usize {
    20
}

#[derive(Debug, Serialize)]
struct Stats {
    uptime_secs: u64,
    totals: Totals,
    matches: MatchPage,
}

#[derive(Debug, Serialize)]
struct Totals {
    /// Matches listed (running, waiting, or ended and retained).
    matches: usize,
    /// Matches whose room has not closed.
    live: usize,
    /// Authenticated connections.
    connections: u64,
    /// Authenticated connections by their current transport.
    transports: crate::metrics::Transports,
    ticks: u64,
    tick_overruns: u64,
    snapshot_bytes: u64,
    snapshots_dropped: u64,
    inputs_accepted: u64,
    inputs_rate_limited: u64,
    handshakes_refused: u64,
    origins_refused: u64,
    /// Errors sent to clients, by code (codes never sent are left out).
    errors: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Debug, Serialize)]
struct MatchPage {
    total: usize,
    offset: usize,
    sort: SortBy,
    rows: Vec<MatchRow>,
}

/// One match, as the dashboard shows it.
#[derive(Debug, Serialize)]
struct MatchRow {
    id: String,
    game: &'static str,
    state: &'static str,
    players: usize,
    disconnected: usize,
    spectators: usize,
    age_secs: u64,
    tick: u64,
    tick_rate: u32,
    /// Recent tick duration, microseconds.
    tick_us: u64,
    tick_max_us: u64,
    /// Recent tick lateness, microseconds.
    late_us: u64,
    tick_overruns: u64,
    snapshot_bytes: u64,
    snapshots_dropped: u64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn row(m: &Match, now: u64) -> MatchRow {
    let info = m.info();
    let seats = m.seats_view();
    let stats = m.stats();
    MatchRow {
        id: info.id.to_string(),
        game: info.game,
        state: m.state().as_str(),
        players: seats.players.len(),
        disconnected: seats.disconnected.len(),
        spectators: seats.spectators,
        age_secs: now.saturating_sub(info.created_at),
        tick: m.tick(),
        tick_rate: info.tick_rate,
        tick_us: micros(stats.tick_duration),
        tick_max_us: micros(stats.tick_duration_max),
        late_us: micros(stats.tick_lateness),
        tick_overruns: stats.tick_overruns,
        snapshot_bytes: stats.snapshot_bytes,
        snapshots_dropped: stats.snapshots_dropped,
    }
}

async fn stats(
    State(app): State<Arc<NetState>>,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Stats>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let now = unix_now();
    let all = app.directory.list();
    let mut rows: Vec<MatchRow> = all.iter().map(|m| row(m, now)).collect();
    match q.sort {
        SortBy::Players => rows.sort_by(|a, b| b.players.cmp(&a.players).then(a.id.cmp(&b.id))),
        SortBy::Tick => rows.sort_by_key(|r| std::cmp::Reverse(r.tick_us)),
        SortBy::Lateness => rows.sort_by_key(|r| std::cmp::Reverse(r.late_us)),
        SortBy::Bytes => rows.sort_by_key(|r| std::cmp::Reverse(r.snapshot_bytes)),
        SortBy::Age => rows.sort_by_key(|r| std::cmp::Reverse(r.age_secs)),
        SortBy::Id => {}
    }
    let total = rows.len();
    let rows: Vec<MatchRow> = rows
        .into_iter()
        .skip(q.offset)
        .take(q.limit.min(MAX_PAGE))
        .collect();
    let transports = app.sockets.transports();
    let m = &app.metrics;
    let errors = ALL_CODES
        .iter()
        .map(|c| (c.as_str(), m.errors_sent(*c)))
        .filter(|(_, n)| *n > 0)
        .collect();
    Ok(Json(Stats {
        uptime_secs: app.started.elapsed().as_secs(),
        totals: Totals {
            matches: total,
            live: app.directory.live(),
            connections: transports.total(),
            transports,
            ticks: m.ticks.get(),
            tick_overruns: m.tick_overruns.get(),
            snapshot_bytes: m.snapshot_bytes.get(),
            snapshots_dropped: m.snapshots_dropped.get(),
            inputs_accepted: m.inputs_accepted.get(),
            inputs_rate_limited: m.inputs_rate_limited.get(),
            handshakes_refused: m.handshakes_refused.get(),
            origins_refused: m.origins_refused.get(),
            errors,
        },
        matches: MatchPage {
            total,
            offset: q.offset,
            sort: q.sort,
            rows,
        },
    }))
}
