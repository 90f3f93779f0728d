//! The stock command line: every flag, environment variable, probe and page of
//! `tickroom-server`, for any set of games. A game's own server binary is one call:
//!
//! ```no_run
//! # #[cfg(feature = "demo-games")]
//! fn main() -> anyhow::Result<()> {
//!     // Your games instead of the demo ones: `Catalog::new().with(MyGame)`.
//!     tickroom_server::cli::run(tickroom_games::builtin())
//! }
//! # #[cfg(not(feature = "demo-games"))]
//! # fn main() {}
//! ```
//!
//! [`run`] parses the command line (`serve`, the default, `mint-token`, `input-types` and
//! `replay`), sets up logging,
//! raises the descriptor limit, binds, and serves until SIGINT or SIGTERM, then drains.
//! [`Cli`] is the same for an embedder that owns its tokio runtime or its arguments
//! (`Cli::parse_from(args)`, then [`Cli::run`]).
//!
//! # Layout
//! - `args`: [`ServeArgs`] and [`LogArgs`], the flags and variables mapped onto [`Config`].

mod args;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tickroom_engine::Catalog;
use tickroom_shared::input::InputSchema;
use tickroom_shared::{MatchClaims, Role, TokenKey};
use tokio_util::sync::CancellationToken;

pub use args::{LogArgs, ServeArgs};

use crate::{Server, ServerBuilder};

/// The command line of a Tickroom server binary: a subcommand (`serve` when none is given),
/// every serve setting ([`ServeArgs`]) and how to log ([`LogArgs`]).
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Authoritative game room server over Socket.IO + MessagePack"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The serve settings (also read by `mint-token` for the token secret and issuer).
    #[command(flatten)]
    pub config: ServeArgs,
    /// How to log.
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
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
    /// Re-run a recorded match from its command log (`GET /admin/results/{id}/recording`,
    /// docs/REPLAY.md) and check every checksum in it: exit 0 when the replay is bit-exact,
    /// 1 with the tick where it diverged.
    Replay {
        /// The log file.
        file: std::path::PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a TypeScript module declaring each game's input type (its `#[derive(Input)]`)
    /// and its schema, for `@tickroom/client`'s `inputSchema` option.
    InputTypes {
        /// Print only the schemas, by game name, as JSON (for plain JavaScript pages).
        #[arg(long)]
        json: bool,
    },
}

/// Each game's input schema, by game name.
fn schemas(catalog: &Catalog) -> Vec<(&'static str, &InputSchema)> {
    catalog
        .names()
        .filter_map(|name| Some((name, catalog.input_schema(name)?)))
        .collect()
}

/// The TypeScript module `input-types` prints; an error when two games' different input
/// types share a name.
pub fn input_types(catalog: &Catalog) -> anyhow::Result<String> {
    tickroom_shared::input::typescript_module(&schemas(catalog)).map_err(anyhow::Error::msg)
}

/// Each game's input schema by game name, as JSON: what `input-types --json` prints.
pub fn input_schemas_json(catalog: &Catalog) -> String {
    tickroom_shared::input::schemas_json(&schemas(catalog))
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "player" => Ok(Role::Player),
        "spectator" => Ok(Role::Spectator),
        _ => Err("expected `player` or `spectator`".into()),
    }
}

/// Parses the process's command line and runs it with `catalog` on a new multi-threaded
/// tokio runtime: the whole `main` of a game's server binary. Help and usage errors print
/// and exit as clap does; the usage line names the binary that was run.
pub fn run(catalog: Catalog) -> anyhow::Result<()> {
    run_with(catalog, |server| server)
}

/// [`run`], with `customize` applied to the [`ServerBuilder`] before it is built: to serve a
/// game's own page beside the stock ones (`|server| server.routes(my_pages)`).
pub fn run_with(
    catalog: Catalog,
    customize: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?
        .block_on(cli.run_with(catalog, customize))
}

