//! Queue matchmaking (in progress).
