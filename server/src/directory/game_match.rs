//! One match on this node: its room, its seat table, and the rules that connect them.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tickroom_engine::{Frozen, InputError, MatchState, Recorded, RoomControl, RoomStats};
use tickroom_shared::token::unix_now;
use tickroom_shared::{EndReason, Role};
use tokio_util::sync::CancellationToken;

use super::Listing;
use super::seats::{Departure, Expired, GivenBack, SeatError, SeatTable, Taken};
use crate::results::MatchResult;
use crate::runtime::Runtimes;

/// Immutable facts about a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchInfo {
    /// Match id.
    pub id: Arc<str>,
    /// This instance of the match: a new one each time a match is created, also under an id
    /// used before. Tokens bound to it (claim `mi`) join no other instance.
    pub instance: Arc<str>,
    /// Game name.
    pub game: &'static str,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Snapshots per second (a divisor of the tick rate).
    pub snapshot_rate: u32,
    /// Player seats.
    pub max_players: u32,
    /// Spectator seats.
    pub max_spectators: u32,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// How matchmaking finds it; `None` for a match created through the admin API, which
    /// matchmaking never offers.
    pub listing: Option<Arc<Listing>>,
}

/// A seat given to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The connection that held this player's seat before, now replaced.
    pub replaced: Option<String>,
    /// The seat was being held after a dropped connection and is now taken back.
    pub reconnected: bool,
}

/// Who holds the seats of a match, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatsView {
    /// Ids of players holding a seat (connected or held), sorted.
    pub players: Vec<String>,
    /// Ids of players whose seat is held after a dropped connection, sorted.
    pub disconnected: Vec<String>,
    /// Ids of players with a seat reserved by matchmaking who have not connected yet, sorted.
    pub reserved: Vec<String>,
    /// Connected spectators.
    pub spectators: usize,
}

/// One match on this node. Its life (waiting, running, ending, ended) is its room's
/// [`MatchState`]; its seats are its seat table; nothing else records either.
pub struct Match {
    info: MatchInfo,
    room: Arc<dyn RoomControl>,
    seats: Mutex<SeatTable>,
    /// How long a dropped player's seat is held.
    seat_grace: Duration,
    runtimes: Runtimes,
    /// The server's shutdown: no seat is held once it began, and a match left with no
    /// player during the drain ends at once.
    shutdown: CancellationToken,
    /// Where the match went, once it moved to another node: its clients connect there.
    moved_to: OnceLock<String>,
}

