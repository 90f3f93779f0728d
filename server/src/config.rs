//! Server configuration: every limit and default in one place, settable by flag or env var.

use std::net::SocketAddr;
use std::time::Duration;

/// Address the server listens on by default: loopback only, so the development secrets below
/// are never reachable from another machine.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7350";
/// Development admin key, accepted only while the server listens on loopback.
pub const DEV_ADMIN_KEY: &str = "dev-admin-key";
/// Development token secret, accepted only while the server listens on loopback.
pub const DEV_TOKEN_SECRET: &str = "dev-token-secret-change-me";
/// Default token issuer.
pub const DEFAULT_ISSUER: &str = "tickroom";

/// Half the cores (rounded up) tick rooms, the rest do socket work, which costs more per
/// player; on a single core (or a process pinned to one) a second runtime only adds thread
/// hops to every snapshot, so rooms share the I/O runtime there.
fn default_sim_threads() -> usize {
    match std::thread::available_parallelism().map_or(1, std::num::NonZero::get) {
        0 | 1 => 0,
        n => n.div_ceil(2),
    }
}

/// Everything the server can be told at start-up. `Default` gives the documented defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "TICKROOM_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: SocketAddr,

    /// Admin API key (sent as `Authorization: Bearer <key>`). The development default is
    /// refused unless the server listens on a loopback address.
    #[arg(long, env = "TICKROOM_ADMIN_KEY", default_value = DEV_ADMIN_KEY, hide_env_values = true)]
    pub admin_key: String,

    /// HS256 secret that signs match tokens (at least 32 bytes outside loopback). The
    /// development default is refused unless the server listens on a loopback address.
    #[arg(long, env = "TICKROOM_TOKEN_SECRET", default_value = DEV_TOKEN_SECRET, hide_env_values = true)]
    pub token_secret: String,

    /// Issuer that tokens must carry (`iss`).
    #[arg(long, env = "TICKROOM_TOKEN_ISSUER", default_value = DEFAULT_ISSUER)]
    pub token_issuer: String,

    /// Lifetime of tokens minted by the admin API when the request names none, in seconds.
    #[arg(long, env = "TICKROOM_TOKEN_TTL", default_value_t = 3600)]
    pub token_ttl_secs: u64,

    /// Tick rate of matches created without one, in Hz.
    #[arg(long, env = "TICKROOM_TICK_RATE", default_value_t = 30)]
    pub default_tick_rate: u32,

    /// Player seats of matches created without a number.
    #[arg(long, env = "TICKROOM_MAX_PLAYERS", default_value_t = 8)]
    pub default_max_players: u32,

    /// Spectator connections per match.
    #[arg(long, env = "TICKROOM_MAX_SPECTATORS", default_value_t = 16)]
    pub max_spectators: u32,

    /// Matches this node runs at once; creating one more is refused with `room_limit`.
    #[arg(long, env = "TICKROOM_MAX_ROOMS", default_value_t = 1000)]
    pub max_rooms: usize,

    /// Inputs per player that may wait for their tick; more are dropped and counted.
    #[arg(long, env = "TICKROOM_INPUT_BUFFER", default_value_t = 16)]
    pub input_buffer: usize,

    /// Inputs per player that may stay queued after a tick; a longer queue is caught up at
    /// once, bounding input-to-ack latency to `max_input_lag + 1` ticks. 0 (the default):
    /// every input waiting at a tick is applied in it.
    #[arg(long, env = "TICKROOM_MAX_INPUT_LAG", default_value_t = 0)]
    pub max_input_lag: usize,

    /// Ticks between snapshot keyframes; deltas in between (0: one keyframe a second, i.e.
    /// the match's tick rate; 1: every snapshot is a keyframe). A keyframe also follows every
    /// join.
    #[arg(long, env = "TICKROOM_KEYFRAME_INTERVAL", default_value_t = 0)]
    pub keyframe_interval: u32,

    /// Threads that tick rooms (0: share the I/O runtime's threads). Default: half the cores
    /// available to the process, or 0 when it has only one.
    #[arg(long, env = "TICKROOM_SIM_THREADS", default_value_t = default_sim_threads())]
    pub sim_threads: usize,

    /// Seconds a dropped player's seat and entity are held for a reconnection (0: give the
    /// seat up at once).
    #[arg(long, env = "TICKROOM_SEAT_GRACE_SECS", default_value_t = 30)]
    pub seat_grace_secs: u64,

    /// Seconds a room may have no seated player (from creation, or since the last one left)
    /// before it ends as `abandoned`.
    #[arg(long, env = "TICKROOM_EMPTY_ROOM_GRACE_SECS", default_value_t = 60)]
    pub empty_room_grace_secs: u64,

    /// Seconds an ended match stays visible in the admin API (state `ended`) before it is
    /// forgotten. Matches ended through the admin API are forgotten at once.
    #[arg(long, env = "TICKROOM_ENDED_RETENTION_SECS", default_value_t = 30)]
    pub ended_retention_secs: u64,

    /// Inputs from all players of a room that may wait for the next tick; more are refused
    /// with `inbox_full`.
    #[arg(long, env = "TICKROOM_ROOM_INBOX", default_value_t = 1024)]
    pub room_inbox: usize,

    /// Sustained inputs per second allowed per player.
    #[arg(long, env = "TICKROOM_INPUT_RATE", default_value_t = 60)]
    pub input_rate: u32,

    /// Inputs a player may send in a burst above the sustained rate.
    #[arg(long, env = "TICKROOM_INPUT_BURST", default_value_t = 30)]
    pub input_burst: u32,

    /// Socket.IO handshakes (CONNECT) allowed per second from one IP address, sustained.
    #[arg(long, env = "TICKROOM_HANDSHAKE_RATE", default_value_t = 5)]
    pub handshake_rate: u32,

    /// Handshakes one IP address may make in a burst above that rate.
    #[arg(long, env = "TICKROOM_HANDSHAKE_BURST", default_value_t = 20)]
    pub handshake_burst: u32,

    /// Events other than `input` (unknown ones included) allowed per second per connection.
    #[arg(long, env = "TICKROOM_EVENT_RATE", default_value_t = 10)]
    pub event_rate: u32,

    /// Messages a connection may have dropped by the rate limits within 10 s before it is
    /// disconnected with `too_many_dropped` (0: never).
    #[arg(long, env = "TICKROOM_ABUSE_DROP_LIMIT", default_value_t = 600)]
    pub abuse_drop_limit: u32,

    /// Take the client address from the first `X-Forwarded-For` entry (only behind a proxy
    /// that sets it).
    #[arg(long, env = "TICKROOM_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Browser origins allowed to connect, comma-separated (e.g.
    /// `https://game.example,https://beta.example`); empty allows any. Requests without an
    /// `Origin` header (native clients, bots) are not affected.
    #[arg(
        long,
        env = "TICKROOM_ALLOWED_ORIGINS",
        default_value = "",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// PEM certificate chain: serve HTTPS and WSS directly (with `--tls-key`).
    #[arg(long, env = "TICKROOM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "TICKROOM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Largest incoming message, in bytes, on both WebSocket and HTTP long-polling.
    #[arg(long, env = "TICKROOM_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024)]
    pub max_message_bytes: usize,

    /// Outgoing packets buffered per connection before further ones are dropped.
    #[arg(long, env = "TICKROOM_SOCKET_BUFFER", default_value_t = 128)]
    pub socket_buffer: usize,

    /// How long data sent to a client may stay unacknowledged before the connection is
    /// dropped (TCP_USER_TIMEOUT, Linux), in milliseconds: a client that stops reading is cut
    /// off after this, instead of holding a stuck writer forever.
    #[arg(long, env = "TICKROOM_WRITE_TIMEOUT_MS", default_value_t = 10_000)]
    pub write_timeout_ms: u64,

    /// Time a client has to send a request's headers, in milliseconds: idle or half-sent
    /// requests (slowloris) are closed after it.
    #[arg(
        long,
        env = "TICKROOM_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub header_read_timeout_ms: u64,

    /// Time a client has to complete the Socket.IO handshake, in milliseconds.
    #[arg(long, env = "TICKROOM_CONNECT_TIMEOUT_MS", default_value_t = 5_000)]
    pub connect_timeout_ms: u64,

    /// Engine.IO ping interval, in milliseconds.
    #[arg(long, env = "TICKROOM_PING_INTERVAL_MS", default_value_t = 25_000)]
    pub ping_interval_ms: u64,

    /// Engine.IO ping timeout, in milliseconds.
    #[arg(long, env = "TICKROOM_PING_TIMEOUT_MS", default_value_t = 20_000)]
    pub ping_timeout_ms: u64,

    /// Seconds running matches get to finish after SIGTERM/SIGINT before they are ended with
    /// reason `shutdown`. New connections and matches are refused meanwhile.
    #[arg(long, env = "TICKROOM_DRAIN_SECS", default_value_t = 30)]
    pub drain_secs: u64,

    /// SQLite file where ended matches' results are kept (`:memory:` keeps them only while the
    /// server runs).
    #[arg(
        long,
        env = "TICKROOM_RESULTS_DB",
        default_value = "tickroom-results.sqlite3"
    )]
    pub results_db: std::path::PathBuf,

    /// Time given to connections and rooms to close at shutdown, in milliseconds.
    #[arg(long, env = "TICKROOM_SHUTDOWN_TIMEOUT_MS", default_value_t = 5_000)]
    pub shutdown_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        // One source of truth for defaults: parse an empty command line.
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        Wrapper::parse_from(["tickroom-server"]).config
    }
}

