//! The games an embedder offers, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::driver::{self, SnapshotSink, SpawnParams, Spawned};
use crate::game::Game;
use crate::metrics::RoomMetrics;

/// Starts a room of one game: [`driver::spawn`] with the game already chosen.
type Factory = dyn Fn(SpawnParams, Arc<dyn SnapshotSink>, Arc<dyn RoomMetrics>, CancellationToken) -> Spawned
    + Send
    + Sync;

/// The games offered, by name.
#[derive(Clone, Default)]
pub struct Catalog {
    games: BTreeMap<&'static str, Arc<Factory>>,
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
        let game = Arc::new(game);
        let factory: Arc<Factory> = Arc::new(move |params, sink, metrics, stop| {
            driver::spawn(game.clone(), params, sink, metrics, stop)
        });
        self.games.insert(name, factory);
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

    /// Builds a room of the game `name` (see [`driver::spawn`]); `None` for an unknown game.
    pub fn spawn(
        &self,
        name: &str,
        params: SpawnParams,
        sink: Arc<dyn SnapshotSink>,
        metrics: Arc<dyn RoomMetrics>,
        stop: CancellationToken,
    ) -> Option<Spawned> {
        let factory = self.games.get(name)?;
        Some(factory(params, sink, metrics, stop))
    }
}
