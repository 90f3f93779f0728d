//! Process-wide metrics, exported in the Prometheus text format at `/metrics` through the
//! `prometheus-client` crate.
//!
//! Every update is one relaxed atomic add (a histogram takes an uncontended lock), cheap
//! enough for the input path. Labels are drawn from closed sets only — error codes, end
//! reasons, transports and the games of the catalog — so the number of series does not grow
//! with the number of matches or players.

mod process;
pub use process::cpu_seconds;

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;
use socketioxide::{SocketIo, TransportType};
use tickroom_engine::{PushOutcome, RoomMetrics};
use tickroom_shared::error::ALL as ALL_CODES;
use tickroom_shared::{EndReason, ErrorCode, PROTOCOL_VERSION};

/// The `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds of the duration histograms' buckets, in seconds (50 µs to 1 s; the last
/// bucket is +Inf).
const BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// Connected Socket.IO clients, by the transport they use now.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Transports {
    /// Clients on WebSocket (including those upgraded from polling).
    pub websocket: u64,
    /// Clients still on HTTP long-polling.
    pub polling: u64,
}

impl Transports {
    /// Counts the clients of `io`'s game namespace.
    pub fn of<A: socketioxide::adapter::Adapter>(io: &SocketIo<A>) -> Self {
        let mut t = Self::default();
        if let Some(ns) = io.of(tickroom_shared::NAMESPACE) {
            for s in ns.local().sockets() {
                match s.transport_type() {
                    TransportType::Websocket => t.websocket += 1,
                    TransportType::Polling => t.polling += 1,
                }
            }
        }
        t
    }