impl std::fmt::Debug for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Match")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Match {
    pub(super) fn new(
        info: MatchInfo,
        room: Arc<dyn RoomControl>,
        seat_grace: Duration,
        runtimes: Runtimes,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            seats: Mutex::new(SeatTable::new(info.max_players, info.max_spectators)),
            info,
            room,
            seat_grace,
            runtimes,
            shutdown,
            moved_to: OnceLock::new(),
        }
    }

    /// Holds a seat for each of `players`, who played the match on the node it moved from:
    /// each takes it back as a reconnection within the seat grace period, or leaves.
    pub(super) fn hold_moved_players(self: &Arc<Self>, players: &[String]) {
        let mut seats = self.seats();
        for p in players {
            let player: Arc<str> = p.as_str().into();
            let generation = seats.hold(&player);
            self.expire_after(player, generation, self.seat_grace);
        }
    }

    /// Stops the room between two ticks for a move and hands over its log
    /// ([`RoomControl::freeze`]); `None` if it cannot move.
    pub async fn freeze(&self) -> Option<Frozen> {
        self.room.freeze().await
    }

    /// The room's command log from `offset` on, as kept so far; `None` if not recorded.
    pub fn recorded_since(&self, offset: usize) -> Option<Recorded> {
        self.room.recorded_since(offset)
    }

    /// Notes that the match moved to the node at `url` (its room is stopping): connections
    /// for it are sent there from now on.
    pub fn set_moved(&self, url: String) {
        let _ = self.moved_to.set(url);
    }

    /// Where the match moved to, if it did.
    pub fn moved_to(&self) -> Option<&str> {
        self.moved_to.get().map(String::as_str)
    }

    fn seats(&self) -> MutexGuard<'_, SeatTable> {
        // Each change to the table is made whole before the lock is released.
        self.seats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Immutable facts about the match.
    pub fn info(&self) -> &MatchInfo {
        &self.info
    }

    /// Where the match is in its life.
    pub fn state(&self) -> MatchState {
        self.room.state()
    }

    /// The room's last tick.
    pub fn tick(&self) -> u64 {
        self.room.tick()
    }

    /// The room's own measurements (tick duration and lateness, snapshot bytes).
    pub fn stats(&self) -> RoomStats {
        self.room.stats()
    }

    /// Who holds its seats.
    pub fn seats_view(&self) -> SeatsView {
        let seats = self.seats();
        SeatsView {
            players: seats.players(),
            disconnected: seats.held(),
            reserved: seats.reserved(),
            spectators: seats.spectators(),
        }
    }

    /// Whether `player` holds a player seat here: reserved, connected or held.
    pub fn holds_seat(&self, player: &str) -> bool {
        self.seats().holds(player)
    }

    /// Player seats taken (reserved, connected or held).
    pub fn seats_taken(&self) -> u32 {
        u32::try_from(self.seats().taken()).unwrap_or(u32::MAX)
    }

    /// Reserves a player seat for `player` for `ttl`: the seat counts against the match's
    /// size from now on, and is freed when `ttl` passes without the player connecting; the
    /// room is not abandoned meanwhile. A reservation the player has is renewed; a seat the
    /// player joined stays as it is.
    pub fn reserve(self: &Arc<Self>, player: &Arc<str>, ttl: Duration) -> Result<(), SeatError> {
        let mut seats = self.seats();
        if self.state().is_over() {
            return Err(SeatError::Ended);
        }
        if let Some(generation) = seats.reserve(player)? {
            // The room waits for the player rather than end, empty, as abandoned meanwhile.
            self.room.expect_player(ttl);
            self.expire_after(player.clone(), generation, ttl);
        }
        Ok(())
    }

    /// Frees `player`'s reserved or held seat after `after`, unless it was taken up meanwhile.
    fn expire_after(self: &Arc<Self>, player: Arc<str>, generation: u64, after: Duration) {
        let m = self.clone();
        self.runtimes.spawn_io(async move {
            tokio::select! {
                _ = tokio::time::sleep(after) => m.expire(&player, generation),
                // At shutdown the match is ending anyway.
                _ = m.shutdown.cancelled() => {}
                _ = m.room.closed() => {}
            }
        });
    }

    /// Whether a seat of `role` is free right now for `player` (a player who already holds a
    /// seat can always take it over). With `reserved_only`, only a seat `player` already
    /// holds will do.
    pub fn has_room_for(
        &self,
        player: &str,
        role: Role,
        reserved_only: bool,
    ) -> Result<(), SeatError> {
        if self.state().is_over() {
            return Err(SeatError::Ended);
        }
        let seats = self.seats();
        if reserved_only && role == Role::Player && !seats.holds(player) {
            return Err(SeatError::NotReserved);
        }
        seats.check(player, role)
    }

    /// Gives connection `conn` a seat. A player id that already holds a seat moves to `conn`
    /// and keeps its entity: the old connection, if still open, is returned so the transport
    /// can close it; a seat held after a drop is taken back; a reserved seat is taken up. With
    /// `reserved_only` (a token minted by matchmaking), a player who holds no seat is refused
    /// with [`SeatError::NotReserved`].
    pub fn claim(
        &self,
        player: &Arc<str>,
        role: Role,
        conn: &str,
        reserved_only: bool,
    ) -> Result<Claim, SeatError> {
        let mut seats = self.seats();
        if self.state().is_over() {
            return Err(SeatError::Ended);
        }
        // The room hears of the change while the table is still locked, so it hears of every
        // change in the order the table made them.
        let claim = match seats.take(player, role, conn, reserved_only)? {
            Taken::Joined => {
                self.room.join(player.clone());
                Claim {
                    replaced: None,
                    reconnected: false,
                }
            }
            Taken::Reconnected => {
                self.room.set_connected(player.clone(), true);
                Claim {
                    replaced: None,
                    reconnected: true,
                }
            }
            Taken::Replaced(old) => Claim {
                replaced: Some(old),
                reconnected: false,
            },
            Taken::Spectating => Claim {
                replaced: None,
                reconnected: false,
            },
        };
        Ok(claim)
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
        let mut seats = self.seats();
        let hold = how == Departure::Dropped
            && !self.seat_grace.is_zero()
            && !self.state().is_over()
            && !self.shutdown.is_cancelled();
        match seats.give_back(player, role, conn, hold) {
            GivenBack::NotHeld => false,
            GivenBack::Spectator => true,
            GivenBack::Left => {
                self.room.leave(player.clone());
                self.end_if_drained(&seats);
                true
            }
            GivenBack::Held { generation } => {
                self.room.set_connected(player.clone(), false);
                self.expire_after(player.clone(), generation, self.seat_grace);
                true
            }
        }
    }

    /// Gives up a reserved or held seat whose time ran out, unless it was taken up meanwhile.
    fn expire(&self, player: &Arc<str>, generation: u64) {
        let mut seats = self.seats();
        match seats.expire(player, generation) {
            Expired::Stale => {}
            Expired::Reservation => {
                tracing::debug!(match_id = %self.info.id, %player, "seat reservation expired");
            }
            Expired::Hold => {
                self.room.leave(player.clone());
                self.end_if_drained(&seats);
            }
        }
    }

    /// During a shutdown drain a match with no player left has nothing to wait for.
    fn end_if_drained(&self, seats: &SeatTable) {
        if self.shutdown.is_cancelled() && seats.no_players() {
            self.room.end(EndReason::Shutdown);
        }
    }

    /// Ends the match if no player holds a seat; whether it did.
    pub(super) fn end_if_empty(&self, reason: EndReason) -> bool {
        let empty = self.seats().no_players();
        if empty {
            self.room.end(reason);
        }
        empty
    }

    /// Ends the match: its room stops after the current tick and tells its connections.
    pub(super) fn end(&self, reason: EndReason) {
        self.room.end(reason);
    }

    /// Queues `player`'s input `seq` (the msgpack of one game input) for a coming tick.
    pub fn submit_input(
        &self,
        player: &Arc<str>,
        seq: u32,
        input: &[u8],
    ) -> Result<(), InputError> {
        self.room.submit_input(player, seq, input)
    }

    /// A connection of `viewer` (a player or a spectator) came: its next snapshot is a
    /// keyframe (the room's, for a game without an interest).
    pub fn watch(&self, viewer: &Arc<str>) {
        self.room.watch(viewer.clone());
    }

    /// A connection that [`watch`](Self::watch)ed went.
    pub fn unwatch(&self, viewer: &Arc<str>) {
        self.room.unwatch(viewer.clone());
    }

    /// Whether the room's task has stopped.
    pub(super) fn is_closed(&self) -> bool {
        self.room.is_closed()
    }

    /// Resolves once the room's task has stopped.
    pub(super) async fn closed(&self) {
        self.room.closed().await;
    }

    /// Why the match ended: its state's reason, or `error` for a room that stopped without
    /// one (it panicked).
    pub fn end_reason(&self) -> EndReason {
        self.state().end_reason().unwrap_or(EndReason::Error)
    }

    /// The match's result as it stands (complete once its room has closed).
    pub fn result(&self) -> MatchResult {
        let outcome = self.room.outcome().unwrap_or_default();
        let players = if outcome.players.is_empty() {
            self.seats().players()
        } else {
            outcome.players
        };
        MatchResult {
            match_id: self.info.id.to_string(),
            game: self.info.game.to_owned(),
            created_at: self.info.created_at,
            ended_at: unix_now(),
            duration_ms: u64::try_from(outcome.played.as_millis()).unwrap_or(u64::MAX),
            end_reason: self.end_reason(),
            ticks: self.room.tick(),
            players,
            scores: outcome.scores,
        }
    }
}
