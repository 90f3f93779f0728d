//! "tictactoe": two players take turns; the first with three in a row wins. A turn-based game,
//! to show the game API is not shaped around the arena's continuous movement.
//!
//! The wire types (input, rows, state) are always here, for clients; the simulation
//! ([`TicTacToe`]) needs the `engine` feature (on by default).

#[cfg(feature = "engine")]
mod game;
#[cfg(feature = "engine")]
pub use game::*;

use serde::{Deserialize, Serialize};
use tickroom_shared::input::Input;

use tickroom_shared::snapshot::{Frame, FromFrame};
use tickroom_shared::wire::DecodeError;

/// The game's name, as given when creating a match.
pub const NAME: &str = "tictactoe";

/// Cell value: empty.
pub const EMPTY: u8 = 0;
/// Cell value: X, the first player to join, who moves first.
pub const X: u8 = 1;
/// Cell value: O, the second player to join.
pub const O: u8 = 2;

/// A move: mark `cell` (0–8, row by row from the top left).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Input)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// The cell to mark, row by row from the top left.
    #[input(range = 0..=8)]
    pub cell: u8,
}

/// The board after a tick: the game's globals (it has no rows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    /// The nine cells, row by row: [`EMPTY`], [`X`] or [`O`].
    pub cells: [u8; 9],
    /// Player id of X, once someone has joined.
    pub x: Option<String>,
    /// Player id of O, once a second player has joined.
    pub o: Option<String>,
    /// Whose turn it is: [`X`] or [`O`] (meaningless once `winner` or `draw` is set).
    pub turn: u8,
    /// [`X`] or [`O`] once someone has won, by three in a row or because the other left.
    pub winner: Option<u8>,
    /// Whether the board filled up with no winner.
    pub draw: bool,
}

impl FromFrame for Board {
    fn from_frame(f: &Frame) -> Result<Self, DecodeError> {
        f.globals()
    }
}
