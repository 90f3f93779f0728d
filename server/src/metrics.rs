//! Process-wide counters and gauges, rendered in the Prometheus text format at `/metrics`.
//!
//! Plain atomics: every update is one relaxed add, cheap enough for the input path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tickroom_shared::ErrorCode;
use tickroom_shared::error::ALL as ALL_CODES;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Subtracts one.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every metric the server keeps.
#[derive(Debug)]
pub struct Metrics {
    /// Open Socket.IO connections that passed authentication.
    pub connections: Gauge,
    /// Handshakes refused, all codes (see `errors` for each code).
    pub handshakes_refused: Counter,
    /// Rooms whose task is running.
    pub rooms_open: Gauge,
    /// Ticks run, all rooms.
    pub ticks: Counter,
    /// Snapshot bytes produced (once per room per tick, not per socket).
    pub snapshot_bytes: Counter,
    /// Inputs queued for a tick.
    pub inputs_accepted: Counter,
    /// Inputs ignored as already applied or already queued.
    pub inputs_duplicate: Counter,
    /// Inputs refused because the player's input buffer was full.
    pub inputs_overflow: Counter,
    /// Inputs whose player had already left the room.
    pub inputs_unseated: Counter,
    /// Inputs dropped by the rate limiter.
    pub inputs_rate_limited: Counter,
    errors: Vec<(ErrorCode, Counter)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            connections: Gauge::default(),
            handshakes_refused: Counter::default(),
            rooms_open: Gauge::default(),
            ticks: Counter::default(),
            snapshot_bytes: Counter::default(),
            inputs_accepted: Counter::default(),
            inputs_duplicate: Counter::default(),
            inputs_overflow: Counter::default(),
            inputs_unseated: Counter::default(),
            inputs_rate_limited: Counter::default(),
            errors: ALL_CODES.iter().map(|c| (*c, Counter::default())).collect(),
        }
    }
}

impl Metrics {
    /// Counts one error sent to a client (CONNECT_ERROR or `error` event) with `code`.
    pub fn error(&self, code: ErrorCode) {
        if let Some((_, c)) = self.errors.iter().find(|(c, _)| *c == code) {
            c.inc();
        }
    }

    /// How many errors with `code` were sent.
    pub fn errors_sent(&self, code: ErrorCode) -> u64 {
        self.errors
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| n.get())
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            "tickroom_connections",
            "Open authenticated connections.",
            self.connections.get(),
        );
        gauge(
            "tickroom_rooms_open",
            "Rooms whose task is running.",
            self.rooms_open.get(),
        );
        let counters: [(&str, &str, &Counter); 9] = [
            (
                "tickroom_handshakes_refused_total",
                "Handshakes refused.",
                &self.handshakes_refused,
            ),
            ("tickroom_ticks_total", "Room ticks run.", &self.ticks),
            (
                "tickroom_snapshot_bytes_total",
                "Snapshot bytes encoded (once per room tick).",
                &self.snapshot_bytes,
            ),
            (
                "tickroom_inputs_accepted_total",
                "Inputs queued for a tick.",
                &self.inputs_accepted,
            ),
            (
                "tickroom_inputs_duplicate_total",
                "Inputs ignored as already applied or queued.",
                &self.inputs_duplicate,
            ),
            (
                "tickroom_inputs_overflow_total",
                "Inputs refused: player's input buffer full.",
                &self.inputs_overflow,
            ),
            (
                "tickroom_inputs_unseated_total",
                "Inputs for a player no longer seated.",
                &self.inputs_unseated,
            ),
            (
                "tickroom_inputs_rate_limited_total",
                "Inputs dropped by the rate limiter.",
                &self.inputs_rate_limited,
            ),
            (
                "tickroom_errors_total",
                "Errors sent to clients, all codes.",
                &Counter(AtomicU64::new(
                    self.errors.iter().map(|(_, c)| c.get()).sum(),
                )),
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP tickroom_errors_by_code_total Errors sent to clients, by code.\n# TYPE tickroom_errors_by_code_total counter"
        );
        for (code, c) in &self.errors {
            let _ = writeln!(
                out,
                "tickroom_errors_by_code_total{{code=\"{code}\"}} {}",
                c.get()
            );
        }
        out
    }
}
