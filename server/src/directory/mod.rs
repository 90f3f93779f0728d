//! The match directory of this node: which matches exist, their rooms and their seats.
//!
//! # Layout
//! - `game_match`: one [`Match`]: its room and its seat table, and the rules between them.
//! - `seats`: the seat table, pure.
//! - `lifecycle`: results, retention, and the count of rooms not yet closed.

mod game_match;
mod lifecycle;
mod seats;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use tickroom_engine::{Catalog, RoomConfig, RoomMetrics, SnapshotSink, SpawnParams};
use tickroom_shared::EndReason;
use tickroom_shared::limits::{MAX_PLAYERS_PER_MATCH, MAX_TICK_RATE, MIN_TICK_RATE, is_valid_id};
use tickroom_shared::token::unix_now;
use tokio_util::sync::CancellationToken;

pub use game_match::{Claim, Match, MatchInfo, SeatsView};
pub use seats::{Departure, SeatError};

use crate::config::MatchConfig;
use crate::metrics::Metrics;
use crate::results::ResultStore;
use crate::runtime::Runtimes;
use lifecycle::Lifecycle;

/// How matchmaking finds a match it created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The options it was created with (`mode`, `region`, …), as string labels: `join or
    /// create` offers it only to requests with the same labels.
    pub labels: BTreeMap<String, String>,
    /// Not listed and not offered by `join or create`: joined by its code (or id) only.
    pub private: bool,
    /// Its join code: a short code a player shares with friends.
    pub code: Option<Arc<str>>,
}

/// What to create: a game, and optionally the match's id, rate and seats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchSpec {
    /// The game to run (e.g. `"arena"`).
    pub game: String,
    /// The match id; a random one when absent.
    pub match_id: Option<String>,
    /// Ticks per second; the server's default when absent.
    pub tick_rate: Option<u32>,
    /// Snapshots per second, a divisor of the tick rate; the tick rate when absent.
    pub snapshot_rate: Option<u32>,
    /// Player seats; the game's size, else the server's default, when absent.
    pub max_players: Option<u32>,
    /// Set for a match created by matchmaking.
    pub listing: Option<Listing>,
}

/// Why a match could not be created. Each has a stable code for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// No game of that name in the catalog.
    #[error("unknown game {0:?}")]
    UnknownGame(String),
    /// The tick rate is outside the allowed range.
    #[error("tick_rate must be within {MIN_TICK_RATE}..={MAX_TICK_RATE}")]
    BadTickRate,
    /// The snapshot rate is not a divisor of the tick rate.
    #[error("snapshot_rate must divide tick_rate (a snapshot every whole number of ticks)")]
    BadSnapshotRate,
    /// The seat count is outside the allowed range.
    #[error("max_players must be within 1..={MAX_PLAYERS_PER_MATCH}")]
    BadMaxPlayers,
    /// The match id is not a valid id.
    #[error("match_id must be 1-64 characters of A-Z a-z 0-9 - _ . :")]
    BadMatchId,
    /// A match with this id exists.
    #[error("a match with this id exists")]
    Exists,
    /// This node runs as many rooms as it is allowed to.
    #[error("room limit reached ({0})")]
    TooManyRooms(usize),
    /// The server is shutting down.
    #[error("server is shutting down")]
    ShuttingDown,
}

impl CreateError {
    /// The stable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownGame(_) => "unknown_game",
            Self::BadTickRate => "bad_tick_rate",
            Self::BadSnapshotRate => "bad_snapshot_rate",
            Self::BadMaxPlayers => "bad_max_players",
            Self::BadMatchId => "bad_match_id",
            Self::Exists => "match_exists",
            Self::TooManyRooms(_) => "room_limit",
            Self::ShuttingDown => "shutting_down",
        }
    }
}

/// Why a match could not be taken over from another node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    /// It could not be created here (the same reasons as a new match).
    #[error(transparent)]
    Create(#[from] CreateError),
    /// Its command log does not restore (another game build, a cut or damaged log).
    #[error("its log does not restore: {0}")]
    Replay(#[from] tickroom_engine::replay::ReplayError),
    /// This node keeps no recordings (`--recordings-kept 0` or no results store), so the
    /// match could not move on from here.
    #[error("this node does not record matches")]
    NotRecording,
}

impl AdoptError {
    /// The stable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Create(e) => e.code(),
            Self::Replay(_) => "replay_failed",
            Self::NotRecording => "not_recording",
        }
    }
}

