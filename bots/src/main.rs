//! `tickroom-bots`: joins headless arena bots to a match and prints what they receive.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tickroom_bots::bot::{self, BotConfig};
use tickroom_bots::swarm;
use tickroom_client::admin::AdminClient;
use tickroom_shared::Role;

#[derive(Parser)]
#[command(name = "tickroom-bots", version, about = "Headless Tickroom bots")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Join N bots to a match (created through the admin API unless --match or --token is
    /// given), play for a while, and print what they received.
    Join(JoinArgs),
    /// Load-test: fill R rooms with P player bots (+ spectators), send inputs on a fixed
    /// clock, and report latency, rates, errors by cause and the bots' own CPU.
    Swarm(SwarmArgs),
}

/// Which server, and the admin key to create matches and mint tokens with.
#[derive(clap::Args)]
struct Target {
    /// Server base URL.
    #[arg(long, env = "TICKROOM_SERVER", default_value = "http://127.0.0.1:7350")]
    server: String,
    /// Admin key.
    #[arg(
        long,
        env = "TICKROOM_ADMIN_KEY",
        default_value = "dev-admin-key",
        hide_env_values = true
    )]
    admin_key: String,
}

#[derive(clap::Args)]
struct SwarmArgs {
    #[command(flatten)]
    target: Target,
    /// The game of the matches to create or matchmake: `arena_large` has a map that grows with
    /// the room and interest management, for rooms of hundreds (`--players 500`).
    #[arg(long, value_enum, default_value_t = swarm::ArenaGame::Arena)]
    game: swarm::ArenaGame,
    /// Rooms (matches) to create.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Player bots per room.
    #[arg(long, default_value_t = 8)]
    players: usize,
    /// Spectator bots per room.
    #[arg(long, default_value_t = 0)]
    spectators: usize,
    /// Tick rate of the created matches (default: the server's).
    #[arg(long)]
    tick_rate: Option<u32>,
    /// Use these tokens instead of creating matches (one bot per token).
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Read tokens from this file, one per line, instead of creating matches.
    #[arg(long)]
    tokens_file: Option<std::path::PathBuf>,
    /// Inputs per second per player bot (default: the match's tick rate).
    #[arg(long)]
    input_rate: Option<u32>,
    /// How player bots play.
    #[arg(long, value_enum, default_value_t = swarm::Behaviour::RandomWalk)]
    behaviour: swarm::Behaviour,
    /// Seconds over which bots start, evenly spread.
    #[arg(long, default_value_t = 2.0)]
    ramp_up: f64,
    /// Seconds every bot plays after the ramp-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seed of the bots' randomness.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Every bot drops its connection (as a network drop) this often, in seconds, and
    /// reconnects with the same token, taking its held seat back.
    #[arg(long)]
    reconnect_every: Option<f64>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "tickroom-swarm-report.json")]
    json: std::path::PathBuf,
    /// Exit with status 1 if anything was counted as an error (error events included).
    #[arg(long)]
    strict: bool,
    /// Exit 0 even if some bots could not join (by default that is status 1).
    #[arg(long)]
    allow_failures: bool,
    /// Let every player bot find its seat through the matchmaking API (`join-or-create` of
    /// `--game` matches of `--players` seats) as it starts, instead of creating matches through
    /// the admin API: a realistic join storm; the report gives request→seated latency and
    /// seats per second.
    #[arg(long, conflicts_with_all = ["tokens", "tokens_file"])]
    matchmaking: bool,
    /// With `--matchmaking`: sign each bot's player token with this HS256 secret (the
    /// server's `--player-token-secret`); anonymous bots without it.
    #[arg(
        long,
        env = "TICKROOM_PLAYER_TOKEN_SECRET",
        hide_env_values = true,
        requires = "matchmaking"
    )]
    player_secret: Option<String>,
}

