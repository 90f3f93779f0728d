//! The matchmaking API for clients (docs/MATCHMAKING.md): HTTP + JSON under `/matchmaking`.
//!
//! Every request is made by a player: a player token in `Authorization: Bearer <token>`, or,
//! where allowed, nobody in particular (a fresh anonymous identity). Requests are rate-limited
//! per client address (not with the development keys) and per identity. Every seat comes as a
//! reservation: `{url, match_id, token, expires, …}`, redeemed by connecting to `url` with
//! `token` before `expires`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tickroom_shared::{MatchClaims, Role};

use super::NetState;
use super::admin::ApiError;
use crate::directory::CreateError;
use crate::matchmaking::queue::{Entry, QueueError, TicketStatus};
use crate::matchmaking::{Identity, ListFilter, MatchmakingError, Reservation, Wanted};

/// The rating of a player whose token carries none.
pub const DEFAULT_RATING: f64 = 1500.0;
/// The longest a status request waits for its ticket to end, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

/// The body of `join-or-create` and `create`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    game: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    max_players: Option<u32>,
    /// `create` only.
    #[serde(default)]
    private: bool,
}

/// The body of `join`: exactly one of the two.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinAsk {
    #[serde(default)]
    match_id: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// A seat held for the caller: connect to `url` with `token` before `expires`.
#[derive(Debug, Serialize)]
pub(super) struct SeatReservation {
    /// Where to connect (Socket.IO at `/socket.io/`).
    url: String,
    match_id: String,
    game: &'static str,
    /// Who the seat is for (an anonymous caller learns its id here).
    player_id: String,
    /// The match token that redeems the reservation (and reconnects later, until it expires).
    token: String,
    /// When the reservation lapses, in seconds since the Unix epoch.
    expires: u64,
    /// Seconds from now until it lapses.
    expires_in: u64,
    /// The match's join code, to share with friends.
    code: Option<String>,
    /// Whether the match is private (joined by code or id only).
    private: bool,
}

/// The routes.
pub(crate) fn routes(app: Arc<NetState>) -> Router {
    Router::new()
        .route("/matchmaking/join-or-create", post(join_or_create))
        .route("/matchmaking/create", post(create))
        .route("/matchmaking/join", post(join))
        .route("/matchmaking/matches", get(list))
        .route("/matchmaking/queue", post(enqueue))
        .route(
            "/matchmaking/queue/{ticket}",
            get(ticket_status).delete(leave_queue),
        )
        .with_state(app)
}

impl From<MatchmakingError> for ApiError {
    fn from(e: MatchmakingError) -> Self {
        let status = match &e {
            MatchmakingError::UnknownGame(_)
            | MatchmakingError::BadLabels(_)
            | MatchmakingError::BadMaxPlayers => StatusCode::UNPROCESSABLE_ENTITY,
            MatchmakingError::NotFound => StatusCode::NOT_FOUND,
            MatchmakingError::Full => StatusCode::CONFLICT,
            MatchmakingError::Ended => StatusCode::GONE,
            MatchmakingError::Create(c) => return c.clone().into(),
            MatchmakingError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

/// The client's address, as the rate limits see it.
type Peer = Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>;

/// Who is calling, after the per-address and per-identity budgets.
fn caller(app: &NetState, headers: &HeaderMap, peer: &Peer) -> Result<Identity, ApiError> {
    let limited = || {
        app.metrics.matchmaking_limited.inc();
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many matchmaking requests; slow down",
        )
    };
    // A queue request another node forwarded was budgeted there.
    let forwarded = from_a_node(app, headers);
    if !app.dev_keys && !forwarded {
        let mut ext = axum::http::Extensions::new();
        if let Some(Extension(info)) = peer {
            ext.insert(*info);
        }
        if let Some(ip) = super::client_ip(headers, &ext, app.net.trust_forwarded_for)
            && !app.matchmaking_addresses.check(&ip)
        {
            return Err(limited());
        }
    }
    let token = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "identity_invalid",
                        "Authorization must be `Bearer <player token>`",
                    )
                })?,
        ),
    };
    let who = app
        .identities
        .identify(token)
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    if !who.anonymous && !forwarded && !app.matchmaking_players.check(&who.id) {
        return Err(limited());
    }
    Ok(who)
}

/// The header a node adds to a queue request it forwards to the queue's leader: the shared
/// admin key, so the leader knows the request was budgeted already.
const FORWARDED_HEADER: &str = "x-tickroom-forwarded";

