//! The demo games that ship with Tickroom, written against the engine's public Game API only:
//! nothing in the engine or the server knows about them beyond their entries in
//! [`builtin`].
//!
//! Each game's module holds its wire types (input, rows, the state a client rebuilds), which
//! a client uses with `default-features = false` (no engine, no bevy), and its simulation,
//! which needs the `engine` feature (on by default).
//!
//! # Layout
//! - [`arena`]: discs that move in a walled square and push each other apart (held controls).
//! - [`tictactoe`]: two players, discrete moves, the game ends its own match.
#![warn(missing_docs)]

pub mod arena;
pub mod tictactoe;

/// The catalog of the games that ship with Tickroom: "arena", "arena_large" and
/// "tictactoe".
#[cfg(feature = "engine")]
pub fn builtin() -> tickroom_engine::Catalog {
    tickroom_engine::Catalog::new()
        .with(arena::Arena)
        .with(arena::ArenaLarge)
        .with(tictactoe::TicTacToe)
}
