//! Matchmaking: players find a match without the game writing a backend.
//!
//! Every way in ends in a *seat reservation*: a seat held for one player in one match for a
//! while (`--reservation-secs`), and a match token that redeems it. A reservation counts
//! against the match's size from the moment it is made, so concurrent requests can never
//! seat more players than there are seats; one not redeemed in time frees its seat.
//!
//! # Layout
//! - `identity`: who is asking (player tokens, anonymous players).
//! - this module: `join or create`, `create`, `join` by id or code, and the listing of open
//!   matches, over the node's [`Directory`] — the one interface a shared directory replaces.
//! - `queue`: tickets that wait for a group of players of similar rating.

pub mod identity;
pub mod queue;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tickroom_shared::limits::is_valid_id;
use tickroom_shared::token::unix_now;

use crate::directory::{CreateError, Directory, Listing, Match, MatchSpec, SeatError};
use crate::metrics::Metrics;
pub use identity::{Identities, Identity, IdentityError};

/// Labels a request may carry.
pub const MAX_LABELS: usize = 8;
/// Longest label name.
pub const MAX_LABEL_NAME: usize = 32;
/// Letters of join codes: no 0/O, 1/I/L, so a code read aloud is not misheard.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Length of a join code (31⁶ ≈ 887 million codes).
pub const CODE_LEN: usize = 6;

/// What a player asks for: a game, its labels, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The game (the catalog's own name).
    pub game: &'static str,
    /// Labels the match must have, exactly (`mode`, `region`, …).
    pub labels: BTreeMap<String, String>,
    /// Player seats of the match.
    pub max_players: u32,
}

/// A seat held for a player: redeemed by connecting with a token for it before `until`.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// The match.
    pub game_match: Arc<Match>,
    /// The player the seat is held for.
    pub player: Arc<str>,
    /// When the reservation lapses, in seconds since the Unix epoch.
    pub until: u64,
}

/// Why a matchmaking request failed. Each has a stable code (docs/MATCHMAKING.md).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchmakingError {
    /// No game of that name.
    #[error("unknown game {0:?}")]
    UnknownGame(String),
    /// Labels too many, or not ids.
    #[error("{0}")]
    BadLabels(&'static str),
    /// Seats out of range.
    #[error(
        "max_players must be within 1..={}",
        tickroom_shared::limits::MAX_PLAYERS_PER_MATCH
    )]
    BadMaxPlayers,
    /// No match matchmaking offers has that id or code.
    #[error("no open match with this id or code")]
    NotFound,
    /// The match has no free seat.
    #[error("the match has no free seat")]
    Full,
    /// The match has ended.
    #[error("the match has ended")]
    Ended,
    /// A new match could not be created.
    #[error(transparent)]
    Create(#[from] CreateError),
}

impl MatchmakingError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownGame(_) => "unknown_game",
            Self::BadLabels(_) => "bad_labels",
            Self::BadMaxPlayers => "bad_max_players",
            Self::NotFound => "match_not_found",
            Self::Full => "match_full",
            Self::Ended => "match_ended",
            Self::Create(e) => e.code(),
        }
    }
}

impl From<SeatError> for MatchmakingError {
    fn from(e: SeatError) -> Self {
        match e {
            SeatError::Full => Self::Full,
            SeatError::Ended | SeatError::NotReserved => Self::Ended,
        }
    }
}

/// Places players in matches of this node's directory.
#[derive(Debug)]
pub struct Matchmaker {
    directory: Arc<Directory>,
    metrics: Arc<Metrics>,
    reservation_ttl: Duration,
    /// Held while a request chooses a match and reserves in it (microseconds, no await), so
    /// concurrent requests fill one match before they open the next.
    placing: Mutex<()>,
}

impl Matchmaker {
    /// A matchmaker over `directory` whose reservations last `reservation_ttl`.
    pub fn new(
        directory: Arc<Directory>,
        metrics: Arc<Metrics>,
        reservation_ttl: Duration,
    ) -> Self {
        Self {
            directory,
            metrics,
            reservation_ttl,
            placing: Mutex::new(()),
        }
    }

    /// How long reservations last.
    pub fn reservation_ttl(&self) -> Duration {
        self.reservation_ttl
    }

    /// The directory matches are placed in.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// Checks a request: the game exists, the labels are few and ids, the size in range. The
    /// identity's region becomes the `region` label when the request has none.
    pub fn wanted(
        &self,
        who: &Identity,
        game: &str,
        mut labels: BTreeMap<String, String>,
        max_players: Option<u32>,
    ) -> Result<Wanted, MatchmakingError> {
        let game = self
            .directory
            .catalog()
            .get(game)
            .ok_or_else(|| MatchmakingError::UnknownGame(game.to_owned()))?;
        if let Some(region) = &who.region {
            labels
                .entry("region".to_owned())
                .or_insert_with(|| region.clone());
        }
        if labels.len() > MAX_LABELS {
            return Err(MatchmakingError::BadLabels("at most 8 labels"));
        }
        let valid = labels
            .iter()
            .all(|(k, v)| k.len() <= MAX_LABEL_NAME && is_valid_id(k) && is_valid_id(v));
        if !valid {
            return Err(MatchmakingError::BadLabels(
                "label names (up to 32) and values (up to 64) must be characters of A-Z a-z 0-9 - _ . :",
            ));
        }
        let max_players = max_players.unwrap_or_else(|| self.directory.default_size(game));
        if !(1..=tickroom_shared::limits::MAX_PLAYERS_PER_MATCH).contains(&max_players) {
            return Err(MatchmakingError::BadMaxPlayers);
        }
        Ok(Wanted {
            game,
            labels,
            max_players,
        })
    }

