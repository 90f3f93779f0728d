//! The games a server can run, by name, and the demo games that ship with Tickroom.

pub mod arena;
pub mod tictactoe;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::room::Game;
use crate::room::driver::{self, RoomControl, Runtimes, SnapshotSink, SpawnParams};

/// Starts a room of one game: [`driver::spawn`] with the game already chosen.
type Factory = dyn Fn(
        SpawnParams,
        Arc<dyn SnapshotSink>,
        Arc<Metrics>,
        &Runtimes,
        CancellationToken,
    ) -> Arc<dyn RoomControl>
    + Send
    + Sync;

/// The games a server offers, by name.
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

    /// The catalog with the games that ship with Tickroom: "arena" and "tictactoe".
    pub fn builtin() -> Self {
        Self::new().with(arena::Arena).with(tictactoe::TicTacToe)
    }

    /// Adds `game` under [`Game::name`], replacing a game of the same name.
    pub fn with<G: Game>(mut self, game: G) -> Self {
        let name = game.name();
        let game = Arc::new(game);
        let factory: Arc<Factory> = Arc::new(move |params, sink, metrics, runtimes, stop| {
            driver::spawn(game.clone(), params, sink, metrics, runtimes, stop)
        });
        self.games.insert(name, factory);
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
        stop: CancellationToken,
    ) -> Option<Arc<dyn RoomControl>> {
        let factory = self.games.get(game)?;
        Some(factory(params, sink, metrics, runtimes, stop))
    }
}
