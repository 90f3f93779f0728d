//! The games a server can run, by name, and the demo games that ship with Tickroom.

pub mod arena;
pub mod tictactoe;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::room::Game;
use crate::room::driver::{self, RoomControl, Runtimes, SnapshotSink, SpawnParams};

/// Starts rooms of one game; implemented for every [`Game`].
trait Factory: Send + Sync {
    fn spawn(
        &self,
        params: SpawnParams,
        sink: Arc<dyn SnapshotSink>,
        metrics: Arc<Metrics>,
        runtimes: &Runtimes,
        shutdown: CancellationToken,
    ) -> Arc<dyn RoomControl>;
}

struct GameFactory<G>(Arc<G>);

impl<G: Game> Factory for GameFactory<G> {
    fn spawn(
        &self,
        params: SpawnParams,
        sink: Arc<dyn SnapshotSink>,
        metrics: Arc<Metrics>,
        runtimes: &Runtimes,
        shutdown: CancellationToken,
    ) -> Arc<dyn RoomControl> {
        driver::spawn(self.0.clone(), params, sink, metrics, runtimes, shutdown)
    }
}

/// The games a server offers, by name.
#[derive(Clone, Default)]
pub struct Catalog {
    games: BTreeMap<&'static str, Arc<dyn Factory>>,
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

    /// The catalog with the games that ship with Tickroom: "arena" and "tictactoe".
    pub fn builtin() -> Self {
        Self::new().with(arena::Arena).with(tictactoe::TicTacToe)
    }

    /// Adds `game` under [`Game::name`], replacing a game of the same name.
    pub fn with<G: Game>(mut self, game: G) -> Self {
        self.games
            .insert(game.name(), Arc::new(GameFactory(Arc::new(game))));
        self
    }

    /// The names of the games offered.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.games.keys().copied()
    }

    /// Whether a game of this name is offered.
    pub fn contains(&self, name: &str) -> bool {
        self.games.contains_key(name)
    }

    pub(crate) fn spawn(
        &self,
        game: &str,
        params: SpawnParams,
        sink: Arc<dyn SnapshotSink>,
        metrics: Arc<Metrics>,
        runtimes: &Runtimes,
        shutdown: CancellationToken,
    ) -> Option<Arc<dyn RoomControl>> {
        let factory = self.games.get(game)?;
        Some(factory.spawn(params, sink, metrics, runtimes, shutdown))
    }
}
