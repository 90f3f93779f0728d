//! The match directory of a cluster: this node's matches, and the other nodes' as their
//! heartbeats publish them in Redis. Matchmaking on any node sees them all: it offers a seat
//! in another node's open match, creates new matches on the least loaded node, and finds a
//! join code wherever its match runs. What needs another node — a reservation in its match, a
//! match created there — is asked of that node over HTTP with the shared admin key
//! (`/admin/internal/…`); the seat count stays under the owning match's lock.
//!
//! Without Redis the node still serves its own matches: a listing it cannot read adds
//! nothing, and a new match is created here.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tickroom_engine::MatchRules;
use tokio_util::sync::CancellationToken;

use super::{Registry, placement};
use crate::directory::{Directory, Listing};
use crate::matchmaking::directory::{
    Candidate, DirectoryFuture, ListFilter, MatchDirectory, OpenMatch, Reservation, oldest_first,
};
use crate::matchmaking::{MatchmakingError, Wanted};

/// The body of `POST /admin/internal/create`: a match for matchmaking, created where it lands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalCreate {
    /// The game.
    pub game: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its size.
    pub max_players: u32,
    /// Whether it is private.
    pub private: bool,
    /// Its join code.
    pub code: String,
}

/// The body of `POST /admin/internal/reserve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalReserve {
    /// The match, on the node asked.
    pub match_id: String,
    /// The player.
    pub player: String,
    /// How long the reservation lasts, in seconds.
    pub ttl_secs: u64,
}

/// A reservation as the owning node answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReservationWire {
    /// The match.
    pub match_id: String,
    /// Its instance.
    pub instance: String,
    /// Its game.
    pub game: String,
    /// The player.
    pub player: String,
    /// When it lapses, seconds since the Unix epoch.
    pub until: u64,
    /// The match's join code.
    pub code: Option<String>,
    /// Whether the match is private.
    pub private: bool,
}

impl From<&Reservation> for ReservationWire {
    fn from(r: &Reservation) -> Self {
        Self {
            match_id: r.match_id.to_string(),
            instance: r.instance.to_string(),
            game: r.game.to_owned(),
            player: r.player.to_string(),
            until: r.until,
            code: r.code.as_deref().map(str::to_owned),
            private: r.private,
        }
    }
}

/// This node's directory and the others', through Redis and their admin APIs.
#[derive(Debug)]
pub struct ClusterDirectory {
    local: Arc<Directory>,
    /// Set once the node listens (its URL is known then).
    registry: Arc<OnceLock<Arc<Registry>>>,
    http: reqwest::Client,
    admin_key: String,
    /// Cancelled when this node starts draining.
    draining: CancellationToken,
    /// Matches this node created on others, by id: they are offered and reserved in at once,
    /// before the owning node's next heartbeat lists them.
    placed: std::sync::Mutex<std::collections::HashMap<Arc<str>, Placed>>,
}

/// A match this node created on another node.
#[derive(Debug, Clone)]
struct Placed {
    /// The owning node's id, its URL for clients and for the other nodes.
    node: String,
    url: String,
    node_url: String,
    /// What it was created as.
    wanted: Wanted,
    private: bool,
    /// Seats this node has reserved in it.
    reserved: u32,
    /// When it was created: by the system clock (compared with heartbeats) and monotonic.
    at_unix: u64,
    at: std::time::Instant,
}

/// How long [`ClusterDirectory::placed`] remembers a match: past it, the owner's heartbeats
/// list it.
const PLACED_MEMORY: Duration = Duration::from_secs(30);

impl ClusterDirectory {
    /// Over `local`, with the registry once it is set.
    pub fn new(
        local: Arc<Directory>,
        registry: Arc<OnceLock<Arc<Registry>>>,
        admin_key: String,
        draining: CancellationToken,
    ) -> Self {
        Self {
            local,
            registry,
            http: reqwest::Client::new(),
            admin_key,
            draining,
            placed: std::sync::Mutex::default(),
        }
    }

