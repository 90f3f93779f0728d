//! The composition root: the one place the server's parts are built and wired together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::layer::SocketIoLayer;
use socketioxide_core::adapter::DefinedAdapter;
use tickroom_engine::Catalog;
use tickroom_shared::{Shutdown, TokenKey};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cluster::Registry;
use crate::cluster::bus::{Bus, ClusterAdapter};
use crate::cluster::checkpoint::Checkpoints;
use crate::cluster::directory::ClusterDirectory;
use crate::config::{Config, ConfigError, NetConfig, ShutdownConfig};
use crate::directory::Directory;
use crate::matchmaking::queue::Queue;
use crate::matchmaking::{Identities, Matchmaker};
use crate::metrics::Metrics;
use crate::net::{self, NetState, OriginPolicy};
use crate::ratelimit::{HandshakeLimiter, InputLimiter, KeyedLimiter};
use crate::results::{ResultStore, StoreError};
use crate::runtime::{Runtimes, SimRuntime};

/// How often idle rate-limiter entries are swept.
const LIMITER_SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Why the server could not be built or could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unsafe or invalid for the bound address.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Listening or serving failed, or the simulation runtime could not start.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The results store could not be opened.
    #[error(transparent)]
    Results(#[from] StoreError),
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] net::tls::TlsError),
    /// The catalog offers no game: give the builder one with [`ServerBuilder::games`].
    #[error("no games to serve: add them with `Server::builder(config).games(catalog)`")]
    NoGames,
    /// [`ServerBuilder::build`] was called outside a tokio runtime.
    #[error("the server must be built inside a tokio runtime")]
    NoRuntime,
}

/// Builds a [`Server`]: `Server::builder(config).games(catalog).build()?`.
#[derive(Debug)]
#[must_use]
pub struct ServerBuilder {
    config: Config,
    catalog: Catalog,
    routes: axum::Router,
}

impl ServerBuilder {
    /// The configuration it will serve with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Offers the games of `catalog` (instead of the demo games, or of an earlier call's).
    pub fn games(mut self, catalog: Catalog) -> Self {
        self.catalog = catalog;
        self
    }

