//! The bot swarm: R rooms × P players (+ spectators), inputs on a fixed clock, latency
//! measured against the scheduled send time, every anomaly counted by cause.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tickroom_games::arena::{ArenaInput, ArenaState, BUTTON_BOOST};
use tickroom_shared::{AuthPayload, ErrorCode, InputMsg, PROTOCOL_VERSION, Role, event};
use tokio::time::Instant;

use tickroom_client::admin::{AdminClient, AdminError};
use tickroom_client::matchmaking::{Matchmaker, Options};
use tickroom_client::{Client, CloseReason, ConnectError, Incoming, Rng};

use crate::bot::{Checker, seed_for};
use crate::report::{
    BotCounts, Cause, ProcessReport, ProcessUsage, Report, ReportConfig, Stats, Totals, get,
};

/// Inputs waiting for their acknowledgement, per bot; older ones are forgotten beyond this.
const MAX_PENDING: usize = 4096;
/// Inputs kept to send again after a move or a lost connection, per bot; older ones are
/// forgotten beyond this (counted as unacknowledged when the bot leaves, if still so).
const MAX_UNACKED: usize = 256;
/// How long after losing its connection a bot tries to rejoin its match.
const REJOIN_WINDOW: Duration = Duration::from_secs(30);
/// The wait between two tries to rejoin.
const REJOIN_RETRY: Duration = Duration::from_millis(200);
/// Redirects (`match_elsewhere`) and retries in a row before a bot gives up.
const MAX_REJOIN_ATTEMPTS: u32 = 200;
/// How long a bot waits, at the end of its run, for its last inputs' acknowledgement.
const SETTLE: Duration = Duration::from_secs(2);

/// What a bot's seat carries from one connection to the next.
#[derive(Debug, Default)]
struct SeatState {
    /// The last input `seq` the seat used.
    seq: u64,
    /// Inputs sent and not yet acknowledged, oldest first.
    unacked: VecDeque<(u32, ArenaInput)>,
    /// When the last snapshot of the match arrived, on any connection.
    last_snapshot: Option<Instant>,
}

/// Why a bot's connection stopped.
#[derive(Debug)]
enum SessionEnd {
    /// Its time came (the run's end, or `--reconnect-every`).
    Until,
    /// The match moved to the node at this URL.
    Moved(String),
    /// The connection was lost (its node went away, or the network).
    Lost,
    /// The server ended it: the match ended, the seat was taken over.
    Over,
}

/// Whether a bot that lost its connection tries again after `e`: the node may be down, or
/// the match not restored yet.
fn rejoinable(e: &ConnectError) -> bool {
    match e {
        ConnectError::Refused { code } => {
            code == ErrorCode::ServerBusy.as_str() || code == ErrorCode::MatchNotFound.as_str()
        }
        ConnectError::WebSocket(_) | ConnectError::Protocol(_) | ConnectError::Timeout => true,
        ConnectError::Elsewhere { .. } | ConnectError::BadUrl(_) => false,
    }
}

/// How a player bot plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// Walks in a random direction, changing about once a second.
    RandomWalk,
    /// Heads for the nearest other player.
    Chase,
    /// Seated but sends no input.
    Idle,
    /// Sends each second's inputs in a burst in its first quarter, boosted.
    Bursty,
}

/// Which of the arena games the swarm plays: both take the same input and send the same rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ArenaGame {
    /// "arena": a 100×100 map, every client sees its whole room.
    #[default]
    #[value(name = "arena")]
    Arena,
    /// "arena_large": a map that grows with the room, with interest management — each client
    /// is sent the discs near its own (about ten others); for rooms of hundreds (`--players 500`).
    #[value(name = "arena_large")]
    ArenaLarge,
}

impl ArenaGame {
    /// The game's name in the catalog.
    pub fn name(self) -> &'static str {
        match self {
            Self::Arena => tickroom_games::arena::NAME,
            Self::ArenaLarge => tickroom_games::arena::LARGE_NAME,
        }
    }
}

