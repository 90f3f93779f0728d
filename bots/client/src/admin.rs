//! A small client for the server's HTTP admin API.

use serde::Deserialize;
use serde_json::json;
use tickroom_shared::Role;

/// Calls the admin API of one server.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// An admin or matchmaking API failure.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request did not complete.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error.
    #[error("{status}: {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Detail.
        message: String,
    },
}

/// A match as the admin API returns it (the fields bots need).
#[derive(Debug, Clone, Deserialize)]
pub struct MatchInfo {
    /// Match id.
    pub id: String,
    /// This instance of the match (tokens minted for it join no later match of the id).
    #[serde(default)]
    pub instance: String,
    /// Game name.
    pub game: String,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Player seats.
    pub max_players: u32,
    /// `waiting`, `running` or `ended`.
    pub state: String,
    /// Why it ended (`admin`, `game_over`, ...), once it has.
    #[serde(default)]
    pub end_reason: Option<String>,
    /// Last tick.
    pub tick: u64,
    /// Seated player ids.
    pub players: Vec<String>,
    /// Ids of players whose seat is held after a dropped connection.
    #[serde(default)]
    pub disconnected: Vec<String>,
    /// Connected spectators.
    pub spectators: usize,
    /// Ids of players with a seat reserved by matchmaking who have not connected yet.
    #[serde(default)]
    pub reserved: Vec<String>,
    /// For a match matchmaking created: how it is offered.
    #[serde(default)]
    pub matchmaking: Option<Listing>,
    /// In a cluster: the URL of the node that holds it (where players connect, and where its
    /// tokens are minted at once — the other nodes learn of it at its next heartbeat).
    #[serde(default)]
    pub url: Option<String>,
}

/// How matchmaking offers a match.
#[derive(Debug, Clone, Deserialize)]
pub struct Listing {
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Joined by code or id only.
    pub private: bool,
    /// Its join code.
    pub code: Option<String>,
}

/// A minted token.
#[derive(Debug, Clone, Deserialize)]
pub struct Minted {
    /// The JWT.
    pub token: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
}

impl AdminClient {
    /// A client for `base` (`http://host:port`) using admin key `key`.
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        }
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, AdminError> {
        call(req.bearer_auth(&self.key)).await
    }

    /// Creates a match of `game` with optional tick rate and seat count.
    pub async fn create_match(
        &self,
        game: &str,
        tick_rate: Option<u32>,
        max_players: Option<u32>,
    ) -> Result<MatchInfo, AdminError> {
        let mut body = json!({ "game": game });
        if let Some(t) = tick_rate {
            body["tick_rate"] = t.into();
        }
        if let Some(m) = max_players {
            body["max_players"] = m.into();
        }
        self.call(
            self.http
                .post(format!("{}/admin/matches", self.base))
                .json(&body),
        )
        .await
    }

    /// The match with `id`.
    pub async fn get_match(&self, id: &str) -> Result<MatchInfo, AdminError> {
        self.call(self.http.get(format!("{}/admin/matches/{id}", self.base)))
            .await
    }

    /// Ends the match with `id`.
    pub async fn end_match(&self, id: &str) -> Result<MatchInfo, AdminError> {
        self.call(
            self.http
                .delete(format!("{}/admin/matches/{id}", self.base)),
        )
        .await
    }

    /// Mints a token for `player` with `role` in match `id`.
    pub async fn mint(&self, id: &str, player: &str, role: Role) -> Result<Minted, AdminError> {
        let body = json!({ "player_id": player, "role": role });
        self.call(
            self.http
                .post(format!("{}/admin/matches/{id}/tokens", self.base))
                .json(&body),
        )
        .await
    }
}

/// Sends `req` and reads a JSON answer, or the server's `{"error": {code, message}}`.
pub(crate) async fn call<T: for<'de> Deserialize<'de>>(
    req: reqwest::RequestBuilder,
) -> Result<T, AdminError> {
    let resp = req.send().await?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp.json().await?);
    }
    #[derive(Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        code: String,
        message: String,
    }
    let (code, message) = match resp.json::<Body>().await {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => ("unknown".into(), String::new()),
    };
    Err(AdminError::Api {
        status: status.as_u16(),
        code,
        message,
    })
}
