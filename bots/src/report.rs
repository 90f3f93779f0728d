//! What a swarm measured: shared live counters, HDR histograms, and the final report (human
//! table and JSON). `docs/BOTS.md` documents every JSON field.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency a histogram records, in microseconds (60 s); larger values are clamped.
const HIST_MAX_US: u64 = 60_000_000;

fn new_hist() -> Histogram<u64> {
    // 3 significant digits: 0.1 % resolution at every scale. The bounds are constants that
    // hdrhistogram accepts, so this cannot fail.
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds")
}

/// Counts by cause.
pub type Causes = BTreeMap<String, u64>;

/// Live counters shared by every bot of a swarm.
#[derive(Debug)]
pub struct Stats {
    /// Bots connected now.
    pub connected: AtomicU64,
    /// Bots that joined (received their welcome) at any point.
    pub joined: AtomicU64,
    /// Inputs sent.
    pub inputs: AtomicU64,
    /// Snapshots received.
    pub snapshots: AtomicU64,
    /// Snapshots a bot could not use: deltas whose keyframe it does not have (before its first
    /// keyframe, or after one was lost). Its acks go unseen meanwhile.
    pub without_keyframe: AtomicU64,
    /// Connections dropped on purpose to reconnect with the same token (`--reconnect-every`).
    pub reconnects: AtomicU64,
    /// Connections the server sent to another node (`moved`), followed there.
    pub moves: AtomicU64,
    /// Connections lost (the node went away) and made again within the rejoin window, at
    /// the node or through the entry server's `match_elsewhere`.
    pub rejoins: AtomicU64,
    /// Inputs a player bot sent that were still not acknowledged when it left.
    pub inputs_unacked: AtomicU64,
    /// The longest time a bot waited between two snapshots of its match, moves and
    /// rejoins included, in microseconds.
    pub longest_gap_us: AtomicU64,
    /// Socket.IO packet bytes received, all bots (added as each bot finishes).
    pub bytes_in: AtomicU64,
    /// WebSocket frame bytes received (headers and pings included), all bots.
    pub wire_bytes_in: AtomicU64,
    /// Players in the states the bots rebuilt, summed over the snapshots they could use.
    pub players_seen: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    window: Mutex<Histogram<u64>>,
    jitter: Mutex<Histogram<u64>>,
    /// Matchmaking request to welcome, per bot.
    seated: Mutex<Histogram<u64>>,
    /// When the first matchmaking request went out and the last bot it seated was welcomed.
    seating: Mutex<Option<(Instant, Instant)>>,
    errors: Mutex<ErrorCauses>,
}

/// Failures and anomalies, each counted by cause.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorCauses {
    /// Connections that failed before the handshake completed, by kind (`websocket`,
    /// `protocol`, `timeout`).
    pub connect_failures: Causes,
    /// Handshakes refused, by CONNECT_ERROR code.
    pub refusals: Causes,
    /// `error` events received, by code (`rate_limited` among them).
    pub error_events: Causes,
    /// Connections that ended before the run did, by reason.
    pub disconnects: Causes,
    /// State checks that failed, by kind (`tick_not_increasing`, `ack_went_back`,
    /// `ack_beyond_sent`, `own_entity_missing`, `undecodable_snapshot`).
    pub desyncs: Causes,
    /// Matchmaking requests that failed, by code (`--matchmaking`).
    pub matchmaking: Causes,
}

impl ErrorCauses {
    /// Sum over every cause.
    pub fn total(&self) -> u64 {
        [
            &self.connect_failures,
            &self.refusals,
            &self.error_events,
            &self.disconnects,
            &self.desyncs,
            &self.matchmaking,
        ]
        .iter()
        .flat_map(|m| m.values())
        .sum()
    }
}