    fn placed(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Arc<str>, Placed>> {
        self.placed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The other nodes' matches for matchmaking; none when Redis cannot be read.
    async fn remote(&self) -> Vec<(super::NodeInfo, crate::matchmaking::directory::Listed)> {
        let Some(registry) = self.registry.get() else {
            return Vec::new();
        };
        registry.remote_listed().await.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "cluster directory: other nodes' matches unreadable");
            Vec::new()
        })
    }

    /// POSTs `body` to `path` on the node at `url` with the admin key; its JSON answer, or
    /// its error code.
    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, MatchmakingError> {
        let unavailable = |e: reqwest::Error| MatchmakingError::Unavailable(e.to_string());
        let resp = placement::post(&self.http, &self.admin_key, url, path, body)
            .await
            .map_err(unavailable)?;
        if resp.status().is_success() {
            return resp.json().await.map_err(unavailable);
        }
        let answer: serde_json::Value = resp.json().await.unwrap_or_default();
        Err(match answer["error"]["code"].as_str() {
            Some("match_full") => MatchmakingError::Full,
            Some("match_ended") => MatchmakingError::Ended,
            Some("match_not_found") => MatchmakingError::NotFound,
            other => MatchmakingError::Unavailable(format!(
                "the node at {url} answered {}",
                other.unwrap_or("without a code")
            )),
        })
    }
}

