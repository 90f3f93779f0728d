//! Harness for Tickroom's end-to-end tests: a real server on `127.0.0.1:0` in the test's
//! runtime, real clients (the Rust client, and the official JS client through Node).
#![warn(missing_docs)]

/// docs/GAME_API.md: its code blocks run as this crate's doctests (those that quote a file
/// instead are checked against it by `tests/examples`).
#[cfg(doctest)]
#[doc = include_str!("../../docs/GAME_API.md")]
pub struct GameApiGuide;

pub mod apt;
pub mod browser;
pub mod npm;
pub mod postgres;
pub mod redis;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use tickroom_client::admin::AdminClient;
use tickroom_client::{Client, ConnectError, EventMsg, Incoming};
use tickroom_server::Config;
use tickroom_shared::{
    AuthPayload, MatchClaims, PROTOCOL_VERSION, Role, Snapshot, TokenKey, event,
    snapshot::FromFrame,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long any single wait in a test may take before the test fails. Generous: tests assert
/// what happens, never how fast.
pub const WAIT: Duration = Duration::from_secs(10);

/// Claims for `player` in `match_id`, valid for a minute, with the test issuer.
pub fn claims(match_id: &str, player: &str, role: Role) -> MatchClaims {
    MatchClaims::new(match_id, player, role, 60, test_config().auth.token_issuer)
}

/// Signs `claims` with the test server's secret, as a game backend would.
pub fn sign(claims: &MatchClaims) -> String {
    let c = test_config();
    TokenKey::new(c.auth.token_secret.as_bytes(), c.auth.token_issuer)
        .sign(claims)
        .expect("sign")
}

/// A running server.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://addr`.
    pub url: String,
    /// Admin API client with the right key.
    pub admin: AdminClient,
    /// The admin key.
    pub admin_key: String,
    /// Cancel to shut the server down.
    pub shutdown: CancellationToken,
    /// The server task; resolves when `run` returns.
    pub task: JoinHandle<Result<(), tickroom_server::ServeError>>,
}

/// A config for tests: defaults with no drain, a short shutdown, results kept in memory.
pub fn test_config() -> Config {
    let mut config = Config {
        results_db: Some(":memory:".into()),
        ..Config::default()
    };
    config.shutdown.timeout = Duration::from_secs(3);
    config.shutdown.drain = Duration::ZERO;
    config
}

/// [`test_config`] with production keys instead of the development ones: the server then
/// allows only listed origins, has no development endpoint, and applies the per-address
/// limits (which the development keys, loopback-only, turn off). Tokens must come from its
/// admin API ([`TestServer::token`]).
pub fn production_config() -> Config {
    let mut config = test_config();
    config.auth.admin_key = "a-production-admin-key-of-some-length".into();
    config.auth.token_secret = "a-production-token-secret-of-32-bytes-or-more".into();
    config
}

fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

impl TestServer {
    /// Starts a server with [`test_config`].
    pub async fn start() -> Self {
        Self::start_with(test_config()).await
    }

    /// Starts a server with `config` on a free loopback port.
    pub async fn start_with(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Self::start_on(listener, config)
    }

    /// Starts a server with `config` on `listener` (bound beforehand, so its URL can go into
    /// `config`).
    pub fn start_on(listener: tokio::net::TcpListener, config: Config) -> Self {
        init_tracing();
        let addr = listener.local_addr().expect("local addr");
        let url = format!("http://{addr}");
        let admin = AdminClient::new(&url, &config.auth.admin_key);
        let admin_key = config.auth.admin_key.clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(tickroom_server::run(
            listener,
            config,
            tickroom_games::builtin(),
            shutdown.clone(),
        ));
        Self {
            addr,
            url,
            admin,
            admin_key,
            shutdown,
            task,
        }
    }

