//! Hands a room's output to the sink on whatever runtime the embedder chose, in order.

use std::sync::Arc;

use bytes::Bytes;
use tickroom_shared::{MatchEnd, Presence};
use tokio::sync::mpsc;

use super::SnapshotSink;
use super::handle::Shared;
use crate::metrics::RoomMetrics;

/// What a room hands its publisher.
pub(super) enum Publish {
    Snapshot(Bytes),
    Presence(Presence),
    Ended(MatchEnd),
}

/// Delivers `rx` to `sink` until the match-end message, then marks the room closed.
pub(super) async fn run(
    match_id: Arc<str>,
    mut rx: mpsc::Receiver<Publish>,
    sink: Arc<dyn SnapshotSink>,
    shared: Arc<Shared>,
    metrics: Arc<dyn RoomMetrics>,
) {
    while let Some(msg) = rx.recv().await {
        match msg {
            Publish::Snapshot(bytes) => sink.publish(&match_id, bytes).await,
            Publish::Presence(p) => sink.presence(&match_id, &p).await,
            Publish::Ended(end) => {
                sink.ended(&end).await;
                break;
            }
        }
    }
    metrics.room_closed();
    shared.closed.cancel();
}
