//! Tickroom's Rust client: what a Rust game client, a bot or a test uses to play.
//!
//! [`Client`] speaks the Tickroom protocol (Engine.IO v4 over WebSocket, Socket.IO msgpack
//! packets, `docs/PROTOCOL.md`); [`reconnect`] keeps a connection alive across drops with the
//! same seat; [`admin`] calls the server's admin API, as a game backend does; [`matchmaking`]
//! finds a seat without any backend.
//!
//! # Layout
//! - `connection`: connect, receive events and snapshots, emit inputs.
//! - [`reconnect`]: backoff, retrying connects, a client that rejoins by itself.
//! - [`admin`]: create matches and mint tokens over HTTP.
//! - [`matchmaking`]: find a seat as a player (join or create, private matches, the queue).
//! - [`Rng`]: a small seedable generator (jitter, bots).
//!
//! # Quick start
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use tickroom_client::Client;
//! use tickroom_games::arena::ArenaInput;
//! use tickroom_shared::{AuthPayload, InputMsg, event};
//! let auth = AuthPayload { token: "<token>".into(), match_id: None, protocol: Some(3) };
//! let mut client = Client::connect("http://127.0.0.1:7350", &auth, Duration::from_secs(5)).await?;
//! let welcome = client.next_event(Duration::from_secs(5)).await.ok().and_then(|e| e.welcome());
//! client.emit(event::INPUT, &InputMsg { seq: 1, input: ArenaInput { dir: [1.0, 0.0], buttons: 0 } }).await.ok();
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod admin;
mod connection;
pub mod matchmaking;
pub mod reconnect;
mod rng;

pub use connection::{Client, CloseReason, ConnectError, EventMsg, Incoming};
pub use rng::Rng;
