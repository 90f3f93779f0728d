//! The stock flags and environment variables, mapped onto [`Config`]. The only place the
//! command line and the environment are read; defaults come from `Config::default()`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use crate::config::{
    AuthConfig, ClusterConfig, Config, LimitConfig, MatchConfig, MatchmakingConfig, NetConfig,
    PlayerKeySource, ShutdownConfig, TlsFiles,
};

static DEFAULTS: LazyLock<Config> = LazyLock::new(Config::default);
static CLUSTER_DEFAULTS: LazyLock<ClusterConfig> = LazyLock::new(|| ClusterConfig::new(""));

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How the binary logs (not part of [`Config`]: an embedder sets up its own logging).
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log lines as `text` (for people) or `json` (one object a line, for collectors).
    #[arg(long, env = "TICKROOM_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Least severe level logged (`error`, `warn`, `info`, `debug`, `trace`), or a full filter
    /// such as `info,tickroom_server=debug`. `RUST_LOG`, when set, wins.
    #[arg(long, env = "TICKROOM_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// Every setting of `tickroom-server serve`, by flag or env var (docs/CONFIGURATION.md).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TICKROOM_ADDR", default_value_t = DEFAULTS.addr)]
    pub addr: SocketAddr,

    /// Admin API key (sent as `Authorization: Bearer <key>`). The development default is
    /// refused unless the server listens on a loopback address.
    #[arg(long, env = "TICKROOM_ADMIN_KEY", default_value_t = DEFAULTS.auth.admin_key.clone(), hide_env_values = true)]
    pub admin_key: String,

    /// HS256 secret that signs match tokens (at least 32 bytes outside loopback). The
    /// development default is refused unless the server listens on a loopback address.
    #[arg(long, env = "TICKROOM_TOKEN_SECRET", default_value_t = DEFAULTS.auth.token_secret.clone(), hide_env_values = true)]
    pub token_secret: String,

    /// Issuer that tokens must carry (`iss`).
    #[arg(long, env = "TICKROOM_TOKEN_ISSUER", default_value_t = DEFAULTS.auth.token_issuer.clone())]
    pub token_issuer: String,

    /// Lifetime of tokens minted by the admin API when the request names none, in seconds.
    #[arg(long, env = "TICKROOM_TOKEN_TTL", default_value_t = secs(DEFAULTS.auth.token_ttl))]
    pub token_ttl_secs: u64,

    /// Tick rate of matches created without one, in Hz.
    #[arg(long, env = "TICKROOM_TICK_RATE", default_value_t = DEFAULTS.matches.default_tick_rate)]
    pub default_tick_rate: u32,

    /// Player seats of matches created without a number.
    #[arg(long, env = "TICKROOM_MAX_PLAYERS", default_value_t = DEFAULTS.matches.default_max_players)]
    pub default_max_players: u32,

    /// Spectator connections per match.
    #[arg(long, env = "TICKROOM_MAX_SPECTATORS", default_value_t = DEFAULTS.matches.max_spectators)]
    pub max_spectators: u32,

    /// Matches this node runs at once; creating one more is refused with `room_limit`.
    #[arg(long, env = "TICKROOM_MAX_ROOMS", default_value_t = DEFAULTS.matches.max_rooms)]
    pub max_rooms: usize,

    /// Inputs per player that may wait for their tick; more are dropped and counted.
    #[arg(long, env = "TICKROOM_INPUT_BUFFER", default_value_t = DEFAULTS.matches.input_buffer)]
    pub input_buffer: usize,

    /// Inputs per player that may stay queued after a tick; a longer queue is caught up at
    /// once, bounding input-to-ack latency to `max_input_lag + 1` ticks. 0: every input
    /// waiting at a tick is applied in it.
    #[arg(long, env = "TICKROOM_MAX_INPUT_LAG", default_value_t = DEFAULTS.matches.max_input_lag)]
    pub max_input_lag: usize,

    /// Snapshots between keyframes; deltas in between (0: one keyframe a second, i.e. the
    /// match's snapshot rate; 1: every snapshot is a keyframe). A keyframe also follows every
    /// join.
    #[arg(long, env = "TICKROOM_KEYFRAME_INTERVAL", default_value_t = DEFAULTS.matches.keyframe_interval)]
    pub keyframe_interval: u32,

    /// Threads that tick rooms (0: share the I/O runtime's threads). Default: half the cores
    /// available to the process, or 0 when it has only one.
    #[arg(long, env = "TICKROOM_SIM_THREADS")]
    pub sim_threads: Option<usize>,

    /// Seconds a dropped player's seat and entity are held for a reconnection (0: give the
    /// seat up at once).
    #[arg(long, env = "TICKROOM_SEAT_GRACE_SECS", default_value_t = secs(DEFAULTS.matches.seat_grace))]
    pub seat_grace_secs: u64,

    /// Seconds a room may have no seated player (from creation, or since the last one left)
    /// before it ends as `abandoned`.
    #[arg(long, env = "TICKROOM_EMPTY_ROOM_GRACE_SECS", default_value_t = secs(DEFAULTS.matches.empty_room_grace))]
    pub empty_room_grace_secs: u64,

    /// Seconds an ended match stays visible in the admin API (state `ended`) before it is
    /// forgotten. Matches ended through the admin API are forgotten at once.
    #[arg(long, env = "TICKROOM_ENDED_RETENTION_SECS", default_value_t = secs(DEFAULTS.matches.ended_retention))]
    pub ended_retention_secs: u64,

    /// How many ended matches' command logs (recordings, docs/REPLAY.md) the results store
    /// keeps, newest first; 0 records no match.
    #[arg(long, env = "TICKROOM_RECORDINGS_KEPT", default_value_t = DEFAULTS.matches.recordings_kept)]
    pub recordings_kept: usize,

    /// The most bytes of one match's recording kept; a longer match's stops there.
    #[arg(long, env = "TICKROOM_RECORDING_MAX_BYTES", default_value_t = DEFAULTS.matches.recording_max_bytes)]
    pub recording_max_bytes: usize,

    /// Inputs from all players of a room that may wait for the next tick; more are refused
    /// with `inbox_full`.
    #[arg(long, env = "TICKROOM_ROOM_INBOX", default_value_t = DEFAULTS.matches.room_inbox)]
    pub room_inbox: usize,

    /// Sustained inputs per second allowed per player.
    #[arg(long, env = "TICKROOM_INPUT_RATE", default_value_t = DEFAULTS.limits.input_rate)]
    pub input_rate: u32,

    /// Inputs a player may send in a burst above the sustained rate.
    #[arg(long, env = "TICKROOM_INPUT_BURST", default_value_t = DEFAULTS.limits.input_burst)]
    pub input_burst: u32,

    /// Socket.IO handshakes (CONNECT) allowed per second from one IP address, sustained.
    #[arg(long, env = "TICKROOM_HANDSHAKE_RATE", default_value_t = DEFAULTS.limits.handshake_rate)]
    pub handshake_rate: u32,

    /// Handshakes one IP address may make in a burst above that rate.
    #[arg(long, env = "TICKROOM_HANDSHAKE_BURST", default_value_t = DEFAULTS.limits.handshake_burst)]
    pub handshake_burst: u32,

    /// Events other than `input` (unknown ones included) allowed per second per connection.
    #[arg(long, env = "TICKROOM_EVENT_RATE", default_value_t = DEFAULTS.limits.event_rate)]
    pub event_rate: u32,

    /// Messages a connection may have dropped by the rate limits within 10 s before it is
    /// disconnected with `too_many_dropped` (0: never).
    #[arg(long, env = "TICKROOM_ABUSE_DROP_LIMIT", default_value_t = DEFAULTS.limits.abuse_drop_limit)]
    pub abuse_drop_limit: u32,

    /// A player has one game connection at a time: connecting to a match (on any node)
    /// disconnects the player's connections to other matches with `session_replaced`.
    #[arg(long, env = "TICKROOM_ONE_CONNECTION_PER_PLAYER", default_value_t = DEFAULTS.net.one_connection_per_player)]
    pub one_connection_per_player: bool,

    /// Take the client address from the first `X-Forwarded-For` entry (only behind a proxy
    /// that sets it).
    #[arg(long, env = "TICKROOM_TRUST_FORWARDED_FOR", default_value_t = DEFAULTS.net.trust_forwarded_for)]
    pub trust_forwarded_for: bool,

    /// Browser origins allowed to connect, comma-separated (e.g.
    /// `https://game.example,https://beta.example`), besides the server's own pages; `*`
    /// allows any. Empty: any with the development keys, only the server's own pages with
    /// production keys. Requests without an `Origin` header (native clients) pass.
    #[arg(
        long,
        env = "TICKROOM_ALLOWED_ORIGINS",
        default_value = "",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// PEM certificate chain: serve HTTPS and WSS directly (with `--tls-key`).
    #[arg(long, env = "TICKROOM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "TICKROOM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Largest incoming message, in bytes, on both WebSocket and HTTP long-polling.
    #[arg(long, env = "TICKROOM_MAX_MESSAGE_BYTES", default_value_t = DEFAULTS.limits.max_message_bytes)]
    pub max_message_bytes: usize,

    /// Outgoing packets buffered per connection before further ones are dropped.
    #[arg(long, env = "TICKROOM_SOCKET_BUFFER", default_value_t = DEFAULTS.limits.socket_buffer)]
    pub socket_buffer: usize,

    /// TCP connections held at once; more are answered 503 `server_busy` and closed.
    /// Default: the descriptor limit (raised to the hard limit at start-up) less 64.
    #[arg(long, env = "TICKROOM_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// TCP connections one address may hold at once (0: no cap); more are answered 503
    /// `too_many_connections`. Default: a quarter of --max-connections.
    #[arg(long, env = "TICKROOM_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,

    /// New Engine.IO sessions per second allowed from one address, sustained; more get 429
    /// `handshake_rate_limited`.
    #[arg(long, env = "TICKROOM_SESSION_RATE", default_value_t = DEFAULTS.limits.session_rate)]
    pub session_rate: u32,

    /// New Engine.IO sessions one address may open in a burst above that rate.
    #[arg(long, env = "TICKROOM_SESSION_BURST", default_value_t = DEFAULTS.limits.session_burst)]
    pub session_burst: u32,

    /// How long data sent to a client may stay unacknowledged before the connection is
    /// dropped (TCP_USER_TIMEOUT, Linux), in milliseconds.
    #[arg(long, env = "TICKROOM_WRITE_TIMEOUT_MS", default_value_t = millis(DEFAULTS.net.write_timeout))]
    pub write_timeout_ms: u64,

    /// Time a client has to send a request's headers, in milliseconds: idle or half-sent
    /// requests (slowloris) are closed after it.
    #[arg(long, env = "TICKROOM_HEADER_READ_TIMEOUT_MS", default_value_t = millis(DEFAULTS.net.header_read_timeout))]
    pub header_read_timeout_ms: u64,

    /// Time a client has to complete the Socket.IO handshake, in milliseconds.
    #[arg(long, env = "TICKROOM_CONNECT_TIMEOUT_MS", default_value_t = millis(DEFAULTS.net.connect_timeout))]
    pub connect_timeout_ms: u64,

    /// Engine.IO ping interval, in milliseconds.
    #[arg(long, env = "TICKROOM_PING_INTERVAL_MS", default_value_t = millis(DEFAULTS.net.ping_interval))]
    pub ping_interval_ms: u64,

    /// Engine.IO ping timeout, in milliseconds.
    #[arg(long, env = "TICKROOM_PING_TIMEOUT_MS", default_value_t = millis(DEFAULTS.net.ping_timeout))]
    pub ping_timeout_ms: u64,

    /// Seconds running matches get to finish after SIGTERM/SIGINT before they are ended with
    /// reason `shutdown`. New connections and matches are refused meanwhile.
    #[arg(long, env = "TICKROOM_DRAIN_SECS", default_value_t = secs(DEFAULTS.shutdown.drain))]
    pub drain_secs: u64,

    /// SQLite file where ended matches' results are kept (`:memory:` keeps them only while the
    /// server runs).
    #[arg(long, env = "TICKROOM_RESULTS_DB", default_value_os_t = DEFAULTS.results_db.clone().unwrap_or_default())]
    pub results_db: PathBuf,

    /// Time given to connections and rooms to close at shutdown, in milliseconds.
    #[arg(long, env = "TICKROOM_SHUTDOWN_TIMEOUT_MS", default_value_t = millis(DEFAULTS.shutdown.timeout))]
    pub shutdown_timeout_ms: u64,

    /// HS256 secret that checks player tokens from the game's auth service (at least 32
    /// bytes). Exclusive with `--player-token-public-key`.
    #[arg(
        long,
        env = "TICKROOM_PLAYER_TOKEN_SECRET",
        hide_env_values = true,
        conflicts_with = "player_token_public_key"
    )]
    pub player_token_secret: Option<String>,

    /// File with the PEM public key that checks player tokens: RSA (RS256), Ed25519 (EdDSA)
    /// or P-256 (ES256).
    #[arg(long, env = "TICKROOM_PLAYER_TOKEN_PUBLIC_KEY")]
    pub player_token_public_key: Option<PathBuf>,

    /// Issuer player tokens must carry (`iss`); any when unset.
    #[arg(long, env = "TICKROOM_PLAYER_TOKEN_ISSUER")]
    pub player_token_issuer: Option<String>,

    /// Audience player tokens must carry (`aud`).
    #[arg(long, env = "TICKROOM_PLAYER_TOKEN_AUDIENCE", default_value_t = DEFAULTS.matchmaking.player_audience.clone())]
    pub player_token_audience: String,

    /// Give a request without a player token an anonymous identity. Default: only with the
    /// development keys.
    #[arg(long, env = "TICKROOM_ANONYMOUS_PLAYERS")]
    pub anonymous_players: Option<bool>,

    /// Seconds a seat reserved by matchmaking waits for its player to connect.
    #[arg(long, env = "TICKROOM_RESERVATION_SECS", default_value_t = secs(DEFAULTS.matchmaking.reservation_ttl))]
    pub reservation_secs: u64,

    /// The URL clients connect to, sent with every reservation (e.g.
    /// `https://eu1.game.example`). Default: the scheme and Host of the request.
    #[arg(long, env = "TICKROOM_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Matchmaking requests allowed per second per client address, sustained (not applied
    /// with the development keys).
    #[arg(long, env = "TICKROOM_MATCHMAKING_ADDRESS_RATE", default_value_t = DEFAULTS.matchmaking.address_rate)]
    pub matchmaking_address_rate: u32,

    /// Matchmaking requests one address may make in a burst above that rate.
    #[arg(long, env = "TICKROOM_MATCHMAKING_ADDRESS_BURST", default_value_t = DEFAULTS.matchmaking.address_burst)]
    pub matchmaking_address_burst: u32,

    /// Matchmaking requests allowed per second per player, sustained.
    #[arg(long, env = "TICKROOM_MATCHMAKING_PLAYER_RATE", default_value_t = DEFAULTS.matchmaking.player_rate)]
    pub matchmaking_player_rate: u32,

    /// Matchmaking requests one player may make in a burst above that rate.
    #[arg(long, env = "TICKROOM_MATCHMAKING_PLAYER_BURST", default_value_t = DEFAULTS.matchmaking.player_burst)]
    pub matchmaking_player_burst: u32,

    /// Tickets the matchmaking queue holds at once; more are refused with `queue_full`.
    #[arg(long, env = "TICKROOM_QUEUE_CAPACITY", default_value_t = DEFAULTS.matchmaking.queue_capacity)]
    pub queue_capacity: usize,

    /// Rating difference a new queue ticket accepts in its group.
    #[arg(long, env = "TICKROOM_RATING_WINDOW", default_value_t = DEFAULTS.matchmaking.rating_window)]
    pub rating_window: u32,

    /// How much a ticket's rating window widens per second of waiting.
    #[arg(long, env = "TICKROOM_RATING_WINDOW_GROWTH", default_value_t = DEFAULTS.matchmaking.rating_window_growth)]
    pub rating_window_growth: u32,

    /// The widest a ticket's rating window gets.
    #[arg(long, env = "TICKROOM_RATING_WINDOW_MAX", default_value_t = DEFAULTS.matchmaking.rating_window_max)]
    pub rating_window_max: u32,

    /// Seconds a queue ticket waits for a match before it ends as `timed_out`.
    #[arg(long, env = "TICKROOM_QUEUE_TIMEOUT_SECS", default_value_t = secs(DEFAULTS.matchmaking.queue_timeout))]
    pub queue_timeout_secs: u64,

    /// Redis (≥ 7) shared by several nodes, e.g. `redis://127.0.0.1:6379/`: the node
    /// registers itself there (docs/SCALING.md). Unset: a single node, no external service.
    #[arg(long, env = "TICKROOM_REDIS_URL")]
    pub redis_url: Option<String>,

    /// This node's id in the registry (default: a random one at start-up).
    #[arg(long, env = "TICKROOM_NODE_ID", requires = "redis_url")]
    pub node_id: Option<String>,

    /// Where the other nodes reach this node (its admin API), when not at its public URL,
    /// e.g. `http://node-a:7350` on a private network (default: the public URL).
    #[arg(long, env = "TICKROOM_NODE_URL", requires = "redis_url")]
    pub node_url: Option<String>,

    /// How often the node writes its registry entry, in milliseconds.
    #[arg(long, env = "TICKROOM_NODE_HEARTBEAT_MS", default_value_t = millis(CLUSTER_DEFAULTS.heartbeat))]
    pub node_heartbeat_ms: u64,

    /// How long a registry entry lives without a heartbeat, in milliseconds: a node that
    /// dies leaves the registry by itself after this.
    #[arg(long, env = "TICKROOM_NODE_TTL_MS", default_value_t = millis(CLUSTER_DEFAULTS.node_ttl))]
    pub node_ttl_ms: u64,

    /// How often each running match's command log is appended to Redis, in milliseconds: a
    /// match whose node dies is restored from it on another node; 0: no checkpoints.
    #[arg(long, env = "TICKROOM_CHECKPOINT_MS", default_value_t = millis(CLUSTER_DEFAULTS.checkpoint))]
    pub checkpoint_ms: u64,

    /// A draining node (SIGTERM) ends its running matches after the drain instead of moving
    /// them to the other nodes.
    #[arg(long, env = "TICKROOM_NO_MIGRATE_ON_DRAIN", default_value_t = !CLUSTER_DEFAULTS.migrate_on_drain)]
    pub no_migrate_on_drain: bool,
}

