//! The games an embedder offers, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use tickroom_shared::input::{Input, InputSchema};
use tokio_util::sync::CancellationToken;

use crate::driver::{self, Restored, SnapshotSink, SpawnParams, Spawned};
use crate::game::{Game, MatchRules};
use crate::metrics::RoomMetrics;
use crate::replay::{self, Playback, ReplayError, ReplayReport};

/// Starts a room of one game: [`driver::spawn`] with the game already chosen.
type Factory = dyn Fn(SpawnParams, Arc<dyn SnapshotSink>, Arc<dyn RoomMetrics>, CancellationToken) -> Spawned
    + Send
    + Sync;

/// The games offered, by name.
#[derive(Clone, Default)]
pub struct Catalog {
    games: BTreeMap<&'static str, Entry>,
}

/// Starts a room restored from a command log: [`driver::spawn_restored`].
type Restorer = dyn Fn(
        &[u8],
        SpawnParams,
        Arc<dyn SnapshotSink>,
        Arc<dyn RoomMetrics>,
        CancellationToken,
    ) -> Result<Restored, ReplayError>
    + Send
    + Sync;

type Replayer = dyn Fn(&[u8]) -> Result<ReplayReport, ReplayError> + Send + Sync;
type Player = dyn Fn(&[u8], usize) -> Result<Playback, ReplayError> + Send + Sync;

#[derive(Clone)]
struct Entry {
    factory: Arc<Factory>,
    restorer: Arc<Restorer>,
    replayer: Arc<Replayer>,
    player: Arc<Player>,
    rules: MatchRules,
    input: Arc<InputSchema>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.games.keys()).finish()
    }
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `game` under [`Game::name`], replacing a game of the same name.
    pub fn with<G: Game>(mut self, game: G) -> Self {
        let name = game.name();
        let rules = game.match_rules();
        let input = Arc::new(<G::Input as Input>::schema());
        let game = Arc::new(game);
        let replayed = game.clone();
        let replayer: Arc<Replayer> = Arc::new(move |log| replay::replay(replayed.clone(), log));
        let played = game.clone();
        let player: Arc<Player> =
            Arc::new(move |log, max| replay::playback(played.clone(), log, max));
        let restored = game.clone();
        let restorer: Arc<Restorer> = Arc::new(move |log, params, sink, metrics, stop| {
            driver::spawn_restored(restored.clone(), log, params, sink, metrics, stop)
        });
        let factory: Arc<Factory> = Arc::new(move |params, sink, metrics, stop| {
            driver::spawn(game.clone(), params, sink, metrics, stop)
        });
        self.games.insert(
            name,
            Entry {
                factory,
                restorer,
                replayer,
                player,
                rules,
                input,
            },
        );
        self
    }

    /// The names of the games offered, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.games.keys().copied()
    }

    /// The catalog's own copy of `name`, if a game of that name is offered.
    pub fn get(&self, name: &str) -> Option<&'static str> {
        self.games.get_key_value(name).map(|(k, _)| *k)
    }

    /// How matchmaking fills matches of `name` ([`Game::match_rules`]).
    pub fn rules(&self, name: &str) -> Option<MatchRules> {
        self.games.get(name).map(|e| e.rules)
    }

    /// The input schema of `name` ([`Game::Input`]): what its clients send.
    pub fn input_schema(&self, name: &str) -> Option<&InputSchema> {
        self.games.get(name).map(|e| &*e.input)
    }

    /// Builds a room of the game `name` (see [`driver::spawn`]); `None` for an unknown game.
    pub fn spawn(
        &self,
        name: &str,
        params: SpawnParams,
        sink: Arc<dyn SnapshotSink>,
        metrics: Arc<dyn RoomMetrics>,
        stop: CancellationToken,
    ) -> Option<Spawned> {
        let entry = self.games.get(name)?;
        Some((entry.factory)(params, sink, metrics, stop))
    }

    /// Builds the room `log` leaves, with the game its header names, ready to run
    /// ([`driver::spawn_restored`]): how a match goes on in another process.
    pub fn restore(
        &self,
        log: &[u8],
        params: SpawnParams,
        sink: Arc<dyn SnapshotSink>,
        metrics: Arc<dyn RoomMetrics>,
        stop: CancellationToken,
    ) -> Result<Restored, ReplayError> {
        (self.entry_of(log)?.restorer)(log, params, sink, metrics, stop)
    }

    /// Replays a command log with the game its header names ([`replay::replay`]).
    pub fn replay(&self, log: &[u8]) -> Result<ReplayReport, ReplayError> {
        (self.entry_of(log)?.replayer)(log)
    }

    /// A command log's match as a spectator watched it, up to `max_bytes` of snapshots
    /// ([`replay::playback`]), with the game its header names.
    pub fn playback(&self, log: &[u8], max_bytes: usize) -> Result<Playback, ReplayError> {
        (self.entry_of(log)?.player)(log, max_bytes)
    }

    fn entry_of(&self, log: &[u8]) -> Result<&Entry, ReplayError> {
        let header = replay::read_header(log)?;
        self.games
            .get(header.game.as_str())
            .ok_or(ReplayError::UnknownGame(header.game))
    }
}
