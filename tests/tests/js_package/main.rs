//! The TypeScript client package (`clients/js`, `@tickroom/client`): what it takes from the
//! Rust source is current, and its own type check and tests pass.

mod generated;
mod package;
