//! Server configuration: every limit and default in one place, grouped by concern.
//!
//! `Config::default()` is the documented defaults, written out here; it reads no environment
//! and no command line (the `tickroom-server` binary maps its flags and env vars onto these
//! fields; docs/CONFIGURATION.md lists them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Address the server listens on by default: loopback only, so the development secrets below
/// are never reachable from another machine.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7350);
/// Development admin key, accepted only while the server listens on loopback.
pub const DEV_ADMIN_KEY: &str = "dev-admin-key";
/// Development token secret, accepted only while the server listens on loopback.
pub const DEV_TOKEN_SECRET: &str = "dev-token-secret-change-me";
/// Default token issuer.
pub const DEFAULT_ISSUER: &str = "tickroom";

/// Everything the server can be told at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address the binary listens on (an embedder binds its own listener).
    pub addr: SocketAddr,
    /// Keys and tokens.
    pub auth: AuthConfig,
    /// Matches and their rooms.
    pub matches: MatchConfig,
    /// Budgets and sizes that protect the server from its clients.
    pub limits: LimitConfig,
    /// The transport: HTTP, WebSocket, TLS, browsers.
    pub net: NetConfig,
    /// What happens on SIGTERM.
    pub shutdown: ShutdownConfig,
    /// Player identities and the matchmaking API.
    pub matchmaking: MatchmakingConfig,
    /// Several nodes on Redis (docs/SCALING.md); `None`: a single node, no external service.
    pub cluster: Option<ClusterConfig>,
    /// SQLite file where ended matches' results are kept (`:memory:` keeps them only while
    /// the server runs; `None` keeps none). Default `tickroom-results.sqlite3`.
    pub results_db: Option<PathBuf>,
}

/// Keys and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Admin API key (`Authorization: Bearer <key>`). The development default
    /// ([`DEV_ADMIN_KEY`]) is refused unless the server listens on a loopback address.
    pub admin_key: String,
    /// HS256 secret that signs match tokens (at least 32 bytes outside loopback). The
    /// development default ([`DEV_TOKEN_SECRET`]) is refused unless the server listens on a
    /// loopback address.
    pub token_secret: String,
    /// Issuer that tokens must carry (`iss`). Default [`DEFAULT_ISSUER`].
    pub token_issuer: String,
    /// Lifetime of tokens minted by the admin API when the request names none. Default 1 h.
    pub token_ttl: Duration,
}

/// How a player proves who they are to the matchmaking API: the key that checks the player
/// tokens the game's own auth service signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerKeySource {
    /// An HS256 secret shared with the game's auth service (at least 32 bytes).
    Secret(String),
    /// A PEM public key (`-----BEGIN PUBLIC KEY-----`): RSA for RS256, Ed25519 for EdDSA, or
    /// P-256 for ES256 — the algorithm follows from the key.
    PublicKeyPem(String),
}

/// Several nodes on one Redis (docs/SCALING.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Redis ≥ 7, e.g. `redis://127.0.0.1:6379/`.
    pub redis_url: String,
    /// This node's id in the registry. Default `None`: a random one at start-up.
    pub node_id: Option<String>,
    /// Where the other nodes reach this node, when not at its public URL (a private
    /// network). Default `None`: the public URL.
    pub node_url: Option<String>,
    /// How often the node writes its entry (URL and load) to the registry. Default 2 s.
    pub heartbeat: Duration,
    /// How long an entry lives without a heartbeat: a node that dies leaves the registry by
    /// itself after this. Default 6 s.
    pub node_ttl: Duration,
    /// How often each running match's command log is appended to Redis, its checkpoint: a
    /// match whose node dies is restored from it on another node (docs/SCALING.md). Default
    /// 1 s; zero: no checkpoints (a killed node's matches are lost).
    pub checkpoint: Duration,
    /// Whether a draining node moves its running matches to the other nodes instead of
    /// ending them (docs/SCALING.md). Default true.
    pub migrate_on_drain: bool,
}

impl ClusterConfig {
    /// Redis at `redis_url`, with the default heartbeat and time-to-live.
    pub fn new(redis_url: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            node_id: None,
            node_url: None,
            heartbeat: Duration::from_secs(2),
            node_ttl: Duration::from_secs(6),
            checkpoint: Duration::from_secs(1),
            migrate_on_drain: true,
        }
    }
}