    /// Serves `routes` beside the server's own (a game's page, say), behind the same origin
    /// check, body limit and connection limits. Merged into the server's router: a path the
    /// server already serves (`/`, `/demo/`, `/admin/…`, `/client/tickroom.js` …) panics when
    /// the server is built, as axum's `merge` does.
    pub fn routes(mut self, routes: axum::Router) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }

    /// Checks the configuration, opens the results store, loads the TLS files, starts the
    /// simulation runtime and wires the transport to the directory. Call it inside a tokio
    /// runtime: everything but the ticks runs on it.
    pub fn build(self) -> Result<Server, ServeError> {
        let Self {
            config,
            catalog,
            routes,
        } = self;
        config.validate()?;
        if catalog.names().next().is_none() {
            return Err(ServeError::NoGames);
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ServeError::NoRuntime);
        }
        let tls = match &config.net.tls {
            Some(files) => Some(net::tls::load(&files.cert, &files.key)?),
            None => None,
        };
        let results = match &config.results_db {
            Some(path) => Some(Arc::new(ResultStore::open(path)?)),
            None => None,
        };
        let sim = SimRuntime::new(config.matches.sim_threads())?;
        // Alone, the local adapter; in a cluster, socketioxide's Redis adapter carries what
        // crosses nodes (room traffic stays `local()`).
        let builder = net::socketio(&config.limits, &config.net);
        match &config.cluster {
            None => Self::assemble(
                catalog,
                routes,
                config,
                tls,
                results,
                sim,
                None,
                builder.build_layer(),
            ),
            Some(cluster) => {
                let bus = Bus::new(&cluster.redis_url)
                    .map_err(|e| ConfigError::Cluster(e.to_string()))?;
                let io = builder
                    .with_adapter::<ClusterAdapter<_>>(bus.clone().adapter())
                    .build_layer();
                Self::assemble(catalog, routes, config, tls, results, sim, Some(bus), io)
            }
        }
    }

    /// Wires the server's parts around its Socket.IO server.
    #[allow(clippy::too_many_arguments)]
    fn assemble<A: Adapter + DefinedAdapter>(
        catalog: Catalog,
        routes: axum::Router,
        config: Config,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
        results: Option<Arc<ResultStore>>,
        sim: SimRuntime,
        bus: Option<Bus>,
        (layer, io): (SocketIoLayer<A>, SocketIo<A>),
    ) -> Result<Server, ServeError> {
        let runtimes = Runtimes::new(&sim);
        let metrics = Arc::new(Metrics::default());
        let shutdown = CancellationToken::new();
        let directory = Arc::new(Directory::new(
            catalog,
            Arc::new(net::sink::SocketIoSink::new(io.clone())),
            metrics.clone(),
            config.matches.clone(),
            results,
            runtimes.clone(),
            shutdown.clone(),
        ));
        // With Redis, matchmaking sees every node's matches; alone, this node's.
        let registry = Arc::new(std::sync::OnceLock::new());
        let matches: Arc<dyn crate::matchmaking::MatchDirectory> = match &config.cluster {
            Some(_) => Arc::new(ClusterDirectory::new(
                directory.clone(),
                registry.clone(),
                config.auth.admin_key.clone(),
                shutdown.clone(),
            )),
            None => directory.clone(),
        };
        let matchmaker = Arc::new(Matchmaker::new(
            matches,
            metrics.clone(),
            config.matchmaking.reservation_ttl,
        ));
        let identities = match Identities::new(&config.matchmaking, config.auth.uses_dev_keys()) {
            Ok(identities) => identities,
            Err(e) => return Err(ConfigError::PlayerKey(e).into()),
        };
        let state = Arc::new(NetState {
            directory: directory.clone(),
            key: TokenKey::new(
                config.auth.token_secret.as_bytes(),
                config.auth.token_issuer.clone(),
            ),
            admin_key: config.auth.admin_key.clone(),
            token_ttl: config.auth.token_ttl,
            metrics: metrics.clone(),
            limiter: InputLimiter::new(config.limits.input_rate, config.limits.input_burst),
            handshakes: HandshakeLimiter::new(
                config.limits.handshake_rate,
                config.limits.handshake_burst,
            ),
            sessions: HandshakeLimiter::new(
                config.limits.session_rate,
                config.limits.session_burst,
            ),
            session_log: net::conns::LogLimiter::default(),
            refusal_log: net::conns::LogLimiter::default(),
            disconnect_log: net::conns::LogLimiter::default(),
            limits: config.limits.clone(),
            net: config.net.clone(),
            origins: OriginPolicy::new(&config.net.allowed_origins, config.auth.uses_dev_keys()),
            dev_keys: config.auth.uses_dev_keys(),
            shutdown: shutdown.clone(),
            started: Instant::now(),
            matchmaker: matchmaker.clone(),
            queue: Arc::new(Queue::new(matchmaker, metrics.clone(), &config.matchmaking)),
            identities,
            matchmaking_addresses: HandshakeLimiter::new(
                config.matchmaking.address_rate,
                config.matchmaking.address_burst,
            ),
            matchmaking_players: KeyedLimiter::new(
                config.matchmaking.player_rate,
                config.matchmaking.player_burst,
            ),
            registry,
            checkpoints: std::sync::OnceLock::new(),
            http: reqwest::Client::new(),
            public_url: config
                .matchmaking
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            sockets: Arc::new(net::sockets::Io(io)),
            polling: Arc::new(net::polling::PollingSessions::new(
                config.net.ping_interval,
                config.net.ping_timeout,
                metrics.clone(),
            )),
        });
        Ok(Server {
            router: net::router(state.clone(), layer, routes),
            bus,
            config,
            state,
            tls,
            runtimes,
            sim,
            shutdown,
        })
    }
}

/// A built server, ready to serve a listener.
pub struct Server {
    config: Config,
    state: Arc<NetState>,
    router: axum::Router,
    /// The cross-node event bus, in a cluster.
    bus: Option<Bus>,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    runtimes: Runtimes,
    sim: SimRuntime,
    /// The server's own shutdown, cancelled when `serve`'s is.
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder serving `config`; give it its games with [`ServerBuilder::games`]. With
    /// the `demo-games` feature (on by default) it starts with the demo games
    /// (`tickroom_games::builtin()`), else with none.
    pub fn builder(config: Config) -> ServerBuilder {
        #[cfg(feature = "demo-games")]
        let catalog = tickroom_games::builtin();
        #[cfg(not(feature = "demo-games"))]
        let catalog = Catalog::new();
        ServerBuilder {
            config,
            catalog,
            routes: axum::Router::new(),
        }
    }

