//! Tickroom: an authoritative game room server over Socket.IO + MessagePack.
//!
//! Each match is a room of the engine ([`tickroom_engine`]): a `bevy_ecs` World ticked at a
//! fixed rate by its own task. Clients connect with a signed match token, send inputs, and
//! receive the room's snapshot after every tick. This crate is the server around the engine:
//! the transport, authentication, the match directory, the admin API, results and metrics.
//!
//! # Layout
//! - [`cli`]: the stock command line (`tickroom_server::cli::run(catalog)`: a game's whole
//!   `main`), its flags and environment variables.
//! - [`config`]: every limit and default, grouped by concern, with a literal `Default`.
//! - `server`: the composition root ([`Server::builder`]), serving and draining.
//! - [`directory`]: the matches of this node, their seats and their lifecycle.
//! - [`auth`]: handshake checks: the `auth` payload, the token, the seat.
//! - `ratelimit`: per-player, per-address and per-connection budgets (governor).
//! - `net`: Socket.IO handlers, the snapshot sink, the admin API (and the operator's kicks and
//!   announcements), moving matches between nodes, TLS, the accept loop.
//! - [`cluster`]: several nodes on one Redis — the registry, placement, the cross-node bus,
//!   and each running match's checkpoint.
//! - [`metrics`]: counters rendered at `/metrics`; the engine reports into them.
//! - [`results`]: ended matches' results in SQLite, or in a PostgreSQL shared by every node.
//!
//! # Quick start
//! ```no_run
//! # async fn demo() -> Result<(), tickroom_server::ServeError> {
//! use tickroom_server::{Config, Server};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7350").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! Server::builder(Config::default())
//!     .games(tickroom_games::builtin())
//!     .build()?
//!     .serve(listener, shutdown)
//!     .await
//! # }
//! ```
#![warn(missing_docs)]

pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod directory;
pub mod matchmaking;
pub mod metrics;
mod net;
mod ratelimit;
pub mod results;
mod runtime;
mod server;

pub use config::Config;
pub use net::conns::raise_fd_limit;
pub use net::tls::TlsError;
pub use server::{ServeError, Server, ServerBuilder, run};
pub use tickroom_engine::Catalog;
