//! The `tickroom-server` binary: parses configuration, sets up logging, binds, and serves until
//! SIGINT or SIGTERM. `mint-token` signs a match token for testing and for game backends.

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tickroom_server::{Config, Server};
use tickroom_shared::{MatchClaims, Role, TokenKey};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "tickroom-server",
    version,
    about = "Authoritative game room server over Socket.IO + MessagePack"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: cli::ServeArgs,
    #[command(flatten)]
    log: cli::LogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Print a signed match token (uses the same --token-secret / TICKROOM_TOKEN_SECRET).
    MintToken {
        /// The match the token admits to.
        #[arg(long = "match")]
        match_id: String,
        /// The player id.
        #[arg(long)]
        player: String,
        /// `player` or `spectator`.
        #[arg(long, default_value = "player", value_parser = parse_role)]
        role: Role,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Bind the token to this instance of the match (the `instance` the admin API shows):
        /// a match created again under the same id then refuses it (`token_stale`).
        #[arg(long)]
        instance: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "player" => Ok(Role::Player),
        "spectator" => Ok(Role::Spectator),
        _ => Err("expected `player` or `spectator`".into()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config.into_config()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::MintToken {
            match_id,
            player,
            role,
            ttl,
            instance,
        } => {
            let key = TokenKey::new(
                config.auth.token_secret.as_bytes(),
                config.auth.token_issuer.clone(),
            );
            let mut claims = MatchClaims::new(match_id, player, role, ttl, key.issuer());
            claims.instance = instance;
            let token = key.sign(&claims).context("cannot sign these claims")?;
            println!("{token}");
            Ok(())
        }
        Command::Serve => serve(config, cli.log).await,
    }
}

async fn serve(config: Config, log: cli::LogArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.log_level))
        .with_context(|| format!("--log-level {:?} is not a level or filter", log.log_level))?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if log.log_format == "json" {
        logs.json().init();
    } else {
        // Colour codes only for a terminal, never in a file or a log collector.
        logs.with_ansi(std::io::stdout().is_terminal()).init();
    }
    if config.auth.uses_dev_keys() {
        tracing::warn!(
            "using the development admin key and token secret (loopback only); set TICKROOM_ADMIN_KEY and TICKROOM_TOKEN_SECRET for anything else"
        );
    }
    match tickroom_server::raise_fd_limit() {
        Ok(limit) => tracing::info!(limit, "file descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
    let addr = config.addr;
    let drain = config.shutdown.drain;
    let server = Server::builder(config).build()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signals(shutdown.clone(), drain));
    server.serve(listener, shutdown).await?;
    Ok(())
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM; a second signal exits at once.
async fn wait_for_signals(shutdown: CancellationToken, drain: std::time::Duration) {
    signal().await;
    tracing::info!(
        "signal received: shutting down; running matches get up to {drain:?} to finish \
         (--drain-secs) — send the signal again (Ctrl-C) to exit at once"
    );
    shutdown.cancel();
    signal().await;
    std::process::exit(130);
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
