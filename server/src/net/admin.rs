//! The HTTP admin API: create, list, inspect and end matches, and mint their tokens.
//!
//! Every route under `/admin` needs `Authorization: Bearer <admin key>`; the key is compared in
//! constant time. Errors are JSON: `{"error": {"code": "...", "message": "..."}}`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use tickroom_shared::limits::is_valid_id;
use tickroom_shared::{EndReason, MatchClaims, Role};

use super::NetState;
use crate::cluster::directory::{InternalCreate, InternalReserve, ReservationWire};
use crate::cluster::placement;
use crate::directory::{CreateError, Listing, Match, MatchInfo, MatchSpec};
use crate::results::MatchResult;

/// Longest token lifetime the admin API mints, in seconds (7 days).
pub const MAX_TOKEN_TTL_SECS: u64 = 7 * 24 * 3600;

/// The body of `POST /admin/matches`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMatch {
    /// The game to run (e.g. `"arena"`).
    pub game: String,
    /// The match id; a random one when absent.
    #[serde(default)]
    pub match_id: Option<String>,
    /// Ticks per second; the server's default when absent.
    #[serde(default)]
    pub tick_rate: Option<u32>,
    /// Snapshots per second, a divisor of the tick rate; the tick rate when absent.
    #[serde(default)]
    pub snapshot_rate: Option<u32>,
    /// Player seats; the server's default when absent.
    #[serde(default)]
    pub max_players: Option<u32>,
    /// With `--redis-url`: the node to create it on; the least loaded when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl From<CreateMatch> for MatchSpec {
    fn from(req: CreateMatch) -> Self {
        Self {
            game: req.game,
            match_id: req.match_id,
            tick_rate: req.tick_rate,
            snapshot_rate: req.snapshot_rate,
            max_players: req.max_players,
            listing: None,
        }
    }
}

/// A match as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MatchView {
    /// Match id.
    pub id: String,
    /// This instance of the match (tokens bound to it join no other instance of the id).
    pub instance: String,
    /// Game name.
    pub game: &'static str,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Snapshots per second.
    pub snapshot_rate: u32,
    /// Player seats.
    pub max_players: u32,
    /// Spectator seats.
    pub max_spectators: u32,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// `waiting` (no player has joined yet), `running` or `ended`.
    pub state: &'static str,
    /// Why it ended, once it has.
    pub end_reason: Option<EndReason>,
    /// The room's last tick.
    pub tick: u64,
    /// Ids of players holding a seat (connected or held), sorted.
    pub players: Vec<String>,
    /// Ids of players whose seat is held after a dropped connection, sorted.
    pub disconnected: Vec<String>,
    /// Ids of players with a seat reserved by matchmaking who have not connected yet, sorted.
    pub reserved: Vec<String>,
    /// Connected spectators.
    pub spectators: usize,
    /// Set for a match matchmaking created: its labels, privacy and join code.
    pub matchmaking: Option<ListingView>,
}

/// How matchmaking offers a match.
#[derive(Debug, Clone, Serialize)]
pub struct ListingView {
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Joined by code or id only.
    pub private: bool,
    /// Its join code.
    pub code: Option<String>,
}

impl MatchView {
    /// The view of `m` now.
    pub fn of(m: &Match) -> Self {
        let info = m.info();
        let state = m.state();
        let seats = m.seats_view();
        Self {
            id: info.id.to_string(),
            instance: info.instance.to_string(),
            game: info.game,
            tick_rate: info.tick_rate,
            snapshot_rate: info.snapshot_rate,
            max_players: info.max_players,
            max_spectators: info.max_spectators,
            created_at: info.created_at,
            state: state.as_str(),
            end_reason: state.end_reason(),
            tick: m.tick(),
            players: seats.players,
            disconnected: seats.disconnected,
            reserved: seats.reserved,
            spectators: seats.spectators,
            matchmaking: info.listing.as_deref().map(|l| ListingView {
                labels: l.labels.clone(),
                private: l.private,
                code: l.code.as_deref().map(str::to_owned),
            }),
        }
    }
}

/// An admin API error: status, stable code, message.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "match_not_found",
            "no match with this id",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        let status = match e {
            CreateError::Exists => StatusCode::CONFLICT,
            CreateError::TooManyRooms(_) | CreateError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
    }
}