impl Behaviour {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::RandomWalk => "random-walk",
            Self::Chase => "chase",
            Self::Idle => "idle",
            Self::Bursty => "bursty",
        }
    }

    /// When input number `k` (0-based) is due, relative to the first, at `rate` per second.
    /// The clock is fixed in advance: a slow reply never delays the next input.
    pub fn schedule(self, k: u64, rate: u32) -> Duration {
        let rate = u64::from(rate.max(1));
        match self {
            Self::Bursty => {
                let (second, j) = (k / rate, k % rate);
                Duration::from_secs(second) + Duration::from_micros(250_000 * j / rate)
            }
            _ => Duration::from_micros(1_000_000 * k / rate),
        }
    }
}

/// Where the bots' tokens come from.
#[derive(Debug, Clone)]
pub enum Tokens {
    /// Create `rooms` matches of the swarm's game through the admin API and mint tokens.
    Create {
        /// Admin key.
        admin_key: String,
        /// Tick rate of the created matches (server default when `None`).
        tick_rate: Option<u32>,
    },
    /// Use these tokens (their roles come from the tokens).
    Given(Vec<String>),
    /// Every player bot finds its seat through matchmaking (`join-or-create` of matches of
    /// the swarm's game of `players` seats) when it starts: a realistic join storm.
    Matchmaking {
        /// HS256 secret to sign each bot's player token with (`sub` = `bot-<n>`); anonymous
        /// bots when `None` (a server with the development keys allows them).
        player_secret: Option<String>,
    },
}

/// How one bot gets into its match.
#[derive(Debug, Clone)]
pub enum Seat {
    /// With this match token.
    Token(String),
    /// With this match token, at the node of this URL (the match's, in a cluster).
    TokenAt(String, String),
    /// Through matchmaking, as the player of this player token (anonymous when `None`).
    Matchmake(Option<String>),
}

/// A swarm run.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// `http://host:port`.
    pub server: String,
    /// Rooms to fill (ignored with given tokens).
    pub rooms: usize,
    /// Player bots per room.
    pub players: usize,
    /// Spectator bots per room.
    pub spectators: usize,
    /// The game of the matches it creates or matchmakes (ignored with given tokens).
    pub game: ArenaGame,
    /// Token source.
    pub tokens: Tokens,
    /// Inputs per second per player (the match's tick rate when `None`).
    pub input_rate: Option<u32>,
    /// How players play.
    pub behaviour: Behaviour,
    /// Bots start spread evenly over this.
    pub ramp_up: Duration,
    /// How long every bot stays after the ramp-up ends.
    pub duration: Duration,
    /// Seed of the bots' randomness.
    pub seed: u64,
    /// Every bot drops its connection (no goodbye, as a network drop) this often and
    /// reconnects with the same token, taking its held seat back; `None`: never.
    pub reconnect_every: Option<Duration>,
}

/// Whether a run went well enough to exit 0: every bot joined, unless `allow_failures`. The
/// error says how many could not and why, and — when the server refused them for its limits —
/// which of its settings to raise.
pub fn verdict(report: &Report, allow_failures: bool) -> Result<(), String> {
    if report.bots.failed == 0 || allow_failures {
        return Ok(());
    }
    let limited = [
        "handshake_rate_limited",
        "too_many_connections",
        "server_busy",
    ]
    .iter()
    .any(|c| report.errors.refusals.contains_key(*c));
    let hint = if limited {
        "; the server refused them for its limits: raise its --handshake-rate/--handshake-burst, \
         --session-rate/--session-burst and --max-connections-per-ip (or run it with the \
         development keys on loopback, where those are off), or lengthen --ramp-up"
    } else {
        ""
    };
    Err(format!(
        "{} of {} bots could not join (refusals {:?}, connect failures {:?}){hint}; \
         --allow-failures to exit 0 anyway",
        report.bots.failed,
        report.bots.planned,
        report.errors.refusals,
        report.errors.connect_failures,
    ))
}

