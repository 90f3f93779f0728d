//! Match tokens: HS256 JWTs that name one match, one player and one role.
//!
//! The game's backend (or the server's admin API, or `tickroom-server mint-token`) signs a
//! token with the shared secret; the server verifies it during the Socket.IO handshake.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::limits::is_valid_id;
use crate::protocol::Role;

/// Seconds of clock skew tolerated when checking `exp`.
pub const EXP_LEEWAY_SECS: u64 = 5;

/// The claims of a match token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchClaims {
    /// Issuer; must equal the server's configured issuer.
    pub iss: String,
    /// The player id (JWT `sub`).
    #[serde(rename = "sub")]
    pub player_id: String,
    /// The match id (claim `mid`).
    #[serde(rename = "mid")]
    pub match_id: String,
    /// `player` or `spectator`.
    pub role: Role,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
    /// The instance of the match the token was minted for (claim `mi`), when the minter knew
    /// it: a match created again under the same id has another instance and refuses the
    /// token (`token_stale`). Tokens without it are accepted by whichever match has the id.
    #[serde(rename = "mi", default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Set on tokens matchmaking mints with a seat reservation (claim `rx`): the time, in
    /// seconds since the Unix epoch, the reservation is held until. Such a token admits only
    /// a player who holds a seat in the match (reserved, or theirs since); once the
    /// reservation has lapsed unredeemed it is refused with `reservation_expired`.
    #[serde(rename = "rx", default, skip_serializing_if = "Option::is_none")]
    pub reserved_until: Option<u64>,
}

impl MatchClaims {
    /// Claims issued now that expire `ttl_secs` from now.
    pub fn new(
        match_id: impl Into<String>,
        player_id: impl Into<String>,
        role: Role,
        ttl_secs: u64,
        issuer: impl Into<String>,
    ) -> Self {
        let now = unix_now();
        Self {
            iss: issuer.into(),
            player_id: player_id.into(),
            match_id: match_id.into(),
            role,
            iat: now,
            exp: now.saturating_add(ttl_secs),
            instance: None,
            reserved_until: None,
        }
    }

    /// Binds the claims to one instance of the match (see [`Self::instance`]).
    pub fn for_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Makes the token redeem a seat reservation held until `until` (see
    /// [`Self::reserved_until`]).
    pub fn for_reservation(mut self, until: u64) -> Self {
        self.reserved_until = Some(until);
        self
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// Anything else: malformed, bad signature, wrong algorithm or issuer, bad ids.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
}

/// An HS256 key with the issuer it signs as and expects.
#[derive(Clone)]
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// A key from the shared secret and the issuer name.
    pub fn new(secret: &[u8], issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = EXP_LEEWAY_SECS;
        validation.set_issuer(&[&issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer,
        }
    }

    /// The issuer this key signs as.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs `claims` into a compact JWT.
    pub fn sign(&self, claims: &MatchClaims) -> Result<String, TokenError> {
        if !is_valid_id(&claims.match_id) || !is_valid_id(&claims.player_id) {
            return Err(TokenError::Invalid("match or player id is not a valid id"));
        }
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| TokenError::Invalid("could not sign claims"))
    }

    /// Verifies signature, algorithm, issuer and expiry, and that the ids are valid.
    pub fn verify(&self, token: &str) -> Result<MatchClaims, TokenError> {
        // A JWT far longer than any we issue is refused before any decoding work.
        if token.len() > 4096 {
            return Err(TokenError::Invalid("token too long"));
        }
        let data = jsonwebtoken::decode::<MatchClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::Invalid("bad signature"),
                ErrorKind::InvalidIssuer => TokenError::Invalid("wrong issuer"),
                ErrorKind::InvalidAlgorithm => TokenError::Invalid("wrong algorithm"),
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                    TokenError::Invalid("missing or malformed claims")
                }
                _ => TokenError::Invalid("malformed token"),
            })?;
        let claims = data.claims;
        if !is_valid_id(&claims.match_id) || !is_valid_id(&claims.player_id) {
            return Err(TokenError::Invalid("match or player id is not a valid id"));
        }
        Ok(claims)
    }
}

/// Milliseconds since the Unix epoch, by the system clock.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Seconds since the Unix epoch, by the system clock (tokens are checked against it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::new(b"0123456789abcdef0123456789abcdef", "test")
    }

    #[test]
    fn round_trip() {
        let c = MatchClaims::new("m1", "alice", Role::Spectator, 60, "test");
        let t = key().sign(&c).unwrap();
        assert_eq!(key().verify(&t).unwrap(), c);
    }

    #[test]
    fn refuses_forged_expired_and_foreign() {
        let c = MatchClaims::new("m1", "alice", Role::Player, 60, "test");
        let other = TokenKey::new(b"another-secret-another-secret!!!", "test");
        assert_eq!(
            key().verify(&other.sign(&c).unwrap()),
            Err(TokenError::Invalid("bad signature"))
        );
        let mut old = c.clone();
        old.exp = unix_now() - 3600;
        assert_eq!(
            key().verify(&key().sign(&old).unwrap()),
            Err(TokenError::Expired)
        );
        let foreign = TokenKey::new(b"0123456789abcdef0123456789abcdef", "someone-else");
        let mut c2 = c.clone();
        c2.iss = "someone-else".into();
        assert_eq!(
            key().verify(&foreign.sign(&c2).unwrap()),
            Err(TokenError::Invalid("wrong issuer"))
        );
        assert!(key().verify("not.a.jwt").is_err());
        assert!(key().verify("").is_err());
    }

    #[test]
    fn refuses_bad_ids() {
        let c = MatchClaims::new("m 1", "alice", Role::Player, 60, "test");
        assert!(key().sign(&c).is_err());
    }
}