impl Cli {
    /// Runs the command with `catalog`'s games: serves until SIGINT or SIGTERM (a second
    /// signal exits at once), or prints a token. Call it inside a tokio runtime.
    pub async fn run(self, catalog: Catalog) -> anyhow::Result<()> {
        self.run_with(catalog, |server| server).await
    }

    /// [`run`](Self::run), with `customize` applied to the [`ServerBuilder`] before it is
    /// built.
    pub async fn run_with(
        self,
        catalog: Catalog,
        customize: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> anyhow::Result<()> {
        let command = self.command.unwrap_or(Command::Serve);
        if let Command::InputTypes { json } = command {
            if json {
                println!("{}", input_schemas_json(&catalog));
            } else {
                print!("{}", input_types(&catalog)?);
            }
            return Ok(());
        }
        if let Command::Replay { file, json } = command {
            return replay(&catalog, &file, json);
        }
        let config = self.config.into_config()?;
        match command {
            Command::InputTypes { .. } | Command::Replay { .. } => unreachable!("done above"),
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
            Command::Serve => {
                serve(customize(Server::builder(config).games(catalog)), self.log).await
            }
        }
    }
}

/// `replay FILE`: replays the log with the catalog's game of its name and prints the report.
fn replay(catalog: &Catalog, file: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let log = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let r = catalog.replay(&log)?;
    if json {
        let report = serde_json::json!({
            "ok": true,
            "game": r.header.game,
            "match_id": r.header.match_id,
            "seed": r.header.config.seed,
            "tick_rate": r.header.config.tick_rate,
            "ticks": r.ticks,
            "inputs": r.inputs,
            "joins": r.joins,
            "checksums": r.checksums,
            "end": r.end,
            "final_checksum": format!("{:#018x}", r.final_checksum),
        });
        println!("{report}");
    } else {
        println!(
            "{} match {}: {} ticks, {} inputs, {} checksums equal, {}; final checksum {:#018x}",
            r.header.game,
            r.header.match_id,
            r.ticks,
            r.inputs,
            r.checksums,
            r.end
                .as_deref()
                .map_or("no end recorded (cut short)".to_owned(), |e| format!(
                    "ended: {e}"
                )),
            r.final_checksum
        );
    }
    Ok(())
}

async fn serve(server: ServerBuilder, log: LogArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.log_level))
        .with_context(|| format!("--log-level {:?} is not a level or filter", log.log_level))?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    // `try_init`: an embedder that set up its own subscriber keeps it.
    let _ = if log.log_format == "json" {
        logs.json().try_init()
    } else {
        // Colour codes only for a terminal, never in a file or a log collector.
        logs.with_ansi(std::io::stdout().is_terminal()).try_init()
    };
    let config = server.config();
    if config.auth.uses_dev_keys() {
        tracing::warn!(
            "using the development admin key and token secret (loopback only); set TICKROOM_ADMIN_KEY and TICKROOM_TOKEN_SECRET for anything else"
        );
    }
    match crate::raise_fd_limit() {
        Ok(limit) => tracing::info!(limit, "file descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
    let addr = config.addr;
    let drain = config.shutdown.drain;
    let server = server.build()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A server with no game refuses to build, with an error that says what to do.
    #[tokio::test]
    async fn a_server_without_games_refuses_to_build() {
        let err = Server::builder(crate::Config::default())
            .games(Catalog::new())
            .build()
            .unwrap_err();
        assert!(matches!(err, crate::ServeError::NoGames), "{err}");
        assert!(err.to_string().contains(".games(catalog)"), "{err}");
    }

    /// `mint-token` and the serve flags parse from a command line, as the binary's do.
    #[test]
    fn the_command_line_parses() {
        let cli = Cli::try_parse_from([
            "my-game",
            "--max-rooms",
            "3",
            "mint-token",
            "--match",
            "m",
            "--player",
            "p",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::MintToken { .. })));
        assert_eq!(cli.config.into_config().unwrap().matches.max_rooms, 3);
    }
}
