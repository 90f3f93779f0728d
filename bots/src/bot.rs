//! An arena bot: joins with a token, walks at random on a fixed input clock, and checks the
//! snapshots it receives (ticks increase, its acks never go back, its disc is present).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tickroom_games::arena::{ArenaInput, ArenaState};
use tickroom_shared::{AuthPayload, InputMsg, PROTOCOL_VERSION, Role, Snapshot, Welcome, event};
use tokio::time::{Instant, MissedTickBehavior};

use tickroom_client::{Client, CloseReason, ConnectError, Incoming, Rng};

/// How one bot runs.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// `http://host:port`.
    pub server: String,
    /// Its match token.
    pub token: String,
    /// How long to stay after the welcome.
    pub duration: Duration,
    /// Inputs per second; the match's tick rate when `None`.
    pub input_rate: Option<u32>,
    /// Seed of the random walk.
    pub seed: u64,
    /// Print every snapshot.
    pub verbose: bool,
}

/// Counters shared by all bots of a run, for a live progress line.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bots connected now.
    pub connected: AtomicU64,
    /// Snapshots received, all bots.
    pub snapshots: AtomicU64,
    /// Inputs sent, all bots.
    pub inputs: AtomicU64,
    /// Error events received, all bots.
    pub errors: AtomicU64,
}

/// What one bot saw.
#[derive(Debug, Clone)]
pub struct BotReport {
    /// The welcome it got.
    pub welcome: Welcome,
    /// Snapshots received.
    pub snapshots: u64,
    /// First and last snapshot tick.
    pub ticks: (u64, u64),
    /// Ticks skipped between consecutive snapshots.
    pub missed_ticks: u64,
    /// Inputs sent.
    pub inputs_sent: u32,
    /// The last ack the server gave for this player.
    pub last_ack: u32,
    /// The bot's last position, if it is a player.
    pub position: Option<(f32, f32)>,
    /// Players in the last snapshot.
    pub players_seen: usize,
    /// Error codes received.
    pub errors: Vec<String>,
    /// Consistency failures (should stay empty).
    pub violations: Vec<String>,
    /// How the connection ended, if it ended before the run did.
    pub closed: Option<CloseReason>,
}

/// Connects, plays for `cfg.duration`, and reports.
pub async fn run_bot(cfg: BotConfig, progress: Arc<Progress>) -> Result<BotReport, ConnectError> {
    let auth = AuthPayload {
        token: cfg.token.clone(),
        match_id: None,
        protocol: Some(PROTOCOL_VERSION),
    };
    let mut client = Client::connect(&cfg.server, &auth, Duration::from_secs(10)).await?;
    let welcome = match client.next_event(Duration::from_secs(10)).await {
        Ok(e) => e
            .welcome()
            .ok_or_else(|| ConnectError::Protocol(format!("expected welcome, got {}", e.name)))?,
        Err(r) => return Err(ConnectError::Protocol(format!("no welcome: {r:?}"))),
    };
    progress.connected.fetch_add(1, Ordering::Relaxed);
    let report = play(&mut client, &cfg, welcome, &progress).await;
    progress.connected.fetch_sub(1, Ordering::Relaxed);
    client.close().await;
    Ok(report)
}

async fn play(
    client: &mut Client,
    cfg: &BotConfig,
    welcome: Welcome,
    progress: &Progress,
) -> BotReport {
    let me = welcome.player_id.clone();
    let is_player = welcome.role == Role::Player;
    let mut report = BotReport {
        welcome: welcome.clone(),
        snapshots: 0,
        ticks: (0, 0),
        missed_ticks: 0,
        inputs_sent: 0,
        last_ack: 0,
        position: None,
        players_seen: 0,
        errors: Vec::new(),
        violations: Vec::new(),
        closed: None,
    };
    let rate = cfg.input_rate.unwrap_or(welcome.tick_rate).max(1);
    // Inputs go out on a fixed clock, whatever the server answers.
    let mut clock = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    clock.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let end = Instant::now() + cfg.duration;
    let mut rng = Rng::new(cfg.seed);
    let mut input = ArenaInput::default();
    let mut checker = Checker::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => break,
            _ = clock.tick(), if is_player => {
                // Change direction about once a second.
                if report.inputs_sent.is_multiple_of(rate) {
                    input = ArenaInput { dir: [rng.unit(), rng.unit()], buttons: 0 };
                }
                report.inputs_sent += 1;
                let msg = InputMsg { seq: report.inputs_sent, input };
                if client.emit(event::INPUT, &msg).await.is_err() {
                    continue;
                }
                progress.inputs.fetch_add(1, Ordering::Relaxed);
            }
            msg = client.recv() => match msg {
                Some(Incoming::Event(e)) if e.name == event::SNAPSHOT => {
                    match client.snapshot::<ArenaState>(&e) {
                        Ok(Some(s)) => observe(&mut report, &mut checker, &me, is_player, &s, cfg.verbose),
                        // a delta before this connection's first keyframe: wait for it
                        Ok(None) => {}
                        Err(err) => report.violations.push(format!("undecodable snapshot: {err}")),
                    }
                    progress.snapshots.fetch_add(1, Ordering::Relaxed);
                }
                Some(Incoming::Event(e)) => {
                    if let Some(err) = e.error() {
                        progress.errors.fetch_add(1, Ordering::Relaxed);
                        report.errors.push(err.code);
                    } else if let Some(end) = e.match_end() {
                        report.errors.push(format!("match_end:{:?}", end.reason));
                    }
                }
                Some(Incoming::Closed(r)) => {
                    report.closed = Some(r);
                    break;
                }
                None => break,
            },
        }
    }
    report
}