/// Which cause map an event belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Cause {
    /// See [`ErrorCauses::connect_failures`].
    ConnectFailure,
    /// See [`ErrorCauses::refusals`].
    Refusal,
    /// See [`ErrorCauses::error_events`].
    ErrorEvent,
    /// See [`ErrorCauses::disconnects`].
    Disconnect,
    /// See [`ErrorCauses::desyncs`].
    Desync,
    /// See [`ErrorCauses::matchmaking`].
    Matchmaking,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            connected: AtomicU64::new(0),
            joined: AtomicU64::new(0),
            inputs: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            without_keyframe: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            moves: AtomicU64::new(0),
            rejoins: AtomicU64::new(0),
            inputs_unacked: AtomicU64::new(0),
            longest_gap_us: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            wire_bytes_in: AtomicU64::new(0),
            players_seen: AtomicU64::new(0),
            latency: Mutex::new(new_hist()),
            window: Mutex::new(new_hist()),
            jitter: Mutex::new(new_hist()),
            seated: Mutex::new(new_hist()),
            seating: Mutex::new(None),
            errors: Mutex::new(ErrorCauses::default()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, HIST_MAX_US)
}

impl Stats {
    /// Records one input-to-acknowledgement latency.
    pub fn record_latency(&self, d: Duration) {
        let us = micros(d);
        let _ = lock(&self.latency).record(us);
        let _ = lock(&self.window).record(us);
    }

    /// Records how far one snapshot inter-arrival time was from the tick period.
    pub fn record_jitter(&self, d: Duration) {
        let _ = lock(&self.jitter).record(micros(d));
    }

    /// Counts one event of `cause` with `what`.
    pub fn count(&self, cause: Cause, what: &str) {
        let mut e = lock(&self.errors);
        let map = match cause {
            Cause::ConnectFailure => &mut e.connect_failures,
            Cause::Refusal => &mut e.refusals,
            Cause::ErrorEvent => &mut e.error_events,
            Cause::Disconnect => &mut e.disconnects,
            Cause::Desync => &mut e.desyncs,
            Cause::Matchmaking => &mut e.matchmaking,
        };
        *map.entry(what.to_owned()).or_insert(0) += 1;
    }

    /// All causes counted so far.
    pub fn errors(&self) -> ErrorCauses {
        lock(&self.errors).clone()
    }

    /// p50 and p99 latency of the samples since the last call, in milliseconds.
    pub fn take_window(&self) -> Option<(f64, f64)> {
        let mut w = lock(&self.window);
        if w.is_empty() {
            return None;
        }
        let r = (
            w.value_at_quantile(0.5) as f64 / 1000.0,
            w.value_at_quantile(0.99) as f64 / 1000.0,
        );
        w.reset();
        Some(r)
    }

    /// Summary of input-to-ack latency.
    pub fn latency_summary(&self) -> Percentiles {
        Percentiles::of(&lock(&self.latency))
    }

    /// Summary of snapshot jitter.
    pub fn jitter_summary(&self) -> Percentiles {
        Percentiles::of(&lock(&self.jitter))
    }

    /// Records a bot seated through matchmaking: its request went out at `asked`, its welcome
    /// came now.
    pub fn record_seated(&self, asked: Instant) {
        let now = Instant::now();
        let _ = lock(&self.seated).record(micros(now - asked));
        let mut span = lock(&self.seating);
        *span = Some(match *span {
            None => (asked, now),
            Some((first, last)) => (first.min(asked), last.max(now)),
        });
    }

    /// What matchmaking did, if any bot used it.
    pub fn matchmaking_summary(&self) -> Option<MatchmakingReport> {
        let hist = lock(&self.seated);
        let (first, last) = (*lock(&self.seating))?;
        let span = (last - first).as_secs_f64();
        Some(MatchmakingReport {
            seated: hist.len(),
            failed: lock(&self.errors).matchmaking.values().sum(),
            seated_per_sec: hist.len() as f64 / span.max(1e-9),
            span_secs: span,
            request_to_welcome_us: Percentiles::of(&hist),
        })
    }
}

/// Percentiles of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// CPU and memory of this process, from `/proc/self` (Linux); `None` elsewhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcessUsage {
    /// User + system CPU seconds since the process started.
    pub cpu_seconds: f64,
    /// Peak resident memory, KiB.
    pub max_rss_kib: u64,
}

impl ProcessUsage {
    /// Reads the current usage.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command (which may contain spaces) start after the last ')'.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the ')'.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
        let cpu_seconds = (utime + stime) / 100.0;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let max_rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        Some(Self {
            cpu_seconds,
            max_rss_kib,
        })
    }
}

