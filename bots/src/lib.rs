//! Tickroom's Rust client and headless bots.
//!
//! [`client::Client`] speaks the Tickroom protocol (Engine.IO v4 over WebSocket, Socket.IO
//! msgpack packets) and is what a Rust game client or a test uses. [`admin`] calls the
//! server's admin API. [`bot`] drives one arena player. The `tickroom-bots` binary joins bots
//! to a match and prints what they receive.
//!
//! # Layout
//! - [`wire`]: packet framing and msgpack walking.
//! - [`client`]: connect, receive events, emit inputs.
//! - [`admin`]: create matches and mint tokens over HTTP.
//! - [`bot`]: an arena bot that walks at random and checks what it is told.
//!
//! # Quick start
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use tickroom_bots::client::Client;
//! use tickroom_shared::{AuthPayload, InputMsg, event, games::arena::ArenaInput};
//! let auth = AuthPayload { token: "<token>".into(), match_id: None, protocol: Some(1) };
//! let mut client = Client::connect("http://127.0.0.1:7350", &auth, Duration::from_secs(5)).await?;
//! let welcome = client.next_event(Duration::from_secs(5)).await.ok().and_then(|e| e.welcome());
//! client.emit(event::INPUT, &InputMsg { seq: 1, input: ArenaInput { dir: [1.0, 0.0], buttons: 0 } }).await.ok();
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod admin;
pub mod bot;
pub mod client;
pub mod reconnect;
pub mod report;
pub mod swarm;
pub mod wire;
