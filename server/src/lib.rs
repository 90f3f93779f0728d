//! Tickroom: an authoritative game room server over Socket.IO + MessagePack.
//!
//! Each match is a room: a `bevy_ecs` World ticked at a fixed rate by its own task. Clients
//! connect with a signed match token, send inputs, and receive the room's snapshot after every
//! tick. The simulation ([`room`]) knows nothing of sockets; the transport ([`net`]) knows
//! nothing of games.
//!
//! # Layout
//! - [`config`]: every limit and default, by flag or env var.
//! - [`room`]: the room engine and the [`Game`](room::Game) API; [`room::driver`] ticks a room.
//! - [`games`]: the game catalog and the demo game "arena".
//! - [`registry`]: the matches on this node and their seats.
//! - [`auth`]: handshake token checks.
//! - [`ratelimit`]: per-player input budgets (governor).
//! - [`net`]: Socket.IO handlers, the snapshot sink, the admin API.
//! - [`metrics`]: counters rendered at `/metrics`.
//!
//! # Quick start
//! ```no_run
//! # async fn demo() -> Result<(), tickroom_server::ServeError> {
//! use tickroom_server::{Config, run};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7350").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! run(listener, Config::default(), shutdown).await
//! # }
//! ```
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod games;
pub mod metrics;
pub mod net;
pub mod ratelimit;
pub mod registry;
pub mod results;
pub mod room;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tickroom_shared::{EndReason, Shutdown};

use tickroom_shared::TokenKey;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use games::Catalog;

use metrics::Metrics;
use ratelimit::InputLimiter;
use registry::Registry;
use results::ResultStore;

/// How often idle rate-limiter entries are swept.
const LIMITER_SWEEP_EVERY: Duration = Duration::from_secs(30);

/// State shared by every handler.
#[derive(Debug)]
pub struct App {
    /// The configuration served.
    pub config: Arc<Config>,
    /// Verifies (and for the admin API, signs) match tokens.
    pub key: TokenKey,
    /// Matches on this node.
    pub registry: Registry,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Per-player input budgets.
    pub limiter: InputLimiter,
    /// Per-address handshake budgets.
    pub handshakes: ratelimit::HandshakeLimiter,
    /// Cancelled when the server begins shutting down.
    pub shutdown: CancellationToken,
    /// When the server started.
    pub started: Instant,
}

/// The simulation runtime. Dropping a runtime from async code must not block, so its threads
/// are stopped in the background — also when `run`'s future is dropped rather than finished.
struct SimRuntime(Option<tokio::runtime::Runtime>);

impl Drop for SimRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unsafe or invalid for the bound address.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Listening or serving failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The results store could not be opened.
    #[error(transparent)]
    Results(#[from] results::StoreError),
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] net::tls::TlsError),
}

/// Serves the built-in games on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    run_with(listener, config, Catalog::builtin(), shutdown).await
}