/// The seats of a run: `rooms` matches with `players` players and `spectators` spectators
/// each, made and minted through the admin API; or given tokens; or, with matchmaking,
/// `rooms × players` bots that will ask for their seats.
pub async fn prepare_seats(cfg: &SwarmConfig) -> Result<Vec<Seat>, AdminError> {
    let (admin_key, tick_rate) = match &cfg.tokens {
        Tokens::Create {
            admin_key,
            tick_rate,
        } => (admin_key, tick_rate),
        Tokens::Given(t) => return Ok(t.iter().cloned().map(Seat::Token).collect()),
        Tokens::Matchmaking { player_secret } => {
            return Ok((0..cfg.rooms * cfg.players)
                .map(|i| Seat::Matchmake(player_secret.as_deref().map(|s| player_token(s, i))))
                .collect());
        }
    };
    let admin = AdminClient::new(&cfg.server, admin_key);
    let seats = u32::try_from(cfg.players.max(1)).unwrap_or(u32::MAX);
    let mut tokens = Vec::with_capacity(cfg.rooms * (cfg.players + cfg.spectators));
    for _ in 0..cfg.rooms {
        let m = admin
            .create_match(cfg.game.name(), *tick_rate, Some(seats))
            .await?;
        // In a cluster the match may be on another node: its tokens are minted, and its bots
        // connect, there.
        let at = m.url.clone().unwrap_or_else(|| cfg.server.clone());
        let owner = AdminClient::new(&at, admin_key);
        let seat = |token: String| Seat::TokenAt(token, at.clone());
        for p in 0..cfg.players {
            let minted = owner.mint(&m.id, &format!("bot-{p}"), Role::Player).await?;
            tokens.push(seat(minted.token));
        }
        for s in 0..cfg.spectators {
            let minted = owner
                .mint(&m.id, &format!("watch-{s}"), Role::Spectator)
                .await?;
            tokens.push(seat(minted.token));
        }
    }
    Ok(tokens)
}