    /// The matches of this server, to create and end them without the admin API.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.state.directory
    }

    /// The server's counters, as `/metrics` renders them.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.state.metrics
    }

    /// Serves on `listener` until `shutdown` is cancelled, then drains: clients are told,
    /// new matches and connections are refused, running matches get the drain period to
    /// finish and are then ended, every result is saved and the connections are closed, all
    /// within the configured shutdown timeout.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let addr = listener.local_addr()?;
        self.config.validate_for(addr)?;
        let Self {
            config,
            state,
            router,
            bus,
            tls,
            runtimes,
            sim,
            shutdown: own_shutdown,
        } = self;
        state.sockets.register(state.clone()).await;
        let stop_results = CancellationToken::new();
        if let Some(store) = state.directory.results() {
            tokio::spawn(store.clone().retry(stop_results.clone()));
        }
        runtimes.spawn_io(sweep_limiters(state.clone(), own_shutdown.clone()));
        runtimes.spawn_io(state.queue.clone().run(own_shutdown.clone()));
        runtimes.spawn_io(
            state
                .sockets
                .publish_lobby(state.clone(), own_shutdown.clone()),
        );
        tracing::info!(%addr, tls = tls.is_some(), games = ?state.directory.games().collect::<Vec<_>>(), "tickroom listening");
        let base = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
        let demo = state.directory.games().any(|g| g == net::demo::DEMO_GAME);
        if state.dev_keys && demo {
            tracing::info!(
                "play: {base}/demo/ · dashboard: {base}/dashboard/#key={} · metrics: {base}/metrics · next: cargo run --release -p tickroom-bots -- join --bots 3 --seconds 5",
                state.admin_key
            );
        } else if state.dev_keys {
            tracing::info!(
                "dashboard: {base}/dashboard/#key={} · metrics: {base}/metrics · admin API: {base}/admin/",
                state.admin_key
            );
        } else {
            tracing::info!(
                "dashboard: {base}/dashboard/ · metrics: {base}/metrics · admin API: {base}/admin/"
            );
        }

        // With Redis, the node registers itself and beats until it exits; it says it drains
        // from the moment the shutdown begins.
        let registry = match &config.cluster {
            Some(cluster) => {
                let url = state.public_url.clone().unwrap_or_else(|| base.clone());
                let registry = Arc::new(
                    Registry::new(cluster, url).map_err(|e| ConfigError::Cluster(e.to_string()))?,
                );
                let _ = state.registry.set(registry.clone());
                let stop_beats = CancellationToken::new();
                if let Some(bus) = bus {
                    tokio::spawn(bus.keep_alive(stop_beats.clone()));
                }
                tokio::spawn(registry.clone().run(
                    state.directory.clone(),
                    state.metrics.clone(),
                    own_shutdown.clone(),
                    stop_beats.clone(),
                ));
                // Checkpoints need the matches' logs: a node that records nothing writes none.
                if !cluster.checkpoint.is_zero() && state.directory.records() {
                    let checkpoints = Arc::new(Checkpoints::new(registry.clone()));
                    let _ = state.checkpoints.set(checkpoints.clone());
                    tokio::spawn(checkpoints.run(
                        state.directory.clone(),
                        cluster.checkpoint,
                        stop_beats.clone(),
                    ));
                    tokio::spawn(net::migration::restore_orphans(
                        state.clone(),
                        cluster.heartbeat,
                        own_shutdown.clone(),
                    ));
                }
                tracing::info!(
                    node = registry.id(),
                    url = registry.url(),
                    "cluster: registering in redis"
                );
                Some((registry, stop_beats))
            }
            None => None,
        };

        // The listener stays open through the drain, so late clients are told `server_busy`
        // instead of finding the port closed.
        let stop_http = CancellationToken::new();
        let max_connections = config
            .limits
            .max_connections
            .unwrap_or_else(net::conns::default_max_connections);
        // Off with the development keys, whose server only listens on loopback (see
        // `NetState::dev_keys`), unless set explicitly.
        let per_ip = config
            .limits
            .max_connections_per_ip
            .unwrap_or(if state.dev_keys {
                0
            } else {
                (max_connections / 4).max(1)
            });
        tracing::info!(max_connections, per_ip, "connection caps");
        let limits = net::conns::ConnLimits::new(max_connections, per_ip, state.metrics.clone());
        let serving = tokio::spawn(accept(
            listener,
            router,
            tls,
            config.net.clone(),
            limits,
            stop_http.clone(),
        ));

        shutdown.cancelled().await;
        own_shutdown.cancel();
        if config.cluster.as_ref().is_some_and(|c| c.migrate_on_drain) {
            net::migration::move_all(&state).await;
        }
        drain(&state, &config.shutdown).await;
        if let Some(checkpoints) = state.checkpoints.get()
            && let Err(e) = checkpoints.save_all(&state.directory).await
        {
            tracing::warn!(error = %e, "checkpoint: the ended matches' checkpoints could not be deleted; they expire by themselves");
        }

        let deadline = config.shutdown.timeout;
        let close = async {
            // Rooms run their last tick, send `match_end` and disconnect their sockets, and
            // their results are saved; then the sockets that were not in a room are closed.
            runtimes.tracker.close();
            runtimes.tracker.wait().await;
            state.sockets.close().await;
            // Results the store could not take yet get a last try.
            if let Some(store) = state.directory.results()
                && store.waiting() > 0
                && let Err(e) = store.flush().await
            {
                tracing::error!(lost = store.waiting(), error = %e, "results store unavailable at exit: results lost");
            }
        };
        if tokio::time::timeout(deadline, close).await.is_err() {
            tracing::warn!(
                ?deadline,
                "shutdown timed out; dropping remaining connections"
            );
        }
        stop_results.cancel();
        if let Some((registry, stop_beats)) = registry {
            stop_beats.cancel();
            if let Err(e) = registry.leave().await {
                tracing::warn!(error = %e, "registry: could not remove this node's entry; it expires by itself");
            }
        }
        stop_http.cancel();
        drop(sim);
        match tokio::time::timeout(deadline, serving).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
            Err(_) => tracing::warn!("HTTP server did not stop in time"),
        }
        Ok(())
    }
}

