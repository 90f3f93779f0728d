//! Hands a room's output to the sink on whatever runtime the embedder chose, in order.

use std::sync::Arc;

use super::SnapshotSink;
use super::handle::Shared;
use super::outbox::{Outbox, Publish};
use crate::metrics::RoomMetrics;

/// Delivers what the room queues in `outbox` to `sink` until the match-end message (or until
/// the room's task is gone), then marks the room closed.
pub(super) async fn run(
    match_id: Arc<str>,
    outbox: Arc<Outbox>,
    sink: Arc<dyn SnapshotSink>,
    shared: Arc<Shared>,
    metrics: Arc<dyn RoomMetrics>,
) {
    while let Some(msg) = outbox.pop().await {
        match msg {
            Publish::Snapshot(bytes) => sink.publish(&match_id, bytes).await,
            Publish::Views(views) => {
                for (viewer, bytes) in views {
                    sink.publish_view(&match_id, &viewer, bytes).await;
                }
            }
            Publish::Presence(p) => sink.presence(&match_id, &p).await,
            Publish::Ended(end) => {
                // A match that moved did not end: its connections were sent elsewhere.
                if end.reason != tickroom_shared::EndReason::Moved {
                    sink.ended(&end).await;
                }
                break;
            }
        }
    }
    metrics.room_closed();
    shared.closed.cancel();
}
