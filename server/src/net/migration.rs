//! Moving live matches between nodes (docs/SCALING.md, "Matches that move"): a node that
//! drains, or an operator, moves a match to another node — its room freezes between two
//! ticks, its whole command log goes to Redis, the other node restores the room from it and
//! runs it, and the match's clients are sent there (`moved`) with their tokens still good.
//! A dead node's matches are restored the same way from their last checkpoint by the node
//! running the matchmaking queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tickroom_shared::Moved;
use tokio_util::sync::CancellationToken;

use super::NetState;
use super::admin::ApiError;
use crate::cluster::checkpoint::Checkpoints;
use crate::cluster::{NodeInfo, Registry, placement};
use crate::directory::{AdoptError, Match};

/// Matches a draining node moves at the same time.
const MOVES_AT_ONCE: usize = 8;

/// The body of `POST /admin/internal/adopt`: take over this match from its checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AdoptRequest {
    /// The match.
    pub(crate) match_id: String,
}

/// What a node that took a match over answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Adopted {
    /// The match.
    pub(crate) match_id: String,
    /// The node that runs it now.
    pub(crate) node: String,
    /// Where its clients connect.
    pub(crate) url: String,
    /// The tick it goes on from.
    pub(crate) tick: u64,
}

/// The body of `POST /admin/matches/{id}/move`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveRequest {
    /// The node to move it to; the least loaded other node when absent.
    #[serde(default)]
    node: Option<String>,
}

/// Why a match could not move.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MoveError {
    /// Not in a cluster with checkpoints (`--redis-url`, `--checkpoint-ms` above 0).
    #[error("moving matches needs --redis-url and checkpoints (--checkpoint-ms above 0)")]
    NotClustered,
    /// The room keeps no whole log (not recorded, or cut at its bound), or is not running.
    #[error(
        "the match cannot move: it is not running, or keeps no whole command log (--recordings-kept 0, or it reached --recording-max-bytes)"
    )]
    CannotMove,
    /// Redis could not be written.
    #[error("redis: {0}")]
    Redis(String),
    /// No other node took it.
    #[error("no other node took the match: {0}")]
    NoTaker(String),
}

impl MoveError {
    fn into_api(self) -> ApiError {
        let (status, code) = match &self {
            Self::NotClustered => (StatusCode::UNPROCESSABLE_ENTITY, "not_clustered"),
            Self::CannotMove => (StatusCode::CONFLICT, "cannot_move"),
            Self::Redis(_) => (StatusCode::SERVICE_UNAVAILABLE, "redis_unavailable"),
            Self::NoTaker(_) => (StatusCode::SERVICE_UNAVAILABLE, "node_unavailable"),
        };
        ApiError::new(status, code, self.to_string())
    }
}

fn cluster(app: &NetState) -> Result<(&Arc<Registry>, &Arc<Checkpoints>), MoveError> {
    match (app.registry.get(), app.checkpoints.get()) {
        (Some(r), Some(c)) => Ok((r, c)),
        _ => Err(MoveError::NotClustered),
    }
}

/// Moves `m` to node `to`, or to the least loaded other node that takes it: freezes its room,
/// writes its whole log to Redis, has the other node restore it, then sends its connections
/// there. If no node takes it, the room ticks on here. Returns the other node's answer and
/// how long the room was stopped.
pub(crate) async fn move_match(
    app: &NetState,
    m: &Arc<Match>,
    to: Option<&str>,
) -> Result<(Adopted, Duration), MoveError> {
    let (registry, checkpoints) = cluster(app)?;
    let mut nodes = placement::candidates(registry, &app.directory, true).await;
    nodes.retain(|n| n.id != registry.id() && to.is_none_or(|id| n.id == id));
    if nodes.is_empty() {
        return Err(MoveError::NoTaker(
            "no other node in the registry that is not draining or full".into(),
        ));
    }
    let started = Instant::now();
    let mut frozen = m.freeze().await.ok_or(MoveError::CannotMove)?;
    // Dropping `frozen` on any early return thaws the room: it ticks on here.
    let log = std::mem::take(&mut frozen.log);
    checkpoints
        .write_whole(m, log, frozen.tick)
        .await
        .map_err(|e| MoveError::Redis(e.to_string()))?;
    let adopted = match adopt_on(app, &nodes, &m.info().id).await {
        Ok(adopted) => adopted,
        // An answer lost (a timeout) does not mean the match was not taken: the node that took
        // it says so in its checkpoint, and the match must not run on both.
        Err(e) => taken_anyway(registry, checkpoints, &m.info().id)
            .await
            .ok_or(e)?,
    };
    m.set_moved(adopted.url.clone());
    frozen.moved();
    let paused = started.elapsed();
    app.sockets
        .send_moved(Moved {
            match_id: m.info().id.to_string(),
            url: adopted.url.clone(),
        })
        .await;
    app.metrics.matches_moved.inc();
    app.metrics.move_pause.observe(paused.as_secs_f64());
    tracing::info!(match_id = %m.info().id, to = %adopted.node, url = %adopted.url, tick = adopted.tick, paused_ms = paused.as_millis() as u64, "match moved to another node");
    Ok((adopted, paused))
}