/// The final report of a swarm run; serialized as the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Format version of this report.
    pub version: u32,
    /// What was asked for.
    pub config: ReportConfig,
    /// Bots planned, joined, failed.
    pub bots: BotCounts,
    /// Totals over the run.
    pub totals: Totals,
    /// Input-to-acknowledgement latency, microseconds.
    pub input_to_ack_us: Percentiles,
    /// |snapshot inter-arrival − tick period|, microseconds.
    pub snapshot_jitter_us: Percentiles,
    /// Failures by cause.
    pub errors: ErrorCauses,
    /// This process's resource use.
    pub process: ProcessReport,
    /// Seats found through matchmaking (`--matchmaking`); `null` otherwise.
    pub matchmaking: Option<MatchmakingReport>,
}

/// Bots seated through matchmaking: from the `join-or-create` request to the welcome.
#[derive(Debug, Clone, Serialize)]
pub struct MatchmakingReport {
    /// Bots seated.
    pub seated: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Bots seated per second, from the first request to the last welcome.
    pub seated_per_sec: f64,
    /// That span, in seconds.
    pub span_secs: f64,
    /// Request to welcome, per bot, in microseconds.
    pub request_to_welcome_us: Percentiles,
}

/// The run's parameters, echoed.
#[derive(Debug, Clone, Serialize)]
pub struct ReportConfig {
    /// Server URL.
    pub server: String,
    /// Rooms.
    pub rooms: usize,
    /// The game of the created or matchmade matches (`arena`, `arena_large`).
    pub game: String,
    /// Player bots per room.
    pub players_per_room: usize,
    /// Spectator bots per room.
    pub spectators_per_room: usize,
    /// Behaviour name.
    pub behaviour: String,
    /// Inputs per second per player bot (0: the match's tick rate).
    pub input_rate: u32,
    /// Ramp-up, seconds.
    pub ramp_up_secs: f64,
    /// Measured duration after ramp-up, seconds.
    pub duration_secs: f64,
}

/// How many bots did what.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BotCounts {
    /// Bots the run meant to start.
    pub planned: u64,
    /// Bots that received their welcome.
    pub joined: u64,
    /// Bots that never joined.
    pub failed: u64,
}

/// Counts over the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Totals {
    /// Inputs sent.
    pub inputs_sent: u64,
    /// Snapshots received.
    pub snapshots_received: u64,
    /// Snapshots that were deltas whose keyframe the bot did not have (unusable; acks unseen).
    pub snapshots_without_keyframe: u64,
    /// Connections dropped on purpose and made again with the same token.
    pub reconnects: u64,
    /// Connections sent to another node (`moved`) and made again there.
    pub moves: u64,
    /// Connections lost (their node went away) and made again.
    pub rejoins: u64,
    /// Inputs sent that were still not acknowledged when their bot left (0: none lost).
    pub inputs_unacked: u64,
    /// The longest wait between two snapshots any bot saw, moves and rejoins included, ms.
    pub longest_snapshot_gap_ms: f64,
    /// Inputs per second over the wall time of the run.
    pub inputs_per_sec: f64,
    /// Snapshots per second over the wall time of the run.
    pub snapshots_per_sec: f64,
    /// Wall time from the first connection attempt to the end, seconds.
    pub wall_secs: f64,
    /// Socket.IO packet bytes received by all bots (WebSocket framing not included).
    pub bytes_received: u64,
    /// Bytes received per joined bot per second of wall time: the downstream bandwidth of one
    /// client.
    pub bytes_per_bot_per_sec: f64,
    /// WebSocket frame bytes received by all bots: payloads, frame headers and pings.
    pub wire_bytes_received: u64,
    /// Those per joined bot per second of wall time: a client's downstream link, WebSocket
    /// framing included (TCP/IP headers not).
    pub wire_bytes_per_bot_per_sec: f64,
    /// Players in the state a bot rebuilt, on average over the snapshots it could use: the
    /// room's whole roster, or, in a game with interest management, those near the bot.
    pub players_seen_per_snapshot: f64,
}

/// Resource use of the bot process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProcessReport {
    /// CPU seconds used during the run (user + system).
    pub cpu_seconds: f64,
    /// CPU used as a percentage of one core over the run.
    pub cpu_percent_of_one_core: f64,
    /// CPU microseconds per joined bot per second of run: the cost of one bot.
    pub cpu_us_per_bot_second: f64,
    /// Peak resident memory of the process, KiB.
    pub max_rss_kib: u64,
}

