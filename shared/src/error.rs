//! Stable, machine-readable error codes.
//!
//! A code is sent as the `message` of a Socket.IO CONNECT_ERROR packet when a handshake is
//! refused, and as `code` in an `error` event once connected. Codes never change meaning; new
//! ones may be added, so a client must treat an unknown code as a generic failure.

use serde::{Deserialize, Serialize};

/// Every error a client can be told about.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    // ---- handshake (CONNECT_ERROR) ----
    /// The handshake carried no `auth` payload or no `token` in it.
    AuthMissing,
    /// The `auth` payload was not a map of the documented shape.
    AuthMalformed,
    /// The client speaks a protocol version this server does not.
    ProtocolUnsupported,
    /// The token is not a well-formed HS256 JWT, its signature does not verify, its issuer is
    /// wrong, or its claims are invalid.
    TokenInvalid,
    /// The token's `exp` is in the past.
    TokenExpired,
    /// The client asked for a match (`auth.match_id`) other than the one its token names.
    TokenWrongMatch,
    /// The token was minted for an earlier match of the same id, which has ended: a match
    /// created again under an id does not accept the old match's tokens.
    TokenStale,
    /// The match the token names does not exist on this server.
    MatchNotFound,
    /// The match runs on another node of the cluster. The CONNECT_ERROR message is this code,
    /// one space, and that node's URL: connect there with the same token.
    MatchElsewhere,
    /// The match has no free player (or spectator) seat.
    MatchFull,
    /// The match has ended and accepts no connections.
    MatchEnded,
    /// The token came from matchmaking and its seat reservation was not redeemed in time: the
    /// seat was given to someone else. Ask matchmaking for a new one.
    ReservationExpired,
    /// The server is shutting down or over a capacity limit; try again later.
    ServerBusy,
    /// Too many handshakes from this address; slow down and retry later.
    HandshakeRateLimited,

    // ---- in a match (`error` event) ----
    /// An event this server does not know.
    UnknownEvent,
    /// An event's payload could not be decoded into its documented shape.
    BadPayload,
    /// The input decoded but the game rejected its values (out of range, NaN, ...).
    InvalidInput,
    /// Spectators cannot send inputs.
    SpectatorCannotAct,
    /// Inputs arrive faster than the allowed rate; the excess was dropped.
    RateLimited,
    /// The room's input queue was full; the input was dropped.
    InboxFull,
    /// Another connection of the same player took over: for the same match, or, with
    /// `--one-connection-per-player`, for any match on any node.
    SessionReplaced,
    /// So many messages were dropped (rate limits) that the server closed the connection.
    TooManyDropped,
    /// An operator disconnected this player (`POST /admin/players/{id}/kick`).
    Kicked,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthMissing => "auth_missing",
            Self::AuthMalformed => "auth_malformed",
            Self::ProtocolUnsupported => "protocol_unsupported",
            Self::TokenInvalid => "token_invalid",
            Self::TokenExpired => "token_expired",
            Self::TokenWrongMatch => "token_wrong_match",
            Self::TokenStale => "token_stale",
            Self::MatchNotFound => "match_not_found",
            Self::MatchElsewhere => "match_elsewhere",
            Self::MatchFull => "match_full",
            Self::MatchEnded => "match_ended",
            Self::ReservationExpired => "reservation_expired",
            Self::ServerBusy => "server_busy",
            Self::HandshakeRateLimited => "handshake_rate_limited",
            Self::UnknownEvent => "unknown_event",
            Self::BadPayload => "bad_payload",
            Self::InvalidInput => "invalid_input",
            Self::SpectatorCannotAct => "spectator_cannot_act",
            Self::RateLimited => "rate_limited",
            Self::InboxFull => "inbox_full",
            Self::SessionReplaced => "session_replaced",
            Self::Kicked => "kicked",
            Self::TooManyDropped => "too_many_dropped",
        }
    }

    /// A short human sentence for the code; clients may show it, never parse it.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::AuthMissing => "the handshake auth payload must carry a token",
            Self::AuthMalformed => {
                "the handshake auth payload is not a map of the documented shape"
            }
            Self::ProtocolUnsupported => {
                "this server does not speak the requested protocol version"
            }
            Self::TokenInvalid => "the match token is not valid",
            Self::TokenExpired => "the match token has expired",
            Self::TokenWrongMatch => "the match token is for another match",
            Self::TokenStale => {
                "the match token is for an earlier match of this id, which has ended"
            }
            Self::MatchNotFound => "the match does not exist",
            Self::MatchElsewhere => "the match runs on another node: connect to the URL given",
            Self::MatchFull => "the match has no free seat",
            Self::MatchEnded => "the match has ended",
            Self::ReservationExpired => {
                "the seat reservation was not redeemed in time; ask matchmaking for a new one"
            }
            Self::ServerBusy => "the server is busy, try again later",
            Self::HandshakeRateLimited => "too many handshakes from this address, retry later",
            Self::UnknownEvent => "unknown event",
            Self::BadPayload => "the event payload does not have the documented shape",
            Self::InvalidInput => "the input was rejected by the game",
            Self::SpectatorCannotAct => "spectators cannot send inputs",
            Self::RateLimited => "too many inputs, the excess was dropped",
            Self::InboxFull => "the room is overloaded, the input was dropped",
            Self::SessionReplaced => "another connection of this player took over",
            Self::Kicked => "an operator disconnected this player",
            Self::TooManyDropped => "too many messages over the rate limits; disconnected",
        }
    }

    /// Parses a wire code; `None` for a code this version does not know.
    pub fn parse(code: &str) -> Option<Self> {
        ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

/// Every code, for documentation checks and parsing.
pub const ALL: &[ErrorCode] = &[
    ErrorCode::AuthMissing,
    ErrorCode::AuthMalformed,
    ErrorCode::ProtocolUnsupported,
    ErrorCode::TokenInvalid,
    ErrorCode::TokenExpired,
    ErrorCode::TokenWrongMatch,
    ErrorCode::TokenStale,
    ErrorCode::MatchNotFound,
    ErrorCode::MatchElsewhere,
    ErrorCode::MatchFull,
    ErrorCode::MatchEnded,
    ErrorCode::ReservationExpired,
    ErrorCode::ServerBusy,
    ErrorCode::HandshakeRateLimited,
    ErrorCode::UnknownEvent,
    ErrorCode::BadPayload,
    ErrorCode::InvalidInput,
    ErrorCode::SpectatorCannotAct,
    ErrorCode::RateLimited,
    ErrorCode::InboxFull,
    ErrorCode::SessionReplaced,
    ErrorCode::TooManyDropped,
    ErrorCode::Kicked,
];

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_name_matches_as_str() {
        for code in ALL {
            let bytes = rmp_serde::to_vec(code).unwrap();
            let s: String = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(s, code.as_str());
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
    }

    /// docs/PROTOCOL.md, the wire contract, has a row for every code.
    #[test]
    fn every_code_is_documented() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
                .unwrap();
        for code in ALL {
            assert!(
                doc.contains(&format!("| `{}` |", code.as_str())),
                "{code} has no row in docs/PROTOCOL.md"
            );
        }
    }
}