/// The node that took match `id` over although its answer did not arrive: the one its
/// checkpoint names, if that is another node of the registry.
async fn taken_anyway(registry: &Registry, checkpoints: &Checkpoints, id: &str) -> Option<Adopted> {
    let (checkpoint, _) = checkpoints.load(id).await.ok()??;
    if checkpoint.node == registry.id() {
        return None;
    }
    let node = registry
        .nodes()
        .await
        .ok()?
        .into_iter()
        .find(|n| n.id == checkpoint.node)?;
    tracing::warn!(match_id = id, node = %node.id, "move: the other node's answer was lost, but it took the match");
    Some(Adopted {
        match_id: id.to_owned(),
        node: node.id,
        url: node.url,
        tick: checkpoint.tick,
    })
}

/// Asks each of `nodes` in turn to take match `id` over from its checkpoint: the first answer.
async fn adopt_on(app: &NetState, nodes: &[NodeInfo], id: &str) -> Result<Adopted, MoveError> {
    let mut last = String::new();
    let body = AdoptRequest {
        match_id: id.to_owned(),
    };
    for node in nodes {
        let answer = async {
            let resp = placement::post(
                &app.http,
                &app.admin_key,
                node.reach(),
                "/admin/internal/adopt",
                &body,
            )
            .await?;
            if resp.status().is_success() {
                Ok(Ok(resp.json::<Adopted>().await?))
            } else {
                Ok(Err(format!("{}: {}", resp.status(), resp.text().await?)))
            }
        }
        .await;
        match answer {
            Ok(Ok(adopted)) => return Ok(adopted),
            Ok(Err(refused)) => last = format!("{}: {refused}", node.id),
            Err::<_, reqwest::Error>(e) => last = format!("{}: {e}", node.id),
        }
        tracing::warn!(match_id = id, node = %node.id, error = %last, "move: the node did not take the match; trying the next");
    }
    Err(MoveError::NoTaker(last))
}

/// Takes match `id` over here from its checkpoint in Redis.
async fn adopt_here(app: &NetState, id: &str) -> Result<Adopted, ApiError> {
    let (registry, checkpoints) = cluster(app).map_err(MoveError::into_api)?;
    let unavailable = |e: crate::cluster::RegistryError| MoveError::Redis(e.to_string()).into_api();
    let (checkpoint, log) = checkpoints
        .load(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "checkpoint_not_found",
                "no checkpoint of this match in redis",
            )
        })?;
    let game = app
        .directory
        .catalog()
        .get(&checkpoint.game)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_game",
                format!("this node does not have the game {:?}", checkpoint.game),
            )
        })?;
    let directory = app.directory.clone();
    let info = checkpoint.info(game);
    let len = log.len();
    // A replay of the whole log: CPU work, off the I/O threads.
    let m = tokio::task::spawn_blocking(move || directory.adopt(info, &log))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(adopt_error)?;
    if let Err(e) = checkpoints.adopted(&m, len).await {
        // The match runs here all the same; its next checkpoint says so.
        tracing::warn!(match_id = id, error = %e, "adopt: the checkpoint could not be renamed to this node yet");
    }
    registry.beat_soon();
    app.metrics.matches_adopted.inc();
    Ok(Adopted {
        match_id: id.to_owned(),
        node: registry.id().to_owned(),
        url: registry.url().to_owned(),
        tick: m.tick(),
    })
}

