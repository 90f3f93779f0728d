//! Protocol version, event names and the messages each event carries.
//!
//! All messages travel as msgpack maps (struct fields by name) inside Socket.IO msgpack
//! packets. `docs/PROTOCOL.md` lists them with their exact shapes.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

/// The protocol version this crate speaks: 5, where a keyframe writes a field's step of
/// `1 / n` as the int `-n` (version 4 wrote every step as a float64; version 3 named the
/// snapshot event `"snapshot"` and a delta's base by its tick; older versions are no longer
/// served). A client may send it in the handshake
/// `auth` payload; the server refuses any other with [`ErrorCode::ProtocolUnsupported`].
pub const PROTOCOL_VERSION: u32 = 5;

/// Socket.IO namespace every Tickroom client connects to.
pub const NAMESPACE: &str = "/";

/// The realtime lobby: a Socket.IO namespace that pushes the open matches as they change
/// (docs/MATCHMAKING.md, "Lobby").
pub mod lobby {
    /// The lobby's namespace.
    pub const NAMESPACE: &str = "/lobby";
    /// server → client, once after connecting: `{matches: [OpenMatch…]}`, every public open
    /// match of the game asked for (all games when none).
    pub const MATCHES: &str = "matches";
    /// server → client: an `OpenMatch` that was not listed before.
    pub const MATCH_ADDED: &str = "match_added";
    /// server → client: an `OpenMatch` whose seats or state changed.
    pub const MATCH_CHANGED: &str = "match_changed";
    /// server → client: `{match_id, game}` of a match no longer open (ended, or forgotten).
    pub const MATCH_REMOVED: &str = "match_removed";
}

/// A public open match, as the lobby lists it (`GET /matchmaking/matches`, the `/lobby`
/// namespace's events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenMatch {
    /// Its id.
    pub match_id: String,
    /// Its game.
    pub game: String,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Seats taken (reserved, connected or held).
    pub players: u32,
    /// Player seats.
    pub max_players: u32,
    /// `waiting` or `running`.
    pub state: String,
    /// Its join code.
    pub code: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
}

/// Event names, in both directions.
pub mod event {
    /// client → server: one [`InputMsg`](super::InputMsg).
    pub const INPUT: &str = "input";
    /// server → client: [`Welcome`](super::Welcome), once, first after connecting.
    pub const WELCOME: &str = "welcome";
    /// server → client: a keyframe or delta ([`crate::snapshot`]), after every tick of the room.
    /// One letter: it is the event sent 30 times a second, to every client.
    pub const SNAPSHOT: &str = "s";
    /// server → client: [`ErrorMsg`](super::ErrorMsg).
    pub const ERROR: &str = "error";
    /// server → client: [`MatchEnd`](super::MatchEnd), just before the server disconnects
    /// every socket of an ended match.
    pub const MATCH_END: &str = "match_end";
    /// server → client: [`Presence`](super::Presence), when a player joins, leaves, drops or
    /// comes back.
    pub const PRESENCE: &str = "presence";
    /// server → client: [`Shutdown`](super::Shutdown), when the server starts shutting down.
    pub const SHUTDOWN: &str = "shutdown";
    /// server → client: [`Moved`](super::Moved), the match moved to another node: the client
    /// connects there with the same token (the server disconnects it right after).
    pub const MOVED: &str = "moved";
    /// server → client: [`Announcement`](super::Announcement), a message from the operator
    /// to every connection of every node (also on the lobby namespace).
    pub const ANNOUNCEMENT: &str = "announcement";
}

/// What a connection may do in its match.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Has a seat and an entity; sends inputs.
    Player,
    /// Receives snapshots only; inputs are refused.
    Spectator,
}

impl Role {
    /// The role as it appears on the wire and in tokens.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Player => "player",
            Role::Spectator => "spectator",
        }
    }
}

/// The handshake `auth` payload (Socket.IO CONNECT data). Must be a msgpack map; unknown keys
/// are ignored so that newer clients can talk to older servers.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthPayload {
    /// The signed match token (an HS256 JWT with [`MatchClaims`](crate::MatchClaims)).
    pub token: String,
    /// If set, the match the client means to join; the token must name the same match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub match_id: Option<String>,
    /// If set, the protocol version the client speaks; must equal [`PROTOCOL_VERSION`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub protocol: Option<u32>,
}

