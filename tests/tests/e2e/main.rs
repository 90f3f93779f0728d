//! End-to-end tests: a real server on 127.0.0.1:0 and real clients over real sockets.

mod abuse;
mod admin;
mod bots;
mod cluster;
mod connections;
mod cors;
mod dev;
mod handshake;
mod interest;
mod js_client;
mod match_flow;
mod matchmaking;
mod metrics;
mod misbehaviour;
mod reconnect;
mod stats;
mod transport_close;
mod wire_rules;