/// Whether the request was forwarded by another node of the cluster (it carries the admin
/// key in [`FORWARDED_HEADER`]).
fn from_a_node(app: &NetState, headers: &HeaderMap) -> bool {
    use subtle::ConstantTimeEq;
    app.registry.get().is_some()
        && headers
            .get(FORWARDED_HEADER)
            .is_some_and(|v| v.as_bytes().ct_eq(app.admin_key.as_bytes()).into())
}

/// The URL of the node that runs the cluster's queue, when that is another node (see
/// `Registry::queue_leader`); `None` alone, while Redis is away, or when this node leads.
fn queue_elsewhere(app: &NetState, headers: &HeaderMap) -> Option<String> {
    if from_a_node(app, headers) {
        // Already forwarded once: whatever this node believes, it answers.
        return None;
    }
    let registry = app.registry.get()?;
    let (id, url) = registry.queue_leader()?;
    (id != registry.id()).then_some(url)
}

/// Forwards a queue request to the node at `leader` and answers with its answer. The player's
/// `Authorization` goes along: the leader checks it again.
async fn forward_queue(
    app: &NetState,
    leader: &str,
    method: reqwest::Method,
    path: &str,
    headers: &HeaderMap,
    body: Option<&QueueAsk>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let mut req = app
        .http
        .request(method, format!("{leader}{path}"))
        .header(FORWARDED_HEADER, &app.admin_key)
        .timeout(std::time::Duration::from_secs(MAX_WAIT_SECS + 5));
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        req = req.header(header::AUTHORIZATION, auth);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let unavailable = |e: reqwest::Error| {
        tracing::warn!(leader, error = %e, "queue: the leader does not answer");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_unavailable",
            "the node that runs the queue does not answer; try again",
        )
    };
    let resp = req.send().await.map_err(unavailable)?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body: serde_json::Value = resp.json().await.map_err(unavailable)?;
    Ok((status, Json(body)).into_response())
}

/// Where clients connect: `--public-url`, else the scheme and `Host` of the request.
fn public_url(app: &NetState, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(url) = &app.public_url {
        return Ok(url.clone());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "a Host header is needed to tell where to connect (or set --public-url)",
            )
        })?;
    let forwarded = app
        .net
        .trust_forwarded_for
        .then(|| {
            headers
                .get("x-forwarded-proto")
                .and_then(|p| p.to_str().ok())
        })
        .flatten();
    let scheme = match forwarded {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(_) => "http",
        None if app.net.tls.is_some() => "https",
        None => "http",
    };
    Ok(format!("{scheme}://{host}"))
}

/// The answer for a reservation: a match token bound to the match's instance and to the
/// reservation.
fn answer(
    app: &NetState,
    headers: &HeaderMap,
    r: Reservation,
    status: StatusCode,
) -> Result<(StatusCode, Json<SeatReservation>), ApiError> {
    Ok((status, Json(seat_reservation(app, headers, &r)?)))
}

fn seat_reservation(
    app: &NetState,
    headers: &HeaderMap,
    r: &Reservation,
) -> Result<SeatReservation, ApiError> {
    let claims = MatchClaims::new(
        r.match_id.as_ref(),
        r.player.as_ref(),
        Role::Player,
        app.token_ttl.as_secs(),
        app.key.issuer(),
    )
    .for_instance(r.instance.as_ref())
    .for_reservation(r.until);
    let token = app
        .key
        .sign(&claims)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let url = match &r.node_url {
        Some(url) => url.to_string(),
        None => public_url(app, headers)?,
    };
    Ok(SeatReservation {
        url,
        match_id: r.match_id.to_string(),
        game: r.game,
        player_id: r.player.to_string(),
        token,
        expires: r.until,
        expires_in: r.until.saturating_sub(tickroom_shared::token::unix_now()),
        code: r.code.as_deref().map(str::to_owned),
        private: r.private,
    })
}

fn shutting_down(app: &NetState) -> Result<(), ApiError> {
    if app.shutdown.is_cancelled() {
        return Err(CreateError::ShuttingDown.into());
    }
    Ok(())
}

/// The caller, what they ask for (checked), and whether they ask for a private match.
fn asked(
    app: &NetState,
    headers: &HeaderMap,
    peer: &Peer,
    body: Result<Json<Ask>, JsonRejection>,
) -> Result<(Identity, Wanted, bool), ApiError> {
    let who = caller(app, headers, peer)?;
    let Json(ask) = body?;
    shutting_down(app)?;
    let wanted = app
        .matchmaker
        .wanted(&who, &ask.game, ask.labels, ask.max_players)?;
    Ok((who, wanted, ask.private))
}

