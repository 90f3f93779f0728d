//! The realtime lobby: the Socket.IO namespace `/lobby` pushes the public open matches as they
//! are added, change (seats, state) and go, so a lobby screen stays current without polling.
//!
//! A client connects with an optional `auth` map: `token` (a player token; anonymous where
//! allowed) and `game` (only that game's matches). It gets `matches` with the full list at
//! once, then `match_added` / `match_changed` / `match_removed`.
//!
//! Each node publishes the changes of its own matches, found by comparing their listing with
//! the last one published every [`PUBLISH_EVERY`]: a burst of joins costs one `match_changed`
//! per match per period, however many seats it took. They are broadcast through the
//! namespace's adapter (not `local()`), to a room per game and a room for all games: in a
//! cluster the Redis adapter carries them to every node's lobby subscribers, so no node reads
//! another's listing to follow it. The full list a subscriber gets first is matchmaking's,
//! which in a cluster is every node's (docs/SCALING.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::operators::BroadcastOperators;
use socketioxide_core::adapter::DefinedAdapter;
use tickroom_shared::lobby;
use tokio_util::sync::CancellationToken;

use super::NetState;
use crate::matchmaking::{ListFilter, MatchDirectory, OpenMatch};

/// How often changes are published.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// How often, in a cluster, the node that runs the queue looks for nodes that went away
/// without saying so, to remove their matches from every lobby.
pub const ORPHANS_EVERY: Duration = Duration::from_secs(2);
/// The room of subscribers to every game.
const ALL_GAMES: &str = "*";

/// Why a lobby connection was refused; its text is the code.
#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The `auth` payload of a lobby connection.
#[derive(Debug, Default, serde::Deserialize)]
struct LobbyAuth {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    game: Option<String>,
}

/// The room of a game's subscribers (a game name is never `*`).
fn room_of(game: &str) -> String {
    format!("game:{game}")
}

/// Registers the lobby namespace on `io`.
pub(crate) fn register<A: Adapter + DefinedAdapter>(
    io: &SocketIo<A>,
    app: Arc<NetState>,
) -> A::InitRes {
    let mw_app = app.clone();
    let middleware = move |s: SocketRef<A>, TryData(auth): TryData<rmpv::Value>| {
        let app = mw_app.clone();
        async move { admit(&s, auth.ok(), &app) }
    };
    let on_connect = move |s: SocketRef<A>| {
        let app = app.clone();
        async move { subscribed(s, &app).await }
    };
    io.ns(
        lobby::NAMESPACE,
        ConnectHandler::with(on_connect, middleware),
    )
}

fn admit<A: Adapter>(
    s: &SocketRef<A>,
    auth: Option<rmpv::Value>,
    app: &NetState,
) -> Result<(), Refused> {
    if app.shutdown.is_cancelled() {
        return Err(Refused("server_busy"));
    }
    if !app.dev_keys {
        let parts = s.req_parts();
        if let Some(ip) = super::client_ip(
            &parts.headers,
            &parts.extensions,
            app.net.trust_forwarded_for,
        ) && !app.handshakes.check(&ip)
        {
            return Err(Refused("handshake_rate_limited"));
        }
    }
    let auth: LobbyAuth = match auth {
        None | Some(rmpv::Value::Nil) => LobbyAuth::default(),
        Some(v @ rmpv::Value::Map(_)) => {
            rmpv::ext::from_value(v).map_err(|_| Refused("auth_malformed"))?
        }
        Some(_) => return Err(Refused("auth_malformed")),
    };
    app.identities
        .identify(auth.token.as_deref())
        .map_err(|e| Refused(e.code()))?;
    let game = match auth.game {
        None => None,
        Some(g) => Some(
            app.directory
                .catalog()
                .get(&g)
                .ok_or(Refused("unknown_game"))?,
        ),
    };
    s.extensions.insert(Subscription { game });
    Ok(())
}

/// What a lobby connection listens to.
#[derive(Debug, Clone, Copy)]
struct Subscription {
    game: Option<&'static str>,
}

async fn subscribed<A: Adapter>(s: SocketRef<A>, app: &NetState) {
    let game = s.extensions.get::<Subscription>().and_then(|sub| sub.game);
    // Joined before the list is read, so a change between the two is not lost (it may be seen
    // twice: in the list and as an event).
    s.join(game.map_or_else(|| ALL_GAMES.to_owned(), room_of));
    let matches = match app
        .matchmaker
        .list(&ListFilter {
            game: game.map(str::to_owned),
            ..ListFilter::default()
        })
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(error = %e, "lobby: the listing is unavailable");
            Vec::new()
        }
    };
    let _ = s.emit(lobby::MATCHES, &serde_json::json!({ "matches": matches }));
}