/// Checks a stream of snapshots the way a client that rebuilds state would notice trouble.
/// Shared by `join` (which reports each finding) and `swarm` (which counts them by kind).
#[derive(Debug, Default)]
pub struct Checker {
    last_tick: Option<u64>,
    last_ack: u32,
    seen_self: bool,
}

impl Checker {
    /// Checks snapshot `s` as seen by `me` (`player`: it has a seat) after sending `sent`
    /// inputs, calling `found` with the kind of each inconsistency: `tick_not_increasing`,
    /// `ack_went_back`, `ack_beyond_sent`, `own_entity_missing` (once the bot's own disc has
    /// appeared, it must stay).
    pub fn check(
        &mut self,
        s: &Snapshot<ArenaState>,
        me: &str,
        player: bool,
        sent: u32,
        mut found: impl FnMut(&'static str),
    ) {
        if self.last_tick.is_some_and(|last| s.tick <= last) {
            found("tick_not_increasing");
        }
        self.last_tick = Some(s.tick);
        if !player {
            return;
        }
        let ack = s.acks.get(me).copied().unwrap_or(0);
        if ack < self.last_ack {
            found("ack_went_back");
        }
        if ack > sent {
            found("ack_beyond_sent");
        }
        self.last_ack = self.last_ack.max(ack);
        match s.state.player(me) {
            Some(_) => self.seen_self = true,
            None if self.seen_self => found("own_entity_missing"),
            None => {}
        }
    }

    /// The highest ack seen for this bot.
    pub fn last_ack(&self) -> u32 {
        self.last_ack
    }
}

fn observe(
    r: &mut BotReport,
    checker: &mut Checker,
    me: &str,
    is_player: bool,
    s: &Snapshot<ArenaState>,
    verbose: bool,
) {
    let sent = r.inputs_sent;
    let violations = &mut r.violations;
    checker.check(s, me, is_player, sent, |kind| {
        violations.push(format!("{kind} at tick {}", s.tick));
    });
    if r.snapshots == 0 {
        r.ticks.0 = s.tick;
    } else if s.tick > r.ticks.1 {
        r.missed_ticks += s.tick - r.ticks.1 - 1;
    }
    r.ticks.1 = s.tick;
    r.snapshots += 1;
    r.players_seen = s.state.players.len();
    r.last_ack = checker.last_ack();
    if let Some(p) = s.state.player(me) {
        r.position = Some((p.x, p.y));
    }
    if verbose {
        let players: Vec<String> = s
            .state
            .players
            .iter()
            .map(|p| format!("{}@({:.1},{:.1})", p.id, p.x, p.y))
            .collect();
        println!(
            "[{me}] tick={} ack={} players=[{}]",
            s.tick,
            r.last_ack,
            players.join(" ")
        );
    }
}

/// Bots that are running, for a progress line every second.
pub fn progress_line(p: &Progress, elapsed: Duration) -> String {
    format!(
        "t={:>3}s connected={} snapshots={} inputs={} errors={}",
        elapsed.as_secs(),
        p.connected.load(Ordering::Relaxed),
        p.snapshots.load(Ordering::Relaxed),
        p.inputs.load(Ordering::Relaxed),
        p.errors.load(Ordering::Relaxed),
    )
}

/// Seeds spread for bot `i`.
pub fn seed_for(i: usize) -> u64 {
    (i as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F)
}

/// Makes a progress counter set.
pub fn new_progress() -> Arc<Progress> {
    Arc::new(Progress::default())
}

/// Formats a report as one line.
pub fn report_line(r: &BotReport) -> String {
    let pos = r
        .position
        .map_or_else(|| "-".to_owned(), |(x, y)| format!("({x:.1},{y:.1})"));
    format!(
        "{:<12} {:<9} snapshots={:<5} ticks={}..{} missed={} inputs={} ack={} pos={} players={} errors={} violations={}{}",
        r.welcome.player_id,
        r.welcome.role.as_str(),
        r.snapshots,
        r.ticks.0,
        r.ticks.1,
        r.missed_ticks,
        r.inputs_sent,
        r.last_ack,
        pos,
        r.players_seen,
        r.errors.len(),
        r.violations.len(),
        r.closed
            .as_ref()
            .map_or_else(String::new, |c| format!(" closed={c:?}")),
    )
}

#[cfg(test)]
mod tests {
    use tickroom_games::arena::ArenaPlayer;

    use super::*;

    fn snap(tick: u64, ack: u32, me_present: bool) -> Snapshot<ArenaState> {
        let players = if me_present {
            vec![ArenaPlayer {
                id: "me".into(),
                x: 1.0,
                y: 1.0,
            }]
        } else {
            Vec::new()
        };
        Snapshot {
            tick,
            keyframe: true,
            acks: [("me".to_owned(), ack)].into_iter().collect(),
            state: ArenaState { players },
        }
    }

    #[test]
    fn the_checker_notices_each_inconsistency() {
        let mut c = Checker::default();
        let mut found = Vec::new();
        c.check(&snap(1, 0, false), "me", true, 0, |k| found.push(k));
        c.check(&snap(2, 3, true), "me", true, 5, |k| found.push(k));
        assert!(found.is_empty(), "{found:?}");
        c.check(&snap(2, 2, false), "me", true, 5, |k| found.push(k));
        c.check(&snap(3, 9, true), "me", true, 5, |k| found.push(k));
        assert_eq!(
            found,
            [
                "tick_not_increasing",
                "ack_went_back",
                "own_entity_missing",
                "ack_beyond_sent"
            ]
        );
        assert_eq!(c.last_ack(), 9);
    }
}