impl MatchDirectory for ClusterDirectory {
    fn game(&self, game: &str) -> Option<&'static str> {
        MatchDirectory::game(&*self.local, game)
    }

    fn rules(&self, game: &str) -> MatchRules {
        MatchDirectory::rules(&*self.local, game)
    }

    fn default_size(&self, game: &str) -> u32 {
        MatchDirectory::default_size(&*self.local, game)
    }

    fn candidates<'a>(
        &'a self,
        wanted: &'a Wanted,
        player: &'a str,
    ) -> DirectoryFuture<'a, Vec<Candidate>> {
        Box::pin(async move {
            let mut found = self.local.local_candidates(wanted, player);
            let mut remote: std::collections::HashMap<Arc<str>, Candidate> = self
                .remote()
                .await
                .into_iter()
                .map(|(_, l)| l)
                .filter(|l| {
                    !l.private
                        && l.open.game == wanted.game
                        && l.open.labels == wanted.labels
                        && l.open.max_players == wanted.max_players
                })
                .map(|l| {
                    let id: Arc<str> = l.open.match_id.into();
                    let c = Candidate {
                        match_id: id.clone(),
                        taken: l.open.players,
                        created_at: l.open.created_at,
                        // Unknown from here; the owning node renews a seat the player holds.
                        holds_player: false,
                    };
                    (id, c)
                })
                .collect();
            // Matches this node placed elsewhere count the seats it reserved in them, which
            // their owner's last heartbeat may not show yet (or not list them at all).
            for (id, p) in self.placed().iter() {
                if p.private || p.wanted != *wanted {
                    continue;
                }
                let c = remote.entry(id.clone()).or_insert_with(|| Candidate {
                    match_id: id.clone(),
                    taken: 0,
                    created_at: p.at_unix,
                    holds_player: false,
                });
                c.taken = c.taken.max(p.reserved);
            }
            found.extend(
                remote
                    .into_values()
                    .filter(|c| c.taken < wanted.max_players),
            );
            Ok(found)
        })
    }

    fn create<'a>(&'a self, wanted: &'a Wanted, listing: Listing) -> DirectoryFuture<'a, Arc<str>> {
        Box::pin(async move {
            if let Some(registry) = self.registry.get() {
                let mut nodes =
                    placement::candidates(registry, &self.local, self.draining.is_cancelled())
                        .await;
                // Another node's load is as of its last heartbeat: add the matches placed on it
                // since, so creations within one heartbeat spread instead of piling onto it.
                {
                    let placed = self.placed();
                    for n in &mut nodes {
                        n.rooms += placed
                            .values()
                            .filter(|p| p.node == n.id && p.at_unix >= n.heartbeat_at)
                            .count();
                    }
                }
                placement::sort(&mut nodes);
                let body = InternalCreate {
                    game: wanted.game.to_owned(),
                    labels: listing.labels.clone(),
                    max_players: wanted.max_players,
                    private: listing.private,
                    code: listing.code.as_deref().unwrap_or_default().to_owned(),
                };
                for node in nodes {
                    if node.id == registry.id() {
                        break;
                    }
                    #[derive(Deserialize)]
                    struct Created {
                        match_id: String,
                    }
                    match self
                        .call::<Created>(node.reach(), "/admin/internal/create", &body)
                        .await
                    {
                        Ok(c) => {
                            let id: Arc<str> = c.match_id.into();
                            let mut placed = self.placed();
                            placed.retain(|_, p| p.at.elapsed() < PLACED_MEMORY);
                            placed.insert(
                                id.clone(),
                                Placed {
                                    node: node.id.clone(),
                                    url: node.url.clone(),
                                    node_url: node.reach().to_owned(),
                                    wanted: wanted.clone(),
                                    private: listing.private,
                                    reserved: 0,
                                    at_unix: tickroom_shared::token::unix_now(),
                                    at: std::time::Instant::now(),
                                },
                            );
                            return Ok(id);
                        }
                        Err(e) => {
                            tracing::warn!(node = %node.id, error = %e, "cluster directory: the node did not take the match; trying the next");
                        }
                    }
                }
            }
            MatchDirectory::create(&*self.local, wanted, listing).await
        })
    }

    fn reserve<'a>(
        &'a self,
        match_id: &'a str,
        player: &'a Arc<str>,
        ttl: Duration,
    ) -> DirectoryFuture<'a, Reservation> {
        Box::pin(async move {
            if self.local.get(match_id).is_some() {
                return self.local.local_reserve(match_id, player, ttl);
            }
            let Some(registry) = self.registry.get() else {
                return Err(MatchmakingError::NotFound);
            };
            let remembered = self
                .placed()
                .get(match_id)
                .map(|p| (p.url.clone(), p.node_url.clone()));
            let (url, node_url) = match remembered {
                Some(urls) => urls,
                None => {
                    let node = registry
                        .locate(match_id)
                        .await
                        .map_err(|e| MatchmakingError::Unavailable(e.to_string()))?
                        .ok_or(MatchmakingError::NotFound)?;
                    let node_url = node.reach().to_owned();
                    (node.url, node_url)
                }
            };
            let body = InternalReserve {
                match_id: match_id.to_owned(),
                player: player.to_string(),
                ttl_secs: ttl.as_secs().max(1),
            };
            let r: ReservationWire = self
                .call(&node_url, "/admin/internal/reserve", &body)
                .await?;
            if let Some(p) = self.placed().get_mut(match_id) {
                p.reserved += 1;
            }
            let game = MatchDirectory::game(&*self.local, &r.game).ok_or_else(|| {
                MatchmakingError::Unavailable(format!(
                    "the node offers a game unknown here: {}",
                    r.game
                ))
            })?;
            Ok(Reservation {
                match_id: r.match_id.into(),
                instance: r.instance.into(),
                game,
                player: player.clone(),
                until: r.until,
                code: r.code.map(Into::into),
                private: r.private,
                node_url: Some(url.into()),
            })
        })
    }

    fn by_code<'a>(&'a self, code: &'a str) -> DirectoryFuture<'a, Option<Arc<str>>> {
        Box::pin(async move {
            if let Some(id) = self.local.local_by_code(code) {
                return Ok(Some(id));
            }
            Ok(self
                .remote()
                .await
                .into_iter()
                .find(|(_, l)| l.open.code.as_deref() == Some(code))
                .map(|(_, l)| l.open.match_id.into()))
        })
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> DirectoryFuture<'a, Vec<OpenMatch>> {
        Box::pin(async move {
            let mut found = self.local.local_list(filter);
            found.extend(
                self.remote()
                    .await
                    .into_iter()
                    .filter(|(_, l)| filter.admits(l))
                    .map(|(_, l)| l.open),
            );
            oldest_first(&mut found);
            Ok(found)
        })
    }
}
