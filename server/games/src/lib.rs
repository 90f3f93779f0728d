//! The demo games that ship with Tickroom, written against the engine's public Game API only:
//! nothing in the engine or the server knows about them beyond their entries in
//! [`builtin`].
//!
//! # Layout
//! - [`arena`]: discs that move in a walled square and push each other apart (held controls).
//! - [`tictactoe`]: two players, discrete moves, the game ends its own match.
#![warn(missing_docs)]

pub mod arena;
pub mod tictactoe;

use tickroom_engine::Catalog;

/// The catalog of the games that ship with Tickroom: "arena" and "tictactoe".
pub fn builtin() -> Catalog {
    Catalog::new().with(arena::Arena).with(tictactoe::TicTacToe)
}
