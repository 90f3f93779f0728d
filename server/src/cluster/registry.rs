//! The node registry: every heartbeat, each node writes three keys to Redis with a
//! time-to-live a few heartbeats long — its entry (id, public URL, load), the ids of its
//! matches (to send a player at the wrong node to the right one), and the matches its
//! matchmaking offers (for the other nodes' matchmaking). A node that stops (killed, frozen,
//! cut off) leaves the registry by itself when its keys expire; nothing has to clean up after
//! it. A node that drains says so in its entry, and removes its keys as it exits.
//!
//! The heartbeat also elects the node that runs the cluster's one matchmaking queue: the
//! leader renews a key with the same time-to-live; when it stops (or drains), the next node to
//! beat takes over.
//!
//! Redis going away does not disturb the node: its matches do not need Redis. The heartbeat
//! keeps trying, and the node is back in the registry at the first beat after Redis returns.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tickroom_shared::token::unix_now;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::config::ClusterConfig;
use crate::directory::Directory;
use crate::matchmaking::directory::Listed;
use crate::metrics::Metrics;

/// Keys of node entries: this prefix and the node's id.
pub const NODE_KEY_PREFIX: &str = "tickroom:node:";
/// Keys of the lists of a node's matches: this prefix and the node's id.
pub const MATCHES_KEY_PREFIX: &str = "tickroom:matches:";
/// Keys of the lists of the matches a node's matchmaking offers: this prefix and its id.
pub const LISTED_KEY_PREFIX: &str = "tickroom:listed:";
/// The key naming the node that runs the cluster's matchmaking queue: `<id> <url>`.
pub const QUEUE_LEADER_KEY: &str = "tickroom:queue-leader";
/// Keeps or takes the queue's leadership, atomically: the leader renews its key (or gives it up
/// when draining); with no leader, a node that is not draining takes it. Returns the leader.
const QUEUE_ELECTION: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  if ARGV[3] == '1' then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return cur
  end
  redis.call('DEL', KEYS[1])
  return false
end
if not cur and ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return cur
";
/// The longest a single Redis call may take before it counts as Redis being down.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// Entries read in one `SCAN` step.
const SCAN_COUNT: usize = 200;

/// One node's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its id.
    pub id: String,
    /// Where clients reach it.
    pub url: String,
    /// Where the other nodes reach it (`--node-url`; its public URL by default).
    #[serde(default)]
    pub node_url: String,
    /// The server's version.
    pub version: String,
    /// Matches running or waiting.
    pub rooms: usize,
    /// Player seats taken in them (reserved, connected or held).
    pub players: u64,
    /// CPU the process used over the last heartbeat, in percent of one core (above 100 on
    /// several cores).
    #[serde(default)]
    pub cpu_percent: u32,
    /// Matches it may run (`--max-rooms`).
    pub max_rooms: usize,
    /// Whether it is draining: it takes no new match.
    pub draining: bool,
    /// When it started, seconds since the Unix epoch.
    pub started_at: u64,
    /// Its last heartbeat, seconds since the Unix epoch.
    pub heartbeat_at: u64,
}

impl NodeInfo {
    /// Where the other nodes call it: its node URL, or its public URL.
    pub fn reach(&self) -> &str {
        let url = if self.node_url.is_empty() {
            &self.url
        } else {
            &self.node_url
        };
        url.trim_end_matches('/')
    }
}

/// One match in a node's list: the cluster's match directory, match → node, state and free
/// seats, as of the node's last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchEntry {
    /// Its id.
    pub id: String,
    /// Its game.
    pub game: String,
    /// `waiting` or `running`.
    pub state: String,
    /// Player seats taken (reserved, connected or held).
    pub players: u32,
    /// Player seats in all.
    pub max_players: u32,
}

impl MatchEntry {
    /// `m` as the directory lists it.
    pub fn of(m: &crate::directory::Match) -> Self {
        Self {
            id: m.info().id.to_string(),
            game: m.info().game.to_owned(),
            state: m.state().as_str().to_owned(),
            players: m.seats_taken(),
            max_players: m.info().max_players,
        }
    }
}

/// Why the registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer within [`REDIS_TIMEOUT`].
    #[error("redis did not answer within {REDIS_TIMEOUT:?}")]
    Timeout,
}

/// This node's view of the registry.
pub struct Registry {
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    config: ClusterConfig,
    id: String,
    url: String,
    node_url: String,
    started_at: u64,
    /// [`NodeInfo::cpu_percent`], as of the last heartbeat.
    cpu_percent: std::sync::atomic::AtomicU32,
    /// The node running the queue, `(id, url)`, as of the last heartbeat; `None` while Redis
    /// is away (each node then queues its own).
    queue_leader: std::sync::RwLock<Option<(String, String)>>,
    /// Wakes the heartbeat before its time ([`Registry::beat_soon`]).
    beat_now: tokio::sync::Notify,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// The registry at `config.redis_url`, for this node reachable at `url`. Connects lazily:
    /// a node starts whether or not Redis is up.
    pub fn new(config: &ClusterConfig, url: String) -> Result<Self, RegistryError> {
        let client = redis::Client::open(config.redis_url.as_str())?;
        let id = config.node_id.clone().unwrap_or_else(|| {
            format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
        });
        Ok(Self {
            client,
            conn: Mutex::new(None),
            config: config.clone(),
            id,
            node_url: config.node_url.clone().unwrap_or_else(|| url.clone()),
            url,
            started_at: unix_now(),
            cpu_percent: std::sync::atomic::AtomicU32::new(0),
            queue_leader: std::sync::RwLock::new(None),
            beat_now: tokio::sync::Notify::new(),
        })
    }