    /// Every client, whatever its transport.
    pub fn total(&self) -> u64 {
        self.websocket + self.polling
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GameLabel {
    game: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    game: &'static str,
    reason: &'static str,
}

fn duration_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Every metric the server keeps. Fields are handles into the registry `/metrics` renders.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Connected clients by transport: set from the namespace at each scrape.
    connections: Family<TransportLabel, Gauge>,
    /// Handshakes refused, all codes (see `errors` for each code).
    pub handshakes_refused: Counter,
    /// Rooms whose task is running.
    pub rooms_open: Gauge,
    /// Matches created, by game.
    matches_created: Family<GameLabel, Counter>,
    /// Matches whose room closed, by game and end reason.
    matches_ended: Family<EndLabels, Counter>,
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
    /// Transports the server closed itself after ending their Socket.IO session (a
    /// DISCONNECT or a CONNECT_ERROR), because the client had not: WebSocket connections, and
    /// long-polling sessions (their GET answered with the close packet, or the WebSocket they
    /// upgraded to closed).
    pub transports_closed: Counter,
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
    /// Seats matchmaking reserved (every way in: join or create, create, join, the queue).
    pub seats_reserved: Counter,
    /// Matchmaking requests refused over an address's or a player's budget.
    pub matchmaking_limited: Counter,
    /// Queue requests this node could not forward to the queue's leader (it queued them
    /// itself).
    pub queue_forward_failed: Counter,
    /// Queue tickets waiting.
    pub queue_waiting: Gauge,
    /// 1 while this node's last registry heartbeat reached Redis (cluster mode).
    pub redis_up: Gauge,
    /// Matches this node moved to another node (drain or admin API).
    pub matches_moved: Counter,
    /// Matches this node took over: moved here, or restored from a dead node's checkpoint.
    pub matches_adopted: Counter,
    /// How long a move stopped its room: from the freeze to the other node running it.
    pub move_pause: Histogram,
    /// Groups the queue formed and seated.
    pub queue_groups: Counter,
    /// Errors sent to clients, all codes.
    errors_total: Counter,
    /// Errors sent to clients, by code.
    errors: Family<CodeLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(process::ProcessCollector));
        let m = Self {
            connections: Family::default(),
            handshakes_refused: Counter::default(),
            rooms_open: Gauge::default(),
            matches_created: Family::default(),
            matches_ended: Family::default(),
            ticks: Counter::default(),
            tick_duration: duration_histogram(),
            tick_lateness: duration_histogram(),
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
            transports_closed: Counter::default(),
            origins_refused: Counter::default(),
            connections_refused_total: Counter::default(),
            connections_refused_per_address: Counter::default(),
            connections_idle_closed: Counter::default(),
            sessions_refused: Counter::default(),
            seats_reserved: Counter::default(),
            matchmaking_limited: Counter::default(),
            queue_forward_failed: Counter::default(),
            queue_waiting: Gauge::default(),
            redis_up: Gauge::default(),
            matches_moved: Counter::default(),
            matches_adopted: Counter::default(),
            move_pause: duration_histogram(),
            queue_groups: Counter::default(),
            errors_total: Counter::default(),
            errors: Family::default(),
            registry: Registry::default(),
        };
        // Every series of a closed label set exists from the start, at zero, so a rate over
        // it has a first sample.
        for transport in ["websocket", "polling"] {
            let _ = m.connections.get_or_create(&TransportLabel { transport });
        }
        for code in ALL_CODES {
            let _ = m.errors.get_or_create(&CodeLabel {
                code: code.as_str(),
            });
        }
        let registry = root.sub_registry_with_prefix("tickroom");
        registry.register(
            "build",
            "This server's version and the newest protocol it speaks",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("protocol", PROTOCOL_VERSION.to_string()),
            ]),
        );
        registry.register(
            "rooms_open",
            "Rooms whose task is running",
            m.rooms_open.clone(),
        );
        registry.register(
            "redis_up",
            "1 while this node's last registry heartbeat reached Redis (with --redis-url; 0 otherwise)",
            m.redis_up.clone(),
        );
        registry.register(
            "matches_moved",
            "Matches this node moved to another node (drain or admin API)",
            m.matches_moved.clone(),
        );
        registry.register(
            "matches_adopted",
            "Matches this node took over: moved here, or restored from a dead node's checkpoint",
            m.matches_adopted.clone(),
        );
        registry.register(
            "move_pause_seconds",
            "How long a move stopped its room: from the freeze to the other node running it",
            m.move_pause.clone(),
        );
        registry.register(
            "queue_waiting",
            "Matchmaking queue tickets waiting",
            m.queue_waiting.clone(),
        );
        registry.register(
            "connections",
            "Connected clients, by the transport they use now",
            m.connections.clone(),
        );
        registry.register(
            "matches_created",
            "Matches created, by game",
            m.matches_created.clone(),
        );
        registry.register(
            "matches_ended",
            "Matches whose room closed, by game and end reason",
            m.matches_ended.clone(),
        );
        registry.register(
            "errors_by_code",
            "Errors sent to clients, by code",
            m.errors.clone(),
        );
        let counters: [(&str, &str, &Counter); 25] = [
            (
                "handshakes_refused",
                "Handshakes refused",
                &m.handshakes_refused,
            ),
            ("ticks", "Room ticks run", &m.ticks),
            (
                "tick_overruns",
                "Ticks that took longer than their period",
                &m.tick_overruns,
            ),
            (
                "ticks_skipped",
                "Ticks skipped: a room fell behind beyond its catch-up",
                &m.ticks_skipped,
            ),
            (
                "snapshot_bytes",
                "Snapshot bytes encoded (once per room tick; per viewer with interest management)",
                &m.snapshot_bytes,
            ),
            (
                "snapshots_dropped",
                "Snapshots the transport had no room for",
                &m.snapshots_dropped,
            ),
            (
                "inputs_accepted",
                "Inputs queued for a tick",
                &m.inputs_accepted,
            ),
            (
                "inputs_duplicate",
                "Inputs ignored as already applied or queued",
                &m.inputs_duplicate,
            ),
            (
                "inputs_overflow",
                "Inputs refused: player's input buffer full",
                &m.inputs_overflow,
            ),
            (
                "inputs_unseated",
                "Inputs for a player no longer seated",
                &m.inputs_unseated,
            ),
            (
                "inputs_out_of_range",
                "Inputs refused: seq more than 65,536 ahead of the last applied",
                &m.inputs_out_of_range,
            ),
            (
                "inputs_rate_limited",
                "Inputs dropped by the rate limiter",
                &m.inputs_rate_limited,
            ),
            (
                "events_dropped",
                "Non-input events dropped over a connection's budget",
                &m.events_dropped,
            ),
            (
                "abuse_disconnects",
                "Connections closed for sustained flooding",
                &m.abuse_disconnects,
            ),
            (
                "transports_closed",
                "Transports (WebSocket connections, long-polling sessions) closed by the server after their session ended, the client having left them open",
                &m.transports_closed,
            ),
            (
                "origins_refused",
                "Browser requests refused for their Origin (origin_not_allowed)",
                &m.origins_refused,
            ),
            (
                "connections_refused",
                "TCP connections refused: --max-connections reached (server_busy)",
                &m.connections_refused_total,
            ),
            (
                "connections_refused_per_address",
                "TCP connections refused: --max-connections-per-ip reached (too_many_connections)",
                &m.connections_refused_per_address,
            ),
            (
                "connections_idle_closed",
                "TCP connections closed for sending nothing before the header deadline",
                &m.connections_idle_closed,
            ),
            (
                "sessions_refused",
                "New Engine.IO sessions refused over the address's --session-rate",
                &m.sessions_refused,
            ),
            (
                "seats_reserved",
                "Seats reserved by matchmaking",
                &m.seats_reserved,
            ),
            (
                "queue_groups",
                "Groups the matchmaking queue formed and seated",
                &m.queue_groups,
            ),
            (
                "matchmaking_rate_limited",
                "Matchmaking requests refused over an address's or a player's budget",
                &m.matchmaking_limited,
            ),
            (
                "queue_forward_failed",
                "Queue requests that could not reach the queue's leader and were queued here",
                &m.queue_forward_failed,
            ),
            (
                "errors",
                "Errors sent to clients, all codes",
                &m.errors_total,
            ),
        ];
        for (name, help, c) in counters {
            registry.register(name, help, c.clone());
        }
        registry.register_with_unit(
            "tick_duration",
            "Time one room tick took: inputs, systems, snapshot encode",
            Unit::Seconds,
            m.tick_duration.clone(),
        );
        registry.register_with_unit(
            "tick_lateness",
            "How late ticks started after their scheduled time",
            Unit::Seconds,
            m.tick_lateness.clone(),
        );
        Self {
            registry: root,
            ..m
        }
    }
}