/// A player token for bot `i`, signed with the game's HS256 player secret.
fn player_token(secret: &str, i: usize) -> String {
    let claims = serde_json::json!({
        "sub": format!("bot-{i}"),
        "aud": "tickroom-player",
        "exp": tickroom_shared::token::unix_now() + 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

/// Runs the swarm with `tokens`, updating `stats` live, and returns the report.
pub async fn run(cfg: &SwarmConfig, tokens: Vec<Seat>, stats: Arc<Stats>) -> Report {
    let usage_before = ProcessUsage::read().unwrap_or_default();
    let started = Instant::now();
    let end = started + cfg.ramp_up + cfg.duration;
    let n = tokens.len();
    let mut tasks = Vec::with_capacity(n);
    for (i, token) in tokens.into_iter().enumerate() {
        let start_at = started + cfg.ramp_up.mul_f64(i as f64 / n.max(1) as f64);
        let bot = SwarmBot {
            server: cfg.server.clone(),
            seat: token,
            room_size: u32::try_from(cfg.players.max(1)).unwrap_or(u32::MAX),
            game: cfg.game,
            behaviour: cfg.behaviour,
            input_rate: cfg.input_rate,
            seed: cfg.seed ^ seed_for(i),
            start_at,
            end,
            reconnect_every: cfg.reconnect_every,
        };
        tasks.push(tokio::spawn(bot.run(stats.clone())));
    }
    let mut joined = 0u64;
    for t in tasks {
        if matches!(t.await, Ok(true)) {
            joined += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let usage = ProcessUsage::read().unwrap_or_default();
    let cpu = (usage.cpu_seconds - usage_before.cpu_seconds).max(0.0);
    let inputs = get(&stats.inputs);
    let snapshots = get(&stats.snapshots);
    Report {
        version: 1,
        config: ReportConfig {
            server: cfg.server.clone(),
            rooms: cfg.rooms,
            game: cfg.game.name().to_owned(),
            players_per_room: cfg.players,
            spectators_per_room: cfg.spectators,
            behaviour: cfg.behaviour.name().to_owned(),
            input_rate: cfg.input_rate.unwrap_or(0),
            ramp_up_secs: cfg.ramp_up.as_secs_f64(),
            duration_secs: cfg.duration.as_secs_f64(),
        },
        bots: BotCounts {
            planned: n as u64,
            joined,
            failed: n as u64 - joined,
        },
        totals: Totals {
            inputs_sent: inputs,
            snapshots_received: snapshots,
            snapshots_without_keyframe: get(&stats.without_keyframe),
            reconnects: get(&stats.reconnects),
            moves: get(&stats.moves),
            rejoins: get(&stats.rejoins),
            inputs_unacked: get(&stats.inputs_unacked),
            longest_snapshot_gap_ms: get(&stats.longest_gap_us) as f64 / 1000.0,
            inputs_per_sec: inputs as f64 / wall.max(1e-9),
            snapshots_per_sec: snapshots as f64 / wall.max(1e-9),
            wall_secs: wall,
            bytes_received: get(&stats.bytes_in),
            bytes_per_bot_per_sec: get(&stats.bytes_in) as f64
                / (joined.max(1) as f64 * wall.max(1e-9)),
            wire_bytes_received: get(&stats.wire_bytes_in),
            wire_bytes_per_bot_per_sec: get(&stats.wire_bytes_in) as f64
                / (joined.max(1) as f64 * wall.max(1e-9)),
            players_seen_per_snapshot: get(&stats.players_seen) as f64
                / snapshots
                    .saturating_sub(get(&stats.without_keyframe))
                    .max(1) as f64,
        },
        input_to_ack_us: stats.latency_summary(),
        snapshot_jitter_us: stats.jitter_summary(),
        errors: stats.errors(),
        matchmaking: stats.matchmaking_summary(),
        process: ProcessReport {
            cpu_seconds: cpu,
            cpu_percent_of_one_core: 100.0 * cpu / wall.max(1e-9),
            cpu_us_per_bot_second: 1e6 * cpu / (joined.max(1) as f64 * wall.max(1e-9)),
            max_rss_kib: usage.max_rss_kib,
        },
    }
}

struct SwarmBot {
    server: String,
    seat: Seat,
    /// Seats of the matches matchmaking finds.
    room_size: u32,
    /// The game matchmaking asks for.
    game: ArenaGame,
    behaviour: Behaviour,
    input_rate: Option<u32>,
    seed: u64,
    start_at: Instant,
    end: Instant,
    reconnect_every: Option<Duration>,
}

impl SwarmBot {
    /// Plays until `end`, reconnecting every `reconnect_every` if set; returns whether the
    /// bot joined.
    async fn run(self, stats: Arc<Stats>) -> bool {
        tokio::time::sleep_until(self.start_at).await;
        let asked = Instant::now();
        // Set while the bot's first welcome, the end of its matchmaking, is still to come.
        let mut matchmade = None;
        // Where to connect: the server, or the node a creation or a reservation names.
        let (token, first) = match &self.seat {
            Seat::Token(t) => (t.clone(), self.server.clone()),
            Seat::TokenAt(t, url) => (t.clone(), url.clone()),
            Seat::Matchmake(player) => {
                let options = Options {
                    max_players: Some(self.room_size),
                    ..Options::default()
                };
                match Matchmaker::new(&self.server, player.clone())
                    .join_or_create(self.game.name(), &options)
                    .await
                {
                    Ok(r) => {
                        matchmade = Some(asked);
                        (r.token, r.url)
                    }
                    Err(e) => {
                        let code = match &e {
                            AdminError::Api { code, .. } => code.as_str(),
                            AdminError::Http(_) => "http",
                        };
                        stats.count(Cause::Matchmaking, code);
                        return false;
                    }
                }
            }
        };
        let mut joined = false;
        let mut seat = SeatState::default();
        // Where the match is: where it was first, or the node it moved to; the server (the
        // entry) sends the bot on when that node is gone.
        let entry = &self.server;
        let mut at = first;
        // After a lost connection, until when the bot tries to rejoin.
        let mut rejoin_until: Option<Instant> = None;
        // The last connection was lost: the next one made is a rejoin.
        let mut lost = false;
        let mut attempt = 0u32;
        loop {
            let until = self
                .reconnect_every
                .map_or(self.end, |every| (Instant::now() + every).min(self.end));
            let (client, end) = match self
                .session(&at, &token, &stats, until, &mut seat, matchmade.take())
                .await
            {
                Ok(session) => session,
                // The node that has it now (a move, a restore): go there.
                Err(ConnectError::Elsewhere { url }) if attempt < MAX_REJOIN_ATTEMPTS => {
                    attempt += 1;
                    at = url;
                    continue;
                }
                Err(e)
                    if joined
                        && rejoinable(&e)
                        && rejoin_until.is_some_and(|t| Instant::now() < t.min(self.end)) =>
                {
                    attempt += 1;
                    // The node may be gone: the entry server sends the bot where the match
                    // went once it is there again.
                    at.clone_from(entry);
                    tokio::time::sleep(REJOIN_RETRY).await;
                    continue;
                }
                Err(e) => {
                    count_connect_error(&stats, &e);
                    return joined;
                }
            };
            attempt = 0;
            if lost {
                stats.rejoins.fetch_add(1, Ordering::Relaxed);
                lost = false;
            }
            rejoin_until = None;
            if !joined {
                stats.joined.fetch_add(1, Ordering::Relaxed);
                joined = true;
            }
            match end {
                SessionEnd::Until if until >= self.end => {
                    client.close().await;
                    return true;
                }
                SessionEnd::Until => {
                    // A network drop: the socket goes without a goodbye; the seat is held.
                    stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    drop(client);
                }
                SessionEnd::Moved(url) => {
                    stats.moves.fetch_add(1, Ordering::Relaxed);
                    at = url;
                    rejoin_until = Some(Instant::now() + REJOIN_WINDOW);
                    drop(client);
                }
                SessionEnd::Lost => {
                    lost = true;
                    rejoin_until = Some(Instant::now() + REJOIN_WINDOW);
                    drop(client);
                }
                SessionEnd::Over => {
                    client.close().await;
                    return true;
                }
            }
        }
    }

    /// One connection: connects, plays until `until` or until the connection ends, and
    /// returns the client still open and why it stopped. `seat` is what the seat's sequence
    /// needs across connections (docs/PROTOCOL.md, "input").
    async fn session(
        &self,
        server: &str,
        token: &str,
        stats: &Stats,
        until: Instant,
        seat: &mut SeatState,
        matchmade: Option<Instant>,
    ) -> Result<(Client, SessionEnd), ConnectError> {
        let auth = AuthPayload {
            token: token.to_owned(),
            match_id: None,
            protocol: Some(PROTOCOL_VERSION),
        };
        let mut client = Client::connect(server, &auth, Duration::from_secs(10)).await?;
        let welcome = match client
            .next_event(Duration::from_secs(10))
            .await
            .ok()
            .and_then(|e| e.welcome())
        {
            Some(w) => w,
            None => return Err(ConnectError::Protocol("no welcome".into())),
        };
        if let Some(asked) = matchmade {
            stats.record_seated(asked);
        }
        stats.connected.fetch_add(1, Ordering::Relaxed);
        let end = self.play(&mut client, &welcome, stats, until, seat).await;
        stats.connected.fetch_sub(1, Ordering::Relaxed);
        stats
            .bytes_in
            .fetch_add(client.bytes_received(), Ordering::Relaxed);
        stats
            .wire_bytes_in
            .fetch_add(client.wire_bytes_received(), Ordering::Relaxed);
        Ok((client, end))
    }

    async fn play(
        &self,
        client: &mut Client,
        welcome: &tickroom_shared::Welcome,
        stats: &Stats,
        until: Instant,
        seat: &mut SeatState,
    ) -> SessionEnd {
        let me = welcome.player_id.as_str();
        let acts = welcome.role == Role::Player && self.behaviour != Behaviour::Idle;
        let rate = self.input_rate.unwrap_or(welcome.tick_rate).max(1);
        let period = Duration::from_secs_f64(1.0 / f64::from(welcome.tick_rate.max(1)));
        let t0 = Instant::now();
        let seq_base = seat.seq;
        let mut rng = Rng::new(self.seed);
        let mut k: u64 = 0;
        let mut pending: VecDeque<(u32, Instant)> = VecDeque::new();
        let mut checker = Checker::default();
        // The latest state, for behaviours that look at the others.
        let mut state = ArenaState::default();
        let mut last_arrival: Option<Instant> = None;
        let mut dir = [rng.unit(), rng.unit()];
        // What the last connection sent and never saw acknowledged: sent again (the server
        // ignores what it already applied).
        for (seq, input) in &seat.unacked {
            if client
                .emit(
                    event::INPUT,
                    &InputMsg {
                        seq: *seq,
                        input: *input,
                    },
                )
                .await
                .is_err()
            {
                break;
            }
        }
        // Two timers for the bot's life, moved rather than created per loop turn: a turn per
        // snapshot and per input would otherwise register and cancel two timers each.
        let end = tokio::time::sleep_until(until);
        let mut due = t0 + self.behaviour.schedule(k, rate);
        let next_input = tokio::time::sleep_until(due);
        tokio::pin!(end, next_input);
        // Set once the run is over: the bot sends nothing more and waits a while for the
        // acknowledgement of what it sent.
        let mut settling = false;
        let why = loop {
            tokio::select! {
                () = &mut end => {
                    if settling || !acts || until < self.end || seat.unacked.is_empty() {
                        break SessionEnd::Until;
                    }
                    settling = true;
                    end.as_mut().reset(Instant::now() + SETTLE);
                }
                () = &mut next_input, if acts && !settling => {
                    let this_due = due;
                    k += 1;
                    due = t0 + self.behaviour.schedule(k, rate);
                    next_input.as_mut().reset(due);
                    let seq = u32::try_from(seq_base + k).unwrap_or(u32::MAX);
                    let input = self.next_input(&mut rng, &mut dir, k, rate, me, &state);
                    seat.seq = seq_base + k;
                    if seat.unacked.len() == MAX_UNACKED {
                        seat.unacked.pop_front();
                    }
                    seat.unacked.push_back((seq, input));
                    // Counted as sent: if it cannot go now, it goes with the unacknowledged
                    // after the next connection.
                    stats.inputs.fetch_add(1, Ordering::Relaxed);
                    if client.emit(event::INPUT, &InputMsg { seq, input }).await.is_err() {
                        continue;
                    }
                    if pending.len() == MAX_PENDING {
                        pending.pop_front();
                    }
                    // Latency counts from when the input was due, not when it left.
                    pending.push_back((seq, this_due));
                }
                msg = client.recv() => match msg {
                    Some(Incoming::Event(e)) if e.name == event::SNAPSHOT => {
                        let now = Instant::now();
                        stats.snapshots.fetch_add(1, Ordering::Relaxed);
                        if let Some(prev) = last_arrival {
                            let gap = now - prev;
                            stats.record_jitter(gap.abs_diff(period));
                        }
                        if let Some(prev) = seat.last_snapshot {
                            let gap = u64::try_from((now - prev).as_micros()).unwrap_or(u64::MAX);
                            stats.longest_gap_us.fetch_max(gap, Ordering::Relaxed);
                        }
                        last_arrival = Some(now);
                        seat.last_snapshot = Some(now);
                        let snap = match client.snapshot::<ArenaState>(&e) {
                            Ok(Some(snap)) => snap,
                            // a delta whose keyframe this connection does not have
                            Ok(None) => {
                                stats.without_keyframe.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            Err(_) => {
                                stats.count(Cause::Desync, "undecodable_snapshot");
                                continue;
                            }
                        };
                        let sent = u32::try_from(seat.seq).unwrap_or(u32::MAX);
                        checker.check(&snap, me, welcome.role == Role::Player, sent, |kind| {
                            stats.count(Cause::Desync, kind);
                        });
                        stats
                            .players_seen
                            .fetch_add(snap.state.players.len() as u64, Ordering::Relaxed);
                        state = snap.state;
                        let ack = checker.last_ack();
                        while seat.unacked.front().is_some_and(|(seq, _)| *seq <= ack) {
                            seat.unacked.pop_front();
                        }
                        while let Some(&(seq, due)) = pending.front() {
                            if seq > ack {
                                break;
                            }
                            stats.record_latency(now - due);
                            pending.pop_front();
                        }
                        if settling && seat.unacked.is_empty() {
                            break SessionEnd::Until;
                        }
                    }
                    Some(Incoming::Event(e)) => {
                        if let Some(moved) = e.moved() {
                            break SessionEnd::Moved(moved.url);
                        } else if let Some(err) = e.error() {
                            stats.count(Cause::ErrorEvent, &err.code);
                        } else if let Some(end) = e.match_end() {
                            stats.count(Cause::Disconnect, &format!("match_end_{:?}", end.reason).to_lowercase());
                        }
                    }
                    Some(Incoming::Closed(r)) => {
                        stats.count(Cause::Disconnect, close_cause(&r));
                        break match r {
                            CloseReason::Transport(_) | CloseReason::PingTimeout => SessionEnd::Lost,
                            CloseReason::ServerDisconnect | CloseReason::ClientClose => SessionEnd::Over,
                        };
                    }
                    // Closed already, by a send that failed: the connection was lost.
                    None => break SessionEnd::Lost,
                },
            }
        };
        if matches!(why, SessionEnd::Until) && until >= self.end && acts {
            stats
                .inputs_unacked
                .fetch_add(seat.unacked.len() as u64, Ordering::Relaxed);
        }
        why
    }

    fn next_input(
        &self,
        rng: &mut Rng,
        dir: &mut [f32; 2],
        k: u64,
        rate: u32,
        me: &str,
        state: &ArenaState,
    ) -> ArenaInput {
        match self.behaviour {
            Behaviour::RandomWalk | Behaviour::Idle => {
                if k.is_multiple_of(u64::from(rate)) {
                    *dir = [rng.unit(), rng.unit()];
                }
                ArenaInput {
                    dir: *dir,
                    buttons: 0,
                }
            }
            Behaviour::Bursty => {
                if k.is_multiple_of(u64::from(rate)) {
                    *dir = [rng.unit(), rng.unit()];
                }
                ArenaInput {
                    dir: *dir,
                    buttons: BUTTON_BOOST,
                }
            }
            Behaviour::Chase => {
                let Some(mine) = state.player(me) else {
                    return ArenaInput::default();
                };
                let target = state
                    .players
                    .iter()
                    .filter(|p| *p.id != *me)
                    .min_by(|a, b| {
                        let da = (a.x - mine.x).powi(2) + (a.y - mine.y).powi(2);
                        let db = (b.x - mine.x).powi(2) + (b.y - mine.y).powi(2);
                        da.total_cmp(&db)
                    });
                let Some(t) = target else {
                    return ArenaInput::default();
                };
                let (dx, dy) = (t.x - mine.x, t.y - mine.y);
                let len = (dx * dx + dy * dy).sqrt().max(1e-3);
                ArenaInput {
                    dir: [(dx / len).clamp(-1.0, 1.0), (dy / len).clamp(-1.0, 1.0)],
                    buttons: 0,
                }
            }
        }
    }
}

fn count_connect_error(stats: &Stats, e: &ConnectError) {
    match e {
        ConnectError::Refused { code } => stats.count(Cause::Refusal, code),
        ConnectError::Elsewhere { .. } => stats.count(Cause::Refusal, "match_elsewhere"),
        ConnectError::WebSocket(_) => stats.count(Cause::ConnectFailure, "websocket"),
        ConnectError::Protocol(_) => stats.count(Cause::ConnectFailure, "protocol"),
        ConnectError::Timeout => stats.count(Cause::ConnectFailure, "timeout"),
        ConnectError::BadUrl(_) => stats.count(Cause::ConnectFailure, "bad_url"),
    }
}

fn close_cause(r: &CloseReason) -> &'static str {
    match r {
        CloseReason::ServerDisconnect => "server_disconnect",
        CloseReason::Transport(_) => "transport",
        CloseReason::PingTimeout => "ping_timeout",
        CloseReason::ClientClose => "client_close",
    }
}

/// The live progress line.
pub fn progress_line(
    stats: &Stats,
    planned: usize,
    elapsed: Duration,
    last: &mut (u64, u64, Instant),
) -> String {
    let now = Instant::now();
    let dt = (now - last.2).as_secs_f64().max(1e-9);
    let inputs = get(&stats.inputs);
    let snaps = get(&stats.snapshots);
    let (ips, sps) = ((inputs - last.0) as f64 / dt, (snaps - last.1) as f64 / dt);
    *last = (inputs, snaps, now);
    let lat = stats.take_window().map_or_else(
        || "p50=- p99=-".to_owned(),
        |(p50, p99)| format!("p50={p50:.1}ms p99={p99:.1}ms"),
    );
    format!(
        "t={:>4.0}s connected={}/{} inputs/s={:.0} snapshots/s={:.0} ack {} errors={}",
        elapsed.as_secs_f64(),
        get(&stats.connected),
        planned,
        ips,
        sps,
        lat,
        stats.errors().total(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_fixed_clocks() {
        let r = Behaviour::RandomWalk;
        assert_eq!(r.schedule(0, 30), Duration::ZERO);
        assert_eq!(r.schedule(30, 30), Duration::from_secs(1));
        assert_eq!(r.schedule(45, 30), Duration::from_millis(1500));
        let b = Behaviour::Bursty;
        assert_eq!(b.schedule(30, 30), Duration::from_secs(1));
        assert!(b.schedule(29, 30) < Duration::from_millis(250));
        assert!(b.schedule(59, 30) < Duration::from_millis(1250));
    }
}
