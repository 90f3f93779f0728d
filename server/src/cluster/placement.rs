//! Placement: a match created through any node's admin API goes to the least loaded node of
//! the registry. Another node's match is created by forwarding the request to it (nodes share
//! the admin key), marked so that node creates it where it is.

use std::time::Duration;

use super::{NodeInfo, Registry};
use crate::directory::Directory;

/// Header on a request another node made: answer it here (create the match here, sign the
/// token here), do not forward it again.
pub const PLACED_HEADER: &str = "x-tickroom-placed";
/// How long a call to another node may take.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// `POST`s `body` as JSON to `path` of the admin API at `node_url` (another node): with the
/// shared admin key, marked as [placed](PLACED_HEADER) so it is not forwarded again, within
/// [`FORWARD_TIMEOUT`]. Every node-to-node call goes through here.
pub async fn post(
    http: &reqwest::Client,
    admin_key: &str,
    node_url: &str,
    path: &str,
    body: &impl serde::Serialize,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{}{path}", node_url.trim_end_matches('/')))
        .bearer_auth(admin_key)
        .header(PLACED_HEADER, "1")
        .timeout(FORWARD_TIMEOUT)
        .json(body)
        .send()
        .await
}

/// Where a new match should go, best first: nodes not draining and under their room limit,
/// least loaded (rooms over the room limit, then players, then id) first. This node's entry
/// is taken fresh from its directory; the others' are from their last heartbeat.
pub async fn candidates(
    registry: &Registry,
    directory: &Directory,
    draining: bool,
) -> Vec<NodeInfo> {
    let me = registry.entry(directory, draining);
    let mut nodes = match registry.nodes().await {
        Ok(nodes) => nodes,
        Err(e) => {
            // Redis is away: this node can still take the match itself.
            tracing::debug!(error = %e, "placement: registry unreadable, placing here");
            Vec::new()
        }
    };
    nodes.retain(|n| n.id != me.id);
    nodes.push(me);
    nodes.retain(|n| !n.draining && n.rooms < n.max_rooms);
    sort(&mut nodes);
    nodes
}

/// Least loaded first: rooms over the room limit, then players, then id.
pub fn sort(nodes: &mut [NodeInfo]) {
    nodes.sort_by(|a, b| {
        load(a)
            .total_cmp(&load(b))
            .then(a.players.cmp(&b.players))
            .then(a.id.cmp(&b.id))
    });
}

fn load(n: &NodeInfo) -> f64 {
    n.rooms as f64 / n.max_rooms.max(1) as f64
}
