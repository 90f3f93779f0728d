//! The Socket.IO server as the rest of the server sees it, whatever its adapter: alone, the
//! local adapter; in a cluster, the Redis adapter ([`crate::cluster::bus`]), through which
//! what is not `local()` reaches every node's sockets.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::operators::BroadcastOperators;
use socketioxide_core::adapter::{DefinedAdapter, Spawnable};
use tickroom_shared::{Announcement, ErrorCode, ErrorMsg, Moved, Shutdown, event, lobby};
use tokio_util::sync::CancellationToken;

use super::NetState;
use crate::metrics::Transports;

/// How long the connections of a match that moved have to leave by themselves before the
/// server disconnects them.
pub(crate) const MOVED_GRACE: Duration = Duration::from_secs(2);

/// How long [`Sockets::register`] waits for the namespaces to be in service.
const INIT_WAIT: Duration = Duration::from_secs(10);

/// A broadcast that could not reach the other nodes (Redis is away); this node's sockets got
/// it all the same.
#[derive(Debug, thiserror::Error)]
#[error("the other nodes could not be reached: {0}")]
pub(crate) struct Unreachable(String);

/// What the server does with its Socket.IO server.
pub(crate) trait Sockets: Send + Sync + std::fmt::Debug + 'static {
    /// Registers the namespaces' handlers; with Redis, also subscribes to the other nodes'
    /// events (retrying in the background while Redis is away).
    fn register(&self, app: Arc<NetState>) -> BoxFuture<'static, ()>;
    /// Counts this node's game connections by transport.
    fn transports(&self) -> Transports;
    /// Publishes the lobby's changes until `stop` (see [`super::lobby::publish`]).
    fn publish_lobby(&self, app: Arc<NetState>, stop: CancellationToken) -> BoxFuture<'static, ()>;
    /// Tells this node's game connections it is shutting down.
    fn notify_shutdown(&self, notice: Shutdown) -> BoxFuture<'static, ()>;
    /// Sends `moved` to this node's connections of its match; those still connected
    /// [`MOVED_GRACE`] later are disconnected.
    fn send_moved(&self, moved: Moved) -> BoxFuture<'static, ()>;
    /// Closes every connection of this node.
    fn close(&self) -> BoxFuture<'static, ()>;
    /// How many game connections `player` has, on every node.
    fn player_connections(&self, player: &str) -> BoxFuture<'static, Result<usize, Unreachable>>;
    /// Sends `code` to every game connection of `player`, on every node, and disconnects them.
    fn disconnect_player(
        &self,
        player: &str,
        code: ErrorCode,
    ) -> BoxFuture<'static, Result<(), Unreachable>>;
    /// Sends `announcement` to every connection of every node, lobby included.
    fn announce(&self, announcement: Announcement) -> BoxFuture<'static, Result<(), Unreachable>>;
}

/// The Socket.IO room of a player's game connections. An id never contains `/`, so it cannot
/// be mistaken for a match's room.
pub(crate) fn player_room(player: &str) -> String {
    format!("player/{player}")
}

/// The room of `viewer`'s connections to match `match_id`, where its own snapshots go (a game
/// with an interest): a player may have connections to other matches too.
pub(crate) fn view_room(match_id: &str, viewer: &str) -> String {
    format!("view/{match_id}/{viewer}")
}

/// [`Sockets`] over a `SocketIo` with adapter `A`.
pub(crate) struct Io<A: Adapter>(pub(crate) SocketIo<A>);

impl<A: Adapter> std::fmt::Debug for Io<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Io").finish_non_exhaustive()
    }
}