    /// `GET path` with the admin key, as JSON (whatever the status).
    pub async fn admin_get(&self, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.admin_key)
            .send()
            .await
            .expect("admin request")
            .json()
            .await
            .expect("admin JSON")
    }

    /// The value of the Prometheus counter or gauge `name` at `/metrics`: the sum of its
    /// series when it has labels.
    pub async fn metric(&self, name: &str) -> u64 {
        let series = self.metric_series(name).await;
        assert!(!series.is_empty(), "no metric {name}");
        series.iter().map(|(_, v)| v).sum()
    }

    /// Every series of the Prometheus counter or gauge `name` at `/metrics`, as its labels
    /// (`""` for none, else `{k="v",…}`) and value; none for a labelled metric with no series
    /// yet.
    pub async fn metric_series(&self, name: &str) -> Vec<(String, u64)> {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(name)?;
                let (labels, value) = if let Some(value) = rest.strip_prefix(' ') {
                    (String::new(), value)
                } else if rest.starts_with('{') {
                    let (labels, value) = rest.split_once("} ")?;
                    (format!("{labels}}}"), value)
                } else {
                    return None;
                };
                Some((labels, value.parse().ok()?))
            })
            .collect()
    }

    /// Ticks the server skipped or snapshots it dropped under load: the only reasons a client
    /// may see a tick number jump.
    pub async fn ticks_lost(&self) -> u64 {
        self.metric("tickroom_ticks_skipped_total").await
            + self.metric("tickroom_snapshots_dropped_total").await
    }

    /// Creates an arena match with `max_players` seats; returns its id.
    pub async fn arena(&self, max_players: u32) -> String {
        self.admin
            .create_match("arena", None, Some(max_players))
            .await
            .expect("create match")
            .id
    }

    /// Creates an `arena_large` match of `max_players` seats (its map grows with them).
    pub async fn arena_large(&self, max_players: u32) -> String {
        self.admin
            .create_match("arena_large", None, Some(max_players))
            .await
            .expect("create match")
            .id
    }

    /// Mints a token through the admin API.
    pub async fn token(&self, match_id: &str, player: &str, role: Role) -> String {
        self.admin
            .mint(match_id, player, role)
            .await
            .expect("mint token")
            .token
    }

    /// Connects with `token` and returns the client, or the handshake error.
    pub async fn connect(&self, token: &str) -> Result<Client, ConnectError> {
        let auth = AuthPayload {
            token: token.to_owned(),
            match_id: None,
            protocol: Some(PROTOCOL_VERSION),
        };
        Client::connect(&self.url, &auth, WAIT).await
    }

    /// Connects as `player` with `role` to `match_id` and consumes the welcome.
    pub async fn join(&self, match_id: &str, player: &str, role: Role) -> Client {
        let token = self.token(match_id, player, role).await;
        let mut c = self.connect(&token).await.expect("connect");
        let first = c.next_event(WAIT).await.expect("first event");
        assert!(first.welcome().is_some(), "first event is {}", first.name);
        c
    }
}

/// The next event named `name`, skipping others.
pub async fn next_named(c: &mut Client, name: &str) -> anyhow::Result<EventMsg> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, c.recv()).await {
            Ok(Some(Incoming::Event(e))) if e.name == name => return Ok(e),
            Ok(Some(Incoming::Event(_))) => continue,
            Ok(Some(Incoming::Closed(r))) => bail!("closed while waiting for {name}: {r:?}"),
            Ok(None) => bail!("client gone while waiting for {name}"),
            Err(_) => bail!("no {name} within {WAIT:?}"),
        }
    }
}

/// The next snapshot, decoded.
/// The next snapshot the client can rebuild (deltas before its first keyframe are skipped).
pub async fn next_snapshot<S: FromFrame>(c: &mut Client) -> anyhow::Result<Snapshot<S>> {
    loop {
        let e = next_named(c, event::SNAPSHOT).await?;
        if let Some(s) = c.snapshot(&e).context("decode snapshot")? {
            return Ok(s);
        }
    }
}

/// Waits for the first snapshot that satisfies `pred`.
pub async fn snapshot_where<S: FromFrame>(
    c: &mut Client,
    mut pred: impl FnMut(&Snapshot<S>) -> bool,
) -> anyhow::Result<Snapshot<S>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if tokio::time::Instant::now() > deadline {
            bail!("no matching snapshot within {WAIT:?}");
        }
        let s = next_snapshot::<S>(c).await?;
        if pred(&s) {
            return Ok(s);
        }
    }
}