fn adopt_error(e: AdoptError) -> ApiError {
    let status = match &e {
        AdoptError::Create(c) => return ApiError::from(c.clone()),
        AdoptError::Replay(_) | AdoptError::NotRecording => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// `POST /admin/internal/adopt`: another node moves a match here (admin key).
pub(super) async fn internal_adopt(
    State(app): State<Arc<NetState>>,
    body: Result<Json<AdoptRequest>, JsonRejection>,
) -> Result<Json<Adopted>, ApiError> {
    let Json(req) = body?;
    adopt_here(&app, &req.match_id).await.map(Json)
}

/// `POST /admin/matches/{id}/move`: moves a running match of this node to another node.
pub(super) async fn move_route(
    State(app): State<Arc<NetState>>,
    Path(id): Path<String>,
    body: Result<Json<MoveRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let req = match body {
        Ok(Json(req)) => req,
        // No body at all: any node.
        Err(JsonRejection::MissingJsonContentType(_)) => MoveRequest::default(),
        Err(e) => return Err(e.into()),
    };
    let m = app
        .directory
        .get(&id)
        .filter(|m| !m.state().is_over())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "match_not_found",
                "no running match with this id here",
            )
        })?;
    let (adopted, paused) = move_match(&app, &m, req.node.as_deref())
        .await
        .map_err(MoveError::into_api)?;
    Ok(Json(serde_json::json!({
        "match_id": adopted.match_id,
        "node": adopted.node,
        "url": adopted.url,
        "tick": adopted.tick,
        "paused_ms": paused.as_secs_f64() * 1000.0,
    })))
}

/// At the start of a drain: moves every running match of this node to the other nodes,
/// [`MOVES_AT_ONCE`] at a time. Those that cannot move stay, and drain as before.
pub(crate) async fn move_all(app: &NetState) {
    use futures_util::StreamExt;
    if cluster(app).is_err() {
        return;
    }
    let running = app
        .directory
        .select(|m| m.state() == tickroom_engine::MatchState::Running);
    if running.is_empty() {
        return;
    }
    let started = Instant::now();
    let results: Vec<bool> = futures_util::stream::iter(running)
        .map(|m| async move {
            match move_match(app, &m, None).await {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(match_id = %m.info().id, error = %e, "drain: the match could not move; it drains here");
                    false
                }
            }
        })
        .buffer_unordered(MOVES_AT_ONCE)
        .collect()
        .await;
    let moved = results.iter().filter(|m| **m).count();
    tracing::info!(
        moved,
        stayed = results.len() - moved,
        took_ms = started.elapsed().as_millis() as u64,
        "drain: matches moved to the other nodes"
    );
}

/// Restores the matches of dead nodes from their checkpoints, every `every` until `stop`,
/// while this node runs the matchmaking queue (one node of the cluster does it): each on the
/// least loaded node, this one included.
pub(crate) async fn restore_orphans(app: Arc<NetState>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let Ok((registry, checkpoints)) = cluster(&app) else {
            return;
        };
        if registry
            .queue_leader()
            .is_none_or(|(id, _)| id != registry.id())
        {
            continue;
        }
        let orphans = match checkpoints.orphans().await {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(error = %e, "restore: redis unreachable");
                continue;
            }
        };
        if orphans.is_empty() {
            continue;
        }
        // The loads as of the last heartbeats, counted up here as matches are placed, so a
        // dead node's matches spread over the others.
        let mut nodes = placement::candidates(registry, &app.directory, false).await;
        for orphan in orphans {
            if !checkpoints.claim(&orphan.match_id).await.unwrap_or(false) {
                continue;
            }
            let id = orphan.match_id.as_str();
            let restored = match nodes.first() {
                Some(n) if n.id == registry.id() => {
                    adopt_here(&app, id).await.map_err(|e| format!("{e:?}"))
                }
                Some(_) => adopt_on(&app, &nodes, id).await.map_err(|e| e.to_string()),
                None => Err("no node can take it".to_owned()),
            };
            match restored {
                Ok(a) => {
                    if let Some(n) = nodes.iter_mut().find(|n| n.id == a.node) {
                        n.rooms += 1;
                    }
                    placement::sort(&mut nodes);
                    tracing::info!(match_id = id, dead_node = %orphan.node, node = %a.node, tick = a.tick, checkpoint_age_ms = crate::cluster::checkpoint::age_ms(&orphan), "restore: a dead node's match goes on from its checkpoint");
                }
                Err(e) => {
                    // Tried again once the claim lapses, until the checkpoint expires.
                    tracing::error!(match_id = id, dead_node = %orphan.node, error = %e, "restore: a dead node's match could not be restored yet");
                }
            }
        }
    }
}