impl<A: Adapter + DefinedAdapter> Sockets for Io<A> {
    fn register(&self, app: Arc<NetState>) -> BoxFuture<'static, ()> {
        let io = self.0.clone();
        Box::pin(async move {
            // The Redis adapter's initialisation subscribes to its channels; the local one's
            // is nothing.
            super::lobby::register(&io, app.clone()).spawn();
            super::socket::register(&io, app).spawn();
            initialised(&io, &[lobby::NAMESPACE, tickroom_shared::NAMESPACE]).await;
        })
    }

    fn transports(&self) -> Transports {
        Transports::of(&self.0)
    }

    fn publish_lobby(&self, app: Arc<NetState>, stop: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(super::lobby::publish(app, self.0.clone(), stop))
    }

    fn notify_shutdown(&self, notice: Shutdown) -> BoxFuture<'static, ()> {
        let io = self.0.clone();
        Box::pin(async move {
            if let Some(ns) = io.of(tickroom_shared::NAMESPACE) {
                let _ = ns.local().emit(event::SHUTDOWN, &notice).await;
            }
        })
    }

    fn send_moved(&self, moved: Moved) -> BoxFuture<'static, ()> {
        let io = self.0.clone();
        Box::pin(async move {
            let Some(ns) = io.of(tickroom_shared::NAMESPACE) else {
                return;
            };
            let room = ns.local().within(moved.match_id.clone());
            let _ = room.clone().emit(event::MOVED, &moved).await;
            // The clients leave by themselves as they go to the other node. Disconnecting them
            // at once could overtake `moved` on a session that is upgrading from long-polling
            // (the close arriving, the event lost): those still here after a while go.
            tokio::spawn(async move {
                tokio::time::sleep(MOVED_GRACE).await;
                let _ = room.disconnect().await;
            });
        })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let io = self.0.clone();
        Box::pin(async move { io.close().await })
    }

    fn player_connections(&self, player: &str) -> BoxFuture<'static, Result<usize, Unreachable>> {
        let io = self.0.clone();
        let room = player_room(player);
        Box::pin(async move {
            let Some(ns) = io.of(tickroom_shared::NAMESPACE) else {
                return Ok(0);
            };
            ns.within(room)
                .fetch_sockets()
                .await
                .map(|sockets| sockets.len())
                .map_err(|e| Unreachable(e.to_string()))
        })
    }

    fn disconnect_player(
        &self,
        player: &str,
        code: ErrorCode,
    ) -> BoxFuture<'static, Result<(), Unreachable>> {
        let io = self.0.clone();
        let room = player_room(player);
        Box::pin(async move {
            match io.of(tickroom_shared::NAMESPACE) {
                Some(ns) => disconnect_with(ns.within(room), code).await,
                None => Ok(()),
            }
        })
    }

    fn announce(&self, announcement: Announcement) -> BoxFuture<'static, Result<(), Unreachable>> {
        let io = self.0.clone();
        Box::pin(async move {
            let mut result = Ok(());
            for path in [tickroom_shared::NAMESPACE, lobby::NAMESPACE] {
                let Some(ns) = io.of(path) else { continue };
                if let Err(e) = ns.clone().emit(event::ANNOUNCEMENT, &announcement).await {
                    // Redis is away: this node's connections hear it all the same.
                    let _ = ns.local().emit(event::ANNOUNCEMENT, &announcement).await;
                    result = Err(Unreachable(e.to_string()));
                }
            }
            result
        })
    }
}

/// Sends `code` to the sockets of `to`, then disconnects them. Through Redis the two arrive
/// in order (one channel, one connection). With Redis away, this node's sockets still go.
pub(crate) async fn disconnect_with<A: Adapter>(
    to: BroadcastOperators<A>,
    code: ErrorCode,
) -> Result<(), Unreachable> {
    let msg = ErrorMsg::new(code);
    match to.clone().emit(event::ERROR, &msg).await {
        Ok(()) => to
            .disconnect()
            .await
            .map_err(|e| Unreachable(e.to_string())),
        Err(e) => {
            let here = to.local();
            let _ = here.clone().emit(event::ERROR, &msg).await;
            let _ = here.disconnect().await;
            Err(Unreachable(e.to_string()))
        }
    }
}

/// Waits until the namespaces at `paths` are in service: at once with the local adapter; with
/// Redis once their channels are subscribed to (a second or so per channel while Redis is
/// away, the subscription then carrying on in the background).
async fn initialised<A: Adapter>(io: &SocketIo<A>, paths: &[&str]) {
    let waiting = async {
        while !paths.iter().all(|p| io.of(*p).is_some()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(INIT_WAIT, waiting).await.is_err() {
        tracing::warn!("the Socket.IO namespaces are still starting");
    }
}