    /// Beats now rather than at the next heartbeat: the node took a match over, and the
    /// others should find it there at once.
    pub fn beat_soon(&self) {
        self.beat_now.notify_one();
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When this node started, seconds since the Unix epoch (its entry's `started_at`).
    pub fn started_at(&self) -> u64 {
        self.started_at
    }

    /// This node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(id: &str) -> String {
        format!("{NODE_KEY_PREFIX}{id}")
    }

    /// Runs `f` on the shared connection, connecting first if there is none; a failure drops
    /// the connection, so the next call connects again. Calls run side by side on one
    /// multiplexed connection: the lock is held only to take it.
    pub(crate) async fn with_conn<T>(
        &self,
        f: impl AsyncFnOnce(&mut MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> Result<T, RegistryError> {
        let result = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut conn = {
                let mut slot = self.conn.lock().await;
                if slot.is_none() {
                    *slot = Some(self.client.get_multiplexed_async_connection().await?);
                }
                slot.clone().expect("connected above")
            };
            f(&mut conn).await
        })
        .await;
        let result = match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(RegistryError::Redis(e)),
            Err(_) => Err(RegistryError::Timeout),
        };
        if result.is_err() {
            *self.conn.lock().await = None;
        }
        result
    }

    /// The node that runs the cluster's matchmaking queue, `(id, node URL)`, as of the last
    /// heartbeat; `None` while Redis is away.
    pub fn queue_leader(&self) -> Option<(String, String)> {
        self.queue_leader
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Writes this node's entry, the ids of its matches and the matches its matchmaking
    /// offers, alive for the time-to-live; keeps or takes the queue's leadership (gives it up
    /// when `entry` says it drains).
    pub async fn beat(
        &self,
        entry: &NodeInfo,
        matches: &[MatchEntry],
        listed: &[Listed],
    ) -> Result<(), RegistryError> {
        let ttl = u64::try_from(self.config.node_ttl.as_millis()).unwrap_or(u64::MAX);
        let writes = [
            (
                Self::key(&self.id),
                serde_json::to_string(entry).unwrap_or_default(),
            ),
            (
                format!("{MATCHES_KEY_PREFIX}{}", self.id),
                serde_json::to_string(matches).unwrap_or_default(),
            ),
            (
                format!("{LISTED_KEY_PREFIX}{}", self.id),
                serde_json::to_string(listed).unwrap_or_default(),
            ),
        ];
        let me = format!("{} {}", self.id, self.node_url);
        let claim = if entry.draining { "0" } else { "1" };
        let (leader,): (Option<String>,) = self
            .with_conn(async move |c| {
                let mut pipe = redis::pipe();
                for (key, value) in &writes {
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(value)
                        .arg("PX")
                        .arg(ttl)
                        .ignore();
                }
                pipe.cmd("EVAL")
                    .arg(QUEUE_ELECTION)
                    .arg(1)
                    .arg(QUEUE_LEADER_KEY)
                    .arg(&me)
                    .arg(ttl)
                    .arg(claim);
                pipe.query_async(c).await
            })
            .await?;
        *self.queue_leader.write().unwrap_or_else(|e| e.into_inner()) = leader
            .as_deref()
            .and_then(|l| l.split_once(' '))
            .map(|(id, url)| (id.to_owned(), url.to_owned()));
        Ok(())
    }

    /// The matches the other nodes' matchmaking offers, with the node of each, as of their
    /// last heartbeats.
    pub async fn remote_listed(&self) -> Result<Vec<(NodeInfo, Listed)>, RegistryError> {
        Ok(self
            .listings()
            .await?
            .into_iter()
            .flat_map(|(node, listed): (NodeInfo, Vec<Listed>)| {
                listed.into_iter().map(move |l| (node.clone(), l))
            })
            .collect())
    }

    /// Every other node in the registry, with the matches its matchmaking offers (maybe
    /// none).
    pub async fn listings(&self) -> Result<Vec<(NodeInfo, Vec<Listed>)>, RegistryError> {
        self.others_lists(LISTED_KEY_PREFIX).await
    }

    /// Every other node, with the list it keeps under `prefix` (empty where there is none
    /// or it does not parse).
    async fn others_lists<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(NodeInfo, Vec<T>)>, RegistryError> {
        let others: Vec<NodeInfo> = self
            .nodes()
            .await?
            .into_iter()
            .filter(|n| n.id != self.id)
            .collect();
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = others.iter().map(|n| format!("{prefix}{}", n.id)).collect();
        let lists: Vec<Option<String>> = self
            .with_conn(async move |c| redis::cmd("MGET").arg(&keys).query_async(c).await)
            .await?;
        Ok(others
            .into_iter()
            .zip(lists)
            .map(|(node, list)| {
                let parsed = list
                    .and_then(|l| serde_json::from_str::<Vec<T>>(&l).ok())
                    .unwrap_or_default();
                (node, parsed)
            })
            .collect())
    }

    /// Removes this node's keys (it is exiting).
    pub async fn leave(&self) -> Result<(), RegistryError> {
        let keys = [
            Self::key(&self.id),
            format!("{MATCHES_KEY_PREFIX}{}", self.id),
            format!("{LISTED_KEY_PREFIX}{}", self.id),
        ];
        self.with_conn(async move |c| redis::cmd("DEL").arg(&keys).query_async::<()>(c).await)
            .await
    }

    /// The other node that holds match `id`, as of its last heartbeat.
    pub async fn locate(&self, id: &str) -> Result<Option<NodeInfo>, RegistryError> {
        Ok(self
            .others_lists::<MatchEntry>(MATCHES_KEY_PREFIX)
            .await?
            .into_iter()
            .find_map(|(node, matches)| matches.iter().any(|m| m.id == id).then_some(node)))
    }

    /// Every other node's matches, with the node of each, as of their last heartbeats.
    pub async fn remote_matches(&self) -> Result<Vec<(NodeInfo, MatchEntry)>, RegistryError> {
        Ok(self
            .others_lists(MATCHES_KEY_PREFIX)
            .await?
            .into_iter()
            .flat_map(|(node, matches): (NodeInfo, Vec<MatchEntry>)| {
                matches.into_iter().map(move |m| (node.clone(), m))
            })
            .collect())
    }

    /// Every node's entry, sorted by id.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, RegistryError> {
        let values: Vec<Option<String>> = self
            .with_conn(async move |c| {
                let keys = scan(c, &format!("{NODE_KEY_PREFIX}*")).await?;
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                redis::cmd("MGET").arg(&keys).query_async(c).await
            })
            .await?;
        let mut nodes: Vec<NodeInfo> = values
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_str(&v).ok())
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    /// This node's entry now.
    pub fn entry(&self, directory: &Directory, draining: bool) -> NodeInfo {
        let live = directory.select(|m| !m.state().is_over());
        NodeInfo {
            id: self.id.clone(),
            url: self.url.clone(),
            node_url: self.node_url.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            rooms: live.len(),
            players: live.iter().map(|m| u64::from(m.seats_taken())).sum(),
            cpu_percent: self.cpu_percent.load(std::sync::atomic::Ordering::Relaxed),
            max_rooms: directory.max_rooms(),
            draining,
            started_at: self.started_at,
            heartbeat_at: unix_now(),
        }
    }

