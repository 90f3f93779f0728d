//! The one interface between matchmaking and the matches it places players in.
//!
//! Matchmaking never touches a match directly: it asks a [`MatchDirectory`] for the open
//! matches that fit a request, to reserve a seat in one (atomically with its seat count), to
//! create one, and to look a join code up — and everything it gets back is owned data that
//! names the match by id. Those calls are asynchronous and may fail
//! ([`MatchmakingError::Unavailable`]), as calls to a shared store do. This node's
//! [`Directory`] implements it; a directory shared by several nodes implements the same
//! calls, and matchmaking, the queue, the HTTP API and the clients stay as they are.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tickroom_engine::MatchRules;
pub use tickroom_shared::OpenMatch;
use tickroom_shared::token::unix_now;

use super::{MatchmakingError, Wanted};
use crate::directory::{Directory, Listing, Match, MatchSpec};

/// An open public match that fits a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its id.
    pub match_id: Arc<str>,
    /// Seats taken (reserved, connected or held).
    pub taken: u32,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Whether the asking player already holds a seat in it.
    pub holds_player: bool,
}

/// What a directory call returns.
pub type DirectoryFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, MatchmakingError>> + Send + 'a>>;

/// A seat held for a player: what a match token for it needs, and when it lapses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The match.
    pub match_id: Arc<str>,
    /// Its instance (tokens are bound to it).
    pub instance: Arc<str>,
    /// Its game.
    pub game: &'static str,
    /// The player the seat is held for.
    pub player: Arc<str>,
    /// When the reservation lapses, in seconds since the Unix epoch.
    pub until: u64,
    /// The match's join code.
    pub code: Option<Arc<str>>,
    /// Whether the match is private.
    pub private: bool,
    /// The node that holds the match, when it is not the one asked (its URL).
    pub node_url: Option<Arc<str>>,
}

/// A match matchmaking offers, as a node publishes it for the others: its open view, and
/// whether it is private (then never listed or offered, only joined by code or id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// The open view.
    #[serde(flatten)]
    pub open: OpenMatch,
    /// Whether it is private.
    pub private: bool,
}

/// Sorts a listing oldest first (then by id).
pub fn oldest_first(matches: &mut [OpenMatch]) {
    matches.sort_by(|a, b| (a.created_at, &a.match_id).cmp(&(b.created_at, &b.match_id)));
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this game's matches.
    pub game: Option<String>,
    /// Only matches with these labels (and maybe others).
    pub labels: BTreeMap<String, String>,
    /// Only matches with a free seat.
    pub available: bool,
}

impl ListFilter {
    /// Whether the lobby lists `l`: public, and of the game, labels and availability asked.
    pub fn admits(&self, l: &Listed) -> bool {
        let m = &l.open;
        !l.private
            && self.game.as_deref().is_none_or(|g| m.game == g)
            && self.labels.iter().all(|(k, v)| m.labels.get(k) == Some(v))
            && (!self.available || m.players < m.max_players)
    }
}

/// The matches matchmaking places players in.
pub trait MatchDirectory: Send + Sync + std::fmt::Debug {
    /// The directory's own name for `game`, if it offers the game.
    fn game(&self, game: &str) -> Option<&'static str>;
    /// How matchmaking fills matches of `game`.
    fn rules(&self, game: &str) -> MatchRules;
    /// Seats of a match of `game` created without a number.
    fn default_size(&self, game: &str) -> u32;
    /// Open public matches of exactly `wanted`'s game, labels and size, not full or holding
    /// `player` already; in no order.
    fn candidates<'a>(
        &'a self,
        wanted: &'a Wanted,
        player: &'a str,
    ) -> DirectoryFuture<'a, Vec<Candidate>>;
    /// Creates a match of `wanted` that matchmaking offers as `listing` says; its id.
    fn create<'a>(&'a self, wanted: &'a Wanted, listing: Listing) -> DirectoryFuture<'a, Arc<str>>;
    /// Reserves a seat for `player` in a match matchmaking offers, for `ttl` (renewing a
    /// reservation the player has; a seat the player joined stays as it is).
    fn reserve<'a>(
        &'a self,
        match_id: &'a str,
        player: &'a Arc<str>,
        ttl: Duration,
    ) -> DirectoryFuture<'a, Reservation>;
    /// The live match with this join code (upper case).
    fn by_code<'a>(&'a self, code: &'a str) -> DirectoryFuture<'a, Option<Arc<str>>>;
    /// Public matches not ended that pass `filter`, oldest first.
    fn list<'a>(&'a self, filter: &'a ListFilter) -> DirectoryFuture<'a, Vec<OpenMatch>>;
}