impl Report {
    /// The human table.
    pub fn table(&self) -> String {
        let l = &self.input_to_ack_us;
        let j = &self.snapshot_jitter_us;
        let ms = |us: u64| us as f64 / 1000.0;
        let mut out = String::new();
        out.push_str(&format!(
            "bots        planned {}  joined {}  failed {}\n",
            self.bots.planned, self.bots.joined, self.bots.failed
        ));
        out.push_str(&format!(
            "traffic     inputs {} ({:.0}/s)  snapshots {} ({:.0}/s, {:.1} players seen in each)  over {:.1} s  downstream {:.2} KB/s a bot ({:.2} KB/s with WebSocket framing)\n",
            self.totals.inputs_sent,
            self.totals.inputs_per_sec,
            self.totals.snapshots_received,
            self.totals.snapshots_per_sec,
            self.totals.players_seen_per_snapshot,
            self.totals.wall_secs,
            self.totals.bytes_per_bot_per_sec / 1000.0,
            self.totals.wire_bytes_per_bot_per_sec / 1000.0
        ));
        out.push_str(
            "                        count      p50      p90      p99    p99.9      max   (ms)\n",
        );
        for (name, p) in [("input→ack", l), ("snapshot jitter", j)] {
            out.push_str(&format!(
                "{name:<18} {:>10} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}\n",
                p.count,
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.p999),
                ms(p.max)
            ));
        }
        if let Some(mm) = &self.matchmaking {
            let p = &mm.request_to_welcome_us;
            out.push_str(&format!(
                "{:<18} {:>10} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}   ({} seated in {:.2} s: {:.0}/s, {} failed)\n",
                "request→seated",
                p.count,
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.p999),
                ms(p.max),
                mm.seated,
                mm.span_secs,
                mm.seated_per_sec,
                mm.failed
            ));
        }
        out.push_str(&format!(
            "process     cpu {:.2} s ({:.1} % of a core, {:.1} µs per bot-second)  peak rss {} MiB\n",
            self.process.cpu_seconds,
            self.process.cpu_percent_of_one_core,
            self.process.cpu_us_per_bot_second,
            self.process.max_rss_kib / 1024
        ));
        let total = self.errors.total();
        out.push_str(&format!("errors      {total}\n"));
        for (kind, map) in [
            ("connect", &self.errors.connect_failures),
            ("refused", &self.errors.refusals),
            ("error", &self.errors.error_events),
            ("disconnect", &self.errors.disconnects),
            ("desync", &self.errors.desyncs),
        ] {
            for (cause, n) in map {
                out.push_str(&format!("  {kind:<10} {cause:<28} {n}\n"));
            }
        }
        out
    }
}

/// Reads a counter.
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_and_causes() {
        let s = Stats::default();
        for ms in 1..=100u64 {
            s.record_latency(Duration::from_millis(ms));
        }
        let p = s.latency_summary();
        assert_eq!(p.count, 100);
        assert!((49_900..=50_100).contains(&p.p50), "{p:?}");
        assert!((98_900..=99_100).contains(&p.p99), "{p:?}");
        assert!((99_900..=100_100).contains(&p.max), "{p:?}");
        let (p50, _) = s.take_window().unwrap();
        assert!((49.0..=51.0).contains(&p50));
        assert!(s.take_window().is_none(), "window resets");
        s.count(Cause::Refusal, "match_full");
        s.count(Cause::Refusal, "match_full");
        s.count(Cause::Desync, "ack_went_back");
        let e = s.errors();
        assert_eq!(e.refusals["match_full"], 2);
        assert_eq!(e.total(), 3);
        // An absurd latency is clamped to the histogram's range, not lost.
        s.record_latency(Duration::from_secs(3600));
        let max = s.latency_summary().max as f64;
        assert!(
            (max - HIST_MAX_US as f64).abs() / (HIST_MAX_US as f64) < 0.001,
            "{max}"
        );
    }

    #[test]
    fn reads_own_usage() {
        let u = ProcessUsage::read().expect("linux /proc");
        assert!(u.max_rss_kib > 0);
        assert!(u.cpu_seconds >= 0.0);
    }
}