/// Publishes the changes of this node's listing every [`PUBLISH_EVERY`] until `stop`.
pub(crate) async fn publish<A: Adapter>(
    app: Arc<NetState>,
    io: SocketIo<A>,
    stop: CancellationToken,
) {
    let mut last: HashMap<String, OpenMatch> = HashMap::new();
    let mut orphans = Orphans::default();
    let mut every = tokio::time::interval(PUBLISH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick() => {}
        }
        let Some(ns) = io.of(lobby::NAMESPACE) else {
            break;
        };
        for (id, game) in orphans.gone(&app).await {
            let body = serde_json::json!({ "match_id": id, "game": game });
            send(&ns, &game, lobby::MATCH_REMOVED, &body).await;
        }
        // A listing that cannot be read now changes nothing: the next one is compared.
        let Ok(listing) = MatchDirectory::list(&*app.directory, &ListFilter::default()).await
        else {
            continue;
        };
        let now: HashMap<String, OpenMatch> = listing
            .into_iter()
            .map(|open| (open.match_id.clone(), open))
            .collect();
        for (id, open) in &now {
            let event = match last.get(id) {
                None => lobby::MATCH_ADDED,
                Some(before) if before != open => lobby::MATCH_CHANGED,
                Some(_) => continue,
            };
            send(&ns, &open.game, event, open).await;
        }
        for (id, gone) in &last {
            if now.contains_key(id) {
                continue;
            }
            let body = serde_json::json!({ "match_id": id, "game": gone.game });
            send(&ns, &gone.game, lobby::MATCH_REMOVED, &body).await;
        }
        last = now;
    }
}

/// Sends a lobby event about a match of `game` to every node's subscribers of that game and
/// of all games; with Redis away, to this node's.
async fn send<A: Adapter>(
    ns: &BroadcastOperators<A>,
    game: &str,
    event: &'static str,
    body: &impl serde::Serialize,
) {
    let rooms = [ALL_GAMES.to_owned(), room_of(game)];
    if let Err(e) = ns.clone().to(rooms.clone()).emit(event, body).await {
        tracing::debug!(error = %e, "lobby: other nodes not reached");
        let _ = ns.clone().local().to(rooms).emit(event, body).await;
    }
}

/// The other nodes' public matches as this node last saw them: a node that is killed never
/// publishes its matches' removal, so the node that runs the queue does, for every match whose
/// node has left the registry. Every node keeps looking, so a node that takes the queue over
/// — after the leader itself died — knows what the dead node had.
#[derive(Debug, Default)]
struct Orphans {
    /// Match id → (game, node id).
    seen: HashMap<String, (String, String)>,
    last_look: Option<tokio::time::Instant>,
}

impl Orphans {
    /// The matches (id, game) of nodes gone since the last look, every [`ORPHANS_EVERY`];
    /// none unless this node runs the queue.
    async fn gone(&mut self, app: &NetState) -> Vec<(String, String)> {
        let Some(registry) = app.registry.get() else {
            return Vec::new();
        };
        if self.last_look.is_some_and(|t| t.elapsed() < ORPHANS_EVERY) {
            return Vec::new();
        }
        self.last_look = Some(tokio::time::Instant::now());
        // Redis away: nothing can be told apart; look again next time.
        let Ok(listings) = registry.listings().await else {
            return Vec::new();
        };
        let alive: std::collections::HashSet<String> =
            listings.iter().map(|(n, _)| n.id.clone()).collect();
        let leads = registry
            .queue_leader()
            .is_some_and(|(leader, _)| leader == registry.id());
        let gone = if leads {
            self.seen
                .iter()
                .filter(|(_, (_, node))| !alive.contains(node.as_str()))
                .map(|(id, (game, _))| (id.clone(), game.clone()))
                .collect()
        } else {
            Vec::new()
        };
        self.seen = listings
            .into_iter()
            .flat_map(|(node, listed)| {
                listed
                    .into_iter()
                    .filter(|l| !l.private)
                    .map(move |l| (l.open.match_id, (l.open.game, node.id.clone())))
            })
            .collect();
        gone
    }
}