async fn join_or_create(
    State(app): State<Arc<NetState>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Json<Ask>, JsonRejection>,
) -> Result<(StatusCode, Json<SeatReservation>), ApiError> {
    let (who, wanted, private) = asked(&app, &headers, &peer, body)?;
    if private {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            "`private` is for create: join-or-create only joins public matches",
        ));
    }
    let r = app.matchmaker.join_or_create(&who.id, &wanted).await?;
    answer(&app, &headers, r, StatusCode::OK)
}

async fn create(
    State(app): State<Arc<NetState>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Json<Ask>, JsonRejection>,
) -> Result<(StatusCode, Json<SeatReservation>), ApiError> {
    let (who, wanted, private) = asked(&app, &headers, &peer, body)?;
    let r = app.matchmaker.create(&who.id, &wanted, private).await?;
    answer(&app, &headers, r, StatusCode::CREATED)
}

async fn join(
    State(app): State<Arc<NetState>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Json<JoinAsk>, JsonRejection>,
) -> Result<(StatusCode, Json<SeatReservation>), ApiError> {
    let who = caller(&app, &headers, &peer)?;
    let Json(ask) = body?;
    shutting_down(&app)?;
    let r = match (ask.match_id, ask.code) {
        (Some(id), None) => app.matchmaker.join_by_id(&who.id, &id).await?,
        (None, Some(code)) => app.matchmaker.join_by_code(&who.id, &code).await?,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_request",
                "give exactly one of match_id and code",
            ));
        }
    };
    answer(&app, &headers, r, StatusCode::OK)
}

/// Query of `GET /matchmaking/matches`: `game`, `available`, and `label.<name>=<value>` for
/// each label a match must have.
async fn list(
    State(app): State<Arc<NetState>>,
    peer: Peer,
    headers: HeaderMap,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller(&app, &headers, &peer)?;
    let Query(query) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let mut filter = ListFilter::default();
    for (k, v) in query {
        match k.as_str() {
            "game" => filter.game = Some(v),
            "available" => {
                filter.available = v.parse().map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        "available must be true or false",
                    )
                })?;
            }
            _ => match k.strip_prefix("label.") {
                Some(name) => {
                    filter.labels.insert(name.to_owned(), v);
                }
                None => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        format!("unknown query parameter {k:?} (game, available, label.<name>)"),
                    ));
                }
            },
        }
    }
    let matches = app.matchmaker.list(&filter).await?;
    Ok(Json(serde_json::json!({ "matches": matches })))
}

/// The body of `POST /matchmaking/queue`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct QueueAsk {
    game: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    max_players: Option<u32>,
    /// Anonymous players only: a signed player's rating is its token's.
    #[serde(default)]
    rating: Option<f64>,
    /// The party's id: a signed player's is its token's `party` claim.
    #[serde(default)]
    party: Option<String>,
    /// How many players the party has (all of them enqueue, each with the same party id).
    #[serde(default)]
    party_size: Option<u32>,
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        let status = match e {
            QueueError::Full => StatusCode::SERVICE_UNAVAILABLE,
            QueueError::BadParty => StatusCode::UNPROCESSABLE_ENTITY,
            QueueError::AlreadyQueued => StatusCode::CONFLICT,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

fn bad_party(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_party", message)
}

async fn enqueue(
    State(app): State<Arc<NetState>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Json<QueueAsk>, JsonRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let who = caller(&app, &headers, &peer)?;
    let Json(ask) = body?;
    shutting_down(&app)?;
    // In a cluster one node runs the queue, so players asking different nodes meet.
    if let Some(leader) = queue_elsewhere(&app, &headers) {
        let path = "/matchmaking/queue";
        match forward_queue(
            &app,
            &leader,
            reqwest::Method::POST,
            path,
            &headers,
            Some(&ask),
        )
        .await
        {
            Ok(answer) => return Ok(answer),
            // The leader is gone: queue here until the next heartbeat elects another.
            Err(_) => {
                app.metrics.queue_forward_failed.inc();
            }
        }
    }
    let rating = match (who.anonymous, ask.rating) {
        (true, Some(r)) if r.is_finite() && r.abs() <= crate::matchmaking::identity::MAX_RATING => {
            r
        }
        (true, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_rating",
                "rating must be a finite number within ±1,000,000",
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_rating",
                "a signed player's rating is its token's `rating` claim",
            ));
        }
        (true, None) => DEFAULT_RATING,
        (false, None) => who.rating.unwrap_or(DEFAULT_RATING),
    };
    let party = match (&who.party, ask.party) {
        (Some(mine), Some(asked)) if *mine != asked => {
            return Err(bad_party("party differs from the token's `party` claim"));
        }
        (Some(mine), _) => Some(mine.clone()),
        (None, Some(asked)) if who.anonymous => Some(asked),
        (None, Some(_)) => return Err(bad_party("a signed player's party is its token's")),
        (None, None) => None,
    };
    let party = match (party, ask.party_size) {
        (Some(id), Some(size)) if tickroom_shared::limits::is_valid_id(&id) => Some((id, size)),
        (Some(_), Some(_)) => return Err(bad_party("party must be a valid id")),
        (Some(_), None) => return Err(bad_party("party_size is required with a party")),
        (None, Some(_)) => return Err(bad_party("party_size without a party")),
        (None, None) => None,
    };
    let wanted = app
        .matchmaker
        .wanted(&who, &ask.game, ask.labels, ask.max_players)?;
    let ticket = app.queue.enqueue(Entry {
        player: who.id.clone(),
        wanted,
        rating,
        party,
    })?;
    let status = ticket.status.borrow().clone();
    let body = ticket_view(&app, &headers, &ticket.id, &who.id, &status)?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A ticket as the API shows it.
