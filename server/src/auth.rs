//! Handshake authentication: from the Socket.IO `auth` payload to an admitted seat.
//!
//! Independent of the transport: it takes the decoded payload and answers with the claims and
//! the match, or with the [`ErrorCode`] the client is refused with.

use std::sync::Arc;

use tickroom_shared::{
    AuthPayload, ErrorCode, MatchClaims, PROTOCOL_VERSION, TokenError, TokenKey,
};

use crate::directory::{Directory, Match, SeatError};

/// A handshake that passed: who connects, to which match.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The verified claims.
    pub claims: MatchClaims,
    /// The match they name, which has a free seat for them.
    pub game_match: Arc<Match>,
}

/// Checks the handshake `auth` payload (`None` when the client sent none).
///
/// Refusals, in the order they are checked: no payload or no `token` → `auth_missing`; not a
/// map, or a field of the wrong type → `auth_malformed`; another protocol version →
/// `protocol_unsupported`; expired → `token_expired`; any other token fault → `token_invalid`;
/// `match_id` given and not the token's → `token_wrong_match`; unknown match →
/// `match_not_found`; minted for an earlier instance of the match → `token_stale`; ended →
/// `match_ended`; minted with a seat reservation (`rx`) the player no longer holds →
/// `reservation_expired`; no free seat → `match_full`.
pub fn admit(
    auth: Option<rmpv::Value>,
    key: &TokenKey,
    directory: &Directory,
) -> Result<Admission, ErrorCode> {
    let payload = parse_payload(auth)?;
    if payload.protocol.is_some_and(|p| p != PROTOCOL_VERSION) {
        return Err(ErrorCode::ProtocolUnsupported);
    }
    let claims = key.verify(&payload.token).map_err(|e| match e {
        TokenError::Expired => ErrorCode::TokenExpired,
        TokenError::Invalid(_) => ErrorCode::TokenInvalid,
    })?;
    if payload.match_id.is_some_and(|m| m != claims.match_id) {
        return Err(ErrorCode::TokenWrongMatch);
    }
    let game_match = directory
        .get(&claims.match_id)
        // A match that moved away is looked for elsewhere, as one never here.
        .filter(|m| m.moved_to().is_none())
        .ok_or(ErrorCode::MatchNotFound)?;
    if claims
        .instance
        .as_deref()
        .is_some_and(|i| i != &*game_match.info().instance)
    {
        return Err(ErrorCode::TokenStale);
    }
    game_match
        .has_room_for(
            &claims.player_id,
            claims.role,
            claims.reserved_until.is_some(),
        )
        .map_err(seat_error_code)?;
    Ok(Admission { claims, game_match })
}

/// The code a seat refusal is reported with.
pub fn seat_error_code(e: SeatError) -> ErrorCode {
    match e {
        SeatError::Full => ErrorCode::MatchFull,
        SeatError::Ended => ErrorCode::MatchEnded,
        SeatError::NotReserved => ErrorCode::ReservationExpired,
    }
}

/// Parses the handshake `auth` payload (see [`admit`] for the refusals).
pub fn parse_payload(auth: Option<rmpv::Value>) -> Result<AuthPayload, ErrorCode> {
    let map = match auth {
        None | Some(rmpv::Value::Nil) => return Err(ErrorCode::AuthMissing),
        // Only the map form: a positional array would make field order part of the contract.
        Some(rmpv::Value::Map(map)) => map,
        Some(_) => return Err(ErrorCode::AuthMalformed),
    };
    let has_token = map
        .iter()
        .any(|(k, v)| k.as_str() == Some("token") && !v.is_nil());
    if !has_token {
        return Err(ErrorCode::AuthMissing);
    }
    rmpv::ext::from_value(rmpv::Value::Map(map)).map_err(|_| ErrorCode::AuthMalformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    fn map(pairs: Vec<(&str, Value)>) -> Option<Value> {
        Some(Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect(),
        ))
    }

    #[test]
    fn payload_shapes() {
        assert_eq!(parse_payload(None), Err(ErrorCode::AuthMissing));
        assert_eq!(parse_payload(Some(Value::Nil)), Err(ErrorCode::AuthMissing));
        assert_eq!(parse_payload(map(vec![])), Err(ErrorCode::AuthMissing));
        assert_eq!(
            parse_payload(Some(Value::Array(vec![Value::from("t")]))),
            Err(ErrorCode::AuthMalformed)
        );
        assert_eq!(
            parse_payload(map(vec![("token", Value::from(5))])),
            Err(ErrorCode::AuthMalformed)
        );
        assert_eq!(
            parse_payload(map(vec![
                ("token", Value::from("t")),
                ("protocol", Value::from("x"))
            ])),
            Err(ErrorCode::AuthMalformed)
        );
        let ok = parse_payload(map(vec![
            ("token", Value::from("t")),
            ("match_id", Value::from("m")),
            ("protocol", Value::from(1)),
            ("future_field", Value::from(true)),
        ]))
        .unwrap();
        assert_eq!(ok.token, "t");
        assert_eq!(ok.match_id.as_deref(), Some("m"));
        assert_eq!(ok.protocol, Some(1));
    }
}
