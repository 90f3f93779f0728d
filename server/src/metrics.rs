//! Process-wide counters and gauges, rendered in the Prometheus text format at `/metrics`.
//!
//! Plain atomics: every update is one relaxed add, cheap enough for the input path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tickroom_engine::{PushOutcome, RoomMetrics};
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

/// Upper bounds of histogram buckets, in microseconds (the last bucket is +Inf).
pub const BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// A Prometheus-style histogram of durations with fixed buckets ([`BUCKETS_US`]).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Observations above `us` microseconds (exact at bucket bounds).
    pub fn count_above(&self, us: u64) -> u64 {
        BUCKETS_US
            .iter()
            .chain(std::iter::once(&u64::MAX))
            .zip(&self.buckets)
            .filter(|(bound, _)| **bound > us)
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, c) in BUCKETS_US.iter().zip(&self.buckets) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        cumulative += self.buckets[BUCKETS_US.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {}", self.count());
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
    /// Time one room tick took (inputs, schedule, snapshot encode).
    pub tick_duration: Histogram,
    /// How late a tick started after its scheduled time.
    pub tick_lateness: Histogram,
    /// Ticks that took longer than their room's tick period.
    pub tick_overruns: Counter,
    /// Ticks skipped because a room fell further behind than its catch-up allows.
    pub ticks_skipped: Counter,
    /// Snapshots not handed to the transport because it had not taken the previous ones.
    pub snapshots_dropped: Counter,
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
    /// Inputs refused: their `seq` jumped too far ahead of the last applied one.
    pub inputs_out_of_range: Counter,
    /// Other events (unknown ones, spectator inputs) dropped over a connection's event budget.
    pub events_dropped: Counter,
    /// Connections closed for sustained flooding.
    pub abuse_disconnects: Counter,
    /// Browser requests refused for their `Origin`.
    pub origins_refused: Counter,
    /// TCP connections refused: the server held as many as it may (`--max-connections`).
    pub connections_refused_total: Counter,
    /// TCP connections refused: their address held as many as one may.
    pub connections_refused_per_address: Counter,
    /// TCP connections closed for sending nothing before the header deadline.
    pub connections_idle_closed: Counter,
    /// New Engine.IO sessions refused over their address's budget.
    pub sessions_refused: Counter,
    errors: Vec<(ErrorCode, Counter)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            connections: Gauge::default(),
            handshakes_refused: Counter::default(),
            rooms_open: Gauge::default(),
            ticks: Counter::default(),
            tick_duration: Histogram::default(),
            tick_lateness: Histogram::default(),
            tick_overruns: Counter::default(),
            ticks_skipped: Counter::default(),
            snapshots_dropped: Counter::default(),
            snapshot_bytes: Counter::default(),
            inputs_accepted: Counter::default(),
            inputs_duplicate: Counter::default(),
            inputs_overflow: Counter::default(),
            inputs_unseated: Counter::default(),
            inputs_rate_limited: Counter::default(),
            inputs_out_of_range: Counter::default(),
            events_dropped: Counter::default(),
            abuse_disconnects: Counter::default(),
            origins_refused: Counter::default(),
            connections_refused_total: Counter::default(),
            connections_refused_per_address: Counter::default(),
            connections_idle_closed: Counter::default(),
            sessions_refused: Counter::default(),
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
        let mut out = String::with_capacity(4096);
        for (name, help, v) in [
            (
                "tickroom_connections",
                "Open authenticated connections.",
                self.connections.get(),
            ),
            (
                "tickroom_rooms_open",
                "Rooms whose task is running.",
                self.rooms_open.get(),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let errors_total: u64 = self.errors.iter().map(|(_, c)| c.get()).sum();
        for (name, help, v) in [
            (
                "tickroom_handshakes_refused_total",
                "Handshakes refused.",
                self.handshakes_refused.get(),
            ),
            ("tickroom_ticks_total", "Room ticks run.", self.ticks.get()),
            (
                "tickroom_tick_overruns_total",
                "Ticks that took longer than their period.",
                self.tick_overruns.get(),
            ),
            (
                "tickroom_ticks_skipped_total",
                "Ticks skipped: a room fell behind beyond its catch-up.",
                self.ticks_skipped.get(),
            ),
            (
                "tickroom_snapshot_bytes_total",
                "Snapshot bytes encoded (once per room tick).",
                self.snapshot_bytes.get(),
            ),
            (
                "tickroom_snapshots_dropped_total",
                "Snapshots the transport had no room for.",
                self.snapshots_dropped.get(),
            ),
            (
                "tickroom_inputs_accepted_total",
                "Inputs queued for a tick.",
                self.inputs_accepted.get(),
            ),
            (
                "tickroom_inputs_duplicate_total",
                "Inputs ignored as already applied or queued.",
                self.inputs_duplicate.get(),
            ),
            (
                "tickroom_inputs_overflow_total",
                "Inputs refused: player's input buffer full.",
                self.inputs_overflow.get(),
            ),
            (
                "tickroom_inputs_unseated_total",
                "Inputs for a player no longer seated.",
                self.inputs_unseated.get(),
            ),
            (
                "tickroom_inputs_out_of_range_total",
                "Inputs refused: seq more than 65,536 ahead of the last applied.",
                self.inputs_out_of_range.get(),
            ),
            (
                "tickroom_inputs_rate_limited_total",
                "Inputs dropped by the rate limiter.",
                self.inputs_rate_limited.get(),
            ),
            (
                "tickroom_events_dropped_total",
                "Non-input events dropped over a connection's budget.",
                self.events_dropped.get(),
            ),
            (
                "tickroom_abuse_disconnects_total",
                "Connections closed for sustained flooding.",
                self.abuse_disconnects.get(),
            ),
            (
                "tickroom_origins_refused_total",
                "Browser requests refused for their Origin (origin_not_allowed).",
                self.origins_refused.get(),
            ),
            (
                "tickroom_connections_refused_total",
                "TCP connections refused: --max-connections reached (server_busy).",
                self.connections_refused_total.get(),
            ),
            (
                "tickroom_connections_refused_per_address_total",
                "TCP connections refused: --max-connections-per-ip reached (too_many_connections).",
                self.connections_refused_per_address.get(),
            ),
            (
                "tickroom_connections_idle_closed_total",
                "TCP connections closed for sending nothing before the header deadline.",
                self.connections_idle_closed.get(),
            ),
            (
                "tickroom_sessions_refused_total",
                "New Engine.IO sessions refused over the address's --session-rate.",
                self.sessions_refused.get(),
            ),
            (
                "tickroom_errors_total",
                "Errors sent to clients, all codes.",
                errors_total,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
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
        self.tick_duration.render(
            &mut out,
            "tickroom_tick_duration_seconds",
            "Time one room tick took: inputs, systems, snapshot encode.",
        );
        self.tick_lateness.render(
            &mut out,
            "tickroom_tick_lateness_seconds",
            "How late ticks started after their scheduled time.",
        );
        out
    }
}

impl RoomMetrics for Metrics {
    fn room_opened(&self) {
        self.rooms_open.inc();
    }
    fn room_closed(&self) {
        self.rooms_open.dec();
    }
    fn tick(&self, took: std::time::Duration) {
        self.ticks.inc();
        self.tick_duration.observe(took);
    }
    fn tick_lateness(&self, late: std::time::Duration) {
        self.tick_lateness.observe(late);
    }
    fn tick_overrun(&self) {
        self.tick_overruns.inc();
    }
    fn ticks_skipped(&self, n: u64) {
        self.ticks_skipped.add(n);
    }
    fn snapshot(&self, bytes: usize) {
        self.snapshot_bytes.add(bytes as u64);
    }
    fn snapshot_dropped(&self) {
        self.snapshots_dropped.inc();
    }
    fn input(&self, outcome: PushOutcome) {
        match outcome {
            PushOutcome::Queued => self.inputs_accepted.inc(),
            PushOutcome::Duplicate => self.inputs_duplicate.inc(),
            PushOutcome::Full => self.inputs_overflow.inc(),
            PushOutcome::NotSeated => self.inputs_unseated.inc(),
            PushOutcome::OutOfRange => self.inputs_out_of_range.inc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn histogram_buckets_and_render() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(40));
        h.observe(Duration::from_micros(700));
        h.observe(Duration::from_secs(5));
        assert_eq!(h.count(), 3);
        assert_eq!(h.count_above(500), 2);
        assert_eq!(h.count_above(1_000_000), 1);
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.00005\"} 1"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.001\"} 2"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3"), "{out}");
        assert!(out.contains("x_count 3"));
        let m = Metrics::default().render();
        assert!(m.contains("tickroom_tick_lateness_seconds_count 0"));
    }
}
