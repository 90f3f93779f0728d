//! The match directory of this node: which matches exist, their rooms, and who holds a seat.
//!
//! Seats are decided here, synchronously, during the handshake, so a full match refuses the
//! connection before it is admitted. The room itself hears only "join" and "leave".

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tickroom_shared::limits::{MAX_PLAYERS_PER_MATCH, MAX_TICK_RATE, MIN_TICK_RATE, is_valid_id};
use tickroom_shared::token::unix_now;
use tickroom_shared::{EndReason, Role};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::games::Catalog;
use crate::metrics::Metrics;
use crate::results::{MatchResult, ResultStore};
use crate::room::RoomConfig;
use crate::room::driver::{RoomControl, RoomState, Runtimes, SnapshotSink, SpawnParams};

/// A request to create a match (the body of `POST /admin/matches`).
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// Player seats; the server's default when absent.
    #[serde(default)]
    pub max_players: Option<u32>,
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
            Self::BadMaxPlayers => "bad_max_players",
            Self::BadMatchId => "bad_match_id",
            Self::Exists => "match_exists",
            Self::TooManyRooms(_) => "room_limit",
            Self::ShuttingDown => "shutting_down",
        }
    }
}

/// Why a seat was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    /// Every seat of that role is taken.
    #[error("match full")]
    Full,
    /// The match has ended.
    #[error("match ended")]
    Ended,
}

/// A seat given to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The connection that held this player's seat before, now replaced.
    pub replaced: Option<String>,
    /// The seat was being held after a dropped connection and is now taken back.
    pub reconnected: bool,
}

/// How a connection ended, which decides what happens to its seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// The client left on purpose (or misbehaved): the seat is given up at once.
    Left,
    /// The connection dropped: the seat and entity are held for the grace period.
    Dropped,
}

#[derive(Debug)]
struct PlayerSeat {
    /// The transport's id of the connection holding the seat; `None` while held for a
    /// dropped connection.
    conn: Option<String>,
    /// Bumped on every change, so a hold's expiry knows whether it is still current.
    generation: u64,
}

#[derive(Debug, Default)]
struct Seats {
    /// player id → who holds the seat.
    players: HashMap<Arc<str>, PlayerSeat>,
    /// Connection ids of spectators.
    spectators: HashSet<String>,
}

/// One match on this node.
pub struct Match {
    /// Immutable facts about the match.
    pub info: MatchInfo,
    room: Arc<dyn RoomControl>,
    seats: Mutex<Seats>,
    ended: AtomicBool,
    /// Whether this match still counts toward the room limit (cleared exactly once).
    counted: AtomicBool,
    /// How long a dropped player's seat is held.
    seat_grace: Duration,
    runtimes: Runtimes,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Match")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Immutable facts about a match.
#[derive(Debug, Clone, Serialize)]
pub struct MatchInfo {
    /// Match id.
    pub id: Arc<str>,
    /// Game name.
    pub game: &'static str,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Player seats.
    pub max_players: u32,
    /// Spectator seats.
    pub max_spectators: u32,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
}

/// A match as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MatchView {
    /// Immutable facts.
    #[serde(flatten)]
    pub info: MatchInfo,
    /// `waiting` (no player has joined yet), `running` or `ended`.
    pub state: &'static str,
    /// Why it ended, once it has.
    pub end_reason: Option<tickroom_shared::EndReason>,
    /// The room's last tick.
    pub tick: u64,
    /// Ids of players holding a seat (connected or held), sorted.
    pub players: Vec<String>,
    /// Ids of players whose seat is held after a dropped connection, sorted.
    pub disconnected: Vec<String>,
    /// Connected spectators.
    pub spectators: usize,
}

impl Match {
    /// The room's control handle.
    pub fn room(&self) -> &Arc<dyn RoomControl> {
        &self.room
    }

