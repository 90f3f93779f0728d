//! An arena bot: joins with a token, walks at random on a fixed input clock, and checks the
//! snapshots it receives (ticks increase, its acks never go back, its disc is present).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tickroom_shared::games::arena::{ArenaInput, ArenaState};
use tickroom_shared::{AuthPayload, InputMsg, PROTOCOL_VERSION, Role, Snapshot, Welcome, event};
use tokio::time::{Instant, MissedTickBehavior};

use crate::client::{Client, CloseReason, ConnectError, Incoming};

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

/// A tiny deterministic PRNG (xorshift64*): bots need variety, not cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A float in `-1..=1`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
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
                        Ok(Some(s)) => observe(&mut report, &me, is_player, &s, cfg.verbose),
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

fn observe(r: &mut BotReport, me: &str, is_player: bool, s: &Snapshot<ArenaState>, verbose: bool) {
    if r.snapshots > 0 {
        if s.tick <= r.ticks.1 {
            r.violations
                .push(format!("tick went from {} to {}", r.ticks.1, s.tick));
        } else {
            r.missed_ticks += s.tick - r.ticks.1 - 1;
        }
    } else {
        r.ticks.0 = s.tick;
    }
    r.ticks.1 = s.tick;
    r.snapshots += 1;
    r.players_seen = s.state.players.len();
    if is_player {
        let ack = s.acks.get(me).copied().unwrap_or(0);
        if ack < r.last_ack {
            r.violations
                .push(format!("ack went back from {} to {ack}", r.last_ack));
        }
        if ack > r.inputs_sent {
            r.violations.push(format!(
                "ack {ack} is beyond the {} inputs sent",
                r.inputs_sent
            ));
        }
        r.last_ack = ack;
        // The entity appears at the tick after the join is processed; after that it must stay.
        match s.state.player(me) {
            Some(p) => r.position = Some((p.x, p.y)),
            None if r.position.is_some() => r
                .violations
                .push(format!("own disc missing at tick {}", s.tick)),
            None => {}
        }
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