/// The admin routes, already guarded by the admin key.
pub(crate) fn routes(app: Arc<NetState>) -> Router {
    Router::new()
        .route("/admin/games", get(list_games))
        .route("/admin/matches", post(create_match).get(list_matches))
        .route("/admin/matches/{id}", get(get_match).delete(end_match))
        .route("/admin/matches/{id}/tokens", post(mint_token))
        .route("/admin/nodes", get(list_nodes))
        .route("/admin/directory", get(list_directory))
        .route("/admin/internal/create", post(internal_create))
        .route("/admin/internal/reserve", post(internal_reserve))
        .route(
            "/admin/internal/adopt",
            post(super::migration::internal_adopt),
        )
        .route(
            "/admin/matches/{id}/move",
            post(super::migration::move_route),
        )
        .route("/admin/results", get(list_results))
        .route("/admin/results/{id}", get(get_result))
        .route("/admin/results/{id}/recording", get(get_recording))
        .route("/admin/results/{id}/playback", get(get_playback))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            require_admin,
        ))
        .with_state(app)
}

/// Lets only requests with the admin key through.
pub(super) async fn require_admin(
    State(app): State<Arc<NetState>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok: bool = presented.as_bytes().ct_eq(app.admin_key.as_bytes()).into();
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong admin key (Authorization: Bearer <key>)",
        )
        .into_response();
    }
    next.run(req).await
}

async fn list_games(State(app): State<Arc<NetState>>) -> Json<serde_json::Value> {
    let games: Vec<&str> = app.directory.games().collect();
    Json(json!({ "games": games }))
}

async fn create_match(
    State(app): State<Arc<NetState>>,
    headers: HeaderMap,
    body: Result<Json<CreateMatch>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(req) = body?;
    let registry = app.registry.get();
    if let Some(registry) = registry
        && !headers.contains_key(placement::PLACED_HEADER)
    {
        let nodes =
            placement::candidates(registry, &app.directory, app.shutdown.is_cancelled()).await;
        let chosen = match &req.node {
            Some(id) => vec![nodes.into_iter().find(|n| &n.id == id).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "node_unavailable",
                    "no such node in the registry, or it is draining or full",
                )
            })?],
            None => nodes,
        };
        // The least loaded node that answers; this node creates it itself when it is next.
        for node in chosen {
            if node.id == registry.id() {
                break;
            }
            match forward_create(&app, &node, &req).await {
                Ok(answer) => return Ok(answer),
                Err(e) => {
                    tracing::warn!(node = %node.id, url = %node.url, error = %e, "placement: the node did not take the match; trying the next");
                }
            }
        }
    }
    if req
        .node
        .as_deref()
        .is_some_and(|n| registry.is_none_or(|r| r.id() != n))
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "node_unavailable",
            "no such node in the registry, or it is draining or full",
        ));
    }
    let m = app.directory.create(req.into())?;
    let mut view = serde_json::to_value(MatchView::of(&m)).unwrap_or_default();
    if let Some(r) = registry {
        view["node"] = r.id().into();
        view["url"] = r.url().into();
    }
    Ok((StatusCode::CREATED, Json(view)))
}

/// Creates the match on `node`: its answer, created or refused, as it gave it.
async fn forward_create(
    app: &NetState,
    node: &crate::cluster::NodeInfo,
    req: &CreateMatch,
) -> Result<(StatusCode, Json<serde_json::Value>), reqwest::Error> {
    let mut body = req.clone();
    body.node = None;
    forward(app, node, "/admin/matches", &body).await
}

/// `POST`s `body` to `path` of the admin API of `node` (with the shared admin key, marked as
/// placed so it is not forwarded again): its answer, as it gave it.
async fn forward(
    app: &NetState,
    node: &crate::cluster::NodeInfo,
    path: &str,
    body: &impl Serialize,
) -> Result<(StatusCode, Json<serde_json::Value>), reqwest::Error> {
    let resp = placement::post(&app.http, &app.admin_key, node.reach(), path, body).await?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let answer: serde_json::Value = resp.json().await?;
    Ok((status, Json(answer)))
}

#[derive(Serialize)]
struct MatchList {
    matches: Vec<MatchView>,
}

async fn list_matches(State(app): State<Arc<NetState>>) -> Json<MatchList> {
    Json(MatchList {
        matches: app
            .directory
            .list()
            .iter()
            .map(|m| MatchView::of(m))
            .collect(),
    })
}

async fn get_match(
    State(app): State<Arc<NetState>>,
    Path(id): Path<String>,
) -> Result<Json<MatchView>, ApiError> {
    let m = app.directory.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(Json(MatchView::of(&m)))
}

async fn end_match(
    State(app): State<Arc<NetState>>,
    Path(id): Path<String>,
) -> Result<Json<MatchView>, ApiError> {
    let m = app
        .directory
        .end(&id, EndReason::Admin)
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(MatchView::of(&m)))
}

/// Body of `POST /admin/matches/{id}/tokens`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    player_id: String,
    #[serde(default = "default_role")]
    role: Role,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

fn default_role() -> Role {
    Role::Player
}

