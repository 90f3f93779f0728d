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
//!   matches.
//! - `directory`: the [`MatchDirectory`] those go through — this node's directory today; the
//!   one interface a directory shared by several nodes implements.
//! - `queue`: tickets that wait for a group of players of similar rating.

pub mod directory;
pub mod identity;
pub mod queue;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tickroom_engine::MatchRules;
use tickroom_shared::limits::is_valid_id;

use crate::directory::{CreateError, Listing, SeatError};
use crate::metrics::Metrics;
pub use directory::{Candidate, ListFilter, MatchDirectory, OpenMatch, Reservation};
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
    /// The game (the directory's own name).
    pub game: &'static str,
    /// Labels the match must have, exactly (`mode`, `region`, …).
    pub labels: BTreeMap<String, String>,
    /// Player seats of the match.
    pub max_players: u32,
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
    /// The directory could not be reached (a shared store is down).
    #[error("the match directory is unavailable: {0}")]
    Unavailable(String),
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
            Self::Unavailable(_) => "directory_unavailable",
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

/// Places players in the matches of a [`MatchDirectory`].
#[derive(Debug)]
pub struct Matchmaker {
    directory: Arc<dyn MatchDirectory>,
    metrics: Arc<Metrics>,
    reservation_ttl: Duration,
    /// Held while a request chooses a match and reserves in it, so concurrent requests fill
    /// one match before they open the next.
    placing: tokio::sync::Mutex<()>,
}

impl Matchmaker {
    /// A matchmaker over `directory` whose reservations last `reservation_ttl`.
    pub fn new(
        directory: Arc<dyn MatchDirectory>,
        metrics: Arc<Metrics>,
        reservation_ttl: Duration,
    ) -> Self {
        Self {
            directory,
            metrics,
            reservation_ttl,
            placing: tokio::sync::Mutex::new(()),
        }
    }

    /// How matchmaking fills matches of `game`.
    pub fn rules(&self, game: &str) -> MatchRules {
        self.directory.rules(game)
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
            .game(game)
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
    pub async fn join_or_create(
        &self,
        player: &Arc<str>,
        wanted: &Wanted,
    ) -> Result<Reservation, MatchmakingError> {
        let _placing = self.placing.lock().await;
        let mut open = self.directory.candidates(wanted, player).await?;
        if let Some(mine) = open.iter().find(|c| c.holds_player) {
            return self.reserve(&mine.match_id, player).await;
        }
        // Fullest first, then oldest: requests fill one match before the next.
        open.sort_by(|a, b| {
            b.taken
                .cmp(&a.taken)
                .then(a.created_at.cmp(&b.created_at))
                .then(a.match_id.cmp(&b.match_id))
        });
        for c in open {
            match self.reserve(&c.match_id, player).await {
                // Taken since it was counted (a token minted by the admin API), or gone.
                Err(
                    MatchmakingError::Full | MatchmakingError::Ended | MatchmakingError::NotFound,
                ) => continue,
                other => return other,
            }
        }
        let id = self.create_listed(wanted, false).await?;
        self.reserve(&id, player).await
    }

    /// A seat in a new match of `wanted`; a private one is never listed or offered by `join or
    /// create`, only joined by its code or id.
    pub async fn create(
        &self,
        player: &Arc<str>,
        wanted: &Wanted,
        private: bool,
    ) -> Result<Reservation, MatchmakingError> {
        let _placing = self.placing.lock().await;
        let id = self.create_listed(wanted, private).await?;
        self.reserve(&id, player).await
    }

    /// Seats for a group the queue formed, in a new private match of `wanted` (its size may be
    /// more than the group, for a game that starts incomplete): one reservation per player, in
    /// order.
    pub async fn create_group(
        &self,
        players: &[Arc<str>],
        wanted: &Wanted,
    ) -> Result<Vec<Reservation>, MatchmakingError> {
        let _placing = self.placing.lock().await;
        let id = self.create_listed(wanted, true).await?;
        let mut seats = Vec::with_capacity(players.len());
        for p in players {
            seats.push(self.reserve(&id, p).await?);
        }
        Ok(seats)
    }

    /// A seat in the match with this id, if matchmaking offers it (matches created through
    /// the admin API are the game's own business, and are not found here).
    pub async fn join_by_id(
        &self,
        player: &Arc<str>,
        id: &str,
    ) -> Result<Reservation, MatchmakingError> {
        self.reserve(id, player).await
    }

    /// A seat in the match with this join code (case does not matter).
    pub async fn join_by_code(
        &self,
        player: &Arc<str>,
        code: &str,
    ) -> Result<Reservation, MatchmakingError> {
        let id = self
            .directory
            .by_code(&code.to_ascii_uppercase())
            .await?
            .ok_or(MatchmakingError::NotFound)?;
        self.reserve(&id, player).await
    }

    /// Public matches not ended that pass `filter`, oldest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<OpenMatch>, MatchmakingError> {
        self.directory.list(filter).await
    }

    async fn reserve(
        &self,
        match_id: &str,
        player: &Arc<str>,
    ) -> Result<Reservation, MatchmakingError> {
        let r = self
            .directory
            .reserve(match_id, player, self.reservation_ttl)
            .await?;
        self.metrics.seats_reserved.inc();
        Ok(r)
    }

    /// Creates a match matchmaking offers, with a join code no live match has.
    async fn create_listed(
        &self,
        wanted: &Wanted,
        private: bool,
    ) -> Result<Arc<str>, MatchmakingError> {
        let code = loop {
            let code = new_code();
            if self.directory.by_code(&code).await?.is_none() {
                break code;
            }
        };
        self.directory
            .create(
                wanted,
                Listing {
                    labels: wanted.labels.clone(),
                    private,
                    code: Some(code.into()),
                },
            )
            .await
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