/// Serves `catalog`'s games on `listener` with `config` until `shutdown` is cancelled:
/// `Server::builder(config).games(catalog).build()?.serve(listener, shutdown)`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    catalog: Catalog,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    Server::builder(config)
        .games(catalog)
        .build()?
        .serve(listener, shutdown)
        .await
}

/// Accepts connections on `listener` (TLS when configured) until `stop` is cancelled.
async fn accept(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    net: NetConfig,
    limits: Arc<net::conns::ConnLimits>,
    stop: CancellationToken,
) {
    let write_timeout = net.write_timeout;
    let tune = move |tcp: &tokio::net::TcpStream| {
        // Snapshots are small and latency-bound: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        // A peer that stops reading makes our writes wait forever (and socketioxide's writer
        // with them); the kernel drops the connection once sent data has waited this long.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(write_timeout));
    };
    let header_timeout = net.header_read_timeout;
    match tls {
        None => {
            let listener = axum::serve::ListenerExt::tap_io(
                listener,
                move |tcp: &mut tokio::net::TcpStream| tune(tcp),
            );
            net::serve::serve(listener, router, header_timeout, limits, stop).await;
        }
        Some(tls) => {
            let listener = net::tls::TlsListener::new(listener, tls, net.connect_timeout, tune);
            net::serve::serve(listener, router, header_timeout, limits, stop).await;
        }
    }
}

/// Tells every client the server is going, ends the matches nobody is in, and waits for the
/// others to end by themselves until the drain deadline; then ends those still running.
async fn drain(state: &NetState, shutdown: &ShutdownConfig) {
    let directory = &state.directory;
    let drain = shutdown.drain;
    tracing::info!(?drain, "shutting down: draining running matches");
    let millis = u64::try_from(drain.as_millis()).unwrap_or(u64::MAX);
    let notice = Shutdown {
        reason: "server_shutdown".to_owned(),
        deadline_ms: millis,
        reconnect_after_ms: millis,
    };
    state.sockets.notify_shutdown(notice).await;
    // Matches with nobody in them would wait out the whole drain for nothing; so would ones
    // whose last players leave during it (the directory ends those as they empty).
    directory.begin_drain();
    if tokio::time::timeout(drain, directory.all_closed())
        .await
        .is_err()
    {
        tracing::info!(
            still_running = directory.open_rooms(),
            "drain deadline: ending the remaining matches"
        );
    }
    directory.stop_rooms();
}

/// Forgets idle rate-limiter entries every [`LIMITER_SWEEP_EVERY`] until shutdown.
async fn sweep_limiters(state: Arc<NetState>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(LIMITER_SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = every.tick() => {
                state.limiter.sweep();
                state.handshakes.sweep();
                state.sessions.sweep();
                state.matchmaking_addresses.sweep();
                state.matchmaking_players.sweep();
            }
        }
    }
}
