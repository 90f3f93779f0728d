//! Tickroom's room engine: a match is a room, a `bevy_ecs` World ticked at a fixed rate by its
//! own task, fed player inputs and producing one encoded snapshot per tick.
//!
//! The engine knows no transport: a room takes `(player, seq, input bytes)` through a
//! [`RoomControl`], hands its output to a [`SnapshotSink`], and reports through
//! [`RoomMetrics`]. The server plugs Socket.IO in; a test plugs in a recorder
//! ([`testing::Recorder`]); a benchmark steps a [`Room`] with no task at all.
//!
//! # Layout
//! - [`Game`] and what a game's systems see ([`Controls`], [`TickInfo`], [`Players`] …):
//!   `game`.
//! - [`Replication`]: the kinds of rows a game replicates ([`QueryRow`] for rows built from a
//!   query).
//! - [`Interest`]: what each viewer is sent, for a game that sends each only what is near it.
//! - [`Room`]: World, Schedule, players and their input queues; stepped by hand.
//! - [`driver`]: runs a room on a fixed-timestep clock ([`driver::spawn`]).
//! - [`Catalog`]: the games an embedder offers, by name.
//! - [`RoomRng`]: the seeded randomness a game draws from; [`command_log`] and [`replay`]:
//!   a match recorded ([`Room::record`]) and re-run bit for bit.
//! - [`RoomMetrics`]: what a room reports.
//! - [`testing`]: a recording sink and metrics, for testing games and embedders.
//!
//! # Quick start
//! ```no_run
//! # async fn demo<G: tickroom_engine::Game>(game: G) {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tickroom_engine::{RoomConfig, driver::{self, SpawnParams}, testing::Recorder};
//! let sink = Arc::new(Recorder::default());
//! let params = SpawnParams {
//!     match_id: "m1".into(),
//!     room: RoomConfig::with_rate(30),
//!     inbox: 1024,
//!     empty_grace: Duration::from_secs(60),
//!     recording: None,
//! };
//! let room = driver::spawn(Arc::new(game), params, sink, Arc::new(()), Default::default());
//! tokio::spawn(room.room);
//! tokio::spawn(room.publisher);
//! room.control.join("alice".into());
//! # }
//! ```
#![warn(missing_docs)]

mod catalog;
pub mod command_log;
pub mod driver;
mod game;
mod interest;
mod metrics;
pub mod replay;
mod replication;
mod rng;
mod room;
pub mod testing;

pub use catalog::Catalog;
pub use driver::{
    Frozen, InputError, MatchRecorder, MatchState, Outcome, Recorded, Recording, RoomControl,
    RoomStats, SnapshotSink, SpawnParams, decode_input,
};
pub use game::{
    AppliedInput, AppliedInputs, Capacity, Connection, Controls, Game, GameSystems,
    IncompleteStart, MatchControl, MatchRules, PlayerId, Players, TickInfo,
};
pub use interest::Interest;
pub use metrics::RoomMetrics;
pub use replication::{QueryRow, Replication};
pub use rng::RoomRng;
pub use room::{PushOutcome, Room, RoomConfig, Snapshots};
/// A game's input type and its declared bounds (and `#[derive(Input)]`, with
/// `tickroom-shared` a dependency of the game's crate); see [`Game::Input`].
pub use tickroom_shared::input::{Input, InvalidInput};
/// A kind of replicated row declared as a struct (and `#[derive(Replicate)]`, with
/// `tickroom-shared` a dependency of the game's crate); see [`Game::replicate`].
pub use tickroom_shared::snapshot::Replicate;