/// A configuration that must not be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Development secrets on a non-loopback address.
    #[error(
        "refusing to listen on {0} with the development admin key or token secret: set TICKROOM_ADMIN_KEY and TICKROOM_TOKEN_SECRET"
    )]
    DevSecretsExposed(SocketAddr),
    /// A secret too short to be safe outside loopback.
    #[error("TICKROOM_TOKEN_SECRET must be at least 32 bytes when listening on {0}")]
    WeakSecret(SocketAddr),
    /// A value outside its range.
    #[error("{0}")]
    Invalid(&'static str),
}

impl Config {
    /// Checks the configuration for `addr`, the address actually bound.
    pub fn validate(&self, addr: SocketAddr) -> Result<(), ConfigError> {
        if !addr.ip().is_loopback() {
            if self.admin_key == DEV_ADMIN_KEY || self.token_secret == DEV_TOKEN_SECRET {
                return Err(ConfigError::DevSecretsExposed(addr));
            }
            if self.token_secret.len() < 32 {
                return Err(ConfigError::WeakSecret(addr));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid("--tls-cert and --tls-key go together"));
        }
        if self.admin_key.is_empty() || self.token_secret.is_empty() {
            return Err(ConfigError::Invalid(
                "admin key and token secret must not be empty",
            ));
        }
        if self.max_message_bytes < 256 {
            return Err(ConfigError::Invalid(
                "max_message_bytes must be at least 256",
            ));
        }
        if self.input_rate == 0 || self.input_burst == 0 {
            return Err(ConfigError::Invalid(
                "input_rate and input_burst must be positive",
            ));
        }
        if self.socket_buffer == 0 || self.room_inbox == 0 || self.input_buffer == 0 {
            return Err(ConfigError::Invalid("buffers must hold at least one item"));
        }
        Ok(())
    }