/// Player identities and the matchmaking API (docs/MATCHMAKING.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchmakingConfig {
    /// The key that checks player tokens. Default none: only anonymous players, if allowed.
    pub player_key: Option<PlayerKeySource>,
    /// Issuer player tokens must carry (`iss`); any when `None`. Default `None`.
    pub player_issuer: Option<String>,
    /// Audience player tokens must carry (`aud`): never the match tokens' (they have none),
    /// so one kind of token cannot pass for the other. Default `tickroom-player`.
    pub player_audience: String,
    /// Whether a request without a player token gets a fresh anonymous identity. Default
    /// `None`: only while the development keys are in use (they work on loopback only).
    pub anonymous: Option<bool>,
    /// How long a seat matchmaking reserves waits for its player to connect before it is
    /// given to someone else; the match's room is not abandoned meanwhile. Default 45 s.
    pub reservation_ttl: Duration,
    /// The URL clients connect to, sent in every reservation. Default `None`: the scheme and
    /// `Host` of the request.
    pub public_url: Option<String>,
    /// Matchmaking requests allowed per second per client address, sustained (not applied
    /// with the development keys). Default 20.
    pub address_rate: u32,
    /// Requests one address may make in a burst above that rate. Default 40.
    pub address_burst: u32,
    /// Matchmaking requests allowed per second per player identity, sustained. Default 5.
    pub player_rate: u32,
    /// Requests one player may make in a burst above that rate. Default 10.
    pub player_burst: u32,
    /// Tickets the queue holds at once; more are refused with `queue_full`. Default 10,000.
    pub queue_capacity: usize,
    /// Rating difference a new ticket accepts in its group. Default 100.
    pub rating_window: u32,
    /// How much the window widens for every second a ticket waits. Default 25.
    pub rating_window_growth: u32,
    /// The widest the window gets. Default 1,000.
    pub rating_window_max: u32,
    /// How long a ticket waits for a match before it is dropped as `timed_out`. Default 5 min.
    pub queue_timeout: Duration,
}

/// Matches and their rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchConfig {
    /// Tick rate of matches created without one, in Hz. Default 30.
    pub default_tick_rate: u32,
    /// Player seats of matches created without a number. Default 8.
    pub default_max_players: u32,
    /// Spectator connections per match. Default 16.
    pub max_spectators: u32,
    /// Matches this node runs at once; one more is refused with `room_limit`. Default 1,000.
    pub max_rooms: usize,
    /// Inputs per player that may wait for their tick; more are dropped and counted.
    /// Default 16.
    pub input_buffer: usize,
    /// Inputs per player that may stay queued after a tick; a longer queue is caught up at
    /// once, bounding input-to-ack latency to `max_input_lag + 1` ticks. Default 0: every
    /// input waiting at a tick is applied in it.
    pub max_input_lag: usize,
    /// Snapshots between keyframes, deltas in between (0: one keyframe a second, i.e. the
    /// match's snapshot rate; 1: every snapshot is a keyframe). A keyframe also follows every
    /// join. Default 0.
    pub keyframe_interval: u32,
    /// Inputs from all players of a room that may wait for the next tick; more are refused
    /// with `inbox_full`. Default 1,024.
    pub room_inbox: usize,
    /// Threads that tick rooms (0: share the I/O runtime's threads). Default `None`: half
    /// the cores available to the process (rounded up), or 0 when it has only one, where a
    /// second runtime would only add thread hops to every snapshot.
    pub sim_threads: Option<usize>,
    /// How long a dropped player's seat and entity are held for a reconnection (zero: the
    /// seat is given up at once). Default 30 s.
    pub seat_grace: Duration,
    /// How long a room may have no seated player (from creation, or since the last one left)
    /// before it ends as `abandoned`. Default 60 s.
    pub empty_room_grace: Duration,
    /// How long an ended match stays visible in the admin API (state `ended`) before it is
    /// forgotten. Matches ended through the admin API are forgotten at once. Default 30 s.
    pub ended_retention: Duration,
    /// How many ended matches' command logs the results store keeps, newest first
    /// (docs/REPLAY.md); 0 records none. Needs a results store. Default 200.
    pub recordings_kept: usize,
    /// The most bytes of one match's command log kept; a longer match's recording stops
    /// there (marked incomplete). Default 8 MiB (over an hour of a 10-player arena match).
    pub recording_max_bytes: usize,
}