    /// Whether the match has ended.
    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire) || self.room.state() == RoomState::Ended
    }

    /// Whether a seat of `role` is free right now for `player` (a player who already holds a
    /// seat can always take it over).
    pub fn has_room_for(&self, player: &str, role: Role) -> Result<(), SeatError> {
        if self.is_ended() {
            return Err(SeatError::Ended);
        }
        let seats = lock(&self.seats);
        match role {
            Role::Player if seats.players.contains_key(player) => Ok(()),
            Role::Player if seats.players.len() >= self.info.max_players as usize => {
                Err(SeatError::Full)
            }
            Role::Spectator if seats.spectators.len() >= self.info.max_spectators as usize => {
                Err(SeatError::Full)
            }
            _ => Ok(()),
        }
    }

    /// Gives connection `conn` a seat. A player id that already holds a seat moves to `conn`
    /// and keeps its entity: the old connection, if still open, is returned so the transport
    /// can close it; a seat held after a drop is taken back.
    pub fn claim(&self, player: &Arc<str>, role: Role, conn: &str) -> Result<Claim, SeatError> {
        self.has_room_for(player, role)?;
        let mut seats = lock(&self.seats);
        match role {
            Role::Player => {
                if let Some(seat) = seats.players.get_mut(player) {
                    seat.generation += 1;
                    let replaced = seat.conn.replace(conn.to_owned());
                    let reconnected = replaced.is_none();
                    if reconnected {
                        self.room.set_connected(player.clone(), true);
                    }
                    return Ok(Claim {
                        replaced,
                        reconnected,
                    });
                }
                if seats.players.len() >= self.info.max_players as usize {
                    return Err(SeatError::Full);
                }
                seats.players.insert(
                    player.clone(),
                    PlayerSeat {
                        conn: Some(conn.to_owned()),
                        generation: 0,
                    },
                );
                self.room.join(player.clone());
            }
            Role::Spectator => {
                if seats.spectators.len() >= self.info.max_spectators as usize {
                    return Err(SeatError::Full);
                }
                seats.spectators.insert(conn.to_owned());
            }
        }
        Ok(Claim {
            replaced: None,
            reconnected: false,
        })
    }

    /// Gives back the seat `conn` holds. A player who left gives it up at once; a dropped
    /// player's seat is held for the grace period (a reconnection takes it back), then given
    /// up. A seat that has moved to another connection is left alone. Returns whether `conn`
    /// held a seat.
    pub fn release(
        self: &Arc<Self>,
        player: &Arc<str>,
        role: Role,
        conn: &str,
        how: Departure,
    ) -> bool {
        let mut seats = lock(&self.seats);
        match role {
            Role::Player => {
                let Some(seat) = seats.players.get_mut(player) else {
                    return false;
                };
                if seat.conn.as_deref() != Some(conn) {
                    return false;
                }
                let hold = how == Departure::Dropped
                    && !self.seat_grace.is_zero()
                    && !self.is_ended()
                    && !self.shutdown.is_cancelled();
                if !hold {
                    seats.players.remove(player);
                    self.room.leave(player.clone());
                    return true;
                }
                seat.conn = None;
                seat.generation += 1;
                let generation = seat.generation;
                self.room.set_connected(player.clone(), false);
                let m = self.clone();
                let player = player.clone();
                self.runtimes.tracker.spawn_on(
                    async move {
                        tokio::select! {
                            _ = tokio::time::sleep(m.seat_grace) => m.expire_hold(&player, generation),
                            // At shutdown the match is ending anyway.
                            _ = m.shutdown.cancelled() => {}
                            _ = m.room.closed() => {}
                        }
                    },
                    &self.runtimes.io,
                );
                true
            }
            Role::Spectator => seats.spectators.remove(conn),
        }
    }

    /// The match's result as it stands (complete once its room has closed).
    pub fn result(&self) -> MatchResult {
        let outcome = self.room.outcome().unwrap_or_default();
        let players = if outcome.players.is_empty() {
            let mut p: Vec<String> = lock(&self.seats)
                .players
                .keys()
                .map(|p| p.to_string())
                .collect();
            p.sort_unstable();
            p
        } else {
            outcome.players
        };
        MatchResult {
            match_id: self.info.id.to_string(),
            game: self.info.game.to_owned(),
            created_at: self.info.created_at,
            ended_at: unix_now(),
            duration_ms: u64::try_from(outcome.played.as_millis()).unwrap_or(u64::MAX),
            end_reason: self.room.end_reason().unwrap_or(EndReason::Error),
            ticks: self.room.tick(),
            players,
            scores: outcome.scores,
        }
    }

    /// Gives up a held seat whose grace period ran out, unless it was taken back meanwhile.
    fn expire_hold(&self, player: &Arc<str>, generation: u64) {
        let mut seats = lock(&self.seats);
        let still_held = seats
            .players
            .get(player)
            .is_some_and(|s| s.conn.is_none() && s.generation == generation);
        if still_held {
            seats.players.remove(player);
            self.room.leave(player.clone());
        }
    }

    /// The admin API's view of the match.
    pub fn view(&self) -> MatchView {
        let seats = lock(&self.seats);
        let mut players: Vec<String> = seats.players.keys().map(|p| p.to_string()).collect();
        players.sort_unstable();
        let mut disconnected: Vec<String> = seats
            .players
            .iter()
            .filter(|(_, s)| s.conn.is_none())
            .map(|(p, _)| p.to_string())
            .collect();
        disconnected.sort_unstable();
        MatchView {
            info: self.info.clone(),
            state: if self.is_ended() {
                RoomState::Ended.as_str()
            } else {
                self.room.state().as_str()
            },
            end_reason: self.room.end_reason(),
            tick: self.room.tick(),
            players,
            disconnected,
            spectators: seats.spectators.len(),
        }
    }
}

