//! Several nodes on one Redis (docs/SCALING.md). A room stays on its node; what crosses nodes
//! goes through Redis.
//!
//! # Layout
//! - `registry`: each node's entry — its URLs and load — and lists of its matches, kept alive
//!   by a heartbeat and gone by themselves a time-to-live after the node stops beating; the
//!   election of the node that runs the matchmaking queue.
//! - `placement`: which node a new match goes to.
//! - `directory`: the matches of every node, for matchmaking.
//! - `checkpoint`: each running match's command log in Redis, from which another node takes
//!   the match over when its node drains or dies.
//! - `bus`: the Socket.IO Redis adapter's driver, which outlives Redis restarts.

pub mod bus;
pub mod checkpoint;
pub mod directory;
pub mod placement;
pub mod registry;

pub use registry::{NodeInfo, Registry, RegistryError};