/// Every match on this node.
pub struct Directory {
    matches: Arc<DashMap<Arc<str>, Arc<Match>>>,
    catalog: Catalog,
    sink: Arc<dyn SnapshotSink>,
    metrics: Arc<Metrics>,
    runtimes: Runtimes,
    config: MatchConfig,
    /// The server's shutdown: once cancelled no match is created and no seat is held.
    shutdown: CancellationToken,
    /// Stops every room still running: cancelled at the end of the shutdown drain.
    stop_rooms: CancellationToken,
    lifecycle: Lifecycle,
    /// Serializes creations so the room limit holds exactly.
    create_lock: Mutex<()>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("matches", &self.matches.len())
            .field("catalog", &self.catalog)
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// An empty directory whose rooms publish to `sink`.
    pub(crate) fn new(
        catalog: Catalog,
        sink: Arc<dyn SnapshotSink>,
        metrics: Arc<Metrics>,
        config: MatchConfig,
        results: Option<Arc<ResultStore>>,
        runtimes: Runtimes,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            matches: Arc::new(DashMap::new()),
            lifecycle: Lifecycle::new(
                results,
                &config,
                metrics.clone(),
                shutdown.clone(),
                runtimes.clone(),
            ),
            catalog,
            sink,
            metrics,
            runtimes,
            config,
            shutdown,
            stop_rooms: CancellationToken::new(),
            create_lock: Mutex::new(()),
        }
    }

    /// The names of the games offered, sorted.
    pub fn games(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.catalog.names()
    }

    /// The games offered.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The seats of a match of `game` created without a number.
    pub fn default_size(&self, game: &str) -> u32 {
        self.catalog
            .rules(game)
            .and_then(|r| r.players)
            .unwrap_or(self.config.default_max_players)
    }

    /// Whether this node records its matches (a results store and `--recordings-kept` above
    /// 0): only recorded matches can move or be restored.
    pub fn records(&self) -> bool {
        self.lifecycle.recording().is_some()
    }

    /// The results store, if this server keeps results.
    pub fn results(&self) -> Option<&Arc<ResultStore>> {
        self.lifecycle.results()
    }

    /// Creates a match and starts its room.
    pub fn create(&self, spec: MatchSpec) -> Result<Arc<Match>, CreateError> {
        if self.shutdown.is_cancelled() {
            return Err(CreateError::ShuttingDown);
        }
        let game = self
            .catalog
            .get(&spec.game)
            .ok_or_else(|| CreateError::UnknownGame(spec.game.clone()))?;
        let tick_rate = spec.tick_rate.unwrap_or(self.config.default_tick_rate);
        if !(MIN_TICK_RATE..=MAX_TICK_RATE).contains(&tick_rate) {
            return Err(CreateError::BadTickRate);
        }
        let snapshot_rate = spec.snapshot_rate.unwrap_or(tick_rate);
        if snapshot_rate == 0
            || snapshot_rate > tick_rate
            || !tick_rate.is_multiple_of(snapshot_rate)
        {
            return Err(CreateError::BadSnapshotRate);
        }
        let max_players = spec
            .max_players
            .or(self.catalog.rules(game).and_then(|r| r.players))
            .unwrap_or(self.config.default_max_players);
        if !(1..=MAX_PLAYERS_PER_MATCH).contains(&max_players) {
            return Err(CreateError::BadMaxPlayers);
        }
        let id: Arc<str> = match spec.match_id {
            Some(id) if is_valid_id(&id) => id.into(),
            Some(_) => return Err(CreateError::BadMatchId),
            None => uuid::Uuid::new_v4().simple().to_string().into(),
        };
        let _guard = self.create_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.matches.contains_key(&id) {
            return Err(CreateError::Exists);
        }
        if self.is_full() {
            return Err(CreateError::TooManyRooms(self.config.max_rooms));
        }
        let params = SpawnParams {
            match_id: id.clone(),
            room: RoomConfig {
                tick_rate,
                input_buffer: self.config.input_buffer,
                max_input_lag: self.config.max_input_lag,
                keyframe_interval: match self.config.keyframe_interval {
                    0 => snapshot_rate,
                    n => n,
                },
                snapshot_interval: tick_rate / snapshot_rate,
                max_players: Some(max_players),
                // Each match draws its own: a recording carries it, so its replay draws the same.
                seed: rand::random(),
                checksum_interval: tick_rate,
            },
            inbox: self.config.room_inbox,
            empty_grace: self.config.empty_room_grace,
            recording: self.lifecycle.recording(),
        };
        let room = self
            .catalog
            .spawn(
                game,
                params,
                self.sink.clone(),
                self.metrics.clone() as Arc<dyn RoomMetrics>,
                self.stop_rooms.clone(),
            )
            .ok_or_else(|| CreateError::UnknownGame(spec.game.clone()))?;
        let m = Arc::new(Match::new(
            MatchInfo {
                id: id.clone(),
                instance: uuid::Uuid::new_v4().simple().to_string().into(),
                game,
                tick_rate,
                snapshot_rate,
                max_players,
                max_spectators: self.config.max_spectators,
                created_at: unix_now(),
                listing: spec.listing.map(Arc::new),
            },
            self.runtimes.start_room(room),
            self.config.seat_grace,
            self.runtimes.clone(),
            self.shutdown.clone(),
        ));
        self.matches.insert(id.clone(), m.clone());
        self.metrics.match_created(game);
        self.lifecycle.follow(self.matches.clone(), id, m.clone());
        tracing::info!(match_id = %m.info().id, game, tick_rate, max_players, "match created");
        Ok(m)
    }

    /// Takes over a match from another node: the room its command log `log` leaves (World,
    /// seats, acks, tick, randomness), under the same id and instance (its tokens stay good),
    /// ticking from the log's next tick, and still recording (its recording, at the end, is
    /// the whole match). Its players' seats are held for the seat grace period: each takes
    /// its seat back by connecting with its token. `info.game` names the game.
    pub fn adopt(&self, info: MatchInfo, log: &[u8]) -> Result<Arc<Match>, AdoptError> {
        if self.shutdown.is_cancelled() {
            return Err(CreateError::ShuttingDown.into());
        }
        let game = self
            .catalog
            .get(info.game)
            .ok_or_else(|| CreateError::UnknownGame(info.game.to_owned()))?;
        let recording = self.lifecycle.recording().ok_or(AdoptError::NotRecording)?;
        let params = SpawnParams {
            match_id: info.id.clone(),
            // The log's settings are the match's: these are not used.
            room: RoomConfig::with_rate(info.tick_rate),
            inbox: self.config.room_inbox,
            empty_grace: self.config.empty_room_grace,
            recording: Some(recording),
        };
        // The replay runs before the lock: creations do not wait for it.
        let restored = self.catalog.restore(
            log,
            params,
            self.sink.clone(),
            self.metrics.clone() as Arc<dyn RoomMetrics>,
            self.stop_rooms.clone(),
        )?;
        let _guard = self.create_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self
            .matches
            .get(&info.id)
            .is_some_and(|m| !m.state().is_over())
        {
            return Err(CreateError::Exists.into());
        }
        if self.is_full() {
            return Err(CreateError::TooManyRooms(self.config.max_rooms).into());
        }
        let id = info.id.clone();
        let m = Arc::new(Match::new(
            MatchInfo { game, ..info },
            self.runtimes.start_room(restored.spawned),
            self.config.seat_grace,
            self.runtimes.clone(),
            self.shutdown.clone(),
        ));
        m.hold_moved_players(&restored.players);
        self.matches.insert(id.clone(), m.clone());
        self.metrics.match_created(game);
        self.lifecycle.follow(self.matches.clone(), id, m.clone());
        tracing::info!(match_id = %m.info().id, game, tick = restored.tick, players = restored.players.len(), "match taken over from another node");
        Ok(m)
    }

    /// Listed matches whose room is still running or waiting: what the room limit counts.
    /// A match ended through the admin API leaves the list, and frees its slot, at once.
    pub fn live(&self) -> usize {
        self.matches.iter().filter(|m| !m.is_closed()).count()
    }

    /// The room limit (`--max-rooms`).
    pub fn max_rooms(&self) -> usize {
        self.config.max_rooms
    }

    /// Whether the room limit (`--max-rooms`) is reached: no match can be created until one
    /// ends.
    pub fn is_full(&self) -> bool {
        self.live() >= self.config.max_rooms
    }

    /// Rooms created and not yet closed, listed or not.
    pub fn open_rooms(&self) -> usize {
        self.lifecycle.open()
    }

    /// The match with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Match>> {
        self.matches.get(id).map(|m| m.value().clone())
    }

    /// The matches for which `keep` is true, in no order.
    pub fn select(&self, keep: impl Fn(&Match) -> bool) -> Vec<Arc<Match>> {
        self.matches
            .iter()
            .filter(|m| keep(m.value()))
            .map(|m| m.value().clone())
            .collect()
    }

    /// Every match, sorted by id.
    pub fn list(&self) -> Vec<Arc<Match>> {
        let mut all: Vec<Arc<Match>> = self.matches.iter().map(|m| m.value().clone()).collect();
        all.sort_unstable_by(|a, b| a.info().id.cmp(&b.info().id));
        all
    }

    /// Number of matches listed.
    pub fn len(&self) -> usize {
        self.matches.len()
    }

    /// Whether no match is listed.
    pub fn is_empty(&self) -> bool {
        self.matches.is_empty()
    }

    /// Ends the match: removes it from the directory and stops its room, which tells its
    /// connections. Returns the match, or `None` if there was none.
    pub fn end(&self, id: &str, reason: EndReason) -> Option<Arc<Match>> {
        let (_, m) = self.matches.remove(id)?;
        m.end(reason);
        Some(m)
    }

    /// The start of a shutdown drain (the server's shutdown token is already cancelled):
    /// matches with no player end now; the others end as their last player leaves, or
    /// when [`stop_rooms`](Self::stop_rooms) is called.
    pub(crate) fn begin_drain(&self) {
        for m in self.list() {
            m.end_if_empty(EndReason::Shutdown);
        }
    }

    /// Ends every room still running with reason `shutdown` (the end of a drain).
    pub(crate) fn stop_rooms(&self) {
        self.stop_rooms.cancel();
    }

    /// Resolves once every room created so far has closed and its result is saved.
    pub(crate) async fn all_closed(&self) {
        self.lifecycle.all_closed().await;
    }
}

#[cfg(test)]
mod tests;