impl ServeArgs {
    /// The configuration these flags describe; fails only when a file it names cannot be
    /// read.
    pub fn into_config(self) -> anyhow::Result<Config> {
        let player_key = match (self.player_token_secret, self.player_token_public_key) {
            (Some(secret), _) => Some(PlayerKeySource::Secret(secret)),
            (None, Some(path)) => Some(PlayerKeySource::PublicKeyPem(
                std::fs::read_to_string(&path).map_err(|e| {
                    anyhow::anyhow!(
                        "reading the player token public key {}: {e}",
                        path.display()
                    )
                })?,
            )),
            (None, None) => None,
        };
        Ok(Config {
            addr: self.addr,
            auth: AuthConfig {
                admin_key: self.admin_key,
                token_secret: self.token_secret,
                token_issuer: self.token_issuer,
                token_ttl: Duration::from_secs(self.token_ttl_secs),
            },
            matches: MatchConfig {
                default_tick_rate: self.default_tick_rate,
                default_max_players: self.default_max_players,
                max_spectators: self.max_spectators,
                max_rooms: self.max_rooms,
                input_buffer: self.input_buffer,
                max_input_lag: self.max_input_lag,
                keyframe_interval: self.keyframe_interval,
                room_inbox: self.room_inbox,
                sim_threads: self.sim_threads,
                seat_grace: Duration::from_secs(self.seat_grace_secs),
                empty_room_grace: Duration::from_secs(self.empty_room_grace_secs),
                ended_retention: Duration::from_secs(self.ended_retention_secs),
                recordings_kept: self.recordings_kept,
                recording_max_bytes: self.recording_max_bytes,
            },
            limits: LimitConfig {
                input_rate: self.input_rate,
                input_burst: self.input_burst,
                handshake_rate: self.handshake_rate,
                handshake_burst: self.handshake_burst,
                event_rate: self.event_rate,
                abuse_drop_limit: self.abuse_drop_limit,
                max_message_bytes: self.max_message_bytes,
                socket_buffer: self.socket_buffer,
                max_connections: self.max_connections,
                max_connections_per_ip: self.max_connections_per_ip,
                session_rate: self.session_rate,
                session_burst: self.session_burst,
            },
            net: NetConfig {
                trust_forwarded_for: self.trust_forwarded_for,
                allowed_origins: self
                    .allowed_origins
                    .into_iter()
                    .map(|o| o.trim().to_owned())
                    .filter(|o| !o.is_empty())
                    .collect(),
                tls: match (self.tls_cert, self.tls_key) {
                    (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                    _ => None,
                },
                write_timeout: Duration::from_millis(self.write_timeout_ms),
                header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
                connect_timeout: Duration::from_millis(self.connect_timeout_ms),
                ping_interval: Duration::from_millis(self.ping_interval_ms),
                ping_timeout: Duration::from_millis(self.ping_timeout_ms),
                one_connection_per_player: self.one_connection_per_player,
            },
            shutdown: ShutdownConfig {
                drain: Duration::from_secs(self.drain_secs),
                timeout: Duration::from_millis(self.shutdown_timeout_ms),
            },
            matchmaking: MatchmakingConfig {
                player_key,
                player_issuer: self.player_token_issuer,
                player_audience: self.player_token_audience,
                anonymous: self.anonymous_players,
                reservation_ttl: Duration::from_secs(self.reservation_secs),
                public_url: self.public_url,
                address_rate: self.matchmaking_address_rate,
                address_burst: self.matchmaking_address_burst,
                player_rate: self.matchmaking_player_rate,
                player_burst: self.matchmaking_player_burst,
                queue_capacity: self.queue_capacity,
                rating_window: self.rating_window,
                rating_window_growth: self.rating_window_growth,
                rating_window_max: self.rating_window_max,
                queue_timeout: Duration::from_secs(self.queue_timeout_secs),
            },
            cluster: self.redis_url.map(|redis_url| ClusterConfig {
                redis_url,
                node_id: self.node_id,
                node_url: self.node_url.map(|u| u.trim_end_matches('/').to_owned()),
                heartbeat: Duration::from_millis(self.node_heartbeat_ms),
                node_ttl: Duration::from_millis(self.node_ttl_ms),
                checkpoint: Duration::from_millis(self.checkpoint_ms),
                migrate_on_drain: !self.no_migrate_on_drain,
            }),
            results_db: Some(self.results_db),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServeArgs,
        #[command(flatten)]
        log: LogArgs,
    }

    /// An empty command line (and no environment) is exactly `Config::default()`.
    #[test]
    fn no_flags_is_the_default_config() {
        // Variables in the test's own environment would count as flags.
        if std::env::vars().any(|(k, _)| k.starts_with("TICKROOM_")) {
            return;
        }
        let config = Wrapper::try_parse_from(["tickroom-server"])
            .unwrap()
            .args
            .into_config()
            .unwrap();
        assert_eq!(config, Config::default());
        let parsed = Wrapper::try_parse_from([
            "tickroom-server",
            "--sim-threads",
            "2",
            "--allowed-origins",
            "https://a.example, https://b.example",
            "--seat-grace-secs",
            "0",
        ])
        .unwrap()
        .args
        .into_config()
        .unwrap();
        assert_eq!(parsed.matches.sim_threads, Some(2));
        assert_eq!(parsed.matches.seat_grace, Duration::ZERO);
        assert_eq!(
            parsed.net.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }

    /// The compose files set only variables the server reads, and the cluster one runs Redis,
    /// PostgreSQL and two nodes that share one and the other.
    #[test]
    fn the_compose_files_set_real_settings() {
        let envs: Vec<String> = Wrapper::command()
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        for file in ["compose.yaml", "compose.cluster.yaml"] {
            let text =
                std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let used: Vec<&str> = text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("TICKROOM_"))
                .collect();
            assert!(!used.is_empty(), "{file}");
            for var in used {
                assert!(envs.iter().any(|e| e == var), "{file}: {var} is no setting");
            }
        }
        let cluster =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/compose.cluster.yaml"))
                .unwrap();
        for needed in [
            "\n  redis:\n",
            "\n  postgres:\n",
            "\n  node-a:\n",
            "\n  node-b:\n",
            "TICKROOM_REDIS_URL: redis://redis:6379/",
            "TICKROOM_RESULTS_DB: postgres://",
            "TICKROOM_NODE_URL: http://node-a:7350",
            "TICKROOM_NODE_URL: http://node-b:7350",
        ] {
            assert!(
                cluster.contains(needed),
                "compose.cluster.yaml lacks {needed:?}"
            );
        }
    }

    /// docs/CONFIGURATION.md lists every flag with its env var and default.
    #[test]
    fn every_setting_is_documented() {
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
                    row.contains("(none)") || row.contains("(computed)"),
                    "{long}: no default, but the row says neither (none) nor (computed)"
                );
                continue;
            };
            if default.is_empty() && row.contains("(empty)") {
                continue;
            }
            assert!(
                row.contains(&format!("`{default}`")),
                "{long}: default {default} not in {row}"
            );
        }
    }
}