    /// A seat in an open public match of `wanted` — the fullest, then the oldest — or in a new
    /// one. A player who already holds a seat in such a match gets that seat again.
    pub fn join_or_create(
        &self,
        player: &Arc<str>,
        wanted: &Wanted,
    ) -> Result<Reservation, MatchmakingError> {
        let _placing = self.lock();
        let mut open = self.directory.select(|m| {
            m.info()
                .listing
                .as_ref()
                .is_some_and(|l| !l.private && l.labels == wanted.labels)
                && m.info().game == wanted.game
                && m.info().max_players == wanted.max_players
                && !m.state().is_over()
        });
        if let Some(mine) = open.iter().find(|m| m.holds_seat(player)) {
            return self.reserve(mine.clone(), player);
        }
        // Fullest first, then oldest: requests fill one match before the next.
        let mut by_fill: Vec<(u32, Arc<Match>)> =
            open.drain(..).map(|m| (m.seats_taken(), m)).collect();
        by_fill.retain(|(taken, m)| *taken < m.info().max_players);
        by_fill.sort_by(|(ta, a), (tb, b)| {
            tb.cmp(ta)
                .then(a.info().created_at.cmp(&b.info().created_at))
                .then(a.info().id.cmp(&b.info().id))
        });
        for (_, m) in by_fill {
            match self.reserve(m, player) {
                // Taken since it was counted (a token minted by the admin API), or ended.
                Err(MatchmakingError::Full | MatchmakingError::Ended) => continue,
                other => return other,
            }
        }
        let m = self.create_listed(wanted, false)?;
        self.reserve(m, player)
    }

    /// A seat in a new match of `wanted`; a private one is never listed or offered by `join or
    /// create`, only joined by its code or id.
    pub fn create(
        &self,
        player: &Arc<str>,
        wanted: &Wanted,
        private: bool,
    ) -> Result<Reservation, MatchmakingError> {
        let _placing = self.lock();
        let m = self.create_listed(wanted, private)?;
        self.reserve(m, player)
    }

    /// Seats for a group the queue formed, in a new private match of `wanted` (its size may be
    /// more than the group, for a game that starts incomplete): one reservation per player, in
    /// order.
    pub fn create_group(
        &self,
        players: &[Arc<str>],
        wanted: &Wanted,
    ) -> Result<Vec<Reservation>, MatchmakingError> {
        let _placing = self.lock();
        let m = self.create_listed(wanted, true)?;
        players.iter().map(|p| self.reserve(m.clone(), p)).collect()
    }

    /// A seat in the match with this id, if matchmaking offers it (matches created through
    /// the admin API are the game's own business, and are not found here).
    pub fn join_by_id(&self, player: &Arc<str>, id: &str) -> Result<Reservation, MatchmakingError> {
        let m = self
            .directory
            .get(id)
            .filter(|m| m.info().listing.is_some())
            .ok_or(MatchmakingError::NotFound)?;
        self.reserve(m, player)
    }

    /// A seat in the match with this join code (case does not matter).
    pub fn join_by_code(
        &self,
        player: &Arc<str>,
        code: &str,
    ) -> Result<Reservation, MatchmakingError> {
        let code = code.to_ascii_uppercase();
        let m = self
            .with_code(&code)
            .filter(|m| !m.state().is_over())
            .ok_or(MatchmakingError::NotFound)?;
        self.reserve(m, player)
    }

    /// Public matches of `game` (any game when `None`) whose labels include `labels`, not
    /// ended, oldest first; with `available`, only those with a free seat.
    pub fn list(
        &self,
        game: Option<&str>,
        labels: &BTreeMap<String, String>,
        available: bool,
    ) -> Vec<Arc<Match>> {
        let mut found = self.directory.select(|m| {
            let info = m.info();
            info.listing.as_ref().is_some_and(|l| {
                !l.private && labels.iter().all(|(k, v)| l.labels.get(k) == Some(v))
            }) && game.is_none_or(|g| info.game == g)
                && !m.state().is_over()
                && (!available || m.seats_taken() < info.max_players)
        });
        found.sort_by(|a, b| {
            (a.info().created_at, &a.info().id).cmp(&(b.info().created_at, &b.info().id))
        });
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.placing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reserve(&self, m: Arc<Match>, player: &Arc<str>) -> Result<Reservation, MatchmakingError> {
        m.reserve(player, self.reservation_ttl)?;
        self.metrics.seats_reserved.inc();
        Ok(Reservation {
            game_match: m,
            player: player.clone(),
            until: unix_now().saturating_add(self.reservation_ttl.as_secs().max(1)),
        })
    }

    /// Creates a match matchmaking offers, with a join code no live match has.
    fn create_listed(&self, wanted: &Wanted, private: bool) -> Result<Arc<Match>, CreateError> {
        let code = loop {
            let code = new_code();
            if self.with_code(&code).is_none() {
                break code;
            }
        };
        self.directory.create(MatchSpec {
            game: wanted.game.to_owned(),
            max_players: Some(wanted.max_players),
            listing: Some(Listing {
                labels: wanted.labels.clone(),
                private,
                code: Some(code.into()),
            }),
            ..MatchSpec::default()
        })
    }

    /// The listed match with this code. A scan: codes are looked up once per join, and a node
    /// holds at most `--max-rooms` matches.
    fn with_code(&self, code: &str) -> Option<Arc<Match>> {
        self.directory
            .select(|m| {
                m.info()
                    .listing
                    .as_ref()
                    .is_some_and(|l| l.code.as_deref() == Some(code))
            })
            .into_iter()
            .next()
    }
}

fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
