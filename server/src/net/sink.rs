//! The Socket.IO side of a room: snapshots and match end go to the room's Socket.IO room.

use bytes::Bytes;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::operators::BroadcastOperators;
use tickroom_shared::{MatchEnd, Presence, event};

use super::raw::RawMsgpack;
use super::sockets::view_room;
use tickroom_engine::SnapshotSink;
use tickroom_engine::driver::BoxFuture;

/// Broadcasts a room's output to the sockets of its match on this node.
#[derive(Debug)]
pub struct SocketIoSink<A: Adapter> {
    io: SocketIo<A>,
}

impl<A: Adapter> SocketIoSink<A> {
    /// A sink over `io`'s root namespace.
    pub fn new(io: SocketIo<A>) -> Self {
        Self { io }
    }

    /// The game namespace; `None` until it is registered (with Redis, until its adapter has
    /// subscribed), when no socket can be in a room anyway.
    fn game(&self) -> Option<BroadcastOperators<A>> {
        self.io.of(tickroom_shared::NAMESPACE)
    }
}

impl<A: Adapter> SnapshotSink for SocketIoSink<A> {
    fn publish<'a>(&'a self, match_id: &'a str, snapshot: Bytes) -> BoxFuture<'a> {
        Box::pin(async move {
            // `local()`: a room lives on one node, so its traffic never needs the adapter's
            // cross-node path (which, with Redis, can fail and skip local delivery too).
            let Some(ns) = self.game() else { return };
            let sent = ns
                .local()
                .to(match_id.to_owned())
                .emit(event::SNAPSHOT, &RawMsgpack(&snapshot))
                .await;
            if let Err(e) = sent {
                tracing::debug!(match_id, error = %e, "snapshot broadcast failed");
            }
        })
    }

    fn publish_view<'a>(
        &'a self,
        match_id: &'a str,
        viewer: &'a str,
        snapshot: Bytes,
    ) -> BoxFuture<'a> {
        Box::pin(async move {
            let Some(ns) = self.game() else { return };
            let sent = ns
                .local()
                .to(view_room(match_id, viewer))
                .emit(event::SNAPSHOT, &RawMsgpack(&snapshot))
                .await;
            if let Err(e) = sent {
                tracing::debug!(match_id, viewer, error = %e, "snapshot send failed");
            }
        })
    }

    fn presence<'a>(&'a self, match_id: &'a str, presence: &'a Presence) -> BoxFuture<'a> {
        Box::pin(async move {
            let Some(ns) = self.game() else { return };
            let _ = ns
                .local()
                .to(match_id.to_owned())
                .emit(event::PRESENCE, presence)
                .await;
        })
    }

    fn ended<'a>(&'a self, end: &'a MatchEnd) -> BoxFuture<'a> {
        Box::pin(async move {
            let Some(ns) = self.game() else { return };
            let room = end.match_id.clone();
            let _ = ns
                .clone()
                .local()
                .to(room.clone())
                .emit(event::MATCH_END, end)
                .await;
            let _ = ns.local().within(room).disconnect().await;
        })
    }
}
