//! Wire types of the games that ship with Tickroom. A game's simulation lives in the server;
//! only what crosses the wire is here, so clients in Rust can use it.

pub mod arena;
pub mod tictactoe;