/// A signed token and what it admits to.
#[derive(Debug, Serialize)]
pub(super) struct MintResponse {
    token: String,
    match_id: String,
    player_id: String,
    role: Role,
    expires_at: u64,
    /// In a cluster: the node that holds the match, and where players connect to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

async fn mint_token(
    State(app): State<Arc<NetState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<MintRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(req) = body?;
    let Some(m) = app.directory.get(&id) else {
        // In a cluster, the node that holds the match signs it (it knows the instance); a
        // request another node forwarded is not forwarded again.
        if headers.contains_key(placement::PLACED_HEADER) {
            return Err(ApiError::not_found());
        }
        return mint_elsewhere(&app, &id, &req).await;
    };
    if !is_valid_id(&req.player_id) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_player_id",
            "player_id must be 1-64 characters of A-Z a-z 0-9 - _ . :",
        ));
    }
    let ttl = req.ttl_secs.unwrap_or(app.token_ttl.as_secs());
    if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_ttl",
            format!("ttl_secs must be within 1..={MAX_TOKEN_TTL_SECS}"),
        ));
    }
    let mut minted = sign(&app, m.info(), req.player_id, req.role, ttl)?;
    if let Some(registry) = app.registry.get() {
        minted.node = Some(registry.id().to_owned());
        minted.url = Some(registry.url().to_owned());
    }
    Ok((
        StatusCode::OK,
        Json(serde_json::to_value(minted).unwrap_or_default()),
    ))
}

/// Mints a token for match `id` of another node, through that node's admin API.
async fn mint_elsewhere(
    app: &NetState,
    id: &str,
    req: &MintRequest,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Some(registry) = app.registry.get() else {
        return Err(ApiError::not_found());
    };
    let node = registry
        .locate(id)
        .await
        .map_err(redis_unavailable)?
        .ok_or_else(ApiError::not_found)?;
    forward(app, &node, &format!("/admin/matches/{id}/tokens"), req)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "node_unavailable",
                format!("the node that holds the match does not answer: {e}"),
            )
        })
}

/// Signs a token for `player_id` in match `m` (bound to this instance of it), valid `ttl_secs`.
pub(super) fn sign(
    app: &NetState,
    m: &MatchInfo,
    player_id: String,
    role: Role,
    ttl_secs: u64,
) -> Result<MintResponse, ApiError> {
    let claims = MatchClaims::new(m.id.as_ref(), player_id, role, ttl_secs, app.key.issuer())
        .for_instance(m.instance.as_ref());
    let token = app
        .key
        .sign(&claims)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(MintResponse {
        token,
        match_id: claims.match_id,
        player_id: claims.player_id,
        role: claims.role,
        expires_at: claims.exp,
        node: None,
        url: None,
    })
}

/// Query of `GET /admin/results`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultsQuery {
    #[serde(default = "default_results_limit")]
    limit: usize,
}

fn default_results_limit() -> usize {
    50
}

#[derive(Debug, Serialize)]
struct ResultList {
    results: Vec<MatchResult>,
}

/// The results store, or 404 `results_disabled`.
fn store(app: &NetState) -> Result<&crate::results::ResultStore, ApiError> {
    app.directory.results().map(|s| &**s).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "results_disabled",
            "this server keeps no results",
        )
    })
}

/// 503 `results_unavailable`, for a store that failed (logged).
fn store_failed(e: crate::results::StoreError) -> ApiError {
    tracing::error!(error = %e, "results store");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "results_unavailable",
        "the results store cannot be reached",
    )
}

async fn list_results(
    State(app): State<Arc<NetState>>,
    query: Result<axum::extract::Query<ResultsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ResultList>, ApiError> {
    let axum::extract::Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let results = store(&app)?.recent(q.limit).await.map_err(store_failed)?;
    Ok(Json(ResultList { results }))
}

async fn get_result(
    State(app): State<Arc<NetState>>,
    Path(id): Path<String>,
) -> Result<Json<MatchResult>, ApiError> {
    store(&app)?
        .get(&id)
        .await
        .map_err(store_failed)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "result_not_found",
                "no result for this match id",
            )
        })
}

/// The match's command log (docs/REPLAY.md) as `application/octet-stream`, with
/// `x-tickroom-recording-complete: true` when it holds the whole match; 404
/// `recording_not_found` if none is kept.
async fn get_recording(
    State(app): State<Arc<NetState>>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let (log, complete) = recording(&app, &id).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/octet-stream"),
            (
                axum::http::HeaderName::from_static("x-tickroom-recording-complete"),
                if complete { "true" } else { "false" },
            ),
        ],
        log,
    )
        .into_response())
}

/// The recording kept for `id` and whether it is whole, or 404 `recording_not_found`.
async fn recording(app: &NetState, id: &str) -> Result<(Vec<u8>, bool), ApiError> {
    store(app)?
        .recording(id)
        .await
        .map_err(store_failed)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "recording_not_found",
                "no recording kept for this match id",
            )
        })
}

