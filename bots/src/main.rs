//! `tickroom-bots`: joins headless arena bots to a match and prints what they receive.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tickroom_bots::admin::AdminClient;
use tickroom_bots::bot::{self, BotConfig};
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
}

#[derive(clap::Args)]
struct JoinArgs {
    /// Server base URL.
    #[arg(long, env = "TICKROOM_SERVER", default_value = "http://127.0.0.1:7350")]
    server: String,
    /// Admin key, to create the match and mint tokens.
    #[arg(
        long,
        env = "TICKROOM_ADMIN_KEY",
        default_value = "dev-admin-key",
        hide_env_values = true
    )]
    admin_key: String,
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
    }
}

async fn join(args: JoinArgs) -> anyhow::Result<()> {
    let tokens = if args.tokens.is_empty() {
        let admin = AdminClient::new(&args.server, &args.admin_key);
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
            server: args.server.clone(),
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