/// Budgets and sizes that protect the server from its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitConfig {
    /// Sustained inputs per second allowed per player. Default 60.
    pub input_rate: u32,
    /// Inputs a player may send in a burst above the sustained rate. Default 30.
    pub input_burst: u32,
    /// Socket.IO handshakes allowed per second from one IP address, sustained. Default 5.
    pub handshake_rate: u32,
    /// Handshakes one IP address may make in a burst above that rate. Default 20.
    pub handshake_burst: u32,
    /// Events other than `input` (unknown ones included) allowed per second per connection.
    /// Default 10.
    pub event_rate: u32,
    /// Messages a connection may have dropped by the rate limits within 10 s before it is
    /// disconnected with `too_many_dropped` (0: never). Default 600.
    pub abuse_drop_limit: u32,
    /// Largest incoming message, in bytes, on both WebSocket and HTTP long-polling.
    /// Default 16 KiB.
    pub max_message_bytes: usize,
    /// Outgoing packets buffered per connection before further ones are dropped. Default 128.
    pub socket_buffer: usize,
    /// TCP connections the server holds at once; more are answered 503 `server_busy` and
    /// closed. Default `None`: the descriptor limit (raised to its hard limit at start-up
    /// where the OS allows) less 64.
    pub max_connections: Option<usize>,
    /// TCP connections one client address may hold at once (0: no cap); more are answered 503
    /// `too_many_connections` and closed, so one host cannot take every descriptor. Behind a
    /// proxy every client has the proxy's address: raise it or set 0 there. Default `None`: a
    /// quarter of `max_connections`.
    pub max_connections_per_ip: Option<usize>,
    /// New Engine.IO sessions allowed per second from one address, sustained, before any
    /// Socket.IO work (each holds a descriptor until its handshake completes or times out);
    /// more get 429 `handshake_rate_limited`. Default 20.
    pub session_rate: u32,
    /// Sessions one address may open in a burst above that rate. Default 60.
    pub session_burst: u32,
}

/// The transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Take the client address from the first `X-Forwarded-For` entry (only behind a proxy
    /// that sets it). Default off.
    pub trust_forwarded_for: bool,
    /// Browser origins allowed to connect (e.g. `https://game.example`), besides the server's
    /// own pages; `*` allows any. Empty: any origin with the development keys (they work on
    /// loopback only), only the server's own pages with production keys. Requests without an
    /// `Origin` header (native clients, bots) are not affected.
    pub allowed_origins: Vec<String>,
    /// Serve HTTPS and WSS directly with this certificate and key. Default none.
    pub tls: Option<TlsFiles>,
    /// How long data sent to a client may stay unacknowledged before the connection is
    /// dropped (TCP_USER_TIMEOUT, Linux): a client that stops reading is cut off after this,
    /// instead of holding a stuck writer forever. Default 10 s.
    pub write_timeout: Duration,
    /// Time a client has to send a request's headers: idle or half-sent requests
    /// (slowloris) are closed after it. Default 10 s.
    pub header_read_timeout: Duration,
    /// Time a client has to complete the Socket.IO handshake. Default 5 s.
    pub connect_timeout: Duration,
    /// Engine.IO ping interval. Default 25 s.
    pub ping_interval: Duration,
    /// Engine.IO ping timeout. Default 20 s.
    pub ping_timeout: Duration,
    /// A player has one game connection at a time, whatever the match: connecting to a
    /// match (on any node of a cluster) disconnects the player's connections to other
    /// matches with `session_replaced`. Off by default: a player may then be in several
    /// matches at once, and only a second connection to the same match replaces the first.
    pub one_connection_per_player: bool,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    pub key: PathBuf,
}

/// What happens on SIGTERM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownConfig {
    /// Time running matches get to finish before they are ended with reason `shutdown`; new
    /// connections and matches are refused meanwhile. Default 30 s.
    pub drain: Duration,
    /// Time given to connections and rooms to close after the drain. Default 5 s.
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR,
            auth: AuthConfig::default(),
            matches: MatchConfig::default(),
            limits: LimitConfig::default(),
            net: NetConfig::default(),
            shutdown: ShutdownConfig::default(),
            matchmaking: MatchmakingConfig::default(),
            cluster: None,
            results_db: Some(PathBuf::from("tickroom-results.sqlite3")),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            admin_key: DEV_ADMIN_KEY.to_owned(),
            token_secret: DEV_TOKEN_SECRET.to_owned(),
            token_issuer: DEFAULT_ISSUER.to_owned(),
            token_ttl: Duration::from_secs(3600),
        }
    }
}

impl Default for MatchmakingConfig {
    fn default() -> Self {
        Self {
            player_key: None,
            player_issuer: None,
            player_audience: "tickroom-player".to_owned(),
            anonymous: None,
            reservation_ttl: Duration::from_secs(45),
            public_url: None,
            address_rate: 20,
            address_burst: 40,
            player_rate: 5,
            player_burst: 10,
            queue_capacity: 10_000,
            rating_window: 100,
            rating_window_growth: 25,
            rating_window_max: 1000,
            queue_timeout: Duration::from_secs(300),
        }
    }
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            default_tick_rate: 30,
            default_max_players: 8,
            max_spectators: 16,
            max_rooms: 1000,
            input_buffer: 16,
            max_input_lag: 0,
            keyframe_interval: 0,
            room_inbox: 1024,
            sim_threads: None,
            seat_grace: Duration::from_secs(30),
            empty_room_grace: Duration::from_secs(60),
            ended_retention: Duration::from_secs(30),
            recordings_kept: 200,
            recording_max_bytes: 8 << 20,
        }
    }
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            input_rate: 60,
            input_burst: 30,
            handshake_rate: 5,
            handshake_burst: 20,
            event_rate: 10,
            abuse_drop_limit: 600,
            max_message_bytes: 16 * 1024,
            socket_buffer: 128,
            max_connections: None,
            max_connections_per_ip: None,
            session_rate: 20,
            session_burst: 60,
        }
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            trust_forwarded_for: false,
            allowed_origins: Vec::new(),
            tls: None,
            write_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            one_connection_per_player: false,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
        }
    }
}

