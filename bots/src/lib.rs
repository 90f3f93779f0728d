//! Tickroom's headless bots and load tool, built on the Rust client (`tickroom-client`).
//!
//! [`bot`] drives one arena player and checks what it is told; [`swarm`] fills many rooms
//! with bots on a fixed input clock and [`report`]s latency, rates and errors. The
//! `tickroom-bots` binary runs both (`join`, `swarm`; `docs/BOTS.md`).
//!
//! # Layout
//! - [`bot`]: an arena bot that walks at random and checks what it is told.
//! - [`swarm`]: many bots, ramped up, with a shared progress and a report.
//! - [`report`]: latency histograms, rates, errors by cause, the bots' own CPU.
#![warn(missing_docs)]

pub mod bot;
pub mod report;
pub mod swarm;