#[derive(clap::Args)]
struct JoinArgs {
    #[command(flatten)]
    target: Target,
    /// Join this existing match instead of creating one.
    #[arg(long = "match")]
    match_id: Option<String>,
    /// Game of the match to create.
    #[arg(long, default_value = "arena")]
    game: String,
    /// Player bots to join (ids bot-1, bot-2, ...).
    #[arg(long, default_value_t = 2)]
    bots: usize,
    /// Spectators to join as well.
    #[arg(long, default_value_t = 0)]
    spectators: usize,
    /// Use these tokens instead of minting (one bot per token; no admin key needed).
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Seconds to play.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Inputs per second per bot (default: the match's tick rate).
    #[arg(long)]
    input_rate: Option<u32>,
    /// Print every snapshot every bot receives.
    #[arg(long, short)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli { command } = Cli::parse();
    match command {
        Command::Join(args) => join(args).await,
        Command::Swarm(args) => run_swarm(args).await,
    }
}

async fn run_swarm(args: SwarmArgs) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};

    let mut given = args.tokens.clone();
    if let Some(path) = &args.tokens_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        given.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    let secs = |s: f64, name: &str| {
        Duration::try_from_secs_f64(s)
            .with_context(|| format!("--{name} must be a non-negative number of seconds"))
    };
    let cfg = swarm::SwarmConfig {
        server: args.target.server.clone(),
        rooms: args.rooms,
        players: args.players,
        spectators: args.spectators,
        game: args.game,
        tokens: if args.matchmaking {
            if args.spectators > 0 {
                bail!("--matchmaking seats players only: drop --spectators");
            }
            swarm::Tokens::Matchmaking {
                player_secret: args.player_secret.clone(),
            }
        } else if given.is_empty() {
            swarm::Tokens::Create {
                admin_key: args.target.admin_key.clone(),
                tick_rate: args.tick_rate,
            }
        } else {
            swarm::Tokens::Given(given)
        },
        input_rate: args.input_rate,
        behaviour: args.behaviour,
        ramp_up: secs(args.ramp_up, "ramp-up")?,
        duration: secs(args.duration, "duration")?,
        seed: args.seed,
        reconnect_every: args.reconnect_every.map(Duration::from_secs_f64),
    };
    let tokens = swarm::prepare_seats(&cfg)
        .await
        .context("preparing matches and tokens")?;
    if tokens.is_empty() {
        bail!("nothing to do: no rooms, players or tokens");
    }
    let planned = tokens.len();
    eprintln!(
        "swarm: {planned} bots, behaviour {}, ramp-up {:.1} s, duration {:.1} s",
        cfg.behaviour.name(),
        args.ramp_up,
        args.duration
    );
    let stats = std::sync::Arc::new(tickroom_bots::report::Stats::default());
    let started = tokio::time::Instant::now();
    let live = {
        let stats = stats.clone();
        tokio::spawn(async move {
            let tty = std::io::stderr().is_terminal();
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.tick().await;
            let mut last = (0, 0, tokio::time::Instant::now());
            loop {
                every.tick().await;
                let line = swarm::progress_line(&stats, planned, started.elapsed(), &mut last);
                let mut err = std::io::stderr().lock();
                let _ = if tty {
                    write!(err, "\r\x1b[2K{line}")
                } else {
                    writeln!(err, "{line}")
                };
                let _ = err.flush();
            }
        })
    };
    let report = swarm::run(&cfg, tokens, stats).await;
    live.abort();
    eprintln!();
    println!("{}", report.table());
    std::fs::write(&args.json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", args.json.display()))?;
    println!("report written to {}", args.json.display());
    if report.bots.joined == 0 {
        bail!("no bot could join");
    }
    if let Err(why) = swarm::verdict(&report, args.allow_failures) {
        bail!(why);
    }
    if args.strict && report.errors.total() > 0 {
        bail!(
            "{} errors counted, {} bots failed",
            report.errors.total(),
            report.bots.failed
        );
    }
    Ok(())
}

async fn join(args: JoinArgs) -> anyhow::Result<()> {
    let tokens = if args.tokens.is_empty() {
        let admin = AdminClient::new(&args.target.server, &args.target.admin_key);
        let match_id = match &args.match_id {
            Some(id) => id.clone(),
            None => {
                let players = u32::try_from(args.bots.max(1)).unwrap_or(u32::MAX);
                let m = admin
                    .create_match(&args.game, None, Some(players))
                    .await
                    .context("creating a match through the admin API")?;
                println!(
                    "created match {} (game {}, {} Hz, {} seats)",
                    m.id, m.game, m.tick_rate, m.max_players
                );
                m.id
            }
        };
        let mut tokens = Vec::new();
        for i in 1..=args.bots {
            let t = admin
                .mint(&match_id, &format!("bot-{i}"), Role::Player)
                .await?;
            tokens.push(t.token);
        }
        for i in 1..=args.spectators {
            let t = admin
                .mint(&match_id, &format!("watcher-{i}"), Role::Spectator)
                .await?;
            tokens.push(t.token);
        }
        tokens
    } else {
        args.tokens.clone()
    };
    if tokens.is_empty() {
        bail!("nothing to do: --bots 0 and no --token");
    }

    let progress = bot::new_progress();
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let cfg = BotConfig {
            server: args.target.server.clone(),
            token,
            duration: Duration::from_secs(args.seconds),
            input_rate: args.input_rate,
            seed: bot::seed_for(i),
            verbose: args.verbose,
        };
        tasks.push(tokio::spawn(bot::run_bot(cfg, progress.clone())));
    }
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.tick().await;
            loop {
                every.tick().await;
                println!("{}", bot::progress_line(&progress, started.elapsed()));
            }
        })
    };

    let mut failed = 0;
    let mut reports = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await {
            Ok(Ok(r)) => reports.push(r),
            Ok(Err(e)) => {
                failed += 1;
                eprintln!("bot #{}: could not join: {e}", i + 1);
            }
            Err(e) => {
                failed += 1;
                eprintln!("bot #{}: crashed: {e}", i + 1);
            }
        }
    }
    ticker.abort();
    println!("--- {} bots, {} s ---", reports.len(), args.seconds);
    for r in &reports {
        println!("{}", bot::report_line(r));
        for v in &r.violations {
            println!("    violation: {v}");
        }
    }
    let violations: usize = reports.iter().map(|r| r.violations.len()).sum();
    if failed > 0 || violations > 0 {
        bail!("{failed} bots failed to join, {violations} consistency violations");
    }
    Ok(())
}