impl MatchConfig {
    /// [`sim_threads`](Self::sim_threads) resolved: half the cores (rounded up) tick rooms,
    /// the rest do socket work, which costs more per player; on one core, 0.
    pub fn sim_threads(&self) -> usize {
        self.sim_threads.unwrap_or_else(|| {
            match std::thread::available_parallelism().map_or(1, std::num::NonZero::get) {
                0 | 1 => 0,
                n => n.div_ceil(2),
            }
        })
    }
}

impl AuthConfig {
    /// Whether the development admin key or token secret is in use.
    pub fn uses_dev_keys(&self) -> bool {
        self.admin_key == DEV_ADMIN_KEY || self.token_secret == DEV_TOKEN_SECRET
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
    /// The Redis URL cannot be used.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The player token key cannot be used.
    #[error("player token key: {0}")]
    PlayerKey(String),
}

impl Config {
    /// Checks what can be checked without knowing the bound address.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth.admin_key.is_empty() || self.auth.token_secret.is_empty() {
            return Err(ConfigError::Invalid(
                "admin key and token secret must not be empty",
            ));
        }
        if self.limits.max_message_bytes < 256 {
            return Err(ConfigError::Invalid(
                "max_message_bytes must be at least 256",
            ));
        }
        if self.limits.input_rate == 0 || self.limits.input_burst == 0 {
            return Err(ConfigError::Invalid(
                "input_rate and input_burst must be positive",
            ));
        }
        if self.limits.socket_buffer == 0
            || self.matches.room_inbox == 0
            || self.matches.input_buffer == 0
        {
            return Err(ConfigError::Invalid("buffers must hold at least one item"));
        }
        let mm = &self.matchmaking;
        if mm.reservation_ttl.is_zero() {
            return Err(ConfigError::Invalid("reservation_ttl must be positive"));
        }
        if matches!(&mm.player_key, Some(PlayerKeySource::Secret(s)) if s.len() < 32) {
            return Err(ConfigError::Invalid(
                "the player token secret must be at least 32 bytes",
            ));
        }
        if let Some(c) = &self.cluster
            && (c.heartbeat.is_zero() || c.node_ttl <= c.heartbeat)
        {
            return Err(ConfigError::Invalid(
                "node_ttl must be longer than a positive heartbeat (or nodes blink out between beats)",
            ));
        }
        if mm.queue_capacity == 0 || mm.queue_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "queue_capacity and queue_timeout must be positive",
            ));
        }
        Ok(())
    }

    /// Checks the secrets for `addr`, the address actually bound: the development ones only
    /// on loopback, and a long enough token secret elsewhere.
    pub fn validate_for(&self, addr: SocketAddr) -> Result<(), ConfigError> {
        if !addr.ip().is_loopback() {
            if self.auth.uses_dev_keys() {
                return Err(ConfigError::DevSecretsExposed(addr));
            }
            if self.auth.token_secret.len() < 32 {
                return Err(ConfigError::WeakSecret(addr));
            }
        }
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe_only_on_loopback() {
        let c = Config::default();
        assert_eq!(c.matches.default_tick_rate, 30);
        assert!(c.validate_for("127.0.0.1:1".parse().unwrap()).is_ok());
        assert!(matches!(
            c.validate_for("0.0.0.0:1".parse().unwrap()),
            Err(ConfigError::DevSecretsExposed(_))
        ));
        let mut c2 = c.clone();
        c2.auth.admin_key = "k".repeat(40);
        c2.auth.token_secret = "short".into();
        assert!(matches!(
            c2.validate_for("0.0.0.0:1".parse().unwrap()),
            Err(ConfigError::WeakSecret(_))
        ));
        c2.auth.token_secret = "s".repeat(32);
        assert!(c2.validate_for("0.0.0.0:1".parse().unwrap()).is_ok());
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = Config::default();
        c.matches.room_inbox = 0;
        assert!(matches!(c.validate(), Err(ConfigError::Invalid(_))));
        let mut c = Config::default();
        c.limits.max_message_bytes = 10;
        assert!(matches!(c.validate(), Err(ConfigError::Invalid(_))));
    }
}