fn ticket_view(
    app: &NetState,
    headers: &HeaderMap,
    id: &str,
    player: &str,
    status: &TicketStatus,
) -> Result<serde_json::Value, ApiError> {
    let mut body =
        serde_json::json!({ "ticket": id, "player_id": player, "status": status.name() });
    match status {
        TicketStatus::Waiting { waited, window } => {
            body["waited_secs"] = waited.as_secs_f64().into();
            body["window"] = (*window).into();
        }
        TicketStatus::WaitingForParty { present, size } => {
            body["present"] = (*present).into();
            body["party_size"] = (*size).into();
        }
        TicketStatus::Matched(r) => {
            body["reservation"] =
                serde_json::to_value(seat_reservation(app, headers, r)?).unwrap_or_default();
        }
        TicketStatus::TimedOut | TicketStatus::Left => {}
    }
    Ok(body)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {
    /// Seconds to wait for the ticket to end before answering with where it stands.
    #[serde(default)]
    wait: u64,
}

fn ticket_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ticket_not_found",
        "no ticket with this id (or it ended more than a minute ago)",
    )
}

async fn ticket_status(
    State(app): State<Arc<NetState>>,
    peer: Peer,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller(&app, &headers, &peer)?;
    let Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    if app.queue.ticket(&id).is_none()
        && let Some(leader) = queue_elsewhere(&app, &headers)
    {
        let path = format!("/matchmaking/queue/{id}?wait={}", q.wait);
        return forward_queue(&app, &leader, reqwest::Method::GET, &path, &headers, None).await;
    }
    let mut ticket = app.queue.ticket(&id).ok_or_else(ticket_not_found)?;
    let wait = std::time::Duration::from_secs(q.wait.min(MAX_WAIT_SECS));
    let _ = tokio::time::timeout(wait, async {
        while !ticket.status.borrow_and_update().is_final() {
            if ticket.status.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    let status = ticket.status.borrow().clone();
    Ok(Json(ticket_view(
        &app,
        &headers,
        &ticket.id,
        &ticket.player,
        &status,
    )?)
    .into_response())
}

async fn leave_queue(
    State(app): State<Arc<NetState>>,
    peer: Peer,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller(&app, &headers, &peer)?;
    if app.queue.ticket(&id).is_none()
        && let Some(leader) = queue_elsewhere(&app, &headers)
    {
        let path = format!("/matchmaking/queue/{id}");
        return forward_queue(
            &app,
            &leader,
            reqwest::Method::DELETE,
            &path,
            &headers,
            None,
        )
        .await;
    }
    if app.queue.leave(&id) {
        return Ok(Json(serde_json::json!({ "ticket": id, "status": "left" })).into_response());
    }
    let ticket = app.queue.ticket(&id).ok_or_else(ticket_not_found)?;
    let status = ticket.status.borrow().name();
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "ticket_resolved",
        format!("the ticket has already ended: {status}"),
    ))
}