/// The lobby's view of `m` now.
pub fn open_match(m: &Match) -> OpenMatch {
    let info = m.info();
    let listing = info.listing.as_deref();
    OpenMatch {
        match_id: info.id.to_string(),
        game: info.game.to_owned(),
        labels: listing.map(|l| l.labels.clone()).unwrap_or_default(),
        players: m.seats_taken(),
        max_players: info.max_players,
        state: m.state().as_str().to_owned(),
        code: listing.and_then(|l| l.code.as_deref()).map(str::to_owned),
        created_at: info.created_at,
    }
}

/// This node's matches: a node-local map, each seat count under its match's lock. Every call
/// completes at once.
impl MatchDirectory for Directory {
    fn game(&self, game: &str) -> Option<&'static str> {
        self.catalog().get(game)
    }

    fn rules(&self, game: &str) -> MatchRules {
        self.catalog().rules(game).unwrap_or_default()
    }

    fn default_size(&self, game: &str) -> u32 {
        Directory::default_size(self, game)
    }

    fn candidates<'a>(
        &'a self,
        wanted: &'a Wanted,
        player: &'a str,
    ) -> DirectoryFuture<'a, Vec<Candidate>> {
        Box::pin(std::future::ready(
            Ok(self.local_candidates(wanted, player)),
        ))
    }

    fn create<'a>(&'a self, wanted: &'a Wanted, listing: Listing) -> DirectoryFuture<'a, Arc<str>> {
        let created = Directory::create(
            self,
            MatchSpec {
                game: wanted.game.to_owned(),
                max_players: Some(wanted.max_players),
                listing: Some(listing),
                ..MatchSpec::default()
            },
        )
        .map(|m| m.info().id.clone())
        .map_err(MatchmakingError::from);
        Box::pin(std::future::ready(created))
    }

    fn reserve<'a>(
        &'a self,
        match_id: &'a str,
        player: &'a Arc<str>,
        ttl: Duration,
    ) -> DirectoryFuture<'a, Reservation> {
        Box::pin(std::future::ready(
            self.local_reserve(match_id, player, ttl),
        ))
    }

    fn by_code<'a>(&'a self, code: &'a str) -> DirectoryFuture<'a, Option<Arc<str>>> {
        Box::pin(std::future::ready(Ok(self.local_by_code(code))))
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> DirectoryFuture<'a, Vec<OpenMatch>> {
        Box::pin(std::future::ready(Ok(self.local_list(filter))))
    }
}

impl Directory {
    pub(crate) fn local_candidates(&self, wanted: &Wanted, player: &str) -> Vec<Candidate> {
        self.select(|m| {
            let info = m.info();
            info.listing
                .as_ref()
                .is_some_and(|l| !l.private && l.labels == wanted.labels)
                && info.game == wanted.game
                && info.max_players == wanted.max_players
                && !m.state().is_over()
        })
        .into_iter()
        .map(|m| Candidate {
            match_id: m.info().id.clone(),
            taken: m.seats_taken(),
            created_at: m.info().created_at,
            holds_player: m.holds_seat(player),
        })
        .filter(|c| c.holds_player || c.taken < wanted.max_players)
        .collect()
    }

    pub(crate) fn local_reserve(
        &self,
        match_id: &str,
        player: &Arc<str>,
        ttl: Duration,
    ) -> Result<Reservation, MatchmakingError> {
        let m = self
            .get(match_id)
            .filter(|m| m.info().listing.is_some())
            .ok_or(MatchmakingError::NotFound)?;
        m.reserve(player, ttl)?;
        let info = m.info();
        let listing = info.listing.as_deref();
        Ok(Reservation {
            match_id: info.id.clone(),
            instance: info.instance.clone(),
            game: info.game,
            player: player.clone(),
            until: unix_now().saturating_add(ttl.as_secs().max(1)),
            code: listing.and_then(|l| l.code.clone()),
            private: listing.is_some_and(|l| l.private),
            node_url: None,
        })
    }

    pub(crate) fn local_by_code(&self, code: &str) -> Option<Arc<str>> {
        // A scan: codes are looked up once per join, and a node holds at most `--max-rooms`
        // matches.
        self.select(|m| {
            !m.state().is_over()
                && m.info()
                    .listing
                    .as_ref()
                    .is_some_and(|l| l.code.as_deref() == Some(code))
        })
        .first()
        .map(|m| m.info().id.clone())
    }

    /// Every match matchmaking offers here, private ones included, not ended: what this node
    /// publishes for the others.
    pub(crate) fn local_listed(&self) -> Vec<Listed> {
        self.select(|m| m.info().listing.is_some() && !m.state().is_over())
            .iter()
            .map(|m| Listed {
                open: open_match(m),
                private: m.info().listing.as_ref().is_some_and(|l| l.private),
            })
            .collect()
    }

    pub(crate) fn local_list(&self, filter: &ListFilter) -> Vec<OpenMatch> {
        let mut found: Vec<OpenMatch> = self
            .local_listed()
            .into_iter()
            .filter(|l| filter.admits(l))
            .map(|l| l.open)
            .collect();
        oldest_first(&mut found);
        found
    }
}