    /// Beats every heartbeat until `stop`; `draining` says when this node drains. Logs when
    /// Redis goes and comes back, not at every failed beat.
    pub async fn run(
        self: Arc<Self>,
        directory: Arc<Directory>,
        metrics: Arc<Metrics>,
        draining: CancellationToken,
        stop: CancellationToken,
    ) {
        let mut every = tokio::time::interval(self.config.heartbeat);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_up = None;
        let mut cpu_then = (std::time::Instant::now(), crate::metrics::cpu_seconds());
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = every.tick() => {}
                () = self.beat_now.notified() => {}
            }
            let cpu_now = (std::time::Instant::now(), crate::metrics::cpu_seconds());
            if let ((then, Some(used_then)), (now, Some(used_now))) = (cpu_then, cpu_now) {
                let wall = now.duration_since(then).as_secs_f64();
                if wall > 0.0 {
                    let percent = ((used_now - used_then) / wall * 100.0).round().max(0.0);
                    self.cpu_percent
                        .store(percent as u32, std::sync::atomic::Ordering::Relaxed);
                }
            }
            cpu_then = cpu_now;
            let entry = self.entry(&directory, draining.is_cancelled());
            let matches: Vec<MatchEntry> = directory
                .select(|m| !m.state().is_over())
                .iter()
                .map(|m| MatchEntry::of(m))
                .collect();
            let listed = directory.local_listed();
            let result = self.beat(&entry, &matches, &listed).await;
            let up = result.is_ok();
            if !up {
                *self.queue_leader.write().unwrap_or_else(|e| e.into_inner()) = None;
            }
            metrics.redis_up.set(i64::from(up));
            match (&result, was_up) {
                (Err(e), Some(true) | None) => {
                    tracing::warn!(node = %self.id, error = %e, "registry: redis is unreachable; matches carry on, the node will register again when it returns");
                }
                (Ok(()), Some(false) | None) => {
                    tracing::info!(node = %self.id, url = %self.url, "registry: registered");
                }
                _ => {}
            }
            was_up = Some(up);
        }
    }
}

/// Every key matching `pattern`, [`SCAN_COUNT`] a step.
pub(crate) async fn scan(
    c: &mut MultiplexedConnection,
    pattern: &str,
) -> redis::RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(c)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}
