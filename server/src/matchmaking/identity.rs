//! Player identity: who is asking the matchmaking API for a seat.
//!
//! A player proves who they are with a *player token*: a JWT the game's own auth service signs
//! (HS256 with a shared secret, or RS256 / EdDSA / ES256 with a key whose public half the
//! server is given). Its audience is the server's player audience (`tickroom-player` by
//! default) — match tokens carry none — so neither kind of token passes for the other. `sub` is
//! the player id; `rating`, `region` and `party` are optional claims matchmaking uses.
//!
//! Where allowed (by default only with the development keys, which work on loopback only), a
//! request without a player token gets a fresh anonymous identity.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::Rng;
use serde::Deserialize;
use tickroom_shared::limits::is_valid_id;

use crate::config::{MatchmakingConfig, PlayerKeySource};

/// The longest player token read, in bytes; longer ones are refused before any decoding.
const MAX_TOKEN_BYTES: usize = 4096;
/// Ratings are plain numbers within ± this.
pub const MAX_RATING: f64 = 1_000_000.0;
/// Prefix of anonymous player ids.
pub const ANONYMOUS_PREFIX: &str = "anon-";

/// Who is asking.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The player id (`sub`, or `anon-…`).
    pub id: Arc<str>,
    /// Skill rating, for the queue (claim `rating`).
    pub rating: Option<f64>,
    /// Region (claim `region`): a `join or create` without a `region` label gets this one.
    pub region: Option<String>,
    /// Party id (claim `party`): queue tickets of one party are seated together.
    pub party: Option<String>,
    /// No token: an identity made up for this request.
    pub anonymous: bool,
}

impl Identity {
    /// A fresh anonymous identity.
    pub fn anonymous() -> Self {
        let n: u64 = rand::rng().random();
        Self {
            id: format!("{ANONYMOUS_PREFIX}{n:016x}").into(),
            rating: None,
            region: None,
            party: None,
            anonymous: true,
        }
    }
}

/// Why a request's identity was refused. Each has a stable code (docs/MATCHMAKING.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// No player token, and anonymous players are not allowed.
    #[error("a player token is required (Authorization: Bearer <player token>)")]
    Missing,
    /// The token does not verify: signature, algorithm, audience, issuer or claims.
    #[error("the player token is not valid: {0}")]
    Invalid(&'static str),
    /// The token's `exp` is in the past.
    #[error("the player token has expired")]
    Expired,
}

impl IdentityError {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "identity_required",
            Self::Invalid(_) => "identity_invalid",
            Self::Expired => "identity_expired",
        }
    }
}

/// The claims of a player token that matchmaking reads.
#[derive(Debug, Deserialize)]
struct PlayerClaims {
    sub: String,
    #[serde(default)]
    rating: Option<f64>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    party: Option<String>,
}

/// Checks player tokens, and decides who a request without one is.
pub struct Identities {
    key: Option<(DecodingKey, Validation)>,
    anonymous: bool,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identities")
            .field("key", &self.key.as_ref().map(|(_, v)| v.algorithms.clone()))
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl Identities {
    /// From the configuration; `dev_keys` decides whether anonymous players are allowed when
    /// the configuration does not say. Fails on a key that cannot be read.
    pub fn new(config: &MatchmakingConfig, dev_keys: bool) -> Result<Self, String> {
        let key = match &config.player_key {
            None => None,
            Some(source) => {
                let (key, algorithm) = decoding_key(source)?;
                let mut validation = Validation::new(algorithm);
                validation.leeway = tickroom_shared::token::EXP_LEEWAY_SECS;
                validation.set_audience(&[&config.player_audience]);
                validation.set_required_spec_claims(&["exp", "sub", "aud"]);
                if let Some(issuer) = &config.player_issuer {
                    validation.set_issuer(&[issuer]);
                }
                Some((key, validation))
            }
        };
        Ok(Self {
            key,
            anonymous: config.anonymous.unwrap_or(dev_keys),
        })
    }

    /// Who presents `token` (`None`: no `Authorization` header).
    pub fn identify(&self, token: Option<&str>) -> Result<Identity, IdentityError> {
        let Some(token) = token else {
            return if self.anonymous {
                Ok(Identity::anonymous())
            } else {
                Err(IdentityError::Missing)
            };
        };
        let Some((key, validation)) = &self.key else {
            return Err(IdentityError::Invalid(
                "this server checks no player tokens",
            ));
        };
        if token.len() > MAX_TOKEN_BYTES {
            return Err(IdentityError::Invalid("token too long"));
        }
        let claims = jsonwebtoken::decode::<PlayerClaims>(token, key, validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => IdentityError::Expired,
                ErrorKind::InvalidSignature => IdentityError::Invalid("bad signature"),
                ErrorKind::InvalidAudience => IdentityError::Invalid("wrong audience"),
                ErrorKind::InvalidIssuer => IdentityError::Invalid("wrong issuer"),
                ErrorKind::InvalidAlgorithm => IdentityError::Invalid("wrong algorithm"),
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                    IdentityError::Invalid("missing or malformed claims")
                }
                _ => IdentityError::Invalid("malformed token"),
            })?
            .claims;
        if !is_valid_id(&claims.sub) || claims.sub.starts_with(ANONYMOUS_PREFIX) {
            return Err(IdentityError::Invalid(
                "sub is not a valid player id (or takes the anonymous prefix)",
            ));
        }
        if claims
            .rating
            .is_some_and(|r| !r.is_finite() || r.abs() > MAX_RATING)
        {
            return Err(IdentityError::Invalid("rating is out of range"));
        }
        let ids_ok = [&claims.region, &claims.party]
            .into_iter()
            .flatten()
            .all(|v| is_valid_id(v));
        if !ids_ok {
            return Err(IdentityError::Invalid("region or party is not a valid id"));
        }
        Ok(Identity {
            id: claims.sub.into(),
            rating: claims.rating,
            region: claims.region,
            party: claims.party,
            anonymous: false,
        })
    }
}