    /// [`Self::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// [`Self::shutdown_timeout_ms`] as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe_only_on_loopback() {
        let c = Config::default();
        assert_eq!(c.default_tick_rate, 30);
        assert!(c.validate("127.0.0.1:1".parse().unwrap()).is_ok());
        assert!(matches!(
            c.validate("0.0.0.0:1".parse().unwrap()),
            Err(ConfigError::DevSecretsExposed(_))
        ));
        let mut c2 = c.clone();
        c2.admin_key = "k".repeat(40);
        c2.token_secret = "short".into();
        assert!(matches!(
            c2.validate("0.0.0.0:1".parse().unwrap()),
            Err(ConfigError::WeakSecret(_))
        ));
        c2.token_secret = "s".repeat(32);
        assert!(c2.validate("0.0.0.0:1".parse().unwrap()).is_ok());
    }

    /// docs/CONFIGURATION.md lists every flag with its env var and default.
    #[test]
    fn every_setting_is_documented() {
        use clap::CommandFactory;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/CONFIGURATION.md"
        ))
        .unwrap();
        for arg in Wrapper::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `--{long}` |")))
                .unwrap_or_else(|| panic!("--{long} is not in docs/CONFIGURATION.md"));
            let env = arg.get_env().unwrap().to_str().unwrap();
            assert!(
                row.contains(&format!("`{env}`")),
                "{long}: env {env} not in {row}"
            );
            let Some(default) = arg.get_default_values().first().and_then(|d| d.to_str()) else {
                assert!(
                    row.contains("(none)"),
                    "{long}: no default, but the row does not say (none)"
                );
                continue;
            };
            if row.contains("half the number of cores")
                || (default.is_empty() && row.contains("(empty)"))
            {
                continue;
            }
            assert!(
                row.contains(&format!("`{default}`")),
                "{long}: default {default} not in {row}"
            );
        }
    }
}
