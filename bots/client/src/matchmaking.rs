//! The matchmaking API (docs/MATCHMAKING.md), as a game client calls it: find a seat, then
//! connect with the reservation's token.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use tickroom_client::matchmaking::{Matchmaker, Options};
//! let mm = Matchmaker::new("http://127.0.0.1:7350", None);
//! let seat = mm.join_or_create("arena", &Options::default()).await?;
//! let client = tickroom_client::Client::connect(&seat.url, &seat.auth(), Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
pub use tickroom_shared::OpenMatch;
use tickroom_shared::{AuthPayload, PROTOCOL_VERSION};

use crate::admin::{AdminError, call};

/// Calls the matchmaking API of one server, as one player.
#[derive(Debug, Clone)]
pub struct Matchmaker {
    http: reqwest::Client,
    base: String,
    player_token: Option<String>,
}

/// What a match must be: labels (`mode`, `region`, …) and its size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Options {
    /// Labels the match must have, exactly.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Player seats; the game's size when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_players: Option<u32>,
}

/// A seat held for this player: connect to `url` with `token` before `expires`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Reservation {
    /// Where to connect.
    pub url: String,
    /// The match.
    pub match_id: String,
    /// Its game.
    pub game: String,
    /// Who the seat is for.
    pub player_id: String,
    /// The match token that redeems the reservation.
    pub token: String,
    /// When the reservation lapses, seconds since the Unix epoch.
    pub expires: u64,
    /// Seconds from the answer until it lapses.
    pub expires_in: u64,
    /// The match's join code.
    pub code: Option<String>,
    /// Whether the match is private.
    pub private: bool,
}

impl Reservation {
    /// The handshake payload that redeems it.
    pub fn auth(&self) -> AuthPayload {
        AuthPayload {
            token: self.token.clone(),
            match_id: Some(self.match_id.clone()),
            protocol: Some(PROTOCOL_VERSION),
        }
    }
}

/// What a queue ticket waits for, besides the game.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueOptions {
    /// Labels the match must have.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Player seats (the group size); the game's size when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_players: Option<u32>,
    /// The rating, for anonymous players only (a signed player's is its token's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    /// The party id, for anonymous players (a signed player's is its token's `party`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    /// How many players the party has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party_size: Option<u32>,
}

/// A queue ticket and where it stands.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TicketView {
    /// The ticket's id (a secret).
    pub ticket: String,
    /// Whose it is.
    #[serde(default)]
    pub player_id: String,
    /// `waiting`, `waiting_for_party`, `matched`, `timed_out` or `left`.
    pub status: String,
    /// While waiting: how long so far.
    #[serde(default)]
    pub waited_secs: Option<f64>,
    /// While waiting: the rating window now.
    #[serde(default)]
    pub window: Option<f64>,
    /// Once matched: the seat to redeem.
    #[serde(default)]
    pub reservation: Option<Reservation>,
}

impl Matchmaker {
    /// A client of the server at `base` (`http://host:port`), as the player whose player
    /// token this is (`None`: anonymous, where the server allows it).
    pub fn new(base: &str, player_token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            player_token,
        }
    }

    fn post(&self, path: &str, body: serde_json::Value) -> reqwest::RequestBuilder {
        self.with_identity(self.http.post(format!("{}{path}", self.base)).json(&body))
    }

    fn with_identity(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.player_token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    fn ask(game: &str, options: &Options) -> serde_json::Value {
        let mut body = serde_json::to_value(options).unwrap_or_else(|_| json!({}));
        body["game"] = game.into();
        body
    }

    /// A seat in an open public match of `game` with these options, or in a new one.
    pub async fn join_or_create(
        &self,
        game: &str,
        options: &Options,
    ) -> Result<Reservation, AdminError> {
        call(self.post("/matchmaking/join-or-create", Self::ask(game, options))).await
    }

    /// A seat in a new match; a private one is joined only by its code or id.
    pub async fn create(
        &self,
        game: &str,
        options: &Options,
        private: bool,
    ) -> Result<Reservation, AdminError> {
        let mut body = Self::ask(game, options);
        body["private"] = private.into();
        call(self.post("/matchmaking/create", body)).await
    }

    /// A seat in the match with this id.
    pub async fn join_by_id(&self, match_id: &str) -> Result<Reservation, AdminError> {
        call(self.post("/matchmaking/join", json!({ "match_id": match_id }))).await
    }

    /// A seat in the match with this join code.
    pub async fn join_by_code(&self, code: &str) -> Result<Reservation, AdminError> {
        call(self.post("/matchmaking/join", json!({ "code": code }))).await
    }

    /// Enqueues for a match of `game`.
    pub async fn enqueue(
        &self,
        game: &str,
        options: &QueueOptions,
    ) -> Result<TicketView, AdminError> {
        let mut body = serde_json::to_value(options).unwrap_or_else(|_| json!({}));
        body["game"] = game.into();
        call(self.post("/matchmaking/queue", body)).await
    }

    /// Where ticket `id` stands, waiting up to `wait_secs` (at most 30) for it to end.
    pub async fn ticket(&self, id: &str, wait_secs: u64) -> Result<TicketView, AdminError> {
        let req = self
            .http
            .get(format!("{}/matchmaking/queue/{id}", self.base))
            .query(&[("wait", wait_secs)]);
        call(self.with_identity(req)).await
    }

    /// Leaves the queue.
    pub async fn leave(&self, id: &str) -> Result<TicketView, AdminError> {
        let req = self
            .http
            .delete(format!("{}/matchmaking/queue/{id}", self.base));
        call(self.with_identity(req)).await
    }

    /// Enqueues and waits until matched: the reservation, or the ticket's end
    /// (`timed_out`, `left`) as an error with that code.
    pub async fn queue(
        &self,
        game: &str,
        options: &QueueOptions,
    ) -> Result<Reservation, AdminError> {
        let mut view = self.enqueue(game, options).await?;
        loop {
            if let Some(r) = view.reservation {
                return Ok(r);
            }
            if view.status != "waiting" && view.status != "waiting_for_party" {
                return Err(AdminError::Api {
                    status: 200,
                    code: view.status,
                    message: "the ticket ended without a match".into(),
                });
            }
            view = self.ticket(&view.ticket, 20).await?;
        }
    }

    /// Public matches of `game` (any game when `None`) that have these labels; with
    /// `available`, only those with a free seat.
    pub async fn list(
        &self,
        game: Option<&str>,
        labels: &BTreeMap<String, String>,
        available: bool,
    ) -> Result<Vec<OpenMatch>, AdminError> {
        let mut query: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (format!("label.{k}"), v.clone()))
            .collect();
        if let Some(g) = game {
            query.push(("game".into(), g.into()));
        }
        query.push(("available".into(), available.to_string()));
        #[derive(Deserialize)]
        struct List {
            matches: Vec<OpenMatch>,
        }
        let req = self
            .http
            .get(format!("{}/matchmaking/matches", self.base))
            .query(&query);
        let list: List = call(self.with_identity(req)).await?;
        Ok(list.matches)
    }
}