impl Metrics {
    /// Counts one error sent to a client (CONNECT_ERROR or `error` event) with `code`.
    pub fn error(&self, code: ErrorCode) {
        self.errors_total.inc();
        self.errors
            .get_or_create(&CodeLabel {
                code: code.as_str(),
            })
            .inc();
    }

    /// How many errors with `code` were sent.
    pub fn errors_sent(&self, code: ErrorCode) -> u64 {
        self.errors
            .get(&CodeLabel {
                code: code.as_str(),
            })
            .map_or(0, |c| c.get())
    }

    /// Counts a match of `game` created.
    pub(crate) fn match_created(&self, game: &'static str) {
        self.matches_created
            .get_or_create(&GameLabel { game })
            .inc();
    }

    /// Counts a match of `game` whose room closed for `reason`.
    pub(crate) fn match_ended(&self, game: &'static str, reason: EndReason) {
        self.matches_ended
            .get_or_create(&EndLabels {
                game,
                reason: reason.as_str(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric, with `transports` as the connection
    /// counts (the namespace knows them; [`Transports::of`] reads it).
    pub fn render(&self, transports: Transports) -> String {
        for (transport, n) in [
            ("websocket", transports.websocket),
            ("polling", transports.polling),
        ] {
            self.connections
                .get_or_create(&TransportLabel { transport })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail, and every metric here encodes.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
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
    fn tick(&self, took: Duration) {
        self.ticks.inc();
        self.tick_duration.observe(took.as_secs_f64());
    }
    fn tick_lateness(&self, late: Duration) {
        self.tick_lateness.observe(late.as_secs_f64());
    }
    fn tick_overrun(&self) {
        self.tick_overruns.inc();
    }
    fn ticks_skipped(&self, n: u64) {
        self.ticks_skipped.inc_by(n);
    }
    fn snapshot(&self, bytes: usize) {
        self.snapshot_bytes.inc_by(bytes as u64);
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
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the series `line_start` (name and labels) in `text`.
    fn value(text: &str, line_start: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
    }

    #[test]
    fn renders_every_family_with_bounded_labels() {
        let m = Metrics::default();
        m.tick_duration.observe(0.000_04);
        m.tick_duration.observe(0.000_7);
        m.tick_duration.observe(5.0);
        m.error(ErrorCode::RateLimited);
        m.match_created("arena");
        m.match_created("arena");
        m.match_ended("arena", EndReason::Abandoned);
        let out = m.render(Transports {
            websocket: 3,
            polling: 1,
        });
        assert_eq!(
            value(&out, "tickroom_tick_duration_seconds_bucket{le=\"5e-05\"}"),
            1.0
        );
        assert_eq!(
            value(&out, "tickroom_tick_duration_seconds_bucket{le=\"0.001\"}"),
            2.0
        );
        assert_eq!(
            value(&out, "tickroom_tick_duration_seconds_bucket{le=\"+Inf\"}"),
            3.0
        );
        assert_eq!(value(&out, "tickroom_tick_duration_seconds_count"), 3.0);
        assert_eq!(value(&out, "tickroom_tick_lateness_seconds_count"), 0.0);
        assert_eq!(value(&out, "tickroom_errors_total"), 1.0);
        assert_eq!(
            value(&out, "tickroom_errors_by_code_total{code=\"rate_limited\"}"),
            1.0
        );
        assert_eq!(
            value(
                &out,
                "tickroom_errors_by_code_total{code=\"token_invalid\"}"
            ),
            0.0
        );
        assert_eq!(m.errors_sent(ErrorCode::RateLimited), 1);
        assert_eq!(
            value(&out, "tickroom_matches_created_total{game=\"arena\"}"),
            2.0
        );
        assert_eq!(
            value(
                &out,
                "tickroom_matches_ended_total{game=\"arena\",reason=\"abandoned\"}"
            ),
            1.0
        );
        assert_eq!(
            value(&out, "tickroom_connections{transport=\"websocket\"}"),
            3.0
        );
        assert_eq!(
            value(&out, "tickroom_connections{transport=\"polling\"}"),
            1.0
        );
        let build = format!(
            "tickroom_build_info{{version=\"{}\",protocol=\"{PROTOCOL_VERSION}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(value(&out, &build), 1.0);
        assert!(value(&out, "process_resident_memory_bytes") > 0.0);
        assert!(value(&out, "process_open_fds") >= 3.0);
        assert!(value(&out, "process_cpu_seconds_total") >= 0.0);
        // One series per code, transport, game and (game, reason) seen: no growth with the
        // number of matches or players.
        let errors = out
            .lines()
            .filter(|l| l.starts_with("tickroom_errors_by_code_total{"))
            .count();
        assert_eq!(errors, ALL_CODES.len());
    }
}
