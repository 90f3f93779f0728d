//! The Tickroom wire protocol, shared by the server, the Rust client and the tests.
//!
//! Everything a client and the server must agree on lives here: the protocol version, event
//! names, the messages each event carries, the stable error codes, the match-token claims and
//! their HS256 signing, and the strict msgpack decoding of event arguments.
//! `docs/PROTOCOL.md` is the same contract written for client authors in other languages.
//!
//! # Layout
//! - [`protocol`]: version, event names and message types.
//! - [`error`]: [`ErrorCode`], the machine-readable codes sent in CONNECT_ERROR and `error` events.
//! - [`token`]: [`MatchClaims`] and the HS256 [`TokenKey`] that signs and verifies them.
//! - [`wire`]: Socket.IO msgpack packets and the strict decoding of an event's `[name, arg]`.
//! - [`input`]: the [`Input`](input::Input) trait and derive: a game's input type, the bounds
//!   the engine checks and the schema clients are typed from.
//! - [`limits`]: protocol-level bounds (identifier lengths, tick-rate range).
//! - [`snapshot`]: keyframes and deltas: the [`Encoder`](snapshot::Encoder) the server writes
//!   them with and the [`Mirror`] clients rebuild state with.
//!
//! # Quick start
//! ```no_run
//! use tickroom_shared::{MatchClaims, Role, TokenKey};
//! let key = TokenKey::new(b"a-long-random-secret", "my-backend");
//! let claims = MatchClaims::new("match-1", "alice", Role::Player, 3600, "my-backend");
//! let token = key.sign(&claims).unwrap();
//! assert_eq!(key.verify(&token).unwrap().player_id, "alice");
//! ```
#![warn(missing_docs)]

// The derive macros name this crate by its path; this lets them work in its own tests.
#[cfg(test)]
extern crate self as tickroom_shared;

pub mod error;
pub mod input;
pub mod limits;
pub mod protocol;
pub mod snapshot;
pub mod token;
pub mod wire;

pub use error::ErrorCode;
pub use protocol::*;
pub use snapshot::{Mirror, Snapshot};
pub use token::{MatchClaims, TokenError, TokenKey};