/// The key and the one algorithm it verifies.
fn decoding_key(source: &PlayerKeySource) -> Result<(DecodingKey, Algorithm), String> {
    match source {
        PlayerKeySource::Secret(secret) => Ok((
            DecodingKey::from_secret(secret.as_bytes()),
            Algorithm::HS256,
        )),
        PlayerKeySource::PublicKeyPem(pem) => {
            let pem = pem.as_bytes();
            if let Ok(k) = DecodingKey::from_ed_pem(pem) {
                return Ok((k, Algorithm::EdDSA));
            }
            if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
                return Ok((k, Algorithm::RS256));
            }
            if let Ok(k) = DecodingKey::from_ec_pem(pem) {
                return Ok((k, Algorithm::ES256));
            }
            Err("the player token public key is not a PEM RSA, Ed25519 or P-256 public key".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use tickroom_shared::token::unix_now;

    const SECRET: &str = "a-player-secret-of-at-least-32-bytes!";

    fn config(key: Option<PlayerKeySource>) -> MatchmakingConfig {
        MatchmakingConfig {
            player_key: key,
            ..MatchmakingConfig::default()
        }
    }

    fn hs(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims(sub: &str) -> serde_json::Value {
        json!({ "sub": sub, "aud": "tickroom-player", "exp": unix_now() + 60, "rating": 1510.5, "region": "eu", "party": "p1" })
    }

    #[test]
    fn hs256_player_tokens_carry_who_and_how_good() {
        let ids =
            Identities::new(&config(Some(PlayerKeySource::Secret(SECRET.into()))), false).unwrap();
        let who = ids.identify(Some(&hs(claims("alice"), SECRET))).unwrap();
        assert_eq!(&*who.id, "alice");
        assert_eq!(who.rating, Some(1510.5));
        assert_eq!(who.region.as_deref(), Some("eu"));
        assert_eq!(who.party.as_deref(), Some("p1"));
        assert!(!who.anonymous);
        assert_eq!(ids.identify(None), Err(IdentityError::Missing));
    }

    #[test]
    fn foreign_expired_and_match_tokens_are_refused() {
        let ids =
            Identities::new(&config(Some(PlayerKeySource::Secret(SECRET.into()))), false).unwrap();
        let other = "another-secret-another-secret-another!";
        assert_eq!(
            ids.identify(Some(&hs(claims("alice"), other))),
            Err(IdentityError::Invalid("bad signature"))
        );
        let mut old = claims("alice");
        old["exp"] = json!(unix_now() - 3600);
        assert_eq!(
            ids.identify(Some(&hs(old, SECRET))),
            Err(IdentityError::Expired)
        );
        // A match token has no audience: it cannot pass for a player token, even if the game
        // uses one secret for both.
        let key = tickroom_shared::TokenKey::new(SECRET.as_bytes(), "tickroom");
        let match_token = key
            .sign(&tickroom_shared::MatchClaims::new(
                "m1",
                "alice",
                tickroom_shared::Role::Player,
                60,
                "tickroom",
            ))
            .unwrap();
        assert!(matches!(
            ids.identify(Some(&match_token)),
            Err(IdentityError::Invalid(_))
        ));
        let mut bad = claims("anon-1");
        assert!(ids.identify(Some(&hs(bad.clone(), SECRET))).is_err());
        bad["sub"] = json!("bob");
        bad["rating"] = json!(1e12);
        assert_eq!(
            ids.identify(Some(&hs(bad, SECRET))),
            Err(IdentityError::Invalid("rating is out of range"))
        );
        assert!(ids.identify(Some("x".repeat(5000).as_str())).is_err());
    }

    #[test]
    fn ed25519_keys_verify_eddsa_tokens() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let ids = Identities::new(
            &config(Some(PlayerKeySource::PublicKeyPem(pair.public_key_pem()))),
            false,
        )
        .unwrap();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &claims("carol"),
            &EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(&*ids.identify(Some(&token)).unwrap().id, "carol");
        // An HS256 token made with the public key as its secret (the classic confusion) fails.
        let confused = hs(claims("mallory"), &pair.public_key_pem());
        assert_eq!(
            ids.identify(Some(&confused)),
            Err(IdentityError::Invalid("wrong algorithm"))
        );
    }

    #[test]
    fn rsa_keys_verify_rs256_tokens() {
        let public = include_str!("testdata/rsa-public.pem");
        let private = include_str!("testdata/rsa-private.pem");
        let ids = Identities::new(
            &config(Some(PlayerKeySource::PublicKeyPem(public.into()))),
            false,
        )
        .unwrap();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims("dave"),
            &EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(&*ids.identify(Some(&token)).unwrap().id, "dave");
        assert!(
            Identities::new(
                &config(Some(PlayerKeySource::PublicKeyPem("not a key".into()))),
                false
            )
            .is_err()
        );
    }

    #[test]
    fn anonymous_only_where_allowed() {
        let dev = Identities::new(&config(None), true).unwrap();
        let a = dev.identify(None).unwrap();
        let b = dev.identify(None).unwrap();
        assert!(a.anonymous && a.id.starts_with(ANONYMOUS_PREFIX));
        assert_ne!(a.id, b.id, "each request is someone new");
        assert!(is_valid_id(&a.id));
        let prod = Identities::new(&config(None), false).unwrap();
        assert_eq!(prod.identify(None), Err(IdentityError::Missing));
        assert!(matches!(
            prod.identify(Some("a.b.c")),
            Err(IdentityError::Invalid(_))
        ));
    }
}