/// Most bytes of snapshots one playback holds (their msgpack; the JSON is about twice that).
pub const MAX_PLAYBACK_BYTES: usize = 16 << 20;

/// The match replayed from its recording as a spectator watched it, for a page to play back:
/// `{game, match_id, tick_rate, snapshot_rate, ticks, complete, truncated, snapshots}`, the
/// snapshots in protocol order as JSON arrays (what `StateStore.apply` takes). 422
/// `replay_failed` if the recording does not replay.
async fn get_playback(
    State(app): State<Arc<NetState>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (log, complete) = recording(&app, &id).await?;
    let catalog = app.directory.catalog().clone();
    // Replaying and converting megabytes of snapshots: off the I/O threads.
    let body = tokio::task::spawn_blocking(move || {
        let played = catalog.playback(&log, MAX_PLAYBACK_BYTES)?;
        let config = played.report.header.config;
        // The encoder's own output: every snapshot decodes.
        let snapshots: Vec<serde_json::Value> = played
            .snapshots
            .iter()
            .filter_map(|s| rmpv::decode::read_value(&mut &s[..]).ok())
            .filter_map(|v| serde_json::to_value(v).ok())
            .collect();
        Ok::<_, tickroom_engine::replay::ReplayError>(json!({
            "game": played.report.header.game,
            "match_id": played.report.header.match_id,
            "tick_rate": config.tick_rate,
            "snapshot_rate": config.tick_rate / config.snapshot_interval.max(1),
            "ticks": played.report.ticks,
            "complete": complete,
            "truncated": played.truncated,
            "snapshots": snapshots,
        }))
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "cancelled",
        )
    })?
    .map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "replay_failed",
            e.to_string(),
        )
    })?;
    Ok(Json(body))
}

/// The registry, or 404 `cluster_disabled` on a node running alone.
fn registry(app: &NetState) -> Result<&crate::cluster::Registry, ApiError> {
    app.registry.get().map(|r| &**r).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "cluster_disabled",
            "this node runs alone (no --redis-url)",
        )
    })
}

/// 503 `redis_unavailable`: what needs Redis (the registry, the other nodes) failed with `e`.
pub(super) fn redis_unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "redis_unavailable",
        e.to_string(),
    )
}

/// The nodes in the registry (with `--redis-url`).
async fn list_nodes(State(app): State<Arc<NetState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let registry = registry(&app)?;
    let nodes = registry.nodes().await.map_err(redis_unavailable)?;
    Ok(Json(json!({ "node": registry.id(), "nodes": nodes })))
}

/// The cluster's match directory: every node's live matches — this node's now, the others' as
/// of their last heartbeats — with the node of each.
async fn list_directory(
    State(app): State<Arc<NetState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let registry = registry(&app)?;
    let remote = registry.remote_matches().await.map_err(redis_unavailable)?;
    let row = |node: &str, url: &str, m: crate::cluster::registry::MatchEntry| {
        let mut v = serde_json::to_value(m).unwrap_or_default();
        v["node"] = node.into();
        v["url"] = url.into();
        v
    };
    let mut matches: Vec<serde_json::Value> = app
        .directory
        .select(|m| !m.state().is_over())
        .iter()
        .map(|m| {
            row(
                registry.id(),
                registry.url(),
                crate::cluster::registry::MatchEntry::of(m),
            )
        })
        .collect();
    matches.extend(remote.into_iter().map(|(n, m)| row(&n.id, &n.url, m)));
    Ok(Json(json!({ "matches": matches })))
}

/// Another node's matchmaking creates a match here (docs/SCALING.md).
async fn internal_create(
    State(app): State<Arc<NetState>>,
    body: Result<Json<InternalCreate>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(req) = body?;
    let m = app.directory.create(MatchSpec {
        game: req.game,
        max_players: Some(req.max_players),
        listing: Some(Listing {
            labels: req.labels,
            private: req.private,
            code: Some(req.code.into()),
        }),
        ..MatchSpec::default()
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "match_id": m.info().id.as_ref() })),
    ))
}

/// Another node's matchmaking reserves a seat in a match here (docs/SCALING.md).
async fn internal_reserve(
    State(app): State<Arc<NetState>>,
    body: Result<Json<InternalReserve>, JsonRejection>,
) -> Result<Json<ReservationWire>, ApiError> {
    let Json(req) = body?;
    if !is_valid_id(&req.player) || req.ttl_secs == 0 || req.ttl_secs > MAX_TOKEN_TTL_SECS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            "player must be a valid id and ttl_secs within 1..=604800",
        ));
    }
    let r = app.directory.local_reserve(
        &req.match_id,
        &req.player.as_str().into(),
        std::time::Duration::from_secs(req.ttl_secs),
    )?;
    app.metrics.seats_reserved.inc();
    Ok(Json(ReservationWire::from(&r)))
}