/// First event on every connection: who you are and how the match runs.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// [`PROTOCOL_VERSION`] of the server.
    pub protocol: u32,
    /// The match this connection is in.
    pub match_id: String,
    /// The player id from the token.
    pub player_id: String,
    /// The role from the token.
    pub role: Role,
    /// The game the match runs (e.g. `"arena"`).
    pub game: String,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Snapshots per second: a snapshot every `tick_rate / snapshot_rate` ticks (plus one at
    /// once after a join, and the last tick of the match).
    #[serde(default)]
    pub snapshot_rate: u32,
    /// The room's tick counter when this connection joined; the first snapshot received has a
    /// tick greater than or equal to it.
    pub tick: u64,
}

/// One input from a player. `seq` must grow by one or more per input; the server applies a
/// player's inputs in `seq` order, one per tick (more when catching up on a backlog), and
/// ignores a `seq` at or below the
/// last one it processed (a resend is harmless).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputMsg<I> {
    /// Client-assigned sequence number, starting at 1.
    pub seq: u32,
    /// The game-specific input.
    pub input: I,
}

/// An error reported on an open connection. Whether the connection stays open depends on the
/// code; see `docs/PROTOCOL.md`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMsg {
    /// A stable code from [`ErrorCode`]; clients should tolerate unknown codes.
    pub code: String,
    /// Human-readable detail; never parse it.
    pub message: String,
}

impl ErrorMsg {
    /// The message for `code`, with its standard description.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: code.describe().to_owned(),
        }
    }

    /// The message for `code`, with `message` instead of its standard description.
    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
        }
    }

    /// The code, if this version knows it.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

/// Why a match ended.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Ended through the admin API.
    Admin,
    /// The game declared the match over.
    GameOver,
    /// The server is shutting down.
    Shutdown,
    /// The room failed (the game panicked); the match cannot continue.
    Error,
    /// No player was seated for the empty-room grace period.
    Abandoned,
    /// The match moved to another node of the cluster and goes on there: on this node its
    /// room stopped without an end. Never sent in a `match_end`: the match's connections are
    /// sent `moved` instead (docs/PROTOCOL.md §4).
    Moved,
}

impl EndReason {
    /// The reason as it appears on the wire (and in logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::GameOver => "game_over",
            Self::Shutdown => "shutdown",
            Self::Error => "error",
            Self::Abandoned => "abandoned",
            Self::Moved => "moved",
        }
    }
}

/// Sent to every socket of a match as it ends; the server then disconnects them.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchEnd {
    /// The match that ended.
    pub match_id: String,
    /// Why.
    pub reason: EndReason,
    /// The last tick the room ran.
    pub tick: u64,
    /// The game's final scores by player id (empty for games without scores).
    #[serde(default)]
    pub scores: std::collections::BTreeMap<String, i64>,
}

/// What happened to a player's connection.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Took a seat (an entity appears).
    Joined,
    /// Gave the seat up, or its hold expired (the entity is gone).
    Left,
    /// The connection dropped; the seat and entity are held for the grace period.
    Disconnected,
    /// Came back within the grace period, to the same entity.
    Reconnected,
}

/// A presence change, sent to everyone in the match.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// Whose.
    pub player_id: String,
    /// What happened.
    pub status: PresenceStatus,
    /// The room's tick when it happened (it shows in the next snapshot).
    pub tick: u64,
}

/// A message from the operator (`POST /admin/announce`) to every connection of every node.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The text to show players (at most 1,000 characters).
    pub message: String,
    /// When it was sent, milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
}

/// Sent to every connection of a match that moved to another node of the cluster (its node
/// drains, or an operator moved it); the server disconnects the connection right after. The
/// match goes on there from the tick it reached here, with the same seats and acks: the
/// client connects to `url` with the same token and resends the inputs not acknowledged.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    /// The match.
    pub match_id: String,
    /// The node that holds it now: connect there with the same token.
    pub url: String,
}

/// Sent to every connection when the server starts shutting down.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shutdown {
    /// Why (`"server_shutdown"`).
    pub reason: String,
    /// Milliseconds until running matches are ended if they have not finished.
    pub deadline_ms: u64,
    /// Reconnecting to this server will be refused: connect to another one (or retry after
    /// this many milliseconds, when the server is expected back).
    pub reconnect_after_ms: u64,
}