/// Seat maps are never left half-updated, so a poisoned lock's data is still consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every match on this node.
pub struct Registry {
    matches: Arc<DashMap<Arc<str>, Arc<Match>>>,
    /// Matches whose room has not stopped yet: what the room limit counts.
    live: Arc<AtomicUsize>,
    catalog: Catalog,
    sink: Arc<dyn SnapshotSink>,
    metrics: Arc<Metrics>,
    runtimes: Runtimes,
    shutdown: CancellationToken,
    /// Stops every room still running: cancelled at the end of the shutdown drain.
    stop_rooms: CancellationToken,
    results: Option<Arc<ResultStore>>,
    config: Arc<Config>,
    /// Serializes creations so the room limit holds exactly.
    create_lock: Mutex<()>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("matches", &self.matches.len())
            .field("catalog", &self.catalog)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry whose rooms publish to `sink`. Once `shutdown` is cancelled it
    /// creates no more matches and gives no held seats; running rooms go on until they end or
    /// [`stop_rooms`](Self::stop_rooms) is called.
    pub fn new(
        catalog: Catalog,
        sink: Arc<dyn SnapshotSink>,
        metrics: Arc<Metrics>,
        config: Arc<Config>,
        runtimes: Runtimes,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            matches: Arc::new(DashMap::new()),
            live: Arc::new(AtomicUsize::new(0)),
            catalog,
            sink,
            metrics,
            runtimes,
            shutdown,
            stop_rooms: CancellationToken::new(),
            results: None,
            config,
            create_lock: Mutex::new(()),
        }
    }

    /// Keeps every ended match's result in `store`.
    pub fn with_results(mut self, store: Arc<ResultStore>) -> Self {
        self.results = Some(store);
        self
    }

    /// The results store, if any.
    pub fn results(&self) -> Option<&Arc<ResultStore>> {
        self.results.as_ref()
    }

    /// Ends every room still running with reason `shutdown` (the end of a drain).
    pub fn stop_rooms(&self) {
        self.stop_rooms.cancel();
    }

    /// Ends the matches with no seated player (never joined, or everyone left): at shutdown
    /// they would only wait out the drain.
    pub fn end_idle(&self, reason: EndReason) {
        for m in self.list() {
            let empty = lock(&m.seats).players.is_empty();
            if empty && !m.is_ended() {
                m.room.end(reason);
            }
        }
    }

    /// The games offered.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Creates a match and starts its room.
    pub fn create(&self, req: CreateMatch) -> Result<Arc<Match>, CreateError> {
        if self.shutdown.is_cancelled() {
            return Err(CreateError::ShuttingDown);
        }
        let game = self
            .catalog
            .names()
            .find(|g| *g == req.game)
            .ok_or_else(|| CreateError::UnknownGame(req.game.clone()))?;
        let tick_rate = req.tick_rate.unwrap_or(self.config.default_tick_rate);
        if !(MIN_TICK_RATE..=MAX_TICK_RATE).contains(&tick_rate) {
            return Err(CreateError::BadTickRate);
        }
        let max_players = req.max_players.unwrap_or(self.config.default_max_players);
        if !(1..=MAX_PLAYERS_PER_MATCH).contains(&max_players) {
            return Err(CreateError::BadMaxPlayers);
        }
        let id: Arc<str> = match req.match_id {
            Some(id) if is_valid_id(&id) => id.into(),
            Some(_) => return Err(CreateError::BadMatchId),
            None => uuid::Uuid::new_v4().simple().to_string().into(),
        };
        let _guard = lock(&self.create_lock);
        if self.matches.contains_key(&id) {
            return Err(CreateError::Exists);
        }
        if self.live.load(Ordering::Acquire) >= self.config.max_rooms {
            return Err(CreateError::TooManyRooms(self.config.max_rooms));
        }
        let params = SpawnParams {
            match_id: id.clone(),
            room: RoomConfig {
                tick_rate,
                input_buffer: self.config.input_buffer,
                max_input_lag: self.config.max_input_lag,
                keyframe_interval: match self.config.keyframe_interval {
                    0 => tick_rate,
                    n => n,
                },
            },
            inbox: self.config.room_inbox,
            empty_grace: Duration::from_secs(self.config.empty_room_grace_secs),
        };
        let room = self
            .catalog
            .spawn(
                game,
                params,
                self.sink.clone(),
                self.metrics.clone(),
                &self.runtimes,
                self.stop_rooms.clone(),
            )
            .ok_or_else(|| CreateError::UnknownGame(req.game.clone()))?;
        let m = Arc::new(Match {
            info: MatchInfo {
                id: id.clone(),
                game,
                tick_rate,
                max_players,
                max_spectators: self.config.max_spectators,
                created_at: unix_now(),
            },
            room,
            seats: Mutex::new(Seats::default()),
            ended: AtomicBool::new(false),
            counted: AtomicBool::new(true),
            seat_grace: Duration::from_secs(self.config.seat_grace_secs),
            runtimes: self.runtimes.clone(),
            shutdown: self.shutdown.clone(),
        });
        self.matches.insert(id.clone(), m.clone());
        self.live.fetch_add(1, Ordering::AcqRel);
        self.forget_when_closed(id, m.clone());
        tracing::info!(match_id = %m.info.id, game, tick_rate, max_players, "match created");
        Ok(m)
    }

    /// Once the match's room stops: it no longer counts toward the room limit, and after the
    /// retention period it leaves the directory (unless a new match took its id).
    fn forget_when_closed(&self, id: Arc<str>, m: Arc<Match>) {
        let matches = self.matches.clone();
        let live = self.live.clone();
        let retention = Duration::from_secs(self.config.ended_retention_secs);
        let shutdown = self.shutdown.clone();
        let results = self.results.clone();
        self.runtimes.tracker.spawn_on(
            async move {
                m.room.closed().await;
                if let Some(store) = results {
                    let result = m.result();
                    let id = result.match_id.clone();
                    let saved = tokio::task::spawn_blocking(move || store.record(&result)).await;
                    match saved {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::error!(match_id = %id, error = %e, "result not saved")
                        }
                        Err(e) => tracing::error!(match_id = %id, error = %e, "result not saved"),
                    }
                }
                if m.counted.swap(false, Ordering::AcqRel) {
                    live.fetch_sub(1, Ordering::AcqRel);
                }
                let still_listed = matches.get(&id).is_some_and(|v| Arc::ptr_eq(v.value(), &m));
                if !still_listed {
                    // Ended through the admin API: already gone from the directory.
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(retention) => {}
                    _ = shutdown.cancelled() => {}
                }
                matches.remove_if(&id, |_, v| Arc::ptr_eq(v, &m));
            },
            &self.runtimes.io,
        );
    }

    /// Matches whose room is still running (or waiting): what the room limit counts.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// The match with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Match>> {
        self.matches.get(id).map(|m| m.value().clone())
    }

    /// Every match, sorted by id.
    pub fn list(&self) -> Vec<Arc<Match>> {
        let mut all: Vec<Arc<Match>> = self.matches.iter().map(|m| m.value().clone()).collect();
        all.sort_unstable_by(|a, b| a.info.id.cmp(&b.info.id));
        all
    }

    /// Number of matches.
    pub fn len(&self) -> usize {
        self.matches.len()
    }

    /// Whether there are no matches.
    pub fn is_empty(&self) -> bool {
        self.matches.is_empty()
    }

    /// Ends the match: removes it from the directory and stops its room, which tells its
    /// connections. Returns the match, or `None` if there was none.
    pub fn end(&self, id: &str, reason: EndReason) -> Option<Arc<Match>> {
        let (_, m) = self.matches.remove(id)?;
        m.ended.store(true, Ordering::Release);
        // Its slot is free now, not when its room has finished closing.
        if m.counted.swap(false, Ordering::AcqRel) {
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
        m.room.end(reason);
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use tickroom_shared::PresenceStatus::{Disconnected, Joined, Left, Reconnected};

    use super::*;
    use crate::room::driver::testing::Recorder;

    fn registry(sink: Arc<Recorder>, grace: u64) -> Registry {
        let config = Config {
            seat_grace_secs: grace,
            ..Config::default()
        };
        Registry::new(
            Catalog::builtin(),
            sink,
            Arc::new(Metrics::default()),
            Arc::new(config),
            Runtimes::current(tokio_util::task::TaskTracker::new()),
            CancellationToken::new(),
        )
    }

    fn arena(r: &Registry, seats: u32) -> Arc<Match> {
        r.create(CreateMatch {
            game: "arena".into(),
            max_players: Some(seats),
            ..CreateMatch::default()
        })
        .unwrap()
    }

    /// Lets the room apply what was sent to it (its next tick is at most 1/30 s away).
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_seat_is_held_for_the_grace_period() {
        let sink = Arc::new(Recorder::default());
        let r = registry(sink.clone(), 10);
        let m = arena(&r, 2);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        m.claim(&a, Role::Player, "c1").unwrap();
        settle().await;

        assert!(m.release(&a, Role::Player, "c1", Departure::Dropped));
        settle().await;
        let v = m.view();
        assert_eq!(
            (v.players.clone(), v.disconnected.clone()),
            (vec!["a".to_owned()], vec!["a".to_owned()])
        );
        // The held seat counts: with b seated the match is full for anyone else.
        m.claim(&b, Role::Player, "c2").unwrap();
        assert_eq!(
            m.claim(&"c".into(), Role::Player, "c3").unwrap_err(),
            SeatError::Full
        );

        // Back within the grace period: same seat, reported as a reconnection.
        tokio::time::sleep(Duration::from_secs(9)).await;
        let claim = m.claim(&a, Role::Player, "c4").unwrap();
        assert_eq!(
            claim,
            Claim {
                replaced: None,
                reconnected: true
            }
        );
        settle().await;
        assert!(m.view().disconnected.is_empty());

        // Dropped again and not back in time: the seat is given up.
        assert!(m.release(&a, Role::Player, "c4", Departure::Dropped));
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(m.view().players, ["b"]);
        // A deliberate leave gives the seat up at once.
        assert!(m.release(&b, Role::Player, "c2", Departure::Left));
        settle().await;
        assert!(m.view().players.is_empty());

        let a_events: Vec<_> = sink
            .statuses()
            .into_iter()
            .filter(|(p, _)| p == "a")
            .map(|(_, s)| s)
            .collect();
        assert_eq!(
            a_events,
            [Joined, Disconnected, Reconnected, Disconnected, Left]
        );
        let b_events: Vec<_> = sink
            .statuses()
            .into_iter()
            .filter(|(p, _)| p == "b")
            .map(|(_, s)| s)
            .collect();
        assert_eq!(b_events, [Joined, Left]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_grace_period_drops_leave_at_once() {
        let sink = Arc::new(Recorder::default());
        let r = registry(sink.clone(), 0);
        let m = arena(&r, 2);
        let a: Arc<str> = "a".into();
        m.claim(&a, Role::Player, "c1").unwrap();
        assert!(m.release(&a, Role::Player, "c1", Departure::Dropped));
        settle().await;
        assert!(m.view().players.is_empty());
        // A stale connection id does not touch a seat it no longer holds.
        m.claim(&a, Role::Player, "c2").unwrap();
        assert!(!m.release(&a, Role::Player, "c1", Departure::Left));
        assert_eq!(m.view().players, ["a"]);
    }
}