/// Serves the games of `catalog` on `listener` until `shutdown` is cancelled, then ends every
/// match (clients get `match_end`), closes the connections and returns, all within the
/// configured shutdown timeout.
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    catalog: Catalog,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    config.validate(addr)?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(net::tls::load(cert, key)?),
        _ => None,
    };
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    let tracker = TaskTracker::new();
    // Rooms tick on their own threads, so socket work (a flood, a slow client) can never make a
    // tick late; 0 threads shares the I/O runtime instead.
    let sim_runtime = SimRuntime(match config.sim_threads {
        0 => None,
        n => Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .thread_name("tickroom-sim")
                .enable_time()
                .build()?,
        ),
    });
    let mut runtimes = room::driver::Runtimes::current(tracker.clone());
    if let Some(rt) = &sim_runtime.0 {
        runtimes.sim = rt.handle().clone();
    }
    let (layer, io) = net::socketio(&config);
    let sink = Arc::new(net::sink::SocketIoSink::new(io.clone()));
    let results = Arc::new(ResultStore::open(&config.results_db)?);
    let app = Arc::new(App {
        key: TokenKey::new(config.token_secret.as_bytes(), config.token_issuer.clone()),
        registry: Registry::new(
            catalog,
            sink,
            metrics.clone(),
            config.clone(),
            runtimes,
            shutdown.clone(),
        )
        .with_results(results),
        limiter: InputLimiter::new(config.input_rate, config.input_burst),
        handshakes: ratelimit::HandshakeLimiter::new(config.handshake_rate, config.handshake_burst),
        metrics,
        shutdown: shutdown.clone(),
        started: Instant::now(),
        config: config.clone(),
    });
    let router = net::router(app.clone(), &io, layer);

    {
        let app = app.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let mut every = tokio::time::interval(LIMITER_SWEEP_EVERY);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = every.tick() => {
                        app.limiter.sweep();
                        app.handshakes.sweep();
                    }
                }
            }
        });
    }

    tracing::info!(%addr, tls = tls.is_some(), games = ?app.registry.catalog(), "tickroom listening");
    // The listener stays open through the drain, so late clients are told `server_busy`
    // instead of finding the port closed.
    let stop_http = CancellationToken::new();
    let write_timeout = Duration::from_millis(config.write_timeout_ms);
    let tune = move |tcp: &tokio::net::TcpStream| {
        // Snapshots are small and latency-bound: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        // A peer that stops reading makes our writes wait forever (and socketioxide's writer
        // with them); the kernel drops the connection once sent data has waited this long.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(write_timeout));
    };
    let header_timeout = Duration::from_millis(config.header_read_timeout_ms);
    let serving = match &tls {
        None => {
            let listener = axum::serve::ListenerExt::tap_io(
                listener,
                move |tcp: &mut tokio::net::TcpStream| tune(tcp),
            );
            tokio::spawn(net::serve::serve(
                listener,
                router,
                header_timeout,
                stop_http.clone(),
            ))
        }
        Some(tls) => {
            let listener =
                net::tls::TlsListener::new(listener, tls.clone(), config.connect_timeout(), tune);
            tokio::spawn(net::serve::serve(
                listener,
                router,
                header_timeout,
                stop_http.clone(),
            ))
        }
    };

    shutdown.cancelled().await;
    let drain = Duration::from_secs(config.drain_secs);
    tracing::info!(?drain, "shutting down: draining running matches");
    let notice = Shutdown {
        reason: "server_shutdown".to_owned(),
        deadline_ms: u64::try_from(drain.as_millis()).unwrap_or(u64::MAX),
        reconnect_after_ms: u64::try_from(drain.as_millis()).unwrap_or(u64::MAX),
    };
    if let Some(ns) = io.of(tickroom_shared::NAMESPACE) {
        let _ = ns
            .local()
            .emit(tickroom_shared::event::SHUTDOWN, &notice)
            .await;
    }
    // Matches with nobody in them would wait out the whole drain for nothing; so would ones
    // whose last players leave during it.
    let drained = async {
        loop {
            app.registry.end_idle(EndReason::Shutdown);
            if app.registry.live() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(drain, drained).await.is_err() {
        tracing::info!(
            still_running = app.registry.live(),
            "drain deadline: ending the remaining matches"
        );
    }
    app.registry.stop_rooms();

    let deadline = config.shutdown_timeout();
    let close = async {
        // Rooms run their last tick, send `match_end` and disconnect their sockets, and their
        // results are saved; then the sockets that were not in a room are closed.
        tracker.close();
        tracker.wait().await;
        io.close().await;
    };
    if tokio::time::timeout(deadline, close).await.is_err() {
        tracing::warn!(
            ?deadline,
            "shutdown timed out; dropping remaining connections"
        );
    }
    stop_http.cancel();
    drop(sim_runtime);
    match tokio::time::timeout(deadline, serving).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!("HTTP server did not stop in time"),
    }
    Ok(())
}