/// The workspace's root folder.
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the cargo running these tests with `args`, from the workspace's root, building into
/// `target/<target>`: a folder of its own, so it never waits on the build running the test.
/// Returns its stdout; panics with its output when it fails.
pub fn cargo<S: AsRef<std::ffi::OsStr>>(target: &str, args: &[S]) -> String {
    let out = std::process::Command::new(env!("CARGO"))
        .args(args)
        .current_dir(workspace_dir())
        .env(
            "CARGO_TARGET_DIR",
            workspace_dir().join("target").join(target),
        )
        .output()
        .expect("run cargo");
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.success(),
        "cargo {}:\n{}{}",
        shown.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JS test client's folder.
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Installs the JS client's packages from the lock file, once per test process.
pub fn ensure_js_deps() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| npm::ci(&js_dir()).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Builds `@tickroom/client` (`npm ci` and `npm run build` in `clients/js`), once per test
/// process, so Node scripts can import its `dist/`.
pub fn ensure_client_package_built() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = client_package_dir();
        npm::ci(&dir)
            .and_then(|()| npm::run(&dir, "build").map(drop))
            .map_err(|e| format!("{e:#}"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// `@tickroom/client`'s folder (`clients/js`).
pub fn client_package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/js")
}

/// Runs `tests/js/join.mjs` against `url`; returns its stdout, or an error with its stderr.
pub async fn run_js_client(
    url: &str,
    token: &str,
    transport: &str,
    expect_refusal: Option<&str>,
) -> anyhow::Result<String> {
    let mut args = vec![url, token, transport];
    args.extend(expect_refusal);
    run_js_script("join.mjs", &args).await
}

/// Runs the Node script `tests/js/<script>` with `args`; returns its stdout, or an error with
/// its stderr if it fails or takes more than 30 s.
pub async fn run_js_script(script: &str, args: &[&str]) -> anyhow::Result<String> {
    ensure_js_deps()?;
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script).args(args);
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        cmd.current_dir(js_dir()).kill_on_drop(true).output(),
    )
    .await
    .with_context(|| format!("node {script} timed out"))??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "node {script} failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// A TCP proxy in front of a server whose connections a test can cut, to simulate a network
/// drop without touching either end.
#[derive(Debug)]
pub struct CutProxy {
    /// `http://` address of the proxy.
    pub url: String,
    cut: tokio::sync::watch::Sender<u64>,
    freeze: tokio::sync::watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CutProxy {
    /// Forwards every connection made to the proxy to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy addr"));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (freeze, _) = tokio::sync::watch::channel(0u64);
        let cut_tx = cut.clone();
        let freeze_tx = freeze.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut_rx = cut_tx.subscribe();
                let mut freeze_rx = freeze_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.changed() => {
                            // Reset rather than close: what a dropped network looks like.
                            let _ = inbound.set_zero_linger();
                            let _ = outbound.set_zero_linger();
                        }
                        _ = freeze_rx.changed() => {
                            // Both connections stay open and nothing passes any more, not
                            // even a close, until the test's runtime ends.
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
        });
        Self {
            url,
            cut,
            freeze,
            task,
        }
    }

    /// Cuts every connection open through the proxy now; later ones pass again.
    pub fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Stops every connection open through the proxy now, in both directions, without
    /// closing it: a network that silently stopped delivering.
    pub fn freeze_all(&self) {
        self.freeze.send_modify(|n| *n += 1);
    }
}

/// A client that completes the handshake with `token` through a 1 KiB receive buffer, then
/// never reads again: what a stalled or malicious client looks like to the server. Keep the
/// returned stream alive for as long as the client should stay connected.
pub async fn connect_and_stop_reading(
    server: &TestServer,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use futures_util::{SinkExt, StreamExt};
    use tickroom_shared::wire::{encode_packet, kind};
    use tokio_tungstenite::tungstenite::Message;

    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(1024).expect("SO_RCVBUF");
    let stream = socket.connect(server.addr).await.expect("connect");
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("websocket");
    ws.next().await.expect("open").expect("open"); // Engine.IO open
    let auth = rmp_serde::to_vec_named(&serde_json::json!({ "token": token })).expect("auth");
    ws.send(Message::Binary(
        encode_packet(kind::CONNECT, "/", Some(&auth)).into(),
    ))
    .await
    .expect("send CONNECT");
    loop {
        if let Message::Binary(_) = ws.next().await.expect("reply").expect("reply") {
            return ws; // the CONNECT reply; from here on nothing is read
        }
    }
}

/// Reads until the connection closes; returns the codes of the `error` events seen meanwhile.
pub async fn wait_closed(c: &mut Client) -> Vec<String> {
    let mut errors = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, c.recv())
            .await
            .expect("closed in time")
        {
            Some(Incoming::Closed(_)) | None => return errors,
            Some(Incoming::Event(e)) => errors.extend(e.error().map(|err| err.code)),
        }
    }
}

/// An arena input with no buttons held: walk in direction `dir`.
pub fn walk(
    seq: u32,
    dir: [f32; 2],
) -> tickroom_shared::InputMsg<tickroom_games::arena::ArenaInput> {
    tickroom_shared::InputMsg {
        seq,
        input: tickroom_games::arena::ArenaInput { dir, buttons: 0 },
    }
}

/// Opens an Engine.IO session over HTTP long-polling on `url`; returns the session's polling
/// URL (with its `sid`), where a client POSTs its packets and GETs the server's.
pub async fn open_polling_session(http: &reqwest::Client, url: &str) -> String {
    let open = http
        .get(format!("{url}/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .expect("GET the Engine.IO handshake")
        .text()
        .await
        .expect("its body");
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("an Engine.IO open packet");
    format!("{url}/socket.io/?EIO=4&transport=polling&sid={sid}")
}
